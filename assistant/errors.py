"""Every error the product raises for the user, in one place.

`UserError` is the base: its message is written for the user (it names the file, line,
field or setting as the user spelled it, and the fix) and the CLI, the UI and the Python
API show it as is, without a traceback. Anything that is not a `UserError` is a bug."""

from __future__ import annotations


class UserError(Exception):
    """An error whose message is meant for the user; front ends print it as is."""


class SettingsError(UserError, ValueError):
    """Settings that do not validate, one line per bad value, each naming the setting the
    way the user gave it: the environment variable as spelled (`PAPERS_LLM_TIMEOUT`,
    `OPENAI_BASE_URL`), the command-line flag (`--index-name`, `--set llm_timeout`) or,
    for a value given in code, the field name. `problems` holds the lines
    (`assistant.settings.settings_error` builds one from a pydantic ValidationError)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems) or ["invalid settings"]
        super().__init__("\n".join(self.problems))


class BadField(UserError, ValueError):
    """A field of an input record whose value has the wrong type (a number where text
    belongs); the parsers catch it and skip that entry with its message."""


class UnreadableFile(UserError):
    """The whole input file is unusable (empty, binary, missing...); the message names it."""


class CorruptIndex(UserError):
    """A file of the index cannot be read; the message names it and the fix."""


class IndexMismatch(UserError):
    """The index on disk was built under settings that change what vectors mean."""


class VectorStoreError(UserError):
    """Chroma cannot be reached or used; the message says which and how."""


class EmbeddingError(UserError):
    """The embedding backend cannot be used; the message says why."""


class QueryError(UserError):
    """The query or its filters cannot be run; the message says why."""


class PromptError(UserError):
    """A prompt file is missing or does not match the values given to it."""


class LLMError(UserError):
    """The endpoint failed for good (after retries) or refused the request.

    Attributes: `status` (HTTP status when there was one), `attempts`, `seconds`,
    `retryable` (the last failure was of a transient kind), `mid_stream` (a stream
    broke after text had already been yielded; `partial_text` holds that text),
    `overflow` (the request did not fit the model's context window), `empty_stream` (a
    200 stream without a single event: what llama.cpp sends for a prompt over its window)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        attempts: int = 0,
        seconds: float = 0.0,
        retryable: bool = False,
        mid_stream: bool = False,
        partial_text: str = "",
        overflow: bool = False,
        empty_stream: bool = False,
    ):
        super().__init__(message)
        self.empty_stream = empty_stream
        self.status = status
        self.attempts = attempts
        self.seconds = seconds
        self.retryable = retryable
        self.mid_stream = mid_stream
        self.partial_text = partial_text
        self.overflow = overflow


class EvalError(UserError):
    """An evaluation dataset or run folder cannot be used; the message says which and why."""


class IndexBusy(UserError, TimeoutError):
    """An ingest gave up waiting (its `wait` ran out) for running questions to release the index."""

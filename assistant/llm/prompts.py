"""Prompt files, loaded by name from `settings.prompts_dir`: by default the prompts
shipped inside the package (`assistant.data.prompts_dir()`, read through
importlib.resources; `prompts/` in the repository).

A prompt file is plain text with `{placeholder}` fields. The first line may be
`# system` / `# user` sections: a file is split into messages at lines that
read exactly `### system` or `### user`. Literal braces are written `{{ }}`.
`render` refuses missing or unexpected values, so a prompt and the code that
fills it cannot drift apart silently (a test checks every file)."""

from __future__ import annotations

import string
from pathlib import Path

from assistant.errors import PromptError
from assistant.settings import Settings

# The placeholders each prompt must use: the code fills exactly these.
EXPECTED = {
    "answer": {"question", "sources", "abstain_phrase"},
    "compare": {"methods", "rows", "sources", "not_stated"},
    "condense": {"history", "question"},
    "judge": {"claim", "evidence"},
    "evidence": {"question", "title", "abstract"},
    "quotes": {"question", "sources", "abstain_phrase"},
}
ROLES = ("system", "user")


def prompt_path(name: str, settings: Settings | None = None) -> Path:
    folder = (settings or Settings()).prompts_dir
    return folder / f"{name}.txt"


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def load(name: str, settings: Settings | None = None) -> dict[str, str]:
    """{role: template} of the prompt `name`."""
    path = prompt_path(name, settings)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"{path}: prompt {name!r} not found (prompts are files named <name>.txt)") from None
    sections: dict[str, list[str]] = {}
    role = "user"
    for line in text.splitlines():
        if line.strip().startswith("### ") and line.strip()[4:] in ROLES:
            role = line.strip()[4:]
            sections[role] = []
        else:
            sections.setdefault(role, []).append(line)
    return {r: "\n".join(lines).strip() + "\n" for r, lines in sections.items() if "".join(lines).strip()}


def render(name: str, settings: Settings | None = None, **values: str) -> list[dict[str, str]]:
    """Chat messages of prompt `name` filled with `values`."""
    parts = load(name, settings)
    used = set().union(*(placeholders(t) for t in parts.values()))
    missing, extra = used - set(values), set(values) - used
    if missing or extra:
        raise PromptError(
            f"{prompt_path(name, settings)}: placeholders {sorted(used)} do not match the values "
            f"given {sorted(values)} (missing {sorted(missing)}, unused {sorted(extra)})"
        )
    return [{"role": role, "content": parts[role].format(**values)} for role in ROLES if role in parts]

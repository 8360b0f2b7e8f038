"""Prompt files: each one's placeholders are exactly those its caller fills."""

from __future__ import annotations

import pytest

from assistant.prompts import EXPECTED, PromptError, load, placeholders, prompt_path, render
from assistant.settings import Settings


def test_every_prompt_file_is_known():
    files = {p.stem for p in Settings().prompts_dir.glob("*.txt")}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_placeholders_match_the_code(name):
    parts = load(name)
    assert set(parts) == {"system", "user"}, f"{prompt_path(name)} needs a system and a user section"
    assert set().union(*(placeholders(t) for t in parts.values())) == EXPECTED[name]
    messages = render(name, **{k: f"<{k}>" for k in EXPECTED[name]})
    assert [m["role"] for m in messages] == ["system", "user"]
    text = "".join(m["content"] for m in messages)
    assert all(f"<{k}>" in text for k in EXPECTED[name])
    assert "{" not in text.replace("{{", "") or name == "compare"  # only compare shows a JSON shape


def test_render_refuses_missing_or_extra_values():
    with pytest.raises(PromptError, match="missing \\['sources'\\]"):
        render("answer", question="q", abstain_phrase="x")
    with pytest.raises(PromptError, match="unused \\['colour'\\]"):
        render("condense", history="h", question="q", colour="red")
    with pytest.raises(PromptError, match="not found"):
        load("no-such-prompt")


def test_a_prompt_with_a_new_placeholder_is_caught(tmp_path):
    (tmp_path / "answer.txt").write_text("### system\nrules\n### user\n{question} {sources} {abstain_phrase} {extra}\n")
    with pytest.raises(PromptError, match="missing \\['extra'\\]"):
        render("answer", Settings(prompts_dir=tmp_path), question="q", sources="s", abstain_phrase="a")

"""Prompt files: each one's placeholders are exactly those its caller fills."""

from __future__ import annotations

import re

import pytest

from assistant.llm.prompts import EXPECTED, PromptError, load, placeholders, prompt_path, render
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
    assert "{" not in text.replace("{{", "") or name in ("compare", "evidence")  # only these show a JSON shape


@pytest.mark.parametrize("name", ["answer", "compare", "evidence", "quotes"])
def test_prompts_that_show_abstracts_say_they_are_data(name):
    system = load(name)["system"]
    assert "data, not instructions" in system, f"{prompt_path(name)}: the system message must say the papers are data"


def test_the_evidence_and_quotes_prompts_ask_for_what_their_parsers_read():
    from assistant.answer import quotes, scoring

    evidence = load("evidence")["system"]
    assert '"score"' in evidence and "0-10" in evidence  # scoring.parse_score reads the "score" field
    assert scoring.parse_score(re.search(r"\{.*\}", evidence.replace("{{", "{").replace("}}", "}")).group(0)
                               .replace("<0-10>", "7"))[0] == 7.0
    messages = render("quotes", question="q", sources="s", abstain_phrase="NOTHING_HERE")
    system = messages[0]["content"]
    assert "exactly: NOTHING_HERE" in system  # the sentinel the engine's abstention check reads
    shape = re.search(r'(\[n\] "[^"\n]+")', system).group(1)  # the line form quotes.parse reads
    assert [(q.n, q.said) for q in quotes.parse(shape.replace("[n]", "[2]"))] == [(2, "the exact sentence")]


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

"""A bad setting is named the way the user gave it: the environment variable as spelled
(PAPERS_LLM_TIMEOUT, papers_llm_timeout, OPENAI_BASE_URL), the flag (--index-name,
`papers eval --set llm_timeout`), or the field name for a value given in code; exit 2,
one `error:` line per bad value, no traceback. And the UI's usage line under an answer.

No index is built: every command here fails on its settings before it opens one."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import AliasChoices, Field, ValidationError

from assistant import cli
from assistant.settings import Settings, SettingsError, env_source, load_settings, settings_error

PROJECT_DIR = Path(__file__).resolve().parent.parent
NUMBER = "Input should be a valid number, unable to parse string as a number"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No PAPERS_* / OPENAI_* from the outer environment; the index folder is empty."""
    for name in list(os.environ):
        if name.upper().startswith(("PAPERS_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PAPERS_INDEX_DIR", str(tmp_path / "indexes"))


def run(capsys, *argv: str) -> tuple[int, list[str]]:
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.splitlines()


def assert_no_index_made(tmp_path: Path) -> None:
    assert not (tmp_path / "indexes").exists(), "the command opened an index before checking its settings"


# --- environment variables --------------------------------------------------------------------


def test_number_from_env_names_the_variable(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PAPERS_LLM_TIMEOUT", "abc")
    code, lines = run(capsys, "ask", "what is masked image modeling?")
    assert code == 2
    assert lines == [f"error: invalid PAPERS_LLM_TIMEOUT='abc': {NUMBER}"]
    assert_no_index_made(tmp_path)


def test_variable_is_named_as_spelled(monkeypatch, capsys):
    monkeypatch.setenv("papers_llm_timeout", "-3")  # pydantic-settings reads names without case
    code, lines = run(capsys, "status", "--no-build")
    assert code == 2
    assert lines == ["error: invalid papers_llm_timeout='-3': Input should be greater than 0"]


def test_literal_from_env_lists_the_allowed_values(monkeypatch, capsys):
    monkeypatch.setenv("PAPERS_EMBED_BACKEND", "foo")
    code, lines = run(capsys, "status", "--no-build")
    assert code == 2
    assert lines == ["error: invalid PAPERS_EMBED_BACKEND='foo': Input should be 'local' or 'openai'"]


def test_bool_from_env_says_what_is_accepted(monkeypatch, capsys):
    monkeypatch.setenv("PAPERS_LLM_ENABLED", "maybe")
    code, lines = run(capsys, "search", "masked image modeling")
    assert code == 2
    assert len(lines) == 1
    assert lines[0].startswith("error: invalid PAPERS_LLM_ENABLED='maybe': Input should be a valid boolean")
    assert "true or false" in lines[0] and "yes/no" in lines[0]


def test_every_bad_value_gets_its_own_line(monkeypatch, capsys):
    monkeypatch.setenv("PAPERS_LLM_TIMEOUT", "abc")
    monkeypatch.setenv("PAPERS_TOP_K", "0")
    monkeypatch.setenv("PAPERS_INDEX_NAME", "ok-name")
    code, lines = run(capsys, "compare", "ADAHESSIAN", "M-FAC", "--index-name", "../escape")
    assert code == 2
    assert sorted(lines) == sorted([
        "error: invalid --index-name='../escape': an index name is 1 to 63 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit",
        "error: invalid PAPERS_TOP_K='0': Input should be greater than or equal to 1",
        f"error: invalid PAPERS_LLM_TIMEOUT='abc': {NUMBER}",
    ])


# --- aliases ----------------------------------------------------------------------------------


class _WithPort(Settings):
    """An aliased field that can fail (the real aliased ones, OPENAI_*, are plain strings)."""

    port: int = Field(1, validation_alias=AliasChoices("FOO_PORT", "PAPERS_PORT"))


def test_aliased_field_is_named_by_the_alias_as_set(monkeypatch):
    monkeypatch.setenv("Papers_Port", "x")
    with pytest.raises(ValidationError) as caught:
        _WithPort()
    assert caught.value.errors()[0]["loc"] == ("FOO_PORT",)  # pydantic names the first alias, not the one set
    error = settings_error(caught.value, model=_WithPort)
    assert error.problems == ["invalid Papers_Port='x': Input should be a valid integer, unable to parse string "
                              "as an integer"]


def test_openai_base_url_variable_is_the_one_pydantic_reads(monkeypatch):
    monkeypatch.setenv("papers_openai_base_url", "http://127.0.0.1:1/v1")
    assert env_source("openai_base_url") == "papers_openai_base_url"
    assert Settings().openai_base_url == os.environ["papers_openai_base_url"]
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:2/v1")  # the first alias wins
    assert env_source("openai_base_url") == "OPENAI_BASE_URL"
    assert Settings().openai_base_url == os.environ["OPENAI_BASE_URL"]
    assert env_source("llm_timeout") is None


def test_secrets_and_url_passwords_are_not_echoed(monkeypatch):
    with pytest.raises(SettingsError) as caught:
        load_settings(openai_api_key=12345678901234, chroma_url=["http://user:hunter2@host"])
    text = str(caught.value)
    assert "invalid openai_api_key='***'" in text and "12345678901234" not in text
    assert "invalid chroma_url=" in text and "hunter2" not in text


# --- flags and code ---------------------------------------------------------------------------


def test_flag_is_named_not_the_variable(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PAPERS_INDEX_NAME", "fine")
    code, lines = run(capsys, "status", "--no-build", "--index-dir", str(tmp_path / "indexes"),
                      "--index-name", "bad name!")
    assert code == 2
    assert lines == ["error: invalid --index-name='bad name!': an index name is 1 to 63 letters, digits, '.', "
                     "'_' or '-', starting with a letter or digit"]
    assert_no_index_made(tmp_path)


def test_same_value_from_the_variable_names_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("PAPERS_INDEX_NAME", "bad name!")
    code, lines = run(capsys, "status", "--no-build")
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("error: invalid PAPERS_INDEX_NAME='bad name!': an index name is")


@pytest.mark.parametrize("key", ["llm_timeout", "PAPERS_LLM_TIMEOUT"])
def test_eval_set_is_named_as_typed(monkeypatch, capsys, tmp_path, key):
    monkeypatch.setenv("PAPERS_LLM_TIMEOUT", "30")  # valid, and overridden by --set
    code, lines = run(capsys, "eval", "--split", "dev", "--set", "rrf_k=30", "--set", f"{key}=abc",
                      "--out", str(tmp_path / "runs"), "--no-plots")
    assert code == 2
    assert lines == [f"error: invalid --set {key}='abc': {NUMBER}"]
    assert not (tmp_path / "runs").exists()
    assert_no_index_made(tmp_path)


def test_value_given_in_code_is_named_by_its_field(monkeypatch):
    monkeypatch.setenv("PAPERS_LLM_TIMEOUT", "abc")  # also bad, and named as the variable
    with pytest.raises(SettingsError) as caught:
        load_settings(llm_temperature="hot")
    assert caught.value.problems == [
        "invalid llm_temperature='hot': " + NUMBER,
        f"invalid PAPERS_LLM_TIMEOUT='abc': {NUMBER}",
    ]
    monkeypatch.setenv("PAPERS_LLM_TIMEOUT", "5")
    with pytest.raises(ValidationError) as raw:  # PaperAssistant(Settings(llm_timeout=...))
        Settings(llm_timeout="soon")
    assert settings_error(raw.value).problems == [f"invalid llm_timeout='soon': {NUMBER}"]
    assert load_settings(llm_timeout=7).llm_timeout == 7.0


def test_settings_error_is_a_user_error():
    from assistant.errors import UserError

    assert issubclass(SettingsError, UserError)


def test_papers_cli_as_a_user_runs_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PAPERS_", "OPENAI_"))}
    env.update(PAPERS_INDEX_DIR=str(tmp_path / "indexes"), PAPERS_LLM_TIMEOUT="abc", HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "assistant.cli", "ask", "what is a transformer?"],
                          cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr == f"error: invalid PAPERS_LLM_TIMEOUT='abc': {NUMBER}\n"
    assert proc.stdout == ""


def test_app_py_reports_a_bad_setting(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PAPERS_EMBED_BACKEND", "openia")
    spec = importlib.util.spec_from_file_location("paper_app", PROJECT_DIR / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    assert app.main(["--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err == "error: invalid PAPERS_EMBED_BACKEND='openia': Input should be 'local' or 'openai'\n"
    assert_no_index_made(tmp_path)


# --- the UI: usage under an answer ------------------------------------------------------------


def _ledger_usage(estimated: bool, attempts: int, prices: bool) -> dict:
    from assistant.llm import Completion, Ledger, Usage

    settings = SimpleNamespace(llm_price_in=2.0 if prices else None, llm_price_out=8.0 if prices else None)
    ledger = Ledger(settings, model="<b>m</b>")
    ledger.record("evidence", Completion("{}", Usage(1000, 200, estimated=estimated), attempts, 0.5, "<b>m</b>"))
    ledger.record("answer", Completion("a [1].", Usage(300, 50), 1, 0.7, "<b>m</b>"))
    return ledger.to_dict()


def test_ui_shows_usage_when_a_model_was_called():
    from assistant.records import Answer
    from assistant.ui.render import render_answer

    usage = _ledger_usage(estimated=True, attempts=3, prices=True)
    html_out = render_answer(Answer("q", "a [1].", backend="llm:m", usage=usage))
    assert ("usage: 2 model calls to &lt;b&gt;m&lt;/b&gt;, ≈1,550 tokens (1,300 in + 250 out, estimated), "
            "2 failed attempts, cost 0.0046") in html_out
    assert "<b>m</b>" not in html_out

    plain = render_answer(Answer("q", "a [1].", backend="llm:m",
                                 usage=_ledger_usage(estimated=False, attempts=1, prices=False)))
    assert "usage: 2 model calls to &lt;b&gt;m&lt;/b&gt;, 1,550 tokens (1,300 in + 250 out)<" in plain
    assert "≈" not in plain and "estimated" not in plain and "failed" not in plain and "cost" not in plain


def test_ui_shows_no_usage_without_a_model():
    from assistant.records import Answer
    from assistant.ui.render import render_answer, usage_line

    assert "usage:" not in render_answer(Answer("q", "a [1]."))
    assert usage_line({}) == ""

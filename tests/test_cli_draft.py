"""The CLI's streamed draft (`cli._Draft`): shown on a terminal only, and erased
entirely, every row of it, before the checked answer is printed."""

from __future__ import annotations

import io
import os

from assistant.cli import _Draft


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_draft_is_labelled_then_every_row_is_erased(monkeypatch):
    monkeypatch.setattr("shutil.get_terminal_size", lambda *a, **k: os.terminal_size((40, 24)))
    term = Terminal()
    draft = _Draft(term)
    draft.write("<source n=\"7\"> echoed\n")
    draft.write("x" * 100)  # wraps over 3 rows of 40 columns
    draft.clear()
    out = term.getvalue()
    assert out.startswith("\x1b[2mdraft (not yet checked):\n<source")
    # label (1 row) + "<source..." (1 row) + 100 characters (3 rows) = 5 rows: the cursor's row
    # is cleared, then the 4 above it.
    assert out.endswith("\x1b[0m\r\x1b[2K" + "\x1b[1A\x1b[2K" * 4)


def test_no_draft_is_written_when_the_output_is_not_a_terminal():
    pipe = io.StringIO()
    draft = _Draft(pipe)
    draft.write("[/INST] echoed prompt")
    draft.clear()
    assert pipe.getvalue() == ""


def test_the_models_control_characters_never_reach_the_terminal(monkeypatch):
    monkeypatch.setattr("shutil.get_terminal_size", lambda *a, **k: os.terminal_size((40, 24)))
    term = Terminal()
    draft = _Draft(term)
    draft.write("ok \x1b]0;pwned\x07 \x1b[31mred\tand\nnext")
    out = term.getvalue()
    assert "]0;pwned" in out and "\x07" not in out and "\x1b]" not in out and "\x1b[31m" not in out
    assert "red and\nnext" in out  # a tab is a space: the rows counted are the rows shown

"""JSON Lines, read one way everywhere: the index's record and chunk files, the eval
datasets, BEIR folders. Each reader says which file and line is bad, through the
`error` class its caller gives (a `UserError` kind: `CorruptIndex`, `EvalError` ...).
(User input files go through `ingest/jsonfmt.py` instead, which reports a bad line as a
problem of that file and goes on with the rest.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from assistant.errors import UserError


def lines(
    path: Path, error: type[Exception] = UserError, line_error: str = "{where}: {reason}"
) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) of each non-blank line, decoded as UTF-8 line by line
    (a byte-order mark on the first line is dropped) so a bad byte is reported with its line.
    `line_error`: how a bad line's message reads ({where} is path:line)."""
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    reason = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
                    raise error(line_error.format(where=f"{path}:{number}", reason=reason)) from None
                if text.strip():
                    yield number, text
    except FileNotFoundError:
        raise error(f"{path}: missing") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None


def objects(
    path: Path, error: type[Exception] = UserError, line_error: str = "{where}: {reason}"
) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line, which must hold one JSON object
    (`line_error` as in `lines`)."""
    for number, text in lines(path, error, line_error):
        where = f"{path}:{number}"
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            reason = f"invalid JSON: {exc.msg} (column {exc.colno})"
            raise error(line_error.format(where=where, reason=reason)) from None
        if not isinstance(obj, dict):
            reason = f"expected a JSON object, got {type(obj).__name__}"
            raise error(line_error.format(where=where, reason=reason))
        yield number, obj


def dumps(rows: list[dict]) -> str:
    """`rows` as JSON Lines text (UTF-8 kept as is)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)

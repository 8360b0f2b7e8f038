"""Pieces shared by the structured layouts (RIS, CSL-JSON, arXiv Atom, OpenAlex,
Semantic Scholar, and the JSON/CSV/BibTeX field mappings): a JSON document read
item by item with the line each item starts on, identifiers read with a warning
when a value is not one, dates, field type checks, and names written with commas."""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from assistant.errors import BadField
from assistant.identity import arxiv_of_doi, normalize_arxiv, normalize_doi, normalize_pmid
from assistant.ingest.base import Collector, preview

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
# Why reading stops at a value nested deeper than Python's recursion limit (about 1,000 levels).
TOO_DEEP = "JSON nested too deeply to read: lists or objects about a thousand levels inside each other"


def decode(text: str, pos: int = 0) -> tuple[Any, int]:
    """The JSON value at `pos` and the position after it (json's raw_decode); a value nested
    too deeply for Python's json raises JSONDecodeError(TOO_DEEP) at `pos`, not RecursionError."""
    try:
        return _DECODER.raw_decode(text, pos)
    except RecursionError:
        raise json.JSONDecodeError(TOO_DEEP, text, pos) from None


class JsonDoc:
    """A JSON document read one item at a time, each with the line it starts on.

    The items are the elements of a top-level list, of a list held under one of
    `list_keys` in a top-level object (its other members land in `members`), or
    else the top-level object itself. Reading stops at the first syntax error
    (kept in `error`), so the items before a cut or a typo are still read."""

    def __init__(self, text: str, list_keys: tuple[str, ...] = ()) -> None:
        self.text = text
        self.list_keys = list_keys
        self.members: dict[str, Any] = {}
        self.list_key: str | None = None  # the key the items were read from
        self.shape: str | None = None  # "list", "wrapped" (a list under a key), "object"
        self.error: json.JSONDecodeError | None = None
        self._pos, self._line = 0, 1

    def line_at(self, pos: int) -> int:
        """Line number of text position `pos` (positions are asked in increasing order)."""
        if pos < self._pos:
            self._pos, self._line = 0, 1
        self._line += self.text.count("\n", self._pos, pos)
        self._pos = pos
        return self._line

    def items(self) -> Iterator[tuple[int, Any]]:
        """(line, item) for each item; on a syntax error, sets `error` and stops."""
        try:
            yield from self._items()
        except json.JSONDecodeError as exc:
            self.error = exc

    def _ws(self, pos: int) -> int:
        return _WS.match(self.text, pos).end()  # type: ignore[union-attr]  # (always matches)

    def _expect(self, pos: int, chars: str, what: str) -> str:
        char = self.text[pos : pos + 1]
        if not char or char not in chars:
            raise json.JSONDecodeError(f"Expecting {what}", self.text, pos)
        return char

    def _items(self) -> Generator[tuple[int, Any], None, None]:
        pos = self._ws(0)
        first = self.text[pos : pos + 1]
        if first == "[":
            self.shape = "list"
            pos = yield from self._array(pos)
        elif first == "{":
            start, pos = pos, self._ws(pos + 1)
            while self._expect(pos, '"}', "property name enclosed in double quotes") == '"':
                key, pos = decode(self.text, pos)
                pos = self._ws(pos)
                self._expect(pos, ":", "':' delimiter")
                pos = self._ws(pos + 1)
                if key in self.list_keys and self.list_key is None and self.text[pos : pos + 1] == "[":
                    self.shape, self.list_key = "wrapped", key
                    pos = yield from self._array(pos)
                else:
                    self.members[key], pos = decode(self.text, pos)
                pos = self._ws(pos)
                if self._expect(pos, ",}", "',' delimiter") == "}":
                    break
                pos = self._ws(pos + 1)
            pos += 1
            if self.shape is None:
                self.shape = "object"
                yield self.line_at(start), self.members
        else:
            raise json.JSONDecodeError("Expecting '[' or '{' (not a JSON list or object)", self.text, pos)
        pos = self._ws(pos)
        if pos < len(self.text):
            raise json.JSONDecodeError("Extra data after the JSON document", self.text, pos)

    def _array(self, pos: int) -> Generator[tuple[int, Any], None, int]:
        """Yield the elements of the list at `pos`; returns the position after it."""
        pos = self._ws(pos + 1)
        if self.text[pos : pos + 1] == "]":
            return pos + 1
        while True:
            item, end = decode(self.text, pos)
            yield self.line_at(pos), item
            pos = self._ws(end)
            if self._expect(pos, ",]", "',' delimiter") == "]":
                return pos + 1
            pos = self._ws(pos + 1)


def objects(doc: JsonDoc, col: Collector, what: str, expected: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, item) for each item of `doc` that is an object; any other item is skipped
    ("<what> is a number (3), expected <expected>")."""
    for line, item in doc.items():
        if isinstance(item, dict):
            yield line, item
        else:
            col.skip(line, f"{what} is {kind(item)} ({shown(item)}), expected {expected}")


def text_fields(col: Collector, line: int, obj: dict[str, Any], *keys: str) -> list[str] | None:
    """The text of each field of `keys` (see `text_field`); None, the entry skipped with
    the reason, when one of them is not text."""
    try:
        return [text_field(obj, key) for key in keys]
    except BadField as exc:
        col.skip(line, str(exc))
        return None


def json_error(col: Collector, doc: JsonDoc) -> None:
    """Report the syntax error that stopped reading `doc`, if any."""
    if doc.error is not None:
        exc = doc.error
        read = " (the entries before it were read)" if col.report.papers or col.report.skipped else ""
        where = f"(line {exc.lineno}, column {exc.colno}){read}"
        if exc.msg == TOO_DEEP:
            col.skip(exc.lineno, f"{TOO_DEEP} {where}")
            return
        what = "invalid JSON, the file is cut short" if exc.pos >= len(doc.text.rstrip()) else "invalid JSON"
        col.skip(exc.lineno, f"{what}: {exc.msg} {where}")


# The lists that scholarly APIs wrap their items in: OpenAlex "results", Semantic Scholar "data".
WRAPPER_KEYS = ("results", "data")


@dataclass(frozen=True)
class Peek:
    """What detection needs of a JSON document: its shape ("list", "wrapped", "object", or
    "json-lines" for objects one after another), the key its items are under, the names of
    the wrapper's other members, and its first items."""

    shape: str | None
    list_key: str | None
    keys: frozenset[str]
    items: tuple[Any, ...]


# The last answer of `peek_json`, for the same lines: (id of the lines, their count, their
# first line (the object itself, so the id cannot be another list's), the answer).
_peeked: tuple[int, int, str, Peek | None] | None = None


def peek_json(lines: list[str], first: int = 5) -> Peek | None:
    """For detection: the document read up to its `first` items, or None when the text does
    not start like a JSON list or object. Every JSON layout asks about the same file: the
    answer is kept for the last file's lines (not the lines themselves)."""
    global _peeked
    if not lines:
        return None
    if _peeked is not None and _peeked[:2] == (id(lines), len(lines)) and _peeked[2] is lines[0]:
        return _peeked[3]
    head = next((line.strip() for line in lines if line.strip()), "")
    peek = None
    if head.startswith(("[", "{")):
        doc = JsonDoc("\n".join(lines), WRAPPER_KEYS)
        items: list[Any] = []
        for _, item in doc.items():
            items.append(item)
            if len(items) >= first:
                break
        # One object followed by more: JSON Lines, not one document.
        lines_of_json = doc.shape == "object" and doc.error is not None and doc.error.msg.startswith("Extra data")
        peek = Peek("json-lines" if lines_of_json else doc.shape, doc.list_key, frozenset(doc.members), tuple(items))
    _peeked = (id(lines), len(lines), lines[0], peek)
    return peek


# --- field values --------------------------------------------------------------------------------


def kind(value: Any) -> str:
    """'a number', 'a list'...: how a JSON value's type is named in messages."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else "text"


def shown(value: Any) -> str:
    """A value as a message quotes it: text in quotes, anything else as JSON, shortened."""
    if isinstance(value, str):
        return preview(repr(value), 40)
    try:
        return preview(json.dumps(value, ensure_ascii=False), 40)
    except (RecursionError, TypeError, ValueError):  # nested too deeply to write back
        return kind(value)


def text_field(obj: dict[str, Any], key: str) -> str:
    """The text of field `key` ('' when absent or null); BadField when it is not text."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadField(f"field {key!r} is {kind(value)} ({shown(value)}), expected text")
    return value


def optional_text(col: Collector, line: int, obj: dict[str, Any], key: str) -> str | None:
    """Text of an optional field; a value of another type is warned about and ignored."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # an id or a year written as a number
    if not isinstance(value, str):
        col.warn(line, f"field {key!r} is {kind(value)} ({shown(value)}), expected text; ignored", col.next_entry)
        return None
    return value.strip() or None


def list_field(col: Collector, line: int, obj: dict[str, Any], key: str, name: str | None = None) -> list[Any]:
    """The list in field `key` ([] when absent or null); a value of another type is warned
    about ("field 'authors' is a number (3), expected a list; ignored") and ignored. `name`
    names the field in the message when `key` alone does not say where it is."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        field = name or f"field {key!r}"
        col.warn(line, f"{field} is {kind(value)} ({shown(value)}), expected a list; ignored", col.next_entry)
        return []
    return value


def year_field(col: Collector, line: int, obj: dict[str, Any], key: str) -> int | None:
    """The year in field `key` (a number or text); None, with a warning, when the value is
    not a year between 1500 and 2100."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    year = make_date(value)[1]
    if year is None:
        col.warn(line, f"field {key!r}: {shown(value)} is not a year; ignored", col.next_entry)
    return year


# --- identifiers -----------------------------------------------------------------------------------


def arxiv_from(*values: str | None) -> str | None:
    """An arXiv id found in a link (arxiv.org/abs/...), an 'arXiv:...' id or an arXiv DOI
    (10.48550/arXiv....); None when no value is one."""
    for value in values:
        if not value:
            continue
        doi = normalize_doi(value)
        if doi and (arxiv := arxiv_of_doi(doi)):
            return arxiv
        found = normalize_arxiv(value.strip(), bare=False)
        if found:
            return found
    return None


def identifiers(
    col: Collector,
    line: int,
    doi: Any = None,
    arxiv: Any = None,
    pmid: Any = None,
    labels: dict[str, str] | None = None,
) -> dict[str, str]:
    """The DOI, arXiv id and PubMed id given, normalised, as Paper fields (doi, arxiv_id,
    pmid). A value that is not such an id is warned about and left out; `labels` names
    the field as the file spells it ({"doi": "tag DO"}; default "field 'doi'")."""
    found: dict[str, str] = {}
    for key, name, value, norm in (
        ("doi", "DOI", doi, normalize_doi),
        ("arxiv_id", "arXiv id", arxiv, normalize_arxiv),
        ("pmid", "PubMed id", pmid, normalize_pmid),
    ):
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        result = norm(text) if text else None
        if result:
            found[key] = result
        else:
            label = (labels or {}).get(key, f"field {key!r}")
            col.warn(line, f"{label}: {shown(value)} is not a {name}; ignored", col.next_entry)
    return found


# --- dates -----------------------------------------------------------------------------------------

_DATE_RE = re.compile(r"((?:1[5-9]|20)\d{2})(?:[-/](\d{1,2})(?:[-/](\d{1,2}))?)?")
_YEAR_RE = re.compile(r"(?<!\d)((?:1[5-9]|20)\d{2})(?!\d)")


def make_date(year: Any, month: Any = None, day: Any = None) -> tuple[str | None, int | None]:
    """(ISO date when year, month and day make one, else None; the year or None)."""
    try:  # (OverflowError: Infinity and 1e999, which Python's json reads as numbers)
        y = int(year)
    except (TypeError, ValueError, OverflowError):
        return None, None
    if not 1500 <= y <= 2100:
        return None, None
    try:
        return date(y, int(month), int(day)).isoformat(), y
    except (TypeError, ValueError, OverflowError):
        return None, y


def date_from_text(text: str | None) -> tuple[str | None, int | None]:
    """'2021-03-15', '2021/03/15/', '2021/03//', '2021-03-15T10:00:00Z', '2021', 'March 2021':
    (ISO date when the day is known, year)."""
    text = (text or "").strip()
    m = _DATE_RE.match(text)
    if m:
        return make_date(m[1], m[2], m[3])
    m = _YEAR_RE.search(text)
    return (None, int(m[1])) if m else (None, None)


# --- names ----------------------------------------------------------------------------------------

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_LATIN_ETC = re.compile(r"[A-Za-z\u00c0-\u024f\u0370-\u04ff]")


def comma_name(parts: Sequence[str], *, suffix_second: bool = False) -> tuple[str, str, str]:
    """(family, given, suffix) of a name written with commas, from its comma-separated parts:
    "Last, First" and "Last, First, Suffix" (RIS, EndNote, the exports), or with
    `suffix_second` BibTeX's "von Last, Jr, First". A missing part is ""."""
    parts = [" ".join(p.split()) for p in parts]
    family, rest = (parts[0], parts[1:]) if parts else ("", [])
    given = (rest[-1] if suffix_second else rest[0]) if rest else ""
    others = rest[:-1] if suffix_second else rest[1:]
    return family, given, " ".join(p for p in others if p)


def reading_order(parts: Sequence[str], *, suffix_second: bool = False) -> str:
    """A name given as comma-separated parts (see `comma_name`) in reading order: "First Last
    Suffix"; one part as it is; "" when every part is empty."""
    family, given, suffix = comma_name(parts, suffix_second=suffix_second)
    return full_name(given, family, suffix=suffix)


def full_name(given: str, family: str, *, middle: tuple[str, ...] = (), suffix: str = "") -> str:
    """A person's name in reading order: 'Jörg Müller', 'Ludwig van Beethoven', 'Martin Luther
    King Jr'; a Chinese, Japanese or Korean name family name first, unspaced ('李明')."""
    family, given = " ".join(family.split()), " ".join(given.split())
    if family and given and _CJK.search(family + given) and not _LATIN_ETC.search(family + given):
        return family + given
    return " ".join(p for p in (given, *middle, family, suffix) if p and p.strip())

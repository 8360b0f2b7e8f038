"""BibTeX (.bib) entries with `abstract` fields, e.g. exports from Zotero,
Google Scholar or arXiv. The citation key is the file's id of the paper; `doi`,
`eprint` (an arXiv id, with `archivePrefix = {arXiv}`) and `pmid` are its identifiers."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from assistant.identity import normalize_arxiv
from assistant.ingest.base import Collector
from assistant.ingest.mapping import add_mapping
from assistant.ingest.structured import reading_order

NAME = "bibtex"

ENTRY_RE = re.compile(r"@(?P<type>[A-Za-z]+)\s*[{(]")
SKIP_TYPES = {"comment", "preamble", "string"}
IDENTIFIERS = {"url", "doi", "eprint", "pmid"}  # fields read as written, not as LaTeX text
_ACCENTS = {
    '"': "\u0308",
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "c": "\u0327",
    "v": "\u030c",
    "u": "\u0306",
    "H": "\u030b",
    "k": "\u0328",
}
# An accent on a letter: \'e, \'{e}, {\'e}, \c{c}, \v c, {\'\i} (dotless i). Letter commands
# (\c, \v, ...) must not run into a letter: \cdot or \chi in math are other commands.
_ACCENT_RE = re.compile(
    r"\{?\\(?:([\"'`^~=.])|([cvuHk])(?![A-Za-z]))\s*\{?\s*(?:\\(?=[ij](?![A-Za-z])))?([A-Za-z])\}?\}?"
)
# Letters that are commands of their own: {\o}, \ss, {\L}ukasz.
_LETTERS = {
    "o": "ø",
    "O": "Ø",
    "ss": "ß",
    "ae": "æ",
    "AE": "Æ",
    "oe": "œ",
    "OE": "Œ",
    "aa": "å",
    "AA": "Å",
    "l": "ł",
    "L": "Ł",
}
_LETTER_RE = re.compile(r"\{?\\(" + "|".join(sorted(_LETTERS, key=len, reverse=True)) + r")(?![A-Za-z])\s*\}?")
# Font and link commands whose argument is plain text: \emph{word} -> word.
_TEXT_CMD_RE = re.compile(r"\\(?:emph|text(?:bf|it|tt|sc|rm|sf|up|sl|normal)|url|mbox)\s*(?=\{)")
# Text-mode symbols (\textbackslash{}) and escaped braces (\{), read last with the protective
# braces so that what they stand for is not read again as LaTeX.
_SYMBOLS = {
    "textbackslash": "\\",
    "textbraceleft": "{",
    "textbraceright": "}",
    "textasciitilde": "~",
    "textasciicircum": "^",
}
_SYMBOL_RE = re.compile(r"\\(" + "|".join(_SYMBOLS) + r")(?![A-Za-z])(?:\{\}|\s+)?|\\([{}])|[{}]")


def detect(lines: list[str], suffix: str) -> float:
    if suffix == ".bib":
        return 1.0
    hits = sum(1 for line in lines if ENTRY_RE.match(line.strip()))
    return 0.9 if hits else 0.0


_MATH_RE = re.compile(r"(?<!\\)\$\$.*?(?<!\\)\$\$|(?<!\\)\$.*?(?<!\\)\$", re.DOTALL)


def latex_to_text(value: str) -> str:
    """Undo the LaTeX that reference managers put in titles and names:
    accent commands, escaped specials and protective braces. Math ($...$) stays
    as written (its braces matter: $\\hat{x}$)."""
    parts, pos = [], 0
    for m in _MATH_RE.finditer(value):
        parts += [_plain(value[pos : m.start()]), m.group()]
        pos = m.end()
    parts.append(_plain(value[pos:]))
    return " ".join("".join(parts).split())


def _plain(value: str) -> str:
    value = _ACCENT_RE.sub(lambda m: unicodedata.normalize("NFC", m[3] + _ACCENTS[m[1] or m[2]]), value)
    value = _LETTER_RE.sub(lambda m: _LETTERS[m[1]], value)
    value = _TEXT_CMD_RE.sub("", value)
    value = re.sub(r"\\([&%_#$])", r"\1", value)
    value = value.replace("--", "–") if "---" not in value else value
    return _SYMBOL_RE.sub(lambda m: _SYMBOLS[m[1]] if m[1] else m[2] or "", value)


def _identifier(value: str) -> str:
    """A URL, DOI or eprint as written, escapes and braces undone: never read as text
    (a '--' in a URL is two hyphens, not a dash)."""
    value = re.sub(r"\\([&%_#$~])", r"\1", _TEXT_CMD_RE.sub("", "".join(value.split())))
    return value.replace("{", "").replace("}", "")


def _first_last(name: str) -> str:
    """A BibTeX name in reading order: "Last, First" and "von Last, Jr, First" become "First Last"
    and "First von Last Jr"; "First Last" stays; "" when it has no name (", "). Commas inside
    braces ({Barnes, Inc.}) are text."""
    return reading_order([latex_to_text(p) for p in _split_top(name, ",")], suffix_second=True)


def _split_top(text: str, sep: str) -> list[str]:
    """Split `text` at `sep` (a regex) where it is outside braces; each part stripped."""
    parts, depth, start = [], 0, 0
    for m in re.finditer(r"\\.|[{}]|" + sep, text):
        token = m.group()
        if token == "{":
            depth += 1
        elif token == "}":
            depth = max(depth - 1, 0)
        elif not token.startswith("\\") and depth == 0:
            parts.append(text[start : m.start()].strip())
            start = m.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _read_value(text: str, i: int) -> tuple[str, int]:
    """Read one field value starting at text[i]; returns (value, index after it).
    Raises ValueError when a brace or quote is never closed."""
    if i >= len(text):
        raise ValueError("the file ends where a value should be")
    if text[i] == "{":
        depth, j = 0, i
        while j < len(text):
            if text[j] == "\\":
                j += 2
                continue
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    return text[i + 1 : j], j + 1
            j += 1
        raise ValueError("unclosed '{'")
    if text[i] == '"':
        depth, j = 0, i + 1
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
            elif text[j] == '"' and depth == 0 and text[j - 1] != "\\":
                return text[i + 1 : j], j + 1
            j += 1
        raise ValueError("unclosed '\"'")
    m = re.compile(r"[\w.:-]+").match(text, i)
    if not m:
        raise ValueError(f"unexpected {text[i]!r}")
    return m.group(), m.end()


def _parse_fields(text: str, i: int) -> tuple[str, dict[str, str], int]:
    """Parse `key, name = value, ...}` from text[i]; returns (key, fields, end)."""
    fields: dict[str, str] = {}
    key = ""
    m = re.compile(r"\s*([^,\s{}()]*)\s*,").match(text, i)
    if m:
        key, i = m[1], m.end()
    field_re = re.compile(r"\s*([A-Za-z][\w-]*)\s*=\s*")
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text):
            raise ValueError("entry is never closed")
        if text[i] in "})":
            return key, fields, i + 1
        m = field_re.match(text, i)
        if not m:
            raise ValueError(f"expected 'name = value' near {text[i : i + 20]!r}")
        value, i = _read_value(text, m.end())
        parts = [value]
        while (m2 := re.compile(r"\s*#\s*").match(text, i)) and m2.end() < len(text):
            more, i = _read_value(text, m2.end())
            parts.append(more)
        fields[m[1].lower()] = "".join(parts)


# An entry's start at the beginning of a line: where reading resumes after a broken entry,
# and how far a first attempt at an entry reads.
_LINE_START_RE = re.compile(r"^[ \t]*(@[A-Za-z]+\s*[{(])", re.MULTILINE)


def _next_start(text: str, pos: int, line_start: bool) -> re.Match[str] | None:
    """The next `@type{` from `pos`: one that starts a line when `line_start`, else one at the
    start of the text or after whitespace (an `@` inside a word, as in an e-mail address, is not)."""
    if line_start:
        found = _LINE_START_RE.search(text, pos)
        return ENTRY_RE.match(text, found.start(1)) if found else None
    while (m := ENTRY_RE.search(text, pos)) and not (m.start() == 0 or text[m.start() - 1] in "\n \t"):
        pos = m.start() + 1
    return m


def _entries(text: str, col: Collector) -> Iterator[tuple[int, str, str, dict[str, str]]]:
    """(line, entry type, citation key, raw fields) of each entry, read one after another, so an
    `@word{` inside a field value starts nothing. A broken entry is reported and reading resumes
    at the next line that starts an entry."""
    pos, after_error = 0, False
    counted, line = 0, 1  # newlines are counted once, from the last entry on (entries come in order)
    while m := _next_start(text, pos, after_error):
        line += text.count("\n", counted, m.start())
        counted = m.start()
        if m["type"].lower() in SKIP_TYPES:
            try:  # skip the whole body: a comment may hold anything
                pos = _read_value(text, m.end() - 1)[1] if text[m.end() - 1] == "{" else m.end()
            except ValueError:
                pos = m.end()
            after_error = False
            continue
        following = _LINE_START_RE.search(text, m.end())
        limit = following.start() if following else len(text)
        try:  # (the entry's own text only: slicing from the start of the file would copy it all each time)
            base = m.start()
            key, fields, end = _parse_fields(text[base:limit], m.end() - base)
            end += base
        except ValueError as exc:
            try:  # a value may hold a line that starts like an entry: read past it
                key, fields, end = _parse_fields(text, m.end())
            except ValueError:
                col.skip(line, f"truncated or malformed @{m['type']} entry: {exc}")
                pos, after_error = m.end(), True
                continue
        yield line, m["type"], key, fields
        pos, after_error = end, False


def parse(lines: list[str], col: Collector) -> None:
    for line, _, key, fields in _entries("\n".join(lines), col):
        record: dict[str, Any] = {
            k: _identifier(v) if k in IDENTIFIERS else latex_to_text(v) for k, v in fields.items() if k != "author"
        }
        if "author" in fields:
            record["authors"] = [_first_last(name) for name in _split_top(fields["author"], r"(?i:\s+and\s+)")]
        archive = (record.pop("archiveprefix", "") or record.pop("eprinttype", "")).lower()
        eprint = record.pop("eprint", "")
        if eprint and (archive == "arxiv" or (not archive and normalize_arxiv(eprint, bare=False))):
            record.setdefault("arxiv_id", eprint)
        elif eprint and archive == "pubmed":
            record.setdefault("pmid", eprint)
        if key:
            record["id"] = key
        if "url" not in record and "doi" in record:
            record["url"] = "https://doi.org/" + record["doi"]
        if "url" not in record and (arxiv := normalize_arxiv(record.get("arxiv_id"))):
            record["url"] = "https://arxiv.org/abs/" + arxiv
        if "venue" not in record:
            record["venue"] = record.get("journal") or record.get("booktitle")
        if "category" not in record and "arxiv_id" in record and record.get("primaryclass"):
            record["category"] = record["primaryclass"]  # arXiv's primary category (cs.LG)
        add_mapping(col, line, record)

"""Records given as field mappings (JSON, JSONL, CSV, BibTeX) share one
conversion: which keys are accepted and how authors, years and identifiers are read.
BEIR corpus files (`_id`, `title`, `text`) are such records too: `_id` is the file's
id of the paper and `text` its abstract."""

from __future__ import annotations

import re
from typing import Any

from assistant.ingest.base import Collector
from assistant.ingest.structured import identifiers, kind, shown

TITLE_KEYS = ("title",)
ABSTRACT_KEYS = ("abstract", "summary", "text")  # `text`: BEIR corpora
ID_KEYS = ("id", "_id")  # `_id`: BEIR corpora
FIELDS = "title, abstract, optional authors, year, url, id, doi, arxiv_id, pmid, category, date"


def _text(value: Any) -> str | None:
    """A value as text: text or a number as written, the texts of a list (of lists...) joined
    by spaces, "" for null; None for an object or a list holding one."""
    out: list[str] = []
    todo = [value]
    while todo:  # (a loop, not recursion: a list may be nested a thousand deep)
        item = todo.pop()
        if isinstance(item, (list, tuple)):
            todo += reversed(item)
        elif isinstance(item, dict):
            return None
        elif item is not None:
            out.append(str(item).strip())
    return " ".join(out)


def split_authors(value: Any) -> tuple[list[str], bool]:
    """Authors as a list, or a string joined by ';', ' and ' or ','.
    A trailing "et al." / "others" becomes a flag, not a name. An object (in the list) is
    not a name: left out."""
    if value is None or value == "" or isinstance(value, dict):
        return [], False
    if isinstance(value, (list, tuple)):
        names = [t or "" for t in map(_text, value)]
    else:
        text = str(value).strip()
        sep = ";" if ";" in text else (r"\s+and\s+" if re.search(r"\s+and\s+", text) else ",")
        names = re.split(sep, text)
    names = [" ".join(n.split()) for n in names if n and n.strip()]
    et_al = False
    if names and re.fullmatch(r"(?i)(et al\.?|others)", names[-1]):
        names, et_al = names[:-1], True
    elif names and re.search(r"(?i)\s+et al\.?$", names[-1]):
        names[-1], et_al = re.sub(r"(?i)\s+et al\.?$", "", names[-1]), True
    return names, et_al


def add_mapping(col: Collector, line: int, obj: Any) -> None:
    if not isinstance(obj, dict):
        col.skip(line, f"expected an object with fields ({FIELDS}), got {type(obj).__name__}")
        return
    lower = {str(k).strip().lower(): v for k, v in obj.items()}
    if "title" not in lower and not any(k in lower for k in ABSTRACT_KEYS):
        col.skip(line, f"no 'title' or 'abstract' field (found: {', '.join(sorted(lower)) or 'nothing'})")
        return
    texts = []
    for keys in (TITLE_KEYS, ABSTRACT_KEYS):
        key = next((k for k in keys if k in lower), "")
        text = _text(lower[key]) if key else ""
        if text is None:
            col.skip(line, f"field {key!r} is {kind(lower[key])} ({shown(lower[key])}), expected text")
            return
        texts.append(text)
    title, abstract = texts

    def ignored(key: str, value: Any, what: str) -> None:
        col.warn(line, f"field {key!r}: {shown(value)} is not {what}; ignored", col.next_entry)

    who = next((k for k in ("authors", "author") if k in lower), "authors")
    authors, et_al = split_authors(lower.get(who))
    if isinstance(lower.get(who), dict):
        ignored(who, lower[who], "a list of names")
    elif isinstance(lower.get(who), list) and _text(lower[who]) is None:
        col.warn(line, f"field {who!r}: {shown(lower[who])} holds objects, not names; they are ignored", col.next_entry)
    meta: dict[str, Any] = dict(authors=authors, authors_et_al=et_al)
    year = lower.get("year")
    if year not in (None, ""):
        m = re.search(r"(?:19|20)\d{2}", text) if (text := _text(year)) is not None else None
        if m:
            meta["year"] = int(m.group())
        else:
            ignored("year", year, "a year")
    for key in ("url", "category", "date", "venue"):
        if lower.get(key) not in (None, ""):
            if (text := _text(lower[key])) is None:
                ignored(key, lower[key], "text")
            else:
                meta[key] = text
    if "year" not in meta and (m := re.match(r"((?:19|20)\d{2})(?:-\d{2}){0,2}$", meta.get("date", ""))):
        meta["year"] = int(m[1])  # an ISO date says the year too
    if "has_code" in lower:
        meta["has_code"] = isinstance(lower["has_code"], (str, int)) and (
            str(lower["has_code"]).strip().lower() in ("1", "true", "yes")
        )
    own_key = next((k for k in ID_KEYS if lower.get(k) not in (None, "")), None)
    if own_key is not None:
        if (own := _text(lower[own_key])) is None:
            ignored(own_key, lower[own_key], "an id")
        else:
            meta["external_id"] = own
    arxiv_key = next((k for k in ("arxiv_id", "arxiv") if lower.get(k) not in (None, "")), "arxiv_id")
    labels = {"doi": "field 'doi'", "arxiv_id": f"field {arxiv_key!r}", "pmid": "field 'pmid'"}
    meta.update(identifiers(col, line, lower.get("doi"), lower.get(arxiv_key), lower.get("pmid"), labels))
    col.add(line, title, abstract, **meta)

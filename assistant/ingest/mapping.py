"""Records given as field mappings (JSON, JSONL, CSV, BibTeX) share one
conversion: which keys are accepted and how authors, years and identifiers are read.
BEIR corpus files (`_id`, `title`, `text`) are such records too: `_id` is the file's
id of the paper and `text` its abstract."""

from __future__ import annotations

import re
from typing import Any

from assistant.ingest.base import Collector
from assistant.ingest.structured import identifiers

TITLE_KEYS = ("title",)
ABSTRACT_KEYS = ("abstract", "summary", "text")  # `text`: BEIR corpora
ID_KEYS = ("id", "_id")  # `_id`: BEIR corpora
FIELDS = "title, abstract, optional authors, year, url, id, doi, arxiv_id, pmid, category, date"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(_text(v) for v in value)
    return str(value).strip()


def split_authors(value: Any) -> tuple[list[str], bool]:
    """Authors as a list, or a string joined by ';', ' and ' or ','.
    A trailing "et al." / "others" becomes a flag, not a name."""
    if value is None or value == "":
        return [], False
    if isinstance(value, (list, tuple)):
        names = [_text(v) for v in value]
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
    title = next((_text(lower[k]) for k in TITLE_KEYS if k in lower), "")
    abstract = next((_text(lower[k]) for k in ABSTRACT_KEYS if k in lower), "")
    if "title" not in lower and not any(k in lower for k in ABSTRACT_KEYS):
        col.skip(line, f"no 'title' or 'abstract' field (found: {', '.join(sorted(lower)) or 'nothing'})")
        return
    authors, et_al = split_authors(lower.get("authors", lower.get("author")))
    meta: dict[str, Any] = dict(authors=authors, authors_et_al=et_al)
    year = lower.get("year")
    if year not in (None, ""):
        m = re.search(r"(?:19|20)\d{2}", str(year))
        if m:
            meta["year"] = int(m.group())
        else:
            col.warn(line, f"field 'year': {year!r} is not a year; ignored", col.next_entry)
    for key in ("url", "category", "date", "venue"):
        if lower.get(key) not in (None, ""):
            meta[key] = _text(lower[key])
    if "year" not in meta and (m := re.match(r"((?:19|20)\d{2})(?:-\d{2}){0,2}$", meta.get("date", ""))):
        meta["year"] = int(m[1])  # an ISO date says the year too
    if "has_code" in lower:
        meta["has_code"] = str(lower["has_code"]).strip().lower() in ("1", "true", "yes")
    own = next((lower[k] for k in ID_KEYS if lower.get(k) not in (None, "")), None)
    if own is not None:
        meta["external_id"] = _text(own)
    arxiv_key = next((k for k in ("arxiv_id", "arxiv") if lower.get(k) not in (None, "")), "arxiv_id")
    labels = {"doi": "field 'doi'", "arxiv_id": f"field {arxiv_key!r}", "pmid": "field 'pmid'"}
    meta.update(identifiers(col, line, lower.get("doi"), lower.get(arxiv_key), lower.get("pmid"), labels))
    col.add(line, title, abstract, **meta)

"""CSL-JSON: a list of Citation Style Language items, as Zotero ("CSL JSON", and
Better BibTeX's "Better CSL JSON"), Mendeley, Pandoc and citeproc tools write them:

    [{"id": "lee2021sparse", "type": "article-journal", "title": "...", "abstract": "...",
      "author": [{"family": "Lee", "given": "Ann"}], "issued": {"date-parts": [[2021, 3, 15]]},
      "container-title": "...", "DOI": "10.1000/x", "URL": "...", "PMID": "123"}]

Told apart from a plain JSON list of papers by its items: a `type` with an `author`
list of name objects, an `issued` date or a `container-title`."""

from __future__ import annotations

from typing import Any

from assistant.ingest.base import Collector
from assistant.ingest.structured import (
    JsonDoc,
    arxiv_from,
    date_from_text,
    full_name,
    identifiers,
    json_error,
    list_field,
    make_date,
    objects,
    optional_text,
    peek_json,
    shown,
    text_fields,
)

NAME = "csl-json"
NAME_PARTS = ("given", "dropping-particle", "non-dropping-particle", "family", "suffix")


# The item types of CSL 1.0.2: an item with one of them and none of `_OTHER_KEYS` is CSL, even
# with no author or date (what a CSL export of papers without authors looks like).
CSL_TYPES = frozenset(
    "article article-journal article-magazine article-newspaper bill book broadcast chapter classic collection "
    "dataset document entry entry-dictionary entry-encyclopedia event figure graphic hearing interview legal_case "
    "legislation manuscript map motion_picture musical_score pamphlet paper-conference patent performance "
    "periodical personal_communication post post-weblog regulation report review review-book software song speech "
    "standard thesis treaty webpage".split()
)


# Keys of the layouts whose items also carry a `type`: plain JSON, OpenAlex, Semantic Scholar.
_OTHER_KEYS = frozenset({"authors", "year", "display_name", "abstract_inverted_index", "authorships", "paperId"})


def looks_like_csl(item: Any) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        return False
    author = item.get("author")
    names = isinstance(author, list) and bool(author) and all(isinstance(a, dict) for a in author)
    typed = item["type"] in CSL_TYPES and not _OTHER_KEYS.intersection(item)
    return names or typed or isinstance(item.get("issued"), dict) or "container-title" in item


def detect(lines: list[str], suffix: str) -> float:
    if suffix == ".jsonl":
        return 0.0
    peek = peek_json(lines)
    if peek is None or peek.shape not in ("list", "object"):
        return 0.0
    return 1.2 if sum(map(looks_like_csl, peek.items)) * 2 > len(peek.items) else 0.0


def parse(lines: list[str], col: Collector) -> None:
    doc = JsonDoc("\n".join(lines))
    for line, item in objects(doc, col, "CSL item", "an object with title, author, issued"):
        fields = text_fields(col, line, item, "title", "abstract")
        if fields is not None:
            col.add(line, *fields, **_meta(col, line, item))
    json_error(col, doc)


def _meta(col: Collector, line: int, item: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"authors": _authors(list_field(col, line, item, "author"))}
    day, year = _issued(item.get("issued"))
    if not year and item.get("issued") is not None:
        col.warn(line, f"field 'issued': {shown(item['issued'])} gives no year; ignored", col.next_entry)
    if year:
        meta["year"] = year
    if day:
        meta["date"] = day
    for key, field in (("url", "URL"), ("venue", "container-title")):
        if value := optional_text(col, line, item, field):
            meta[key] = value
    doi, pmid = optional_text(col, line, item, "DOI"), optional_text(col, line, item, "PMID")
    number, archive = optional_text(col, line, item, "number"), optional_text(col, line, item, "archive_location")
    meta.update(identifiers(col, line, doi=doi, pmid=pmid, labels={"doi": "field 'DOI'", "pmid": "field 'PMID'"}))
    arxiv = arxiv_from(meta.get("url"), doi, *(t for t in (number, archive) if t and t.lower().startswith("arxiv:")))
    if arxiv:
        meta["arxiv_id"] = arxiv
    own = optional_text(col, line, item, "id") or optional_text(col, line, item, "citation-key")
    if own:
        meta["external_id"] = own
    if "url" not in meta and "doi" in meta:
        meta["url"] = "https://doi.org/" + meta["doi"]
    return meta


def _authors(value: list[Any]) -> list[str]:
    names = []
    for person in value:
        if isinstance(person, dict):
            part = {k: v if isinstance(v, str) else "" for k in NAME_PARTS if (v := person.get(k)) is not None}
            literal = person.get("literal")
            name = (
                literal
                if isinstance(literal, str) and literal.strip()
                else full_name(
                    part.get("given", ""),
                    part.get("family", ""),
                    middle=(part.get("dropping-particle", ""), part.get("non-dropping-particle", "")),
                    suffix=part.get("suffix", ""),
                )
            )
        else:
            name = person if isinstance(person, str) else ""
        if name.strip():
            names.append(" ".join(name.split()))
    return names


def _issued(value: Any) -> tuple[str | None, int | None]:
    """CSL dates: {"date-parts": [[2021, 3, 15]]} (numbers or strings), {"raw": "2021-03-15"},
    {"literal": "Spring 2021"}."""
    if not isinstance(value, dict):
        return None, None
    parts = value.get("date-parts")
    if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
        first = [*parts[0], None, None][:3]
        return make_date(*first)
    for key in ("raw", "literal"):
        if isinstance(value.get(key), str):
            return date_from_text(value[key])
    return None, None

"""Saved responses of scholarly web APIs:

- OpenAlex works (`api.openalex.org/works`): a page `{"meta": ..., "results": [work, ...]}`,
  a list of works or one work. The abstract comes as `abstract_inverted_index`
  ({word: [positions]}), rebuilt here into text.
- Semantic Scholar Graph API papers (`api.semanticscholar.org/graph/v1/paper/search`):
  `{"total": ..., "offset": ..., "data": [paper, ...]}`, a list of papers or one paper.

Each work or paper is located by the line it starts on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.ingest.base import Collector, preview
from assistant.ingest.structured import (
    JsonDoc,
    arxiv_from,
    date_from_text,
    identifiers,
    json_error,
    list_field,
    objects,
    optional_text,
    peek_json,
    text_fields,
    year_field,
)

OPENALEX = "openalex"
SEMANTIC_SCHOLAR = "semantic-scholar"
_OPENALEX_URL = "https://openalex.org/"


def _looks_like(lines: list[str], suffix: str, key: str, is_item: Callable[[dict[str, Any]], bool]) -> float:
    """1.2 when the document is a page wrapping its items under `key`, a list of items or
    one item, and most of its first items pass `is_item`."""
    if suffix == ".jsonl":
        return 0.0
    peek = peek_json(lines)
    if peek is None or peek.shape not in ("list", "object", "wrapped") or peek.list_key not in (None, key):
        return 0.0
    items = [item for item in peek.items if isinstance(item, dict)]
    if not peek.items:  # an empty page still says what it is
        page = "meta" in peek.keys if key == "results" else bool({"total", "offset", "next", "token"} & peek.keys)
        return 1.2 if peek.shape == "wrapped" and page else 0.0
    return 1.2 if sum(map(is_item, items)) * 2 > len(peek.items) else 0.0


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- OpenAlex ---------------------------------------------------------------------------------------


def _is_work(item: dict[str, Any]) -> bool:
    ident = item.get("id")
    return (isinstance(ident, str) and ident.startswith(_OPENALEX_URL + "W")) or (
        "authorships" in item or "abstract_inverted_index" in item
    )


def detect_openalex(lines: list[str], suffix: str) -> float:
    return _looks_like(lines, suffix, "results", _is_work)


def abstract_from_index(index: Any) -> str | None:
    """Text from OpenAlex's inverted index ({"Deep": [0], "nets": [1, 5]}), words put back at
    their positions; None when `index` is not such an index."""
    if not isinstance(index, dict):
        return None
    placed: list[tuple[int, str]] = []
    for word, positions in index.items():
        if not isinstance(positions, list) or not all(isinstance(p, int) for p in positions):
            return None
        placed += [(p, word) for p in positions]
    return " ".join(word for _, word in sorted(placed))


def parse_openalex(lines: list[str], col: Collector) -> None:
    doc = JsonDoc("\n".join(lines), ("results",))
    for line, work in objects(doc, col, "OpenAlex result", "a work object"):
        fields = text_fields(col, line, work, "title", "display_name")
        if fields is None:
            continue
        title = fields[0] or fields[1]
        ident = (optional_text(col, line, work, "id") or "").removeprefix(_OPENALEX_URL)
        name = f"{preview(title)!r} ({ident})" if ident else repr(preview(title))
        index = work.get("abstract_inverted_index")
        abstract = abstract_from_index(index)
        if title.strip() and index is None:
            why = "is null" if "abstract_inverted_index" in work else "is missing"
            col.skip(line, f"title with no abstract (abstract_inverted_index {why}): {name}")
            continue
        if index is not None and abstract is None:
            col.skip(line, f"abstract_inverted_index is not a map of words to positions: {name}")
            continue
        col.add(line, title, abstract, **_openalex_meta(col, line, work, ident))
    json_error(col, doc)


def _openalex_meta(col: Collector, line: int, work: dict[str, Any], ident: str) -> dict[str, Any]:
    authors, affiliations = [], []
    for number, authorship in enumerate(list_field(col, line, work, "authorships"), start=1):
        if not isinstance(authorship, dict):
            continue
        author = authorship.get("author") or {}
        name = author.get("display_name") if isinstance(author, dict) else None
        name = name or authorship.get("raw_author_name")
        if isinstance(name, str) and name.strip():
            authors.append(" ".join(name.split()))
        places = list_field(col, line, authorship, "institutions", f"field 'institutions' of authorship {number}")
        for institution in places:
            place = institution.get("display_name") if isinstance(institution, dict) else None
            if isinstance(place, str) and place and place not in affiliations:
                affiliations.append(place)
    meta: dict[str, Any] = {"authors": authors, "affiliations": affiliations}
    meta["authors_et_al"] = work.get("is_authors_truncated") is True
    day, year = date_from_text(optional_text(col, line, work, "publication_date"))
    year = year or year_field(col, line, work, "publication_year")
    meta.update({k: v for k, v in (("date", day), ("year", year)) if v})
    ids = _obj(work.get("ids"))
    doi = optional_text(col, line, work, "doi") or optional_text(col, line, ids, "doi")
    pmid = optional_text(col, line, ids, "pmid")
    meta.update(identifiers(col, line, doi=doi, pmid=pmid, labels={"doi": "field 'doi'", "pmid": "field 'ids.pmid'"}))
    location = _obj(work.get("primary_location"))
    source = _obj(location.get("source"))
    if venue := optional_text(col, line, source, "display_name"):
        meta["venue"] = venue
    places = [location, *list_field(col, line, work, "locations")]
    urls = [loc.get("landing_page_url") for loc in places if isinstance(loc, dict)]
    urls = [u for u in urls if isinstance(u, str) and u]
    if urls:
        meta["url"] = urls[0]
    if arxiv := arxiv_from(*urls, doi):
        meta["arxiv_id"] = arxiv
    own = ident or (optional_text(col, line, ids, "openalex") or "").removeprefix(_OPENALEX_URL)
    if own:
        meta["external_id"] = own
    return meta


# --- Semantic Scholar ----------------------------------------------------------------------------------


def _is_s2_paper(item: dict[str, Any]) -> bool:
    return "paperId" in item or ("externalIds" in item and "title" in item)


def detect_semantic_scholar(lines: list[str], suffix: str) -> float:
    return _looks_like(lines, suffix, "data", _is_s2_paper)


def parse_semantic_scholar(lines: list[str], col: Collector) -> None:
    doc = JsonDoc("\n".join(lines), ("data",))
    for line, paper in objects(doc, col, "Semantic Scholar item", "a paper object"):
        fields = text_fields(col, line, paper, "title", "abstract")
        if fields is None:
            continue
        title, abstract = fields
        ident = optional_text(col, line, paper, "paperId")
        if title.strip() and paper.get("abstract") is None:
            named = f"{preview(title)!r}" + (f" (paperId {ident})" if ident else "")
            col.skip(line, f"title with no abstract (abstract is null): {named}")
            continue
        col.add(line, title, abstract, **_s2_meta(col, line, paper, ident))
    json_error(col, doc)


def _s2_meta(col: Collector, line: int, paper: dict[str, Any], ident: str | None) -> dict[str, Any]:
    authors = [
        " ".join(a["name"].split())
        for a in list_field(col, line, paper, "authors")
        if isinstance(a, dict) and isinstance(a.get("name"), str) and a["name"].strip()
    ]
    meta: dict[str, Any] = {"authors": authors}
    day, year = date_from_text(optional_text(col, line, paper, "publicationDate"))
    year = year or year_field(col, line, paper, "year")
    meta.update({k: v for k, v in (("date", day), ("year", year)) if v})
    ids = _obj(paper.get("externalIds"))
    labels = {
        "doi": "field 'externalIds.DOI'",
        "arxiv_id": "field 'externalIds.ArXiv'",
        "pmid": "field 'externalIds.PubMed'",
    }
    meta.update(
        identifiers(col, line, doi=ids.get("DOI"), arxiv=ids.get("ArXiv"), pmid=ids.get("PubMed"), labels=labels)
    )
    if url := optional_text(col, line, paper, "url"):
        meta["url"] = url
    journal = _obj(paper.get("journal"))
    if venue := optional_text(col, line, paper, "venue") or optional_text(col, line, journal, "name"):
        meta["venue"] = venue
    corpus = ids.get("CorpusId")
    own = ident or (f"CorpusId:{corpus}" if isinstance(corpus, (int, str)) and corpus != "" else None)
    if own:
        meta["external_id"] = own
    return meta

"""Paper identity: which records are the same paper, and the stable id a paper gets.

A record is identified by its DOI, else its arXiv id, else its PubMed id, else an id
its file gives, else its normalised title (`merge_keys`). Records that share
a DOI, arXiv id or PubMed id are one paper; two ids of the same kind that differ are
two papers, whatever their titles say. An id a file gives ("4983", a BibTeX key, a
Zotero item) means something only inside that file: two records of one file with
different ids are two papers, and ids of different files are never compared. A shared
normalised title merges records that have no conflicting id, except a generic title
("Summary", "Editorial", "Corresponding author:", see `GENERIC_TITLES`): records with
such a title merge only by an id, or when their abstracts are the same text. An id the
file gives merges only records that also share a title or an abstract (exports reuse
keys), and a record whose ids name two papers read before joins them.

`Paper.id` is the hash of the paper's id key (`id_key`, `id_of`): its DOI, else arXiv id,
else PubMed id, else its normalised title, else (a generic title) that title with the id
its file gives or with its abstract. A paper known by its title alone keeps the id it always
had (`title_id`), so indexes built before identity keys existed keep their ids for such
papers. The id ranks the title above the file's id because a file's ids mean nothing
outside it: the id must not change when the same paper comes from another file.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NON_WORD = re.compile(r"[^\w]+")

# Ranked for the id: the first key a paper has makes its id (see `id_key`). "file" is an id the file
# gives, scoped to that file; "title" the normalised title; "text" a generic title
# together with its abstract.
KINDS = ("doi", "arxiv", "pmid", "title", "file", "text")
# The ids that name one paper across every file: equal ones merge, different ones never do.
GLOBAL = ("doi", "arxiv", "pmid")
BY = {
    "doi": "DOI",
    "arxiv": "arXiv id",
    "pmid": "PubMed id",
    "file": "id in the file",
    "title": "title",
    "text": "title and abstract",
}

# Normalised titles (see `normalize_title`) that name a kind of text, not a paper.
# Records with one of them never merge on the title alone. Extend it when a library
# shows another; tests/test_identity.py checks that each entry is already normalised.
GENERIC_TITLES = frozenset(
    {
        "abstract",
        "abstracts",
        "acknowledgement",
        "acknowledgements",
        "acknowledgment",
        "acknowledgments",
        "addendum",
        "appendix",
        "author index",
        "back matter",
        "background",
        "book review",
        "book reviews",
        "comment",
        "commentary",
        "conclusion",
        "conclusions",
        "contents",
        "correction",
        "correspondence",
        "corresponding author",
        "corrigendum",
        "cover image",
        "discussion",
        "editorial board",
        "editorial",
        "editors note",
        "errata",
        "erratum",
        "foreword",
        "front matter",
        "highlights",
        "in brief",
        "in memoriam",
        "in this issue",
        "index",
        "introduction",
        "issue information",
        "letter to the editor",
        "letter",
        "letters",
        "masthead",
        "methods",
        "news",
        "no title",
        "notes",
        "obituary",
        "overview",
        "preface",
        "references",
        "reply",
        "response",
        "results",
        "retraction",
        "review",
        "reviewer acknowledgement",
        "reviewer acknowledgements",
        "reviewer acknowledgment",
        "reviewers acknowledgement",
        "reviewers",
        "subject index",
        "summary",
        "supplementary material",
        "table of contents",
        "title",
        "untitled",
    }
)


def normalize_title(title: str) -> str:
    """Key used to decide that two titles are the same.

    Case, accents, punctuation, LaTeX markup and spacing are ignored, so
    "Hard Patches Mining for Masked Image Modeling" and
    "hard patches mining for masked-image modeling." share one key.
    """
    if not title.isascii():  # (ASCII has nothing to decompose: skip the per-character pass)
        title = "".join(ch for ch in unicodedata.normalize("NFKD", title) if not unicodedata.combining(ch))
    text = title.casefold().replace("$", "").replace("\\", "")
    return " ".join(_NON_WORD.sub(" ", text).split())


def is_generic_title(title: str) -> bool:
    """A title that names a kind of text ("Summary", "Editorial"), or has no letter at all."""
    return _generic(normalize_title(title))


_LETTER = re.compile(r"[^\W\d_]")


def _generic(key: str) -> bool:
    return key in GENERIC_TITLES or not _LETTER.search(key)


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def title_id(title: str) -> str:
    """The id of a paper known by its title alone (the normalised title's hash)."""
    return _hash(normalize_title(title))


def id_of(kind: str, value: str) -> str:
    """The stable id for a paper whose best key is (kind, value)."""
    return _hash(value) if kind == "title" else _hash(f"{kind}:{value}")


# --- identifiers -------------------------------------------------------------------------------

_DOI = re.compile(r"(?:doi:\s*|https?://(?:dx\.)?doi\.org/)?(10\.\d{4,9}/\S+)", re.IGNORECASE)
_ARXIV = re.compile(
    r"(?:arxiv:\s*|https?://(?:export\.)?arxiv\.org/(?:abs|pdf)/)?"
    r"(\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[a-z]{2})?/\d{7})(v\d+)?(?:\.pdf)?",
    re.IGNORECASE,
)
_ARXIV_BARE_NEW = re.compile(r"\d{4}\.\d{4,5}(?:v\d+)?")
_PMID = re.compile(
    r"(?:pmid:\s*|https?://(?:www\.)?(?:ncbi\.nlm\.nih\.gov/pubmed|pubmed\.ncbi\.nlm\.nih\.gov)/)?(\d{1,9})/?",
    re.IGNORECASE,
)


def normalize_doi(value: str | None) -> str | None:
    """'10.1234/abc' from '10.1234/ABC', 'doi:10.1234/abc' or a doi.org link; None if not a DOI.
    DOIs are case-insensitive: the key is lower case."""
    m = _DOI.fullmatch((value or "").strip())
    return m[1].rstrip(".").lower() if m else None


def normalize_arxiv(value: str | None, bare: bool = True) -> str | None:
    """'2301.01234' from '2301.01234v2', 'arXiv:2301.01234' or an arxiv.org link (the version
    dropped: every version is the same paper); old-style ids keep their archive
    ('hep-th/9901001'). With `bare=False` a bare id must carry a prefix or a link."""
    text = (value or "").strip()
    m = _ARXIV.fullmatch(text)
    if not m or (not bare and m[0] == m[1] + (m[2] or "") and not _ARXIV_BARE_NEW.fullmatch(text)):
        return None
    return m[1].lower()


_ARXIV_DOI = re.compile(r"10\.48550/arxiv\.(.+)")


def arxiv_of_doi(doi: str) -> str | None:
    """The arXiv id in arXiv's DataCite DOI ('10.48550/arxiv.2301.00001'), else None."""
    m = _ARXIV_DOI.fullmatch(doi)
    return normalize_arxiv(m[1]) if m else None


def normalize_pmid(value: str | None) -> str | None:
    """'12345678' from '12345678', 'PMID: 12345678' or a PubMed link; None otherwise."""
    m = _PMID.fullmatch((value or "").strip())
    return str(int(m[1])) if m and int(m[1]) > 0 else None


def split_external_id(value: str | None) -> tuple[str | None, str | None]:
    """(doi, arxiv id) when a file's own id is in fact a DOI or an arXiv id, else (None, None).
    A bare number is left alone: it may be anything (a row number, a corpus id)."""
    doi = normalize_doi(value)
    if doi:
        return doi, None
    text = (value or "").strip()
    if _ARXIV_BARE_NEW.fullmatch(text) or text.lower().startswith("arxiv:") or "arxiv.org/" in text.lower():
        return None, normalize_arxiv(text)
    return None, None


# --- the keys of a record ----------------------------------------------------------------------


def _text_key(title: str, abstract: str) -> str:
    """A (normalised) generic title with its abstract's hash."""
    return title + "\x00" + hashlib.sha1(" ".join(abstract.split()).encode("utf-8")).hexdigest()[:16]


def global_ids(paper) -> list[tuple[str, str]]:
    """The ids that name the paper in every file, strongest first: DOI, arXiv id, PubMed id."""
    ids = []
    if paper.doi:
        ids.append(("doi", paper.doi))
    if paper.arxiv_id:
        ids.append(("arxiv", paper.arxiv_id))
    if paper.pmid:
        ids.append(("pmid", paper.pmid))
    return ids


def id_key(paper) -> tuple[str, str]:
    """The key a paper's id is made from: its DOI, arXiv id or PubMed id; else its
    normalised title unless generic; else (a generic title) the title with the id its
    file gives, or with its abstract. (The file's own id is used without the file's path,
    so moving a file keeps the ids.)"""
    ids = global_ids(paper)
    if ids:
        return ids[0]
    title = normalize_title(paper.title)
    if not _generic(title):
        return "title", title
    if paper.external_id:
        return "file", title + "\x00" + paper.external_id.strip()
    return "text", _text_key(title, paper.abstract)


def merge_keys(paper) -> list[tuple[str, str]]:
    """Every key by which this record matches an earlier one, strongest first: its global
    ids, the id its file gives (scoped to that file), then its title (or, for a generic
    title, its title with its abstract)."""
    keys = global_ids(paper)
    own = (paper.external_id or "").strip()
    if own and split_external_id(own) == (None, None):
        keys.append(("file", f"{paper.sources[0].file if paper.sources else ''}\x00{own}"))
    title = normalize_title(paper.title)
    keys.append(("text", _text_key(title, paper.abstract)) if _generic(title) else ("title", title))
    return keys

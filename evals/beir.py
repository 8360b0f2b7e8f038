"""Read a BEIR-format dataset and turn it into something the assistant can index
and be scored on.

A BEIR dataset folder (https://github.com/beir-cellar/beir) holds:

    corpus.jsonl        one document a line: {"_id": ..., "title": ..., "text": ..., ...}
    queries.jsonl       one query a line:    {"_id": ..., "text": ..., ...}
    qrels/<split>.tsv   header "query-id<TAB>corpus-id<TAB>score", then one judgement a line

    ds = load_beir(Path("scifact"), split="test")
    path = to_jsonl_records(ds, Path("/tmp/scifact.jsonl"))   # then PaperAssistant.ingest([path])
    gold = gold_paper_ids(ds, qid)                            # {our paper id: relevance}

Our paper ids are the ids ingestion gives (`assistant.ingest.merge.merge_records` run
over the records `to_jsonl_records` writes, each document's ``_id`` its file id), so:

* a document with an empty title (or one with no word character, which normalises to
  "") is given the first ``TITLE_WORDS`` words of its text as its title;
* two documents whose titles normalise alike become one paper when ingested (the
  longer abstract is kept), unless the title is generic ("Summary": see
  `assistant.identity.GENERIC_TITLES`). `load_beir` detects this and lists it in
  ``BeirDataset.warnings``; `gold_paper_ids` maps both to the merged paper (with the
  higher relevance).

Titles and texts are cleaned the way ingestion cleans them (`clean_text`: whitespace
collapsed, HTML character references decoded) before ids are computed, so the ids
given here are the ids the index will hold.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant import jsonl
from assistant.errors import EvalError
from assistant.ingest.base import clean_text
from assistant.ingest.merge import merge_records
from assistant.records import Paper, SourceRef, normalize_title

log = logging.getLogger(__name__)

TITLE_WORDS = 12  # words of the text used as the title of an untitled document
MAX_LISTED = 20  # problems of one kind listed one by one in the warnings; the rest are counted


class BeirError(EvalError, ValueError):
    """The dataset cannot be used; the message names the file (and line) and why."""


@dataclass
class BeirDataset:
    """One split of a BEIR dataset.

    ``corpus``: doc id -> the document's JSON object (``title`` and ``text`` always
    present, as strings). ``queries``: query id -> text, only the queries judged in this
    split (as BEIR's own loader does). ``qrels``: query id -> {doc id: score}, every
    judgement that names a known query and document (score 0 = judged not relevant).
    ``warnings``: what was skipped or will merge, one line each.
    """

    name: str
    corpus: dict[str, dict]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    split: str = "test"
    warnings: list[str] = field(default_factory=list)
    # query id -> the rationale sentences (SciFact's claims.jsonl `evidence`) of its gold documents
    rationales: dict[str, list[str]] = field(default_factory=dict)
    _paper_ids: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def title(self, doc_id: str) -> str:
        """The title this document is ingested under (see `doc_title`)."""
        return doc_title(self.corpus[doc_id])

    def paper_id(self, doc_id: str) -> str:
        """Our paper id for this document once ingested."""
        return self.paper_ids[doc_id]

    @property
    def paper_ids(self) -> dict[str, str]:
        """Doc id -> our paper id, as ingesting `to_jsonl_records`' file gives them."""
        if self._paper_ids is None:
            self._paper_ids = dict(zip(self.corpus, merge_records(list(_records(self.corpus))).ids))
        return self._paper_ids


def doc_title(doc: dict[str, Any]) -> str:
    """The document's title, cleaned as ingestion cleans it; when it is empty (or
    has no word character), the first `TITLE_WORDS` words of its text."""
    title = clean_text(str(doc.get("title") or ""))
    if normalize_title(title):
        return title
    words = clean_text(str(doc.get("text") or "")).split()
    return " ".join(words[:TITLE_WORDS])


# --- reading --------------------------------------------------------------------------------


def _require(path: Path, what: str) -> None:
    if not path.is_file():
        folder = path.parent
        found = ", ".join(sorted(p.name for p in folder.iterdir())) if folder.is_dir() else "the folder does not exist"
        raise BeirError(
            f"{path}: missing {what} (a BEIR folder needs corpus.jsonl, queries.jsonl and "
            f"qrels/<split>.tsv; found: {found or 'nothing'})"
        )


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    return jsonl.lines(path, BeirError)


def _json_objects(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    for number, obj in jsonl.objects(path, BeirError):
        missing = [k for k in required if k not in obj or obj[k] is None]
        if missing:
            raise BeirError(
                f"{path}:{number}: missing field {', '.join(repr(m) for m in missing)} "
                f"(found: {', '.join(sorted(obj)) or 'nothing'})"
            )
        for key in ("_id", "title", "text"):
            if key in obj and obj[key] is not None and not isinstance(obj[key], (str, int)):
                raise BeirError(f"{path}:{number}: field {key!r} must be a string, got {type(obj[key]).__name__}")
        obj["_id"] = str(obj["_id"]).strip()
        if not obj["_id"]:
            raise BeirError(f"{path}:{number}: empty '_id'")
        yield number, obj


class _Problems:
    """Warnings of one kind: the first MAX_LISTED verbatim, then a count."""

    def __init__(self, out: list[str], summary: str):
        self.out, self.summary, self.n = out, summary, 0

    def add(self, message: str) -> None:
        self.n += 1
        if self.n <= MAX_LISTED:
            self.out.append(message)

    def close(self) -> None:
        if self.n > MAX_LISTED:
            self.out.append(f"... and {self.n - MAX_LISTED} more {self.summary}")


def _read_corpus(path: Path, warnings: list[str]) -> dict[str, dict]:
    corpus: dict[str, dict] = {}
    first_line: dict[str, int] = {}
    dupes = _Problems(warnings, "duplicate document ids (first kept)")
    empty = _Problems(warnings, "documents with neither title nor text (skipped)")
    for number, obj in _json_objects(path, ("_id", "text")):
        doc_id = obj["_id"]
        obj["title"] = str(obj.get("title") or "")
        obj["text"] = str(obj["text"])
        if doc_id in corpus:
            dupes.add(
                f"{path}:{number}: document id {doc_id!r} already given on line {first_line[doc_id]}; "
                f"this one is skipped"
            )
            continue
        if not obj["title"].strip() and not obj["text"].strip():
            empty.add(f"{path}:{number}: document {doc_id!r} has neither title nor text; skipped")
            continue
        corpus[doc_id] = obj
        first_line[doc_id] = number
    dupes.close()
    empty.close()
    if not corpus:
        raise BeirError(f"{path}: no documents")
    return corpus


def _read_queries(path: Path, warnings: list[str]) -> dict[str, str]:
    queries: dict[str, str] = {}
    problems = _Problems(warnings, "unusable queries (skipped)")
    for number, obj in _json_objects(path, ("_id", "text")):
        qid, text = obj["_id"], " ".join(str(obj["text"]).split())
        if qid in queries:
            problems.add(f"{path}:{number}: query id {qid!r} given twice; this one is skipped")
        elif not text:
            problems.add(f"{path}:{number}: query {qid!r} has no text; skipped")
        else:
            queries[qid] = text
    problems.close()
    if not queries:
        raise BeirError(f"{path}: no queries")
    return queries


def _read_qrels(path: Path, corpus: dict, queries: dict, warnings: list[str]) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    unknown_doc = _Problems(warnings, "judgements of unknown documents (skipped)")
    unknown_query = _Problems(warnings, "judgements of unknown queries (skipped)")
    judged = 0
    first = True
    for number, line in _lines(path):
        is_first, first = first, False
        parts = [p.strip() for p in line.rstrip("\r\n").split("\t")]
        if len(parts) != 3:
            parts = line.split()  # space-separated files exist in the wild
        if len(parts) != 3:
            raise BeirError(
                f"{path}:{number}: expected 3 tab-separated columns (query-id, corpus-id, score), "
                f"got {len(parts)}: {line.strip()[:80]!r}"
            )
        qid, doc_id, score_text = parts
        try:
            score = int(float(score_text))
        except ValueError:
            if is_first and _is_header(parts):
                continue
            raise BeirError(f"{path}:{number}: score {score_text!r} is not a number") from None
        judged += 1
        if qid not in queries:
            unknown_query.add(f"{path}:{number}: query-id {qid!r} is not in queries.jsonl; skipped")
            continue
        if doc_id not in corpus:
            unknown_doc.add(f"{path}:{number}: corpus-id {doc_id!r} is not in corpus.jsonl; skipped")
            continue
        qrels.setdefault(qid, {})[doc_id] = score
    unknown_query.close()
    unknown_doc.close()
    if not qrels:
        why = f" ({judged} judgement(s), all naming unknown queries or documents)" if judged else ""
        raise BeirError(f"{path}: no usable relevance judgements{why}")
    return qrels


CLAIM_SPLITS = {"train": "train", "test": "dev"}  # BEIR split -> SciFact split ("dev" is BEIR's test)


def _claims(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, claim) of a SciFact-style claims.jsonl; each needs 'id' and 'split'."""
    for number, line in _lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BeirError(f"{path}:{number}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(obj, dict) or "id" not in obj or "split" not in obj:
            raise BeirError(f"{path}:{number}: expected an object with 'id', 'split' and 'cited_ids'")
        yield number, obj


def _qrels_from_claims(
    path: Path, split: str, corpus: dict, queries: dict, warnings: list[str]
) -> dict[str, dict[str, int]]:
    """Judgements of `split` from a SciFact-style claims.jsonl (``id``, ``split``,
    ``cited_ids``: the abstracts cited by the claim's source, which is what BEIR's qrels
    hold), for a folder that ships claims but not ``qrels/<split>.tsv``."""
    if split not in CLAIM_SPLITS:
        raise BeirError(
            f"{path}: no qrels/{split}.tsv, and claims.jsonl gives only the splits "
            f"{', '.join(CLAIM_SPLITS)} (SciFact's dev claims are BEIR's test split)"
        )
    wanted = CLAIM_SPLITS[split]
    qrels: dict[str, dict[str, int]] = {}
    unknown = _Problems(warnings, "claims naming unknown queries or documents (skipped)")
    seen = set()
    for number, obj in _claims(path):
        seen.add(str(obj["split"]))
        if obj["split"] != wanted:
            continue
        qid = str(obj["id"])
        for doc_id in obj.get("cited_ids") or []:
            if qid not in queries or str(doc_id) not in corpus:
                unknown.add(f"{path}:{number}: claim {qid!r} cites {doc_id!r}, not in queries/corpus; skipped")
                continue
            qrels.setdefault(qid, {})[str(doc_id)] = 1
    unknown.close()
    if not qrels:
        raise BeirError(
            f"{path}: no judgements for split {split!r} (claims.jsonl has splits: "
            f"{', '.join(sorted(seen)) or 'none'}; 'test' reads its 'dev' claims)"
        )
    warnings.append(f"qrels of split {split!r} read from {path.name} (cited_ids of its {wanted!r} claims)")
    return qrels


def _is_header(parts: list[str]) -> bool:
    return parts[2].strip().lower() in ("score", "relevance", "rel", "label")


def _records(corpus: dict[str, dict]) -> Iterator[Paper]:
    """The records ingesting `to_jsonl_records`' file gives, in corpus order."""
    for n, (doc_id, doc) in enumerate(corpus.items(), start=1):
        title = doc_title(doc)
        abstract = clean_text(doc.get("text") or "") or title
        yield Paper(title, abstract, external_id=doc_id, sources=[SourceRef("corpus.jsonl", "jsonl", n, n)])


def _title_collisions(corpus: dict[str, dict], warnings: list[str]) -> None:
    by_id: dict[str, list[str]] = {}
    for doc_id, pid in zip(corpus, merge_records(list(_records(corpus))).ids):
        by_id.setdefault(pid, []).append(doc_id)
    merges = _Problems(warnings, "groups of documents sharing a title (each group becomes one paper)")
    for pid, docs in by_id.items():
        if len(docs) > 1:
            shown = ", ".join(repr(d) for d in docs[:5]) + (f" and {len(docs) - 5} more" if len(docs) > 5 else "")
            merges.add(
                f"documents {shown} share the title {doc_title(corpus[docs[0]])!r}: they become one paper "
                f"({pid}) when ingested, keeping the longest text"
            )
    merges.close()


def load_beir(folder: Path, split: str = "test") -> BeirDataset:
    """Read ``folder``/corpus.jsonl, queries.jsonl and qrels/``split``.tsv.

    Errors (`BeirError`, naming file and line): a missing file or folder, a line that
    is not JSON or not an object, a missing ``_id`` / ``text`` field, a qrels line without
    three columns or with a non-numeric score, and qrels with no usable judgement left.
    Warnings (``BeirDataset.warnings``, also logged): judgements naming an unknown query
    or document (skipped), duplicate ids (first kept), documents with neither title
    nor text (skipped), and documents whose titles would merge into one paper.
    A qrels header line (``query-id  corpus-id  score``) is optional.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BeirError(
            f"{folder}: not a folder (expected a BEIR dataset folder with corpus.jsonl, "
            f"queries.jsonl and qrels/{split}.tsv)"
        )
    corpus_path, queries_path = folder / "corpus.jsonl", folder / "queries.jsonl"
    qrels_path = folder / "qrels" / f"{split}.tsv"
    _require(corpus_path, "corpus file")
    _require(queries_path, "queries file")
    claims_path = folder / "claims.jsonl"
    if not qrels_path.is_file() and not claims_path.is_file():
        splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise BeirError(
            f"{qrels_path}: missing qrels for split {split!r}"
            + (f" (available splits: {', '.join(splits)})" if splits else " (no qrels/*.tsv in the folder)")
        )
    warnings: list[str] = []
    corpus = _read_corpus(corpus_path, warnings)
    queries = _read_queries(queries_path, warnings)
    if qrels_path.is_file():
        qrels = _read_qrels(qrels_path, corpus, queries, warnings)
    else:
        qrels = _qrels_from_claims(claims_path, split, corpus, queries, warnings)
    _title_collisions(corpus, warnings)
    rationales = _rationales(claims_path, split, qrels) if claims_path.is_file() else {}
    for message in warnings:
        log.warning("%s", message)
    return BeirDataset(
        name=folder.resolve().name,
        corpus=corpus,
        queries={qid: queries[qid] for qid in qrels},
        qrels=qrels,
        split=split,
        warnings=warnings,
        rationales=rationales,
    )


def _rationales(path: Path, split: str, qrels: dict[str, dict[str, int]]) -> dict[str, list[str]]:
    """Rationale sentences of each judged claim from a SciFact-style claims.jsonl
    (``evidence``: ``[{doc_id, sentences}]``), only those of documents judged relevant.
    Claims of other splits, or without evidence (NOT_ENOUGH_INFO), give none."""
    wanted = CLAIM_SPLITS.get(split, split)
    out: dict[str, list[str]] = {}
    for number, claim in _claims(path):
        qid = str(claim["id"])
        if claim["split"] != wanted or qid not in qrels:
            continue
        try:
            sentences = [
                str(s)
                for ev in claim.get("evidence") or []
                if qrels[qid].get(str(ev["doc_id"]), 0) > 0
                for s in ev["sentences"]
            ]
        except (KeyError, TypeError) as exc:
            raise BeirError(f"{path}:{number}: evidence must be a list of {{doc_id, sentences}} ({exc})") from None
        if sentences:
            out[qid] = sentences
    return out


# --- converting -----------------------------------------------------------------------------


def to_jsonl_records(ds: BeirDataset, path: Path) -> Path:
    """Write the corpus as the project's JSONL ingestion format and return ``path``.

    One line per document, in corpus order:
    ``{"title": doc_title(doc), "abstract": text, "id": _id}``. ``id`` is the key
    `assistant.ingest.mapping.add_mapping` keeps as ``Paper.external_id``. A document
    with a title but no text gets its title as abstract (ingestion skips records
    without an abstract). `PaperAssistant.ingest([path])` indexes the file.
    """
    from assistant.index.store import atomic_file

    path = Path(path)
    with atomic_file(path) as fh:
        for record in _records(ds.corpus):
            line = {"title": record.title, "abstract": record.abstract, "id": record.external_id}
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    return path


def gold_paper_ids(ds: BeirDataset, qid: str) -> dict[str, int]:
    """The relevant documents of query ``qid`` as ``{our paper id: relevance}``.

    Only judgements with score > 0 are kept (0 means judged not relevant). Documents that
    merge into one paper (same normalised title) give that paper the highest of their
    scores. An unknown ``qid`` raises ``KeyError`` naming it.
    """
    if qid not in ds.qrels:
        raise KeyError(f"query {qid!r} has no judgements in {ds.name} split {ds.split!r}")
    gold: dict[str, int] = {}
    for doc_id, score in ds.qrels[qid].items():
        if score > 0:
            pid = ds.paper_id(doc_id)
            gold[pid] = max(score, gold.get(pid, score))
    return gold

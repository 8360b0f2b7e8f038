"""The index: parsed records -> merged papers -> chunks -> vectors (Chroma) + BM25.

`PaperIndex.update(records)` is incremental: a chunk's id carries a hash of
the text it embeds and of the settings that shape vectors, so unchanged
papers are never embedded again, changed abstracts get new chunks, and
papers that are gone are pruned. See `assistant.index.store` for how a new state
is committed atomically."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from assistant.errors import IndexMismatch
from assistant.index.chunking import chunk_paper, text_hash
from assistant.index.embed import Embedder, make_embedder
from assistant.index.lexical import Bm25Chunks
from assistant.index.sentences import SentenceTable, abstract_sentences, sentence_spans
from assistant.index.store import CorruptIndex, IndexFolder
from assistant.index.vectors import ChromaChunks, VectorStoreError
from assistant.ingest.merge import IDENTITY_RULES, Merge, group_records, merge_records, with_id
from assistant.records import Chunk, Paper, normalize_title
from assistant.settings import Settings


@dataclass
class UpdateStats:
    papers: int
    chunks: int
    embedded: int  # chunks sent to the embedding model
    sentences_embedded: int  # abstract sentences sent to the embedding model
    reused: int  # chunks whose stored vector was kept
    removed: int  # chunks pruned from the store
    seconds: float
    committed: bool
    sentences_pooled: int = 0  # of sentences_embedded: taken from their chunk's pass (sentence_embedding=pooled)
    # Seconds per stage of this update, measured where it runs (see `_Laps`): "compare
    # records" (merging them into papers included), then "prune" for a no-op update; otherwise "chunk",
    # "chroma open", "chroma lookups", "sentence plan", "model load", "embed chunks",
    # "chroma add", "embed sentences" (and the table), "bm25 build", "commit", "prune".
    timings: dict[str, float] = field(default_factory=dict)
    moved: int = 0  # of reused: vectors copied to a paper's new id (its identity changed), not embedded


class _Laps:
    """Stage timings of one update: `lap(name)` adds the time since the previous lap to
    `name`. Loading the embedding model (the embedder's `load_seconds`, where it has
    one) is counted as "model load", not in the stage whose first batch triggered it."""

    def __init__(self, index: PaperIndex):
        self.index = index
        self.timings: dict[str, float] = {}
        self.t, self.loaded = time.perf_counter(), self._loaded()

    def _loaded(self) -> float:
        return getattr(self.index._embedder, "load_seconds", 0.0)

    def lap(self, name: str) -> None:
        now, loaded = time.perf_counter(), self._loaded()
        if loaded > self.loaded:
            self.timings["model load"] = self.timings.get("model load", 0.0) + loaded - self.loaded
        self.timings[name] = self.timings.get(name, 0.0) + (now - self.t) - (loaded - self.loaded)
        self.t, self.loaded = now, loaded


class PaperIndex:
    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        self.settings = settings
        self.folder = IndexFolder(settings.index_path)
        self._embedder = embedder
        self._vectors: ChromaChunks | None = None
        self._bm25: Bm25Chunks | None = None
        self._sentences: SentenceTable | None = None
        self._opening = threading.RLock()  # the lazy opens below happen once, whichever thread asks first
        self.last_merges: list[Merge] = []  # what the last committed update merged, and by which key
        self.manifest = self.folder.read_manifest()
        if self.manifest:
            self._check_settings(self.manifest)
            self.records = self.folder.read_records(self.manifest)
            self.chunks = self.folder.read_chunks(self.manifest)
        else:
            self.records, self.chunks = [], []
        # The papers as this index was built: each record carries the id of its paper.
        self.papers = group_records(self.records)
        self._reindex_memory()

    # --- state ----------------------------------------------------------------
    def _reindex_memory(self) -> None:
        self.paper_by_id: dict[str, Paper] = {p.id: p for p in self.papers}
        self.chunk_pos: dict[str, int] = {c.id: i for i, c in enumerate(self.chunks)}
        self.chunk_paper = np.array([c.paper_id for c in self.chunks], dtype=object)
        self._by_title: dict[str, Paper] | None = None

    def paper_titled(self, title: str) -> Paper | None:
        """The first indexed paper with this title (compared as normalised titles)."""
        if self._by_title is None:
            by_title: dict[str, Paper] = {}
            for p in self.papers:
                by_title.setdefault(normalize_title(p.title), p)
            self._by_title = by_title
        return self._by_title.get(normalize_title(title))

    def _check_settings(self, manifest: dict) -> None:
        built, wanted = manifest.get("shaping", {}), self.settings.shaping()
        if built != wanted:
            diff = ", ".join(
                f"{k}: index has {built.get(k)!r}, settings ask {wanted[k]!r}"
                for k in wanted
                if built.get(k) != wanted[k]
            )
            raise IndexMismatch(
                f"index {self.settings.index_path} was built with other settings ({diff}); "
                f"vectors from different models cannot be mixed. Rebuild it with `papers ingest --rebuild ...` "
                f"or choose another index with --index-name / PAPERS_INDEX_NAME"
            )

    @property
    def exists(self) -> bool:
        return self.manifest is not None

    @property
    def collection_name(self) -> str:
        # Named once, at build time, and read from the manifest afterwards. The
        # folder's identity makes it unique to this folder: a rebuild (built in
        # a fresh folder) gets its own, and so does another project's index of
        # the same name on a shared Chroma server.
        if self.manifest and self.manifest.get("collection"):
            return self.manifest["collection"]
        return f"papers-{self.settings.index_name}-{self.settings.shaping_hash()}-{self.folder.identity}"

    @property
    def chroma_path(self):
        """The embedded store's folder (named in the manifest once built)."""
        if self.manifest and self.manifest.get("chroma_dir"):
            return self.folder.path / self.manifest["chroma_dir"]
        return self.folder.chroma_path

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with self._opening:
                if self._embedder is None:
                    self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def vectors(self) -> ChromaChunks:
        if self._vectors is None:
            with self._opening:  # questions in several threads open the store once (chromadb's is not thread-safe)
                if self._vectors is None:
                    self._vectors = self._open_vectors()
        return self._vectors

    def changed_on_disk(self) -> int | None:
        """The generation on disk when another process committed to this index since it was
        read (an ingest, or a rebuild: that starts again at 1 with another collection), else
        None. A missing or unreadable manifest (a rebuild swapping its folder in) is None."""
        on_disk = self.folder.read_manifest_quietly()
        if on_disk is None or _stamp(on_disk) == _stamp(self.manifest or {}):
            return None
        return int(on_disk.get("generation", 0))

    def close(self) -> None:
        """Close the Chroma client, if one was opened. Embedded Chroma shares one store per
        folder in a process, and a store kept open does not see vectors another process
        added: a process that reopens an index changed elsewhere closes the old one first."""
        with self._opening:
            if self._vectors is not None:
                self._vectors.client.close()
                self._vectors = None

    def _open_vectors(self) -> ChromaChunks:
        s, built = self.settings, (self.manifest or {}).get("chunks") or 0
        if built and not s.chroma_url and not self.chroma_path.is_dir():
            raise CorruptIndex(
                f"{self.chroma_path}: missing (the vector store of this index); rebuild with `papers ingest --rebuild`"
            )
        vectors = ChromaChunks(self.collection_name, s.chroma_url, self.chroma_path, s.hnsw_ef_search)
        if built and vectors.count() == 0:
            # Without this, search would quietly fall back to BM25 alone.
            where = f"on the Chroma server {s.chroma_url}" if s.chroma_url else f"in {self.chroma_path}"
            hint = " (is the server run with the --path it had when the index was built?)" if s.chroma_url else ""
            message = (
                f"the vector collection {self.collection_name!r} {where} holds no vectors, but the "
                f"index names {built} chunks{hint}; rebuild with `papers ingest --rebuild`"
            )
            raise VectorStoreError(message) if s.chroma_url else CorruptIndex(message)
        return vectors

    @property
    def bm25(self) -> Bm25Chunks:
        if self._bm25 is None:
            with self._opening:
                return self._open_bm25()
        return self._bm25

    def _open_bm25(self) -> Bm25Chunks:
        if self._bm25 is None:
            if not self.manifest:
                raise CorruptIndex(f"{self.settings.index_path}: no index built yet; run `papers ingest PATH`")
            try:
                self._bm25 = Bm25Chunks.load(self.folder.bm25_path(self.manifest))
            except (OSError, ValueError, KeyError) as exc:
                raise CorruptIndex(
                    f"{self.folder.bm25_path(self.manifest)}: unreadable BM25 index ({exc}); "
                    f"rebuild with `papers ingest --rebuild`"
                ) from None
        return self._bm25

    @property
    def sentences(self) -> SentenceTable:
        """Stored vectors of the abstracts' sentences (empty when the index has none)."""
        if self._sentences is None:
            self._sentences = (
                self.folder.read_sentences(self.manifest) if self.manifest else None
            ) or SentenceTable.empty()
        return self._sentences

    # --- building -------------------------------------------------------------
    def update(self, records: list[Paper], progress: Callable[[int, int], None] | None = None) -> UpdateStats:
        """Make the index hold exactly `records` (already parsed, not merged).

        `progress(done, total)` is called while chunks and sentences are embedded, in
        characters of text (done so far, in all)."""
        t0 = time.perf_counter()
        laps = _Laps(self)
        s = self.settings
        # Records are stored with the id of the paper they merged into, so opening the
        # index later groups them as now (`group_records`) whatever the identity rules say.
        # Records equal to the stored ones (ids aside) under the same rules merge as they
        # did: the stored ids stand (a no-op ingest of 100k records skips the merge).
        merged = None
        built = self.manifest or {}
        if built.get("identity") == IDENTITY_RULES and _same_records(records, self.records, ids=False):
            records = self.records
        else:
            merged = merge_records(records)
            records = [with_id(r, pid) for r, pid in zip(records, merged.ids)]
        # Switching sentence_vectors on or off (or how sentences are embedded) is a change too:
        # the table is added, dropped or rebuilt.
        method = s.sentence_embedding if s.sentence_vectors else None
        built_method = (
            (built.get("sentence_embedding") or "separate") if built.get("files", {}).get("sentences") else None
        )
        table_as_wanted = built_method == method
        same = bool(self.manifest) and table_as_wanted and _same_records(records, self.records)
        laps.lap("compare records")
        if same:
            # The records this index was built from, under the same settings: same papers,
            # same chunks. Nothing to commit, but a run that died after adding vectors may
            # have left some that no manifest names: prune them now.
            removed = self._prune(set(self.chunk_pos)) if self.folder.pending else 0
            laps.lap("prune")
            return UpdateStats(
                len(self.papers),
                len(self.chunks),
                0,
                0,
                len(self.chunks),
                removed,
                time.perf_counter() - t0,
                False,
                timings=laps.timings,
            )

        if merged is None:  # the same records, but the sentence table changes
            merged = merge_records(records)
        papers = merged.papers
        old_by_paper: dict[str, list[Chunk]] = {}
        old_by_text: dict[str, str] = {}  # text digest -> the first old paper with that text
        for chunk in self.chunks:
            old_by_paper.setdefault(chunk.paper_id, []).append(chunk)
            old_by_text.setdefault(chunk.id.rsplit(":", 2)[1], chunk.paper_id)
        shaping = s.shaping_hash()
        chunks: list[Chunk] = []
        moved: dict[str, str] = {}  # new chunk id -> the old chunk id whose vector it takes
        for paper in papers:
            old = old_by_paper.get(paper.id)
            digest = text_hash(paper, shaping)[:12]
            if old and old[0].id.rsplit(":", 2)[1] == digest:
                chunks += old  # same text, same settings: same chunks (skip the tokenizer too)
            elif digest in old_by_text:
                # The same text under a new paper id (its identity changed, e.g. a DOI became
                # known, or an index built before identity keys): the chunks move, and their
                # vectors are copied in the store, not embedded again.
                for c in old_by_paper[old_by_text[digest]]:
                    new = replace(c, id=f"{paper.id}:{digest}:{c.n}", paper_id=paper.id)
                    moved[new.id] = c.id
                    chunks.append(new)
            else:
                chunks += chunk_paper(paper, s.chunk_size, s.chunk_overlap, shaping)
        new_ids = [c.id for c in chunks]
        live_before = set(self.chunk_pos)
        missing = [c for c in chunks if c.id not in live_before]
        laps.lap("chunk")

        # Chunks left in the store by an interrupted run are reused, not re-embedded.
        store = self.vectors if missing else None  # (opened on first use: timed apart)
        laps.lap("chroma open")
        stored = store.vectors([c.id for c in missing]) if store else {}
        to_move = [c for c in missing if c.id not in stored and c.id in moved]
        present = store.present([moved[c.id] for c in to_move]) if store and to_move else set()
        to_move = [c for c in to_move if moved[c.id] in present]  # (a vector lost from the store: embedded)
        moving = {c.id for c in to_move}
        to_embed = [c for c in missing if c.id not in stored and c.id not in moving]
        laps.lap("chroma lookups")
        texts = abstract_sentences(p.abstract for p in papers) if s.sentence_vectors else []
        base = self.sentences if table_as_wanted else SentenceTable.empty()
        plan = base.plan(texts)
        new_sentences = plan.new
        # Pooled sentence vectors come from a pass over the chunks that hold the new
        # sentences: the chunks embedded anyway, plus unchanged ones whose stored vectors
        # are kept (e.g. when an index switches from separate to pooled).
        # (A backend without span pooling, such as the openai one, embeds them on their own.)
        # The embedder is asked only when sentences are to be pooled: an update with nothing to
        # embed never builds it (the openai backend's constructor calls its endpoint).
        embed_with_spans = (
            getattr(self.embedder, "embed_with_spans", None) if method == "pooled" and new_sentences else None
        )
        pool = embed_with_spans is not None
        passed, spans = to_embed, None
        if pool:
            embedding = {c.id for c in to_embed}
            holders = [c for c in chunks if c.id not in embedding]
            spans_of = _sentences_in_chunks(to_embed + holders, {p.id: p for p in papers}, set(new_sentences))
            extra = [(c, row) for c, row in zip(holders, spans_of[len(to_embed) :]) if row]
            passed = to_embed + [c for c, _ in extra]
            spans = spans_of[: len(to_embed)] + [row for _, row in extra]
        covered = {t for row in spans or [] for _, _, t in row}
        # Progress counts characters, not texts: a chunk is several sentences long, so an
        # ETA from texts/s in the chunk pass would overestimate the sentence pass.
        texts_to_embed = [c.indexed_text for c in passed]
        total = sum(map(len, texts_to_embed)) + sum(len(t) for t in new_sentences if t not in covered)
        done = 0

        def tick(n: int, chars: int) -> None:  # an Embedder's progress(texts, characters)
            nonlocal done
            done += chars
            if progress:
                progress(min(done, total), total)

        pooled: dict[str, np.ndarray] = {}
        laps.lap("sentence plan")
        if passed:
            if spans is not None:
                assert embed_with_spans is not None  # spans are planned only for an embedder that has it
                vectors, by_chunk = embed_with_spans(
                    texts_to_embed, [[(a, b) for a, b, _ in row] for row in spans], progress=tick
                )
                for row, got in zip(spans, by_chunk):
                    for (_, _, text), vector in zip(row, got):
                        if text not in pooled and not np.isnan(vector[0]):
                            pooled[text] = vector
                vectors = vectors[: len(to_embed)]  # the holders' stored vectors are kept
            else:
                vectors = self.embedder.embed_documents(texts_to_embed, progress=tick)
            self._check_dimension(vectors.shape[1])
        laps.lap("embed chunks")
        if to_embed or to_move:
            self.folder.mark_pending()
        if to_move:
            self.vectors.copy(to_move, [moved[c.id] for c in to_move])
        if to_embed:
            self.vectors.add(to_embed, vectors, [{"paper_id": c.paper_id, "n": c.n} for c in to_embed])
        laps.lap("chroma add")
        total += sum(len(t) for t in covered if t not in pooled)  # cut off by the window: embedded on their own

        def embed_sentences(new: list[str]) -> np.ndarray:
            rest = [t for t in new if t not in pooled]
            fresh = dict(zip(rest, self.embedder.embed_documents(rest, progress=tick))) if rest else {}
            return np.vstack([pooled[t] if t in pooled else fresh[t] for t in new])

        table = base.build(plan, embed_sentences) if s.sentence_vectors else None
        new_sentences_count = len(new_sentences)
        laps.lap("embed sentences")

        bm25 = Bm25Chunks.build([c.indexed_text for c in chunks])
        laps.lap("bm25 build")
        manifest = {
            **(self.manifest or {}),
            "shaping": s.shaping(),
            "embedding": {
                "backend": s.embed_backend,
                "model": s.embed_model,
                "dim": (self.manifest or {}).get("embedding", {}).get("dim") or self._dim_known(),
            },
            "collection": self.collection_name,
            "chroma_dir": None if s.chroma_url else self.chroma_path.name,
            "chroma": s.chroma_url or "embedded",
            "papers": len(papers),
            "chunks": len(chunks),
            "sentence_embedding": method,
            "embed_precision": (
                getattr(self._embedder, "precision", None) if passed or new_sentences else built.get("embed_precision")
            ),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "identity": IDENTITY_RULES,
        }
        self.manifest = self.folder.commit(manifest, records, chunks, bm25.save, table)
        # The memory follows the commit at once, so a failure below cannot leave this
        # object describing the old generation while the disk holds the new one.
        self.records, self.chunks, self.papers, self._bm25 = records, chunks, papers, bm25
        self.last_merges = merged.merges
        self._sentences = None  # re-read from the new files, memory-mapped (not the array built above)
        self._reindex_memory()
        laps.lap("commit")
        # After the commit: prune vectors no manifest names (replaced, removed, or left by a crash).
        removed = self._prune(set(new_ids))
        laps.lap("prune")
        return UpdateStats(
            len(papers),
            len(chunks),
            len(to_embed),
            new_sentences_count,
            len(chunks) - len(to_embed),
            removed,
            time.perf_counter() - t0,
            True,
            len(pooled),
            laps.timings,
            moved=len(to_move),
        )

    def _prune(self, keep: set[str]) -> int:
        """Delete vectors no manifest names (replaced, removed, or left by a crash)."""
        orphans = [cid for cid in self.vectors.ids() if cid not in keep]
        if orphans:
            self.vectors.delete(orphans)
        self.folder.clear_pending()
        return len(orphans)

    def _dim_known(self) -> int | None:
        return self._embedder.dim if self._embedder is not None else None

    def _check_dimension(self, dim: int) -> None:
        recorded = (self.manifest or {}).get("embedding", {}).get("dim")
        if recorded and recorded != dim:
            raise IndexMismatch(
                f"index {self.settings.index_path} holds {recorded}-dimensional vectors but the "
                f"embedding model gives {dim}; rebuild with `papers ingest --rebuild`"
            )


def _sentences_in_chunks(
    chunks: list[Chunk], paper_by_id: dict[str, Paper], wanted: set[str]
) -> list[list[tuple[int, int, str]]]:
    """For each chunk, the `wanted` sentences of its paper's abstract that lie whole
    inside it, as (start, end, text) in the chunk's indexed text (title, newline, chunk)."""
    out = []
    spans_of: dict[str, list[tuple[int, int]]] = {}
    for c in chunks:
        abstract = paper_by_id[c.paper_id].abstract
        spans = spans_of.get(c.paper_id)
        if spans is None:
            spans = spans_of[c.paper_id] = sentence_spans(abstract)
        shift = len(c.title) + 1 - c.start
        out.append(
            [
                (a + shift, b + shift, abstract[a:b])
                for a, b in spans
                if c.start <= a and b <= c.end and abstract[a:b] in wanted
            ]
        )
    return out


def _stamp(manifest: dict) -> tuple:
    """What tells two commits of an index apart: its generation, the commit time and its
    Chroma collection (named per folder)."""
    return manifest.get("generation", 0), manifest.get("built_at", ""), manifest.get("collection")


def _same_records(a: list[Paper], b: list[Paper], ids: bool = True) -> bool:
    """Dataclass equality, field by field (with `ids=False`, the `id` field aside)."""
    if len(a) != len(b):
        return False
    return all(x == y for x, y in zip(a, b)) if ids else all(x == with_id(y, x.id) for x, y in zip(a, b))

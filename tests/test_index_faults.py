"""Faults: ingests interrupted at every stage, and index folders that are
corrupted or half-written. The previous state must stay searchable (from a new
PaperIndex, as after a crash), a later ingest must work and clean up, and a
broken folder must give a clear error naming the file (CLI: `error: ...`, exit 2)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

import assistant.store as store
from assistant.answer.text import sentences
from assistant.api import PaperAssistant
from assistant.index import PaperIndex
from assistant.index.lexical import Bm25Chunks
from assistant.index.vectors import ChromaChunks, VectorStoreError
from assistant.records import paper_id
from assistant.retrieve import QueryError
from assistant.store import CorruptIndex


class Crash(Exception):
    """Stands for the process dying at that point."""


def manifest_bytes(pa: PaperAssistant) -> bytes:
    return (pa.settings.index_path / "manifest.json").read_bytes()


def live_ids(pa: PaperAssistant) -> set[str]:
    return {c.id for c in pa.index.chunks}


def assert_clean(pa: PaperAssistant) -> None:
    """Only the live generation on disk (beside the abstention calibration, derived data
    that is recomputed when missing), and Chroma holds exactly the live chunks."""
    manifest = json.loads(manifest_bytes(pa))
    assert sorted(set(os.listdir(pa.settings.index_path)) - {"calibration.json"}) == sorted(
        ["manifest.json", "identity", manifest["chroma_dir"], *manifest["files"].values()])
    assert pa.index.vectors.ids() == live_ids(pa)


@pytest.fixture
def grown(sample_lib, sample_rows, write_jsonl):
    """The 20-paper index, and its source rewritten with 4 more papers (not ingested yet)."""
    pa, rows, source, _ = sample_lib
    added = [dict(r) for r in sample_rows[20:24]]
    write_jsonl(source, rows + added)
    return pa, rows, added, source


def assert_previous_state(pa: PaperAssistant, make_assistant, rows, added, before: bytes) -> PaperAssistant:
    """As after a restart: a new assistant on the folder sees the old 20 papers, searchable, and none of the new."""
    assert manifest_bytes(pa) == before
    reopened = make_assistant(pa.settings.index_dir)
    assert len(reopened.papers) == 20
    assert {p.id for p in reopened.papers} == {paper_id(r["title"]) for r in rows}
    hits = reopened.search(rows[4]["title"], k=5).hits
    assert hits[0].paper_id == paper_id(rows[4]["title"]) and hits[0].chunks[0].dense_rank
    new_ids = {paper_id(r["title"]) for r in added}
    assert not new_ids & {h.paper_id for h in reopened.search(added[0]["title"], k=20).hits}
    return reopened


# --- interrupted ingests ----------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["building BM25", "saving BM25 in the commit", "writing sentence vectors"])
def test_crash_after_vectors_were_added_keeps_the_previous_index(grown, make_assistant, monkeypatch, stage):
    pa, rows, added, source = grown
    before = manifest_bytes(pa)
    if stage == "building BM25":
        def crash(texts):
            raise Crash("killed while building BM25")

        monkeypatch.setattr(Bm25Chunks, "build", staticmethod(crash))
    elif stage == "writing sentence vectors":  # inside IndexFolder.commit, before records and chunks
        def crash(path, array):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\x93NUMPY half")
            raise Crash("killed while writing sentence vectors")

        monkeypatch.setattr(store, "_write_array", crash)
    else:  # inside IndexFolder.commit: records and chunks of the new generation are written already
        real_save = Bm25Chunks.save

        def crash(self, folder):
            real_save(self, folder)
            (folder / "vocab.json").write_text("{cut", encoding="utf-8")
            raise Crash("killed while saving BM25")

        monkeypatch.setattr(Bm25Chunks, "save", crash)
    with pytest.raises(Crash):
        pa.ingest([source])
    leftovers = pa.index.vectors.ids() - live_ids(pa)
    assert leftovers, "the crash should come after the new vectors were stored"

    reopened = assert_previous_state(pa, make_assistant, rows, added, before)
    # The previous generation's sentence vectors are still read (nothing embedded to answer).
    abstract = reopened.index.paper_by_id[paper_id(rows[4]["title"])].abstract
    assert len(reopened.index.sentences.lookup(sentences(abstract))) == len(set(sentences(abstract))) > 0

    monkeypatch.undo()
    _, update = reopened.ingest([source])
    assert update.total == 24 and update.added == 4
    assert update.index.embedded == 0  # the vectors left by the crash are reused, not embedded again
    # Only the new papers' sentences are embedded; the stored ones are reused.
    new_ids = {paper_id(r["title"]) for r in added}
    by_age = {age: {x for p in reopened.index.papers if (p.id in new_ids) == age for x in sentences(p.abstract)}
              for age in (True, False)}
    assert update.index.sentences_embedded == len(by_age[True] - by_age[False]) > 0
    assert leftovers <= live_ids(reopened)
    assert_clean(reopened)


def test_an_unchanged_reingest_after_a_crash_removes_the_vectors_it_left(grown, make_assistant, monkeypatch,
                                                                          write_jsonl):
    """The user gives up on the new papers and re-ingests the old file: nothing to
    commit, but the vectors the crash stored must not stay in the store."""
    pa, rows, added, source = grown
    monkeypatch.setattr(Bm25Chunks, "build", staticmethod(lambda texts: (_ for _ in ()).throw(Crash("killed"))))
    with pytest.raises(Crash):
        pa.ingest([source])
    monkeypatch.undo()
    leftovers = pa.index.vectors.ids() - live_ids(pa)
    assert leftovers and (pa.settings.index_path / store.PENDING).exists()

    write_jsonl(source, rows)  # back to the 20 indexed papers
    reopened = make_assistant(pa.settings.index_dir)
    _, update = reopened.ingest([source])
    assert not update.index.committed and update.index.embedded == 0
    assert update.index.removed == len(leftovers)
    assert_clean(reopened)
    _, again = reopened.ingest([source])  # the marker is gone: nothing left to prune
    assert again.index.removed == 0


def test_crash_while_writing_the_manifest_keeps_the_previous_index(grown, make_assistant, monkeypatch, write_jsonl):
    pa, rows, added, source = grown
    before = manifest_bytes(pa)
    real_write = store.atomic_write_text

    def write(path, text):
        if path.name == store.MANIFEST:  # the disk fills up half-way through the new manifest
            (path.parent / f".{path.name}.crash.tmp").write_text(text[: len(text) // 2], encoding="utf-8")
            raise OSError(28, "No space left on device")
        real_write(path, text)

    monkeypatch.setattr(store, "atomic_write_text", write)
    with pytest.raises(OSError, match="No space left"):
        pa.ingest([source])
    assert (pa.settings.index_path / "records.2.jsonl").exists()  # the new generation was written, not named
    assert pa.index.vectors.ids() - live_ids(pa)

    reopened = assert_previous_state(pa, make_assistant, rows, added, before)

    # A later, different ingest succeeds and removes everything the crash left behind.
    monkeypatch.setattr(store, "atomic_write_text", real_write)
    rows[0]["abstract"] += " An extended version adds experiments on long-tailed data."
    write_jsonl(source, rows)
    _, update = reopened.ingest([source])
    assert update.index.committed and update.total == 20 and update.updated == 1
    assert update.index.embedded == len([c for c in reopened.index.chunks if c.paper_id == paper_id(rows[0]["title"])])
    assert_clean(reopened)


def test_crash_half_way_through_adding_vectors(grown, make_assistant, monkeypatch):
    pa, rows, added, source = grown
    before = manifest_bytes(pa)
    real_add = ChromaChunks.add
    stored: list[str] = []

    def add_half(self, chunks, vectors, metadata):
        half = len(chunks) // 2
        real_add(self, chunks[:half], vectors[:half], metadata[:half])
        stored.extend(c.id for c in chunks[:half])
        raise Crash("killed while adding vectors")

    monkeypatch.setattr(ChromaChunks, "add", add_half)
    with pytest.raises(Crash):
        pa.ingest([source])
    assert stored and set(stored) <= pa.index.vectors.ids()

    reopened = assert_previous_state(pa, make_assistant, rows, added, before)

    monkeypatch.setattr(ChromaChunks, "add", real_add)
    _, update = reopened.ingest([source])
    new_chunks = [c for c in reopened.index.chunks if c.paper_id in {paper_id(r["title"]) for r in added}]
    assert update.index.embedded == len(new_chunks) - len(stored)
    assert_clean(reopened)


def test_ctrl_c_during_embedding_leaves_the_index_unchanged(grown, make_assistant):
    pa, rows, added, source = grown
    before, ids = manifest_bytes(pa), pa.index.vectors.ids()

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pa.ingest([source], embed_progress=interrupt)
    assert pa.index.vectors.ids() == ids
    assert_previous_state(pa, make_assistant, rows, added, before)
    assert len(pa.papers) == 20  # the object that was interrupted did not move on either


def test_an_interrupted_first_ingest_leaves_no_index_and_a_retry_works(tmp_path, make_assistant, sample_rows,
                                                                         write_jsonl, monkeypatch):
    source = write_jsonl(tmp_path / "a.jsonl", sample_rows[:5])
    pa = make_assistant(tmp_path / "idx")
    real_build = Bm25Chunks.build
    monkeypatch.setattr(Bm25Chunks, "build", staticmethod(lambda texts: (_ for _ in ()).throw(Crash("killed"))))
    with pytest.raises(Crash):
        pa.ingest([source])

    reopened = make_assistant(tmp_path / "idx")
    assert not reopened.index.exists and reopened.papers == []
    with pytest.raises(QueryError, match="is empty; add papers"):
        reopened.search("adversarial robustness")

    monkeypatch.setattr(Bm25Chunks, "build", real_build)
    _, update = reopened.ingest([source])
    assert update.total == 5 and update.index.embedded == 0  # all reused from the interrupted run
    assert reopened.search(sample_rows[2]["title"]).hits[0].paper_id == paper_id(sample_rows[2]["title"])
    assert_clean(reopened)


def test_a_failure_after_the_commit_leaves_a_consistent_object(sample_lib, write_jsonl, monkeypatch):
    """The new generation is committed, then pruning the old vectors fails (say the
    Chroma server went away). The object must describe what is on disk, and a
    later ingest prunes what was left."""
    pa, rows, source, _ = sample_lib
    kept = {paper_id(r["title"]) for r in rows[:12]}
    write_jsonl(source, rows[:12])  # 8 papers dropped: their vectors become orphans
    real_delete = ChromaChunks.delete

    def fail(self, ids):
        raise VectorStoreError("Chroma delete failed (simulated)")

    monkeypatch.setattr(ChromaChunks, "delete", fail)
    with pytest.raises(VectorStoreError):
        pa.ingest([source])
    assert json.loads(manifest_bytes(pa))["papers"] == 12
    assert {p.id for p in pa.papers} == kept == {c.paper_id for c in pa.index.chunks}
    dropped = rows[15]["title"]
    assert not {h.paper_id for h in pa.search(dropped, k=20).hits} - kept

    monkeypatch.setattr(ChromaChunks, "delete", real_delete)
    rows[0]["abstract"] += " An extended version adds experiments on long-tailed data."
    write_jsonl(source, rows[:12])
    _, update = pa.ingest([source])
    assert update.index.removed > 0
    assert_clean(pa)


def test_a_reader_of_the_manifest_never_sees_a_partial_one(grown):
    """The manifest is replaced by a rename, not rewritten in place: a reader that
    opened it before the commit still reads the complete previous manifest."""
    pa, rows, added, source = grown
    path = pa.settings.index_path / "manifest.json"
    before = path.read_bytes()
    with path.open("rb") as reader:
        _, update = pa.ingest([source])
        assert update.index.committed
        assert reader.read() == before
    assert json.loads(path.read_bytes())["papers"] == 24
    assert not [n for n in os.listdir(pa.settings.index_path) if n.endswith(".tmp")]


# --- corrupted or half-written folders -----------------------------------------------------------


def _live(d, kind: str):
    """The file or folder of `kind` (records, chunks, bm25, sentences) the manifest names."""
    return d / json.loads((d / "manifest.json").read_text())["files"][kind]


def _chroma_dir(d):
    return d / json.loads((d / "manifest.json").read_text())["chroma_dir"]


def _cut(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _put(path, data: bytes):
    path.write_bytes(data)
    return path


def _put_array(path, width: int):
    """The same number of rows, but another width (another model's vectors)."""
    import numpy as np

    rows = len(np.load(path, mmap_mode="r"))
    np.save(path, np.zeros((rows, width), dtype=np.float32))
    return path


def _unlink(path):
    path.unlink()
    return path


def _rmtree(path):
    shutil.rmtree(path)
    return path


def _emptied(path):
    shutil.rmtree(path)
    path.mkdir()
    return path


CORRUPTIONS = {
    # name: (damage(index folder) -> the path the message must name, other words it must hold)
    "manifest truncated": (lambda d: _cut(d / "manifest.json"), "unreadable"),
    "manifest empty": (lambda d: _put(d / "manifest.json", b""), "unreadable"),
    "manifest garbage": (lambda d: _put(d / "manifest.json", b"\xff\x00\x13garbage"), "unreadable"),
    "manifest without file names": (lambda d: _put(d / "manifest.json", b'{"format": 2, "files": {}}'), "incomplete"),
    "manifest of another version": (lambda d: _put(d / "manifest.json", b'{"format": 99, "files": {}}'), "version"),
    "chunks missing": (lambda d: _unlink(_live(d, "chunks")), "missing"),
    "chunks truncated": (lambda d: _cut(_live(d, "chunks")), "unreadable"),
    "chunks garbage": (lambda d: _put(_live(d, "chunks"), b"\xff\xfe\x00\x01" * 64), "unreadable"),
    "records missing": (lambda d: _unlink(_live(d, "records")), "missing"),
    "records not objects": (lambda d: _put(_live(d, "records"), b"[1, 2]\n"), "bad record"),
    "bm25 deleted": (lambda d: _rmtree(_live(d, "bm25")), "BM25"),
    "bm25 vocabulary garbage": (lambda d: _put(_live(d, "bm25") / "vocab.json", b"{not json").parent, "BM25"),
    "chroma deleted": (lambda d: _rmtree(_chroma_dir(d)), "missing"),
    "chroma emptied": (lambda d: _emptied(_chroma_dir(d)), "holds no vectors"),
    "sentence vectors truncated": (lambda d: _cut(_live(d, "sentences") / "vectors.npy"), "unreadable sentence"),
    "sentence keys missing": (lambda d: _unlink(_live(d, "sentences") / "keys"), "unreadable sentence"),
    "sentence vectors of another width": (lambda d: _put_array(_live(d, "sentences") / "vectors.npy", 10), "width"),
    "sentence keys short": (lambda d: _put(_live(d, "sentences") / "keys", b"0123\n").parent, "1 keys for an array"),
}


def open_and_search(settings, embedder):
    """Open the folder, search, and answer (which reads the sentence vectors)."""
    pa = PaperAssistant(settings, index=PaperIndex(settings, embedder=embedder))
    pa.search("adversarial robustness")
    return pa.ask("Which paper studies adversarial robustness?")


@pytest.mark.parametrize("damage", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_a_damaged_folder_gives_an_error_naming_the_file(sample_lib, embedder, damage):
    pa = sample_lib[0]
    harm, words = CORRUPTIONS[damage]
    named = harm(pa.settings.index_path)
    with pytest.raises(CorruptIndex) as info:
        open_and_search(pa.settings, embedder)
    message = str(info.value)
    assert str(named) in message and words in message
    assert "papers ingest --rebuild" in message or "delete the folder" in message


def test_a_chroma_database_that_is_not_one_gives_a_vector_store_error(sample_lib, embedder):
    pa = sample_lib[0]
    (_chroma_dir(pa.settings.index_path) / "chroma.sqlite3").write_bytes(b"not a database" * 512)
    with pytest.raises(VectorStoreError, match="chroma"):
        open_and_search(pa.settings, embedder)


@pytest.mark.parametrize("damage", ["manifest truncated", "chunks missing", "records not objects", "chroma deleted"])
def test_cli_reports_a_damaged_folder_without_traceback(sample_lib, papers_cli, damage):
    pa = sample_lib[0]
    named = CORRUPTIONS[damage][0](pa.settings.index_path)
    proc = papers_cli("search", "adversarial robustness", "--index-dir", pa.settings.index_dir)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and str(named) in proc.stderr
    assert proc.stdout == ""


def test_a_damaged_index_can_be_rebuilt(sample_lib, embedder, monkeypatch):
    pa, rows, source, _ = sample_lib
    _cut(_live(pa.settings.index_path, "chunks"))
    with pytest.raises(CorruptIndex):
        PaperIndex(pa.settings, embedder=embedder)
    monkeypatch.setattr("assistant.index.make_embedder", lambda settings: embedder)
    rebuilt, _, update = PaperAssistant.rebuild([source], pa.settings)
    assert update.total == 20 and update.index.embedded == update.index.chunks
    assert rebuilt.search(rows[7]["title"]).hits[0].paper_id == paper_id(rows[7]["title"])
    assert_clean(rebuilt)

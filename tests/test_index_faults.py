"""Faults: ingests interrupted at every stage, and index folders that are
corrupted or half-written. The previous state must stay searchable (from a new
PaperIndex, as after a crash), a later ingest must work and clean up, and a
broken folder must give a clear error naming the file (CLI: `error: ...`, exit 2).

Every fault is a real one, met by the unchanged product code: a process SIGKILLed at
a stage its embedder signals, an embedder that fails at a chosen call (the
`embedder=` seam; tests/fake_embedder.py `Scripted`), a file in the way of one the
commit writes (the write fails with the OSError a full or broken disk gives), Ctrl-C
from the progress callback, damaged files on disk. (A Chroma server that goes away
after the commit: tests/test_chroma_server.py.) The index is built with the FAKE
embedder: these tests judge bookkeeping, not ranking."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.answer.text import sentences
from assistant.api import PaperAssistant
from assistant.index import PaperIndex
from assistant.index.vectors import VectorStoreError
from assistant.records import paper_id
from assistant.retrieve import QueryError
from assistant.index.store import PENDING, CorruptIndex
from fake_embedder import Scripted, fake_model_env


class Crash(Exception):
    """Raised by the embedder at the chosen call: the ingest dies there."""


def crash():
    raise Crash("the embedder failed")


CHUNK_PASS, SENTENCE_PASS = 1, 2  # the embedder's document calls in an ingest (see Scripted)


def failing(fake_embedder, at: int) -> Scripted:
    return Scripted(fake_embedder, at, crash)


def assistant_on(settings, embedder) -> PaperAssistant:
    return PaperAssistant(settings, index=PaperIndex(settings, embedder=embedder), llm=False)


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


def next_generation(pa: PaperAssistant) -> int:
    return json.loads(manifest_bytes(pa))["generation"] + 1


def in_the_way(path: Path) -> Path:
    """A file where the commit will write a folder: its write fails with an OSError."""
    path.write_text("in the way\n", encoding="utf-8")
    return path


# --- interrupted ingests ----------------------------------------------------------------------


def break_sentence_pass(pa, fake_embedder):
    """The embedder fails on the sentence pass: the new chunk vectors are in Chroma already."""
    pa = assistant_on(pa.settings, failing(fake_embedder, SENTENCE_PASS))
    return pa, Crash, None


def block_sentence_vectors(pa, fake_embedder):
    """The commit cannot write the sentence vectors (before the records and chunks)."""
    return pa, OSError, in_the_way(pa.settings.index_path / f"sentences.{next_generation(pa)}")


def block_bm25_save(pa, fake_embedder):
    """The commit cannot save BM25: the records and chunks of the new generation are written,
    only the manifest is left to write."""
    return pa, OSError, in_the_way(pa.settings.index_path / f"bm25.{next_generation(pa)}")


FAILURES = {"embedding sentences": break_sentence_pass, "writing sentence vectors": block_sentence_vectors,
            "saving BM25 in the commit": block_bm25_save}


@pytest.mark.parametrize("stage", FAILURES, ids=list(FAILURES))
def test_a_failure_after_vectors_were_added_keeps_the_previous_index(grown, make_assistant, fake_embedder, stage):
    pa, rows, added, source = grown
    before = manifest_bytes(pa)
    pa, error, obstacle = FAILURES[stage](pa, fake_embedder)
    with pytest.raises(error):
        pa.ingest([source])
    leftovers = pa.index.vectors.ids() - live_ids(pa)
    assert leftovers, "the failure should come after the new vectors were stored"
    assert (pa.settings.index_path / PENDING).exists()
    # The stage the failure came at: the new records are written (not named) only when BM25 failed.
    written = (pa.settings.index_path / f"records.{next_generation(pa)}.jsonl").exists()
    assert written == (stage == "saving BM25 in the commit")

    reopened = assert_previous_state(pa, make_assistant, rows, added, before)
    # The previous generation's sentence vectors are still read (nothing embedded to answer).
    abstract = reopened.index.paper_by_id[paper_id(rows[4]["title"])].abstract
    assert len(reopened.index.sentences.lookup(sentences(abstract))) == len(set(sentences(abstract))) > 0

    if obstacle is not None:
        obstacle.unlink()  # the disk works again
    _, update = reopened.ingest([source])
    assert update.total == 24 and update.added == 4
    assert update.index.embedded == 0  # the vectors left by the failed run are reused, not embedded again
    # Only the new papers' sentences are embedded; the stored ones are reused.
    new_ids = {paper_id(r["title"]) for r in added}
    by_age = {age: {x for p in reopened.index.papers if (p.id in new_ids) == age for x in sentences(p.abstract)}
              for age in (True, False)}
    assert update.index.sentences_embedded == len(by_age[True] - by_age[False]) > 0
    assert leftovers <= live_ids(reopened)
    assert_clean(reopened)


KILLED_INGEST = r"""
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from fake_embedder import FAKE_SETTINGS, HashingFakeEmbedder, Scripted
from assistant.api import PaperAssistant
from assistant.settings import Settings

index_dir, source, marker, at = sys.argv[2], sys.argv[3], Path(sys.argv[4]), int(sys.argv[5])

def signal_and_wait():
    marker.write_text("at the chosen stage")
    time.sleep(600)  # SIGKILLed here

settings = Settings(index_dir=index_dir, **FAKE_SETTINGS)
pa = PaperAssistant(settings, llm=False, embedder=Scripted(HashingFakeEmbedder(), at, signal_and_wait))
pa.ingest([source])
print("the ingest finished: it was not killed")
"""


def test_a_process_killed_during_an_ingest_leaves_the_previous_index(grown, make_assistant, project_dir,
                                                                     tmp_path):
    """A real interruption: the ingest runs in its own process, which is SIGKILLed (no
    exception handler or `finally` runs) while it embeds the sentences, after the new
    chunk vectors went into Chroma."""
    pa, rows, added, source = grown
    before = manifest_bytes(pa)
    marker = tmp_path / "reached"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERS_", "OPENAI_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_INGEST, str(Path(__file__).parent), str(pa.settings.index_dir),
                             str(source), str(marker), str(SENTENCE_PASS)], cwd=project_dir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"the ingest ended before the sentence pass: {proc.communicate()}")
            assert time.monotonic() < deadline, "the ingest never reached the sentence pass"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL and "not killed" not in out

    assert (pa.settings.index_path / PENDING).exists()
    reopened = assert_previous_state(pa, make_assistant, rows, added, before)
    leftovers = reopened.index.vectors.ids() - live_ids(reopened)
    assert leftovers, "the killed run had added the new chunk vectors"
    _, update = reopened.ingest([source])
    assert update.total == 24 and update.added == 4 and update.index.embedded == 0  # its vectors are reused
    assert leftovers <= live_ids(reopened)
    assert_clean(reopened)


def test_an_unchanged_reingest_after_a_crash_removes_the_vectors_it_left(grown, make_assistant, fake_embedder,
                                                                          write_jsonl):
    """The user gives up on the new papers and re-ingests the old file: nothing to
    commit, but the vectors the crash stored must not stay in the store."""
    pa, rows, added, source = grown
    broken = assistant_on(pa.settings, failing(fake_embedder, SENTENCE_PASS))
    with pytest.raises(Crash):
        broken.ingest([source])
    leftovers = broken.index.vectors.ids() - live_ids(broken)
    assert leftovers and (pa.settings.index_path / PENDING).exists()

    write_jsonl(source, rows)  # back to the 20 indexed papers
    reopened = make_assistant(pa.settings.index_dir)
    _, update = reopened.ingest([source])
    assert not update.index.committed and update.index.embedded == 0
    assert update.index.removed == len(leftovers)
    assert_clean(reopened)
    _, again = reopened.ingest([source])  # the marker is gone: nothing left to prune
    assert again.index.removed == 0


def test_a_manifest_write_cut_off_keeps_the_previous_index(grown, make_assistant, write_jsonl):
    """The commit fails at its last step before the manifest, and the temp file a writer
    killed half-way through the new manifest leaves behind is there too (what
    `atomic_file` leaves when no handler runs): readers still read the old manifest, and
    the next ingest removes everything the failure left."""
    pa, rows, added, source = grown
    before = manifest_bytes(pa)
    obstacle = in_the_way(pa.settings.index_path / f"bm25.{next_generation(pa)}")
    with pytest.raises(OSError):
        pa.ingest([source])
    half = pa.settings.index_path / ".manifest.json.k1ll3d.tmp"
    half.write_bytes(before[: len(before) // 2])
    assert (pa.settings.index_path / f"chunks.{next_generation(pa)}.jsonl").exists()  # written, not named
    assert pa.index.vectors.ids() - live_ids(pa)

    reopened = assert_previous_state(pa, make_assistant, rows, added, before)

    # A later, different ingest succeeds and removes everything the failure left behind.
    obstacle.unlink()
    rows[0]["abstract"] += " An extended version adds experiments on long-tailed data."
    write_jsonl(source, rows)
    _, update = reopened.ingest([source])
    assert update.index.committed and update.total == 20 and update.updated == 1
    assert update.index.embedded == len([c for c in reopened.index.chunks if c.paper_id == paper_id(rows[0]["title"])])
    assert not half.exists()
    assert_clean(reopened)


def test_vectors_stored_by_an_interrupted_run_are_reused_and_the_rest_embedded(grown, make_assistant,
                                                                              fake_embedder, write_jsonl):
    """A run interrupted after storing the vectors of some of the new papers: the next
    run embeds the chunks of the others only."""
    pa, rows, added, source = grown
    before = manifest_bytes(pa)
    write_jsonl(source, rows + added[:2])
    broken = assistant_on(pa.settings, failing(fake_embedder, SENTENCE_PASS))
    with pytest.raises(Crash):
        broken.ingest([source])
    stored = broken.index.vectors.ids() - live_ids(broken)
    first_two = {paper_id(r["title"]) for r in added[:2]}
    assert stored and {cid.split(":")[0] for cid in stored} == first_two

    write_jsonl(source, rows + added)
    reopened = assert_previous_state(pa, make_assistant, rows, added, before)
    _, update = reopened.ingest([source])
    new_chunks = [c for c in reopened.index.chunks if c.paper_id in {paper_id(r["title"]) for r in added}]
    assert update.index.embedded == len(new_chunks) - len(stored) > 0
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


def test_an_interrupted_first_ingest_leaves_no_index_and_a_retry_works(tmp_path, make_assistant, fake_embedder,
                                                                         sample_rows, write_jsonl):
    source = write_jsonl(tmp_path / "a.jsonl", sample_rows[:5])
    settings = make_assistant(tmp_path / "idx").settings
    with pytest.raises(Crash):
        assistant_on(settings, failing(fake_embedder, SENTENCE_PASS)).ingest([source])

    reopened = make_assistant(tmp_path / "idx")
    assert not reopened.index.exists and reopened.papers == []
    with pytest.raises(QueryError, match="is empty; add papers"):
        reopened.search("adversarial robustness")

    _, update = reopened.ingest([source])
    assert update.total == 5 and update.index.embedded == 0  # all reused from the interrupted run
    assert reopened.search(sample_rows[2]["title"]).hits[0].paper_id == paper_id(sample_rows[2]["title"])
    assert_clean(reopened)


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
    "records not objects": (lambda d: _put(_live(d, "records"), b"[1, 2]\n"), "expected a JSON object"),
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
    pa = assistant_on(settings, embedder)
    pa.search("adversarial robustness")
    return pa.ask("Which paper studies adversarial robustness?")


@pytest.mark.parametrize("damage", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_a_damaged_folder_gives_an_error_naming_the_file(sample_lib, fake_embedder, damage):
    pa = sample_lib[0]
    harm, words = CORRUPTIONS[damage]
    named = harm(pa.settings.index_path)
    with pytest.raises(CorruptIndex) as info:
        open_and_search(pa.settings, fake_embedder)
    message = str(info.value)
    assert str(named) in message and words in message
    assert "papers ingest --rebuild" in message or "delete the folder" in message


def test_a_chroma_database_that_is_not_one_gives_a_vector_store_error(sample_lib, fake_embedder):
    pa = sample_lib[0]
    (_chroma_dir(pa.settings.index_path) / "chroma.sqlite3").write_bytes(b"not a database" * 512)
    with pytest.raises(VectorStoreError, match="chroma"):
        open_and_search(pa.settings, fake_embedder)


@pytest.mark.parametrize("damage", ["manifest truncated", "chunks missing", "records not objects", "chroma deleted"])
def test_cli_reports_a_damaged_folder_without_traceback(sample_lib, papers_main, llm_server, damage):
    pa = sample_lib[0]
    named = CORRUPTIONS[damage][0](pa.settings.index_path)
    proc = papers_main("search", "adversarial robustness", "--index-dir", pa.settings.index_dir,
                       env=fake_model_env(llm_server))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and str(named) in proc.stderr
    assert proc.stdout == ""


def test_a_damaged_index_can_be_rebuilt(sample_lib, fake_embedder):
    pa, rows, source, _ = sample_lib
    _cut(_live(pa.settings.index_path, "chunks"))
    with pytest.raises(CorruptIndex):
        PaperIndex(pa.settings, embedder=fake_embedder)
    rebuilt, _, update = PaperAssistant.rebuild([source], pa.settings, embedder=fake_embedder)
    assert update.total == 20 and update.index.embedded == update.index.chunks
    assert rebuilt.search(rows[7]["title"]).hits[0].paper_id == paper_id(rows[7]["title"])
    assert_clean(rebuilt)

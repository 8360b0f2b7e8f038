"""The library's lock and uploads: `assistant.locking.ReadWriteLock` on its own,
then `PaperAssistant` sharing one index between threads (questions read, an
ingest writes; a streaming answer holds its read until it is consumed or
closed) and `PaperAssistant.add_files` keeping only the uploads that yield
papers. Threads are coordinated with events and the lock's own condition,
never with sleeps; the timeouts only bound a failing test."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from assistant.errors import IndexBusy, UserError
from assistant.locking import HeldEvents, ReadWriteLock

BOUND = 60  # seconds before a waiting step counts as hung (never reached when the code is right)
HPM_TITLE = "Hard Patches Mining for Masked Image Modeling"


def _until(lock: ReadWriteLock, predicate, what: str) -> None:
    """Block until `predicate()` holds; the lock notifies its condition whenever a reader
    or writer starts waiting, takes or releases it."""
    with lock._cond:
        assert lock._cond.wait_for(predicate, BOUND), f"the lock never got to: {what}"


def _in_thread(fn) -> tuple[threading.Thread, threading.Event, list]:
    """Run `fn` in a thread; `done` is set when it returns or raises, `out` holds [result] or [exc]."""
    done, out = threading.Event(), []

    def run():
        try:
            out.append(fn())
        except BaseException as exc:  # handed to the test
            out.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done, out


# --- the lock -----------------------------------------------------------------------------------


def test_a_writer_waits_for_readers_and_new_readers_wait_for_it():
    lock = ReadWriteLock()
    hold = lock.acquire_read()  # a question is being answered
    inside, leave, seen = threading.Event(), threading.Event(), {}

    def upload():
        with lock.writing() as got:
            seen["got"] = got
            inside.set()
            seen["own read"] = lock.acquire_read(timeout=0)  # the writer may read (a nested call)
            seen["own read"].release()
            with lock.writing(timeout=0) as again:  # ... and write again
                seen["nested write"] = again
            leave.wait(BOUND)

    writer = threading.Thread(target=upload, daemon=True)
    writer.start()
    _until(lock, lambda: lock.busy, "a writer waiting")
    assert not inside.is_set()  # the upload waits for the question
    # A new question from another thread queues behind the waiting upload ...
    _, asked, out = _in_thread(lambda: lock.acquire_read(timeout=0))
    assert asked.wait(BOUND) and out == [None]
    # ... but this thread already reads, so its nested read goes through (no deadlock).
    nested = lock.acquire_read(timeout=0)
    assert nested is not None
    nested.release()
    assert not inside.is_set()

    hold.release()
    assert inside.wait(BOUND) and seen["got"] is True
    assert seen["own read"] is not None and seen["nested write"] is True
    assert lock.busy and lock.try_read() is None  # while it writes, nobody else reads
    leave.set()
    writer.join(BOUND)
    again = lock.try_read()
    assert again is not None and not lock.busy
    again.release()


def test_a_writer_gives_up_after_its_timeout_and_nothing_is_left_held():
    lock = ReadWriteLock()
    hold = lock.acquire_read()

    def upload():
        with lock.writing(timeout=0) as got:
            return got

    _, done, out = _in_thread(upload)
    assert done.wait(BOUND) and out == [False]
    assert not lock.busy  # the writer that gave up no longer blocks readers
    hold.release()
    hold.release()  # a second release does nothing
    with lock.writing(timeout=0) as got:
        assert got


def test_a_read_taken_in_one_thread_may_be_released_in_another():
    lock = ReadWriteLock()
    _, done, out = _in_thread(lock.acquire_read)  # e.g. a stream started on one Gradio worker
    assert done.wait(BOUND)
    with lock.writing(timeout=0) as got:
        assert not got
    out[0].release()  # ... finished on another
    with lock.writing(timeout=0) as got:
        assert got


def _events():
    yield "a"
    yield "b"
    return "answer"


@pytest.mark.parametrize("how", ["exhausted", "closed early", "never started, closed", "dropped", "raised"])
def test_held_events_release_their_hold_whatever_happens(how):
    lock = ReadWriteLock()
    hold = lock.acquire_read()
    events = HeldEvents(_events(), hold)
    if how == "exhausted":
        def relay():
            return (yield from events)

        gen = relay()
        assert next(gen) == "a" and next(gen) == "b" and not hold.released
        with pytest.raises(StopIteration) as end:
            next(gen)
        assert end.value.value == "answer"  # the return value passes through
    elif how == "closed early":
        assert next(events) == "a"
        events.close()
    elif how == "never started, closed":
        events.close()
    elif how == "dropped":
        assert next(events) == "a"
        del events
        gc.collect()
    else:
        with pytest.raises(ValueError):
            events.throw(ValueError("boom"))
    assert hold.released
    with lock.writing(timeout=0) as got:
        assert got


# --- PaperAssistant ------------------------------------------------------------------------------


@pytest.fixture
def pa(tmp_path, make_assistant, sample_rows, write_jsonl):
    """Five papers, extractive; a fixed abstention threshold (no calibration run per ingest)."""
    assistant = make_assistant(tmp_path / "idx", abstain_threshold=0.3)
    assistant.ingest([write_jsonl(tmp_path / "five.jsonl", sample_rows[:5])])
    assert len(assistant.papers) == 5
    return assistant


def _kept(pa) -> list[Path]:
    return sorted(p for p in pa.uploads_dir.rglob("*") if p.is_file()) if pa.uploads_dir.exists() else []


def _sources(pa) -> set[str]:
    return {s.file for p in pa.papers for s in p.sources}


def test_add_files_keeps_only_the_files_that_yield_papers(pa, tmp_path, sample_rows, write_jsonl):
    from assistant.ingest import source_label

    incoming = tmp_path / "incoming"
    good = write_jsonl(incoming / "good.jsonl", sample_rows[5:7])
    empty = incoming / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    binary = incoming / "blob.jsonl"
    binary.write_bytes(bytes(range(256)) * 4)
    no_abstract = write_jsonl(incoming / "titles.jsonl", [{"title": "A title with no abstract"}])
    result, update = pa.add_files([good, empty, binary, no_abstract, incoming / "missing.jsonl"])

    assert update.added == 2 and update.total == 7
    by_name = {Path(f.file).name: f for f in result.files}
    assert by_name["good.jsonl"].records == 2
    assert "empty" in by_name["empty.jsonl"].error and "binary" in by_name["blob.jsonl"].error
    assert by_name["titles.jsonl"].records == 0 and by_name["titles.jsonl"].skipped
    assert any("missing.jsonl" in e for e in result.errors)
    kept = _kept(pa)
    assert [p.name for p in kept] == ["good.jsonl"]  # refused, empty and binary files are not kept
    assert all(any(d.iterdir()) for d in pa.uploads_dir.iterdir())  # nor their folders
    assert source_label(kept[0]) in _sources(pa)  # the index names the kept copy, not the original
    good.unlink()  # the original (a temp upload) may vanish: the index does not need it

    again = write_jsonl(tmp_path / "elsewhere" / "good.jsonl", sample_rows[5:7])
    _, update = pa.add_files([again])  # the same content again: one copy, nothing new
    assert update.added == 0 and update.total == 7 and _kept(pa) == kept

    result, update = pa.add_files([empty, no_abstract])
    assert not result.papers and update.total == 7 and _kept(pa) == kept


def test_add_files_removes_its_copies_when_the_ingest_fails(pa, tmp_path, sample_rows, write_jsonl, fake_embedder):
    from fake_embedder import Scripted

    from assistant.api import PaperAssistant

    def broken() -> None:
        raise OSError("disk full")

    # The same library opened with an embedder that fails at its first batch of new chunks.
    failing = PaperAssistant(pa.settings, llm=False, embedder=Scripted(fake_embedder, 1, broken))
    with pytest.raises(OSError, match="disk full"):
        failing.add_files([write_jsonl(tmp_path / "new.jsonl", sample_rows[5:7])])
    assert _kept(failing) == [] and len(failing.papers) == 5
    assert len(PaperAssistant(pa.settings, llm=False, embedder=fake_embedder).papers) == 5  # on disk too


def test_a_streaming_answer_holds_the_read_side_until_it_is_consumed_closed_or_dropped(pa, sample_rows):
    question = f"What does the paper {sample_rows[0]['title']} propose?"
    expected = pa.ask(question).text

    stream = pa.ask(question, stream=True)
    with pa.lock.writing(timeout=0) as got:
        assert not got  # an ingest now would change the index under the answer being written
    assert stream.result().text == expected
    with pa.lock.writing(timeout=0) as got:
        assert got

    chunks = iter(pa.chat(question, stream=True))
    next(chunks)
    chunks.close()  # a session that goes away mid-answer
    with pa.lock.writing(timeout=0) as got:
        assert got

    unread = pa.ask(question, stream=True)
    del unread  # never iterated
    gc.collect()
    with pa.lock.writing(timeout=0) as got:
        assert got


def test_an_ingest_waits_for_a_running_answer_and_later_questions_wait_for_it(pa, tmp_path, sample_rows,
                                                                              write_jsonl):
    new = sample_rows[5]
    question = f"What does the paper {sample_rows[0]['title']} propose?"
    stream = pa.ask(question, stream=True)  # a question being answered holds the index until it is read

    upload = write_jsonl(tmp_path / "new.jsonl", [new])
    _, uploaded, up = _in_thread(lambda: pa.add_files([upload]))
    _until(pa.lock, lambda: pa.lock.busy, "the upload waiting")
    assert not uploaded.is_set() and len(pa.index.papers) == 5

    # Another upload that will not wait gives up at once, copying nothing.
    with pytest.raises(IndexBusy) as busy:
        pa.add_files([write_jsonl(tmp_path / "other.jsonl", [sample_rows[6]])], wait=0)
    assert isinstance(busy.value, UserError) and "busy" in str(busy.value)
    assert _kept(pa) == []

    # The thread answering may still search (a nested read), though an upload waits.
    assert pa.search(sample_rows[1]["title"], k=1).hits

    # A question from another thread queues behind the waiting upload ...
    _, answered, hits = _in_thread(lambda: pa.search(new["title"], k=1).hits)
    _until(pa.lock, lambda: pa.lock._readers_waiting == 1, "the question queued")
    assert not answered.is_set()

    stream.result()  # the first answer completes: the upload runs, then the queued question
    assert uploaded.wait(BOUND) and not isinstance(up[0], BaseException) and up[0][1].added == 1
    assert answered.wait(BOUND) and not isinstance(hits[0], BaseException)
    assert hits[0][0].title == new["title"]  # it ran after the upload: it finds the new paper
    assert [p.name for p in _kept(pa)] == ["new.jsonl"]

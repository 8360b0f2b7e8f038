"""The reader-writer lock that keeps a shared index consistent: questions read
it (many at once), an ingest changes it (alone). `PaperAssistant` holds one:
its read methods take the read side, `ingest` and `add_files` the write side,
so the UI, the CLI and a Python program that shares one assistant between
threads get the same safety.

    lock = ReadWriteLock()
    with lock.reading(): ...                  # many threads at once
    with lock.writing(timeout=30) as got:     # alone; False if readers held on for 30 s
        if got: ...
    hold = lock.acquire_read()                # a read held past the call (an answer stream)
    events = HeldEvents(generator, hold)      # ... released when the stream ends, closes or is dropped

Rules: a writer that waits goes before readers that come after it (an upload is
not starved by a steady flow of questions), except that a thread already
holding a read may read again (nested calls do not deadlock behind a waiting
writer), and the writing thread may read and write again. Read holds are
counted, not owned: one taken for a stream may be released by whichever thread
finishes the stream (Gradio runs each step of a streamed reply on any worker).
A thread must not ask for the write side while it holds a read (e.g. ingest
from inside the loop over an answer stream): that waits for itself, until the
timeout when one is given.

A stream's read stays counted for the thread that started it until the stream
ends, so that thread may read again meanwhile even while a writer waits. The
price: while such a stream lives, that thread's other questions (a Gradio worker
serving another session) also pass the waiting writer. That lasts only as long
as the stream; the alternative (the stream's read belongs to no thread) would
deadlock a program that starts a stream, then searches before reading it, while
an ingest waits.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any


class ReadHold:
    """One read side of a `ReadWriteLock`, taken by `acquire_read`. `release()`
    gives it back; calling it again does nothing, and any thread may call it."""

    def __init__(self, lock: ReadWriteLock, thread: int):
        self._lock, self._thread = lock, thread
        self._released = False
        self._guard = threading.Lock()

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        with self._guard:
            if self._released:
                return
            self._released = True
        self._lock._release_read(self._thread)

    def __enter__(self) -> ReadHold:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class ReadWriteLock:
    """Many readers or one writer; waiting writers go first (see the module docstring)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._holds: Counter[int] = Counter()  # read holds per thread that took them (for re-entry)
        self._readers_waiting = 0
        self._writer: int | None = None  # the writing thread
        self._writes = 0  # how deep the writing thread has nested `writing()`
        self._writers_waiting = 0

    @property
    def busy(self) -> bool:
        """A writer holds the lock or waits for it: a new question waits until it is done.
        A snapshot, for telling the user why they wait; it decides nothing."""
        with self._cond:
            return self._writer is not None or self._writers_waiting > 0

    def acquire_read(self, timeout: float | None = None) -> ReadHold | None:
        """Take the read side; None when it could not within `timeout` seconds (None: wait)."""
        me = threading.get_ident()
        with self._cond:

            def may_read() -> bool:
                if self._writer is not None:
                    return self._writer == me
                return not self._writers_waiting or self._holds[me] > 0

            if not may_read():
                self._readers_waiting += 1
                self._cond.notify_all()  # for observers of the queue (tests)
                try:
                    if not self._cond.wait_for(may_read, timeout):
                        return None
                finally:
                    self._readers_waiting -= 1
            self._readers += 1
            self._holds[me] += 1
            return ReadHold(self, me)

    def try_read(self) -> ReadHold | None:
        """The read side if it is free now, else None."""
        return self.acquire_read(timeout=0)

    def _release_read(self, thread: int) -> None:
        with self._cond:
            self._readers -= 1
            self._holds[thread] -= 1
            if self._holds[thread] <= 0:
                del self._holds[thread]
            self._cond.notify_all()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the read side for the block (waits as long as a writer does)."""
        hold = self.acquire_read()
        assert hold is not None  # no timeout: acquire_read waited until it got the lock
        try:
            yield
        finally:
            hold.release()

    @contextmanager
    def writing(self, timeout: float | None = None) -> Iterator[bool]:
        """Hold the write side for the block: yields True when it was taken, False
        after `timeout` seconds of readers holding on (None: wait as long as it takes)."""
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:  # nested in our own write
                self._writes += 1
                got = True
            else:
                self._writers_waiting += 1
                self._cond.notify_all()  # for observers of the queue (tests)
                try:
                    got = self._cond.wait_for(lambda: self._writer is None and not self._readers, timeout)
                    if got:
                        self._writer, self._writes = me, 1
                finally:
                    self._writers_waiting -= 1
                    self._cond.notify_all()  # readers that queued behind this writer re-check
        try:
            yield got
        finally:
            if got:
                with self._cond:
                    self._writes -= 1
                    if not self._writes:
                        self._writer = None
                    self._cond.notify_all()


class HeldEvents:
    """`events` (a generator) that keeps `hold` until it is exhausted, raises, is
    closed or is garbage-collected, whichever comes first (also when it was never
    started). Use it with `yield from`: the generator's return value passes through."""

    def __init__(self, events: Generator, hold: ReadHold):
        self._events, self._hold = events, hold

    def __iter__(self) -> HeldEvents:
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        try:
            return self._events.send(value)
        except BaseException:  # StopIteration (the end) included: it carries the return value on
            self._hold.release()
            raise

    def throw(self, *args: Any) -> Any:
        try:
            return self._events.throw(*args)
        except BaseException:
            self._hold.release()
            raise

    def close(self) -> None:
        try:
            self._events.close()
        finally:
            self._hold.release()

    def __del__(self) -> None:
        self._hold.release()

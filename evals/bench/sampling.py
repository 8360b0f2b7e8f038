"""Wall time, CPU time, RSS and threads of a stage, read with psutil.

`Sampler` watches one process (this one by default) from a background thread: RSS and
thread count every `interval` seconds, plus one sample when the stage starts and one
when it ends. Its peak RSS is the highest sample, so a spike shorter than the interval
can be missed (the whole process's high-water mark is `process_peak_rss_mib`). It also
reports the CPU time the process used and how many cores other processes kept busy
meanwhile (the machine's busy time minus this process's), which tells whether a
timing was taken on a quiet machine."""

from __future__ import annotations

import resource
import threading
import time
from typing import Any

import psutil

MIB = 2**20


def system_busy_seconds() -> float:
    """CPU seconds the whole machine (all cores, all processes) spent busy since boot."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    guest = getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)  # already counted in user/nice
    return sum(t) - idle - guest


def cpu_seconds(process: psutil.Process, children: bool = False) -> float:
    """User + system CPU seconds of `process` (with its waited-for children if asked)."""
    t = process.cpu_times()
    own = t.user + t.system
    return own + (t.children_user + t.children_system if children else 0.0)


def process_peak_rss_mib() -> float:
    """This process's RSS high-water mark since it started (getrusage; KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def busy_cores(interval: float = 2.0) -> float:
    """Cores the whole machine kept busy over the next `interval` seconds."""
    return psutil.cpu_percent(interval=interval) / 100 * (psutil.cpu_count() or 1)


def wait_idle(limit_s: float, threshold: float = 0.15) -> float:
    """Wait (at most limit_s) for a 2-second window in which the machine is nearly
    idle (this process only sleeps); return the seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s and busy_cores(2.0) >= threshold:
        pass
    return time.perf_counter() - t0


class Sampler:
    """`with Sampler() as s: ...`, then `s.result()`: seconds, CPU seconds, RSS before,
    after and at its sampled peak (MiB), the most threads seen, and the cores other
    processes used. `children=True` counts the CPU time of children the process waited
    for (a step run as a subprocess)."""

    def __init__(self, process: psutil.Process | None = None, interval: float = 0.01, children: bool = False):
        self.process = process or psutil.Process()
        self.interval = interval
        self.children = children
        self.samples = 0
        self.peak_rss = 0
        self.max_threads = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def sample(self) -> None:
        with self.process.oneshot():
            rss, threads = self.process.memory_info().rss, self.process.num_threads()
        with self._lock:
            self.peak_rss = max(self.peak_rss, rss)
            self.max_threads = max(self.max_threads, threads)
            self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except psutil.Error:  # the process is gone
                return

    def __enter__(self) -> Sampler:
        self.rss_before = self.process.memory_info().rss
        self.sample()
        self.busy0, self.cpu0 = system_busy_seconds(), cpu_seconds(self.process, self.children)
        self.t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.t0
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.cpu = cpu_seconds(self.process, self.children) - self.cpu0
        busy = system_busy_seconds() - self.busy0
        self.foreign_cores = max(0.0, busy - self.cpu) / max(self.seconds, 1e-9)
        self.sample()
        self.rss_after = self.process.memory_info().rss

    def result(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "cpu_seconds": self.cpu,
            "peak_rss_mib": self.peak_rss / MIB,
            "rss_before_mib": self.rss_before / MIB,
            "rss_after_mib": self.rss_after / MIB,
            "max_threads": self.max_threads,
            "samples": self.samples,
            "foreign_cpu_cores": self.foreign_cores,
        }


class Stage(Sampler):
    """A Sampler that stores its result in record["stages"][name] when the block ends."""

    def __init__(self, record: dict[str, Any], name: str, **kwargs):
        super().__init__(**kwargs)
        self.record, self.name = record, name

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        self.record.setdefault("stages", {})[self.name] = self.result()

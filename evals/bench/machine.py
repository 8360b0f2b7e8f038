"""What the machine is: CPU, memory, library versions, and the CPU's attainable
matrix-multiply rate (the `peak` step), against which the embedding rate is read."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

import psutil

VERSIONED = (
    "torch",
    "sentence-transformers",
    "transformers",
    "chromadb",
    "llama-index-core",
    "llama-index-embeddings-huggingface",
    "bm25s",
    "numpy",
    "psutil",
)


def cpu_model() -> str:
    """The CPU's model name (Linux reports it only in /proc/cpuinfo; elsewhere platform's)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def machine_info() -> dict[str, Any]:
    try:
        usable = len(psutil.Process().cpu_affinity())
    except (AttributeError, psutil.Error):  # no affinity on macOS
        usable = None
    versions = {}
    for dist in VERSIONED:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    freq = psutil.cpu_freq()
    return {
        "cpu": cpu_model(),
        "nproc": os.cpu_count(),
        "usable_cpus": usable,
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_mhz": freq.current if freq else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def worker_peak(args, record: dict) -> None:
    """The CPU's attainable matrix-multiply rate per precision: one large GEMM
    (2048 x 2048 x 2048) in PyTorch, best of 10, after three warm-ups (fewer runs were
    at the mercy of a slow moment of this VM: 371-806 GFLOP/s for bf16 over three runs).
    Best of 10 is what is wanted here (the rate the hardware reaches), not a mean."""
    import time

    import torch

    n = 2048
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        for _ in range(3):
            a @ b
        best = float("inf")
        for _ in range(10):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
        out[name] = 2 * n**3 / best / 1e9
    record["gemm_gflops"] = out
    record["torch_threads"] = torch.get_num_threads()
    freq = psutil.cpu_freq()
    record["cpu_mhz"] = freq.current if freq else None

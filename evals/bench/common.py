"""Small helpers the workers share: settings of a benchmark index, progress bars,
percentiles, sizes on disk, JSON out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def bench_settings(args, name: str, sentence_vectors: bool = False, **extra):
    """Settings of a benchmark index under --workdir. The bundled and SciFact builds run
    the defaults (sentence vectors on); the synthetic scale points run with sentence
    vectors off (their embedder embeds titled chunks only, and they measure the store)."""
    from assistant.settings import Settings

    return Settings(index_dir=Path(args.workdir) / name, sentence_vectors=sentence_vectors, **extra)


def bar(enabled: bool, **kwargs):
    from tqdm import tqdm

    interactive = sys.stderr.isatty()
    return tqdm(
        disable=not enabled,
        position=1,
        leave=False,
        dynamic_ncols=True,
        mininterval=0.2 if interactive else 10.0,
        **kwargs,
    )


def percentile(values: list[float], q: float) -> float | None:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else None


def dir_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")

"""Using a built index: warm re-ingest (nothing changed), search latency, and a fresh
`papers ask` as a user starts it.

The parts of a search (embed, dense, bm25, fuse) are `SearchResult.timings`. The share
of `dense` spent inside chromadb's own `Collection.query` is not reported: it could only
be had by wrapping chromadb's method."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evals.bench import PROJECT_DIR, QUERIES, QUESTION
from evals.bench.common import bar, bench_settings, percentile
from evals.bench.sampling import Stage
from evals.bench.synthetic import SyntheticEmbedder, base_corpus, synthetic_papers


def search_latency(pa, queries: list[str], rounds: int, progress: bool) -> dict[str, Any]:
    """One warm-up query (reported as the first query: in a fresh process it loads the
    query model, opens Chroma, loads BM25), then `rounds` passes over `queries`."""
    t = time.perf_counter()
    first = pa.search(queries[0], k=10)
    first_ms = (time.perf_counter() - t) * 1000
    walls: list[float] = []
    parts: dict[str, list[float]] = {}
    min_hits = len(first.hits)
    with bar(progress, total=rounds * len(queries), desc="search", unit="q") as progress_bar:
        for _ in range(rounds):
            for q in queries:
                t = time.perf_counter()
                result = pa.search(q, k=10)
                walls.append((time.perf_counter() - t) * 1000)
                for key, value in result.timings.items():
                    parts.setdefault(key, []).append(value * 1000)
                min_hits = min(min_hits, len(result.hits))
                progress_bar.update()
    tops = {q: [h.title for h in pa.search(q, k=3).hits] for q in queries[:5]}
    first_round = walls[: len(queries)]
    return {
        "first_query_ms": first_ms,
        "searches": len(walls),
        "distinct_queries": len(queries),
        "p50_ms": percentile(walls, 50),
        "p95_ms": percentile(walls, 95),
        "max_ms": max(walls),
        # Round 1: the first time these questions' candidate papers are seen in this process.
        "first_round_p50_ms": percentile(first_round, 50),
        "first_round_p95_ms": percentile(first_round, 95),
        "parts_p50_ms": {k: percentile(v, 50) for k, v in parts.items()},
        "parts_p95_ms": {k: percentile(v, 95) for k, v in parts.items()},
        "min_hits": min_hits,
        "walls_ms": [round(w, 2) for w in walls],
        "top3_sample": tops,
    }


def _warm(record: dict, open_s: float, stats) -> dict[str, Any]:
    return {
        "open_s": open_s,
        "ingest_s": record["stages"]["warm re-ingest"]["seconds"] - open_s,
        "embedded": stats.embedded if stats else None,
        "committed": stats.committed if stats else None,
        "update_s": stats.seconds if stats else None,
        "timings": stats.timings if stats else None,
    }


def worker_bundled_search(args, record: dict) -> None:
    """Fresh process on the index bundled-build made: warm re-ingest, then search latency
    twice: with the query cache off (every search embeds its question), and on."""
    with Stage(record, "imports"):
        from assistant.api import PaperAssistant
    # Every timed search embeds its question (query cache off); the cache's effect is measured after.
    settings = bench_settings(args, "bundled", sentence_vectors=True, query_cache=0)
    if not (settings.index_path / "manifest.json").exists():
        raise SystemExit(f"no index at {settings.index_path}: run the bundled build first")
    with Stage(record, "warm re-ingest"):
        t = time.perf_counter()
        pa = PaperAssistant(settings)
        open_s = time.perf_counter() - t
        _, update = pa.ingest([settings.corpus_dir])
    record["warm"] = _warm(record, open_s, update.index)
    with Stage(record, "search"):
        record["search"] = search_latency(pa, QUERIES[: args.queries], args.rounds, args.progress)
    cached = PaperAssistant(bench_settings(args, "bundled", sentence_vectors=True))
    record["search_cached"] = search_latency(cached, QUERIES[: args.queries], args.rounds, args.progress)
    record.update({"papers": len(pa.papers), "chunks": len(pa.index.chunks)})


def worker_scale_search(args, record: dict) -> None:
    """Fresh process on a synthetic index: no-op `update(same records)`, then the searches."""
    with Stage(record, "imports"):
        from assistant.api import PaperAssistant
        from assistant.index import PaperIndex
    size = args.size
    settings = bench_settings(args, f"scale-{size}", query_cache=0)
    built = json.loads((Path(args.workdir) / f"scale-build-{size}.json").read_text())
    base, base_vectors = base_corpus(Path(args.workdir), settings)
    papers, vectors, _ = synthetic_papers(
        base, base_vectors, built["n_papers"], None, args.seed, str(size), settings, args.progress
    )  # the same corpus again, untimed
    embedder = SyntheticEmbedder(settings, vectors)
    with Stage(record, "warm re-ingest"):
        t = time.perf_counter()
        pa = PaperAssistant(settings, index=PaperIndex(settings, embedder=embedder))
        open_s = time.perf_counter() - t
        stats = pa.index.update(papers)
    record["warm"] = _warm(record, open_s, stats)
    with Stage(record, "search"):
        record["search"] = search_latency(pa, QUERIES[: args.queries], args.rounds, args.progress)
    record.update({"papers": len(pa.papers), "chunks": len(pa.index.chunks), "vectors": "synthetic"})


_IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)")


def import_times(stderr: str) -> tuple[dict[str, float], set[str]]:
    """`python -X importtime` output -> (seconds of top- and first-level imports, every module imported)."""
    tops: dict[str, float] = {}
    imported: set[str] = set()
    for line in stderr.splitlines():
        m = _IMPORT_LINE.match(line)
        if m:
            imported.add(m.group(3))
            if len(m.group(2)) <= 2:
                tops[m.group(3)] = int(m.group(1)) / 1e6
    return tops, imported


def worker_ask_startup(args, record: dict) -> None:
    """A fresh `papers ask` process on the bundled index, as a user starts it: wall time
    to the printed answer, best and median of --startup-runs, plus one run under
    `python -X importtime` for where the import time goes."""
    settings = bench_settings(args, "bundled", sentence_vectors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PAPERS_"))}  # extractive
    env.update(PAPERS_INDEX_DIR=str(settings.index_dir.resolve()), PAPERS_INDEX_NAME=settings.index_name)
    script = Path(sys.executable).with_name("papers")  # the installed entry point, as a user runs it
    cmd = [
        str(script) if script.exists() else sys.executable,
        *([] if script.exists() else ["-m", "assistant.cli"]),
        "ask",
        QUESTION,
    ]
    walls = []
    for _ in range(args.startup_runs):
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        if proc.returncode != 0 or "[1]" not in proc.stdout:
            raise SystemExit(f"papers ask failed: {proc.stderr[-500:]}")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "assistant.cli", "ask", QUESTION],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"papers ask under -X importtime failed: {proc.stderr[-500:]}")
    tops, imported = import_times(proc.stderr)
    record.update(
        {
            "walls_s": walls,
            "best_s": min(walls),
            "median_s": percentile(walls, 50),
            "imports_s": dict(sorted(tops.items(), key=lambda kv: -kv[1])[:8]),
            "torch_imported": any(k == "torch" or k.startswith("torch.") for k in imported),
        }
    )

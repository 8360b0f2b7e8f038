"""`python -m evals.bench [options]` runs the benchmark; `python -m evals.bench report`
regenerates the tables of docs/benchmarks.md from the committed result files."""

from __future__ import annotations

import argparse
import os
import re
import sys

from assistant import offline
from evals.bench import BUSY_CORES, PROJECT_DIR, QUERIES


def parse_sizes(text: str) -> list[str | int]:
    out: list[str | int] = []
    for raw in text.split(","):
        item = raw.strip().lower()
        if not item:
            continue
        if item in ("bundled", "scifact"):
            out.append(item)
            continue
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([km]?)", item)
        if not m:
            raise argparse.ArgumentTypeError(
                f"bad size {raw!r}: use 'bundled', 'scifact' or a chunk count like 10000 or 100k"
            )
        n = int(float(m.group(1)) * {"": 1, "k": 1000, "m": 1_000_000}[m.group(2)])
        if n < 100:
            raise argparse.ArgumentTypeError(f"size {n} too small: at least 100 chunks")
        out.append(n)
    if not out:
        raise argparse.ArgumentTypeError("no sizes given")
    return out


def run_parser() -> argparse.ArgumentParser:
    from evals.bench.run import WORKERS

    parser = argparse.ArgumentParser(
        prog="python -m evals.bench",
        description="Benchmark the paper assistant on this machine: cold build of the bundled corpus "
        "(vs LlamaIndex's default VectorStoreIndex.from_documents path), warm re-ingest, "
        "hybrid search latency p50/p95, a fresh `papers ask`, the SciFact corpus cold build, "
        "peak memory, and store/search scaling on synthetic corpora of N chunks. Each step runs "
        "in its own subprocess. The bundled and SciFact builds use the default settings "
        "(sentence vectors included). `python -m evals.bench report --help`: the tables of "
        "docs/benchmarks.md from result files.",
        epilog="Scale points (numbers in --sizes) use a synthetic corpus recombined from the bundled "
        "abstracts, with cheap synthetic chunk vectors (real MiniLM vectors of donor papers + noise) "
        "written through the project's own PaperIndex/Chroma/BM25 code; query embeddings use the real "
        "MiniLM model. They measure store and search scaling, not embedding quality. Example: "
        "HF_HUB_OFFLINE=1 ANONYMIZED_TELEMETRY=False .venv/bin/python -m evals.bench "
        "--sizes bundled,10000,100000 --out evals/results/bench/$(date +%%F).json",
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default="bundled,scifact,10000,100000",
        help="comma-separated: 'bundled' (real corpus and model, plus the LlamaIndex "
        "comparison, search latency and a fresh `papers ask`), 'scifact' (cold build of "
        "the SciFact corpus) and/or synthetic chunk counts such as 10000 or 100k "
        "(default: bundled,scifact,10000,100000)",
    )
    parser.add_argument(
        "--out",
        help="a .json path gets the result file (every raw number and the summary "
        "the report renders); any other path the Markdown tables",
    )
    parser.add_argument(
        "--queries",
        type=int,
        default=len(QUERIES),
        help=f"how many of the {len(QUERIES)} built-in queries to time (default: all)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the queries (default: 3)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the synthetic corpora (default: 1234)")
    parser.add_argument(
        "--scifact",
        default=str(PROJECT_DIR.parent / "shared" / "benchmarks" / "scifact"),
        help="the BEIR SciFact folder the 'scifact' size builds (default: ../shared/benchmarks/scifact)",
    )
    parser.add_argument(
        "--startup-runs",
        type=int,
        default=5,
        help="fresh `papers ask` processes timed by the 'bundled' size (default: 5)",
    )
    parser.add_argument("--workdir", help="keep indexes and raw per-step JSON here (default: a temp dir, removed)")
    parser.add_argument("--keep", action="store_true", help="do not remove the temp work dir")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each step, wait up to SECONDS for the machine to be idle (useful on a "
        "shared machine; the report shows how much CPU other processes took anyway)",
    )
    parser.add_argument(
        "--retry-busy",
        type=int,
        default=0,
        metavar="N",
        help=f"run a step up to N more times when other processes used more than {BUSY_CORES} "
        "cores during it, and keep the cleanest attempt (default: 0)",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    # internal: one benchmark step in this process
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser


def report_parser() -> argparse.ArgumentParser:
    from evals.bench.report import DOC

    parser = argparse.ArgumentParser(
        prog="python -m evals.bench report",
        description="Render the benchmark's tables from result files. Without --results, rewrite every "
        "section of docs/benchmarks.md between <!-- bench:NAME FILE --> and <!-- /bench:NAME --> "
        "from the result file it names.",
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 when a section differs from what its file renders"
    )
    parser.add_argument("--doc", default=str(DOC), help="the Markdown file (default: docs/benchmarks.md)")
    parser.add_argument("--results", metavar="FILE", help="print every table of this result file instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        from evals.bench.report import main_report

        return main_report(report_parser().parse_args(argv[1:]))
    offline.apply()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = run_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.queries <= len(QUERIES):
        parser.error(f"--queries must be between 1 and {len(QUERIES)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    from evals.bench.run import orchestrate, run_worker

    if args.worker:
        if not args.workdir:
            parser.error("--worker needs --workdir")
        return run_worker(args)
    return orchestrate(args, argv)

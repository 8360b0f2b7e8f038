"""Runs the benchmark: one subprocess per step (`python -m evals.bench --worker NAME`),
each writing its raw record as JSON; then the summary, the printed report and the
result file (`--out x.json`: machine, command, raw steps and summary)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant import offline
from evals.bench import BUSY_CORES, PROJECT_DIR, QUERIES
from evals.bench.build import worker_bundled_build, worker_llamaindex, worker_scale_build, worker_scifact_build
from evals.bench.common import write_json
from evals.bench.machine import machine_info, worker_peak
from evals.bench.query import worker_ask_startup, worker_bundled_search, worker_scale_search
from evals.bench.report import render
from evals.bench.sampling import Sampler, process_peak_rss_mib, wait_idle
from evals.bench.summary import summarise

WORKERS = {
    "peak": worker_peak,
    "bundled-build": worker_bundled_build,
    "llamaindex": worker_llamaindex,
    "bundled-search": worker_bundled_search,
    "ask-startup": worker_ask_startup,
    "scifact-build": worker_scifact_build,
    "scale-build": worker_scale_build,
    "scale-search": worker_scale_search,
}

ENV = {**offline.ENV, "TOKENIZERS_PARALLELISM": "false"}


def run_worker(args) -> int:
    """One step in this process; its record goes to --result even when it fails."""
    record: dict[str, Any] = {"worker": args.worker, "size": args.size}
    try:
        WORKERS[args.worker](args, record)
    finally:
        record["process_peak_rss_mib"] = process_peak_rss_mib()
        if args.result:
            write_json(Path(args.result), record)
    return 0


def steps_for(sizes: list[str | int]) -> list[tuple[str, int | None, str]]:
    """(worker, size, result key) of every step the sizes ask for, in run order."""
    jobs: list[tuple[str, int | None, str]] = []
    for size in sizes:
        if size == "bundled":
            jobs += [
                ("peak", None, "peak"),
                ("bundled-build", None, "bundled-build"),
                ("llamaindex", None, "llamaindex"),
                ("bundled-search", None, "bundled-search"),
                ("ask-startup", None, "ask-startup"),
            ]
        elif size == "scifact":
            jobs += [("scifact-build", None, "scifact-build")]
        else:
            jobs += [("scale-build", size, f"scale-build-{size}"), ("scale-search", size, f"scale-search-{size}")]
    return jobs


def _run_step(args, workdir: Path, worker: str, size: int | None, key: str) -> dict[str, Any]:
    """The step in a subprocess, again (up to --retry-busy times) while other processes
    kept the CPU busy; the cleanest attempt is kept."""
    from tqdm import tqdm

    attempts: list[dict] = []
    for attempt in range(1 + args.retry_busy):
        result_path = workdir / f"{key}.json"
        result_path.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "evals.bench",
            "--worker",
            worker,
            "--workdir",
            str(workdir),
            "--result",
            str(result_path),
            "--queries",
            str(args.queries),
            "--rounds",
            str(args.rounds),
            "--seed",
            str(args.seed),
            "--scifact",
            str(args.scifact),
            "--startup-runs",
            str(args.startup_runs),
        ]
        if size is not None:
            cmd += ["--size", str(size)]
        if not args.progress:
            cmd.append("--no-progress")
        waited = wait_idle(args.wait_idle) if args.wait_idle > 0 else 0.0
        with Sampler(interval=1.0, children=True) as step:  # CPU of the (waited-for) step process
            proc = subprocess.run(cmd, cwd=PROJECT_DIR, env={**os.environ, **ENV})
        record = json.loads(result_path.read_text()) if result_path.exists() else {}
        if proc.returncode != 0:
            record["error"] = f"exit code {proc.returncode}"
        record["process_seconds"] = step.seconds
        record["waited_for_idle_s"] = waited
        record["cpu_seconds"] = step.cpu
        # Cores kept busy by processes other than this benchmark while the step ran:
        # anything well above 0 means the timings of that step are contaminated.
        record["foreign_cpu_cores"] = step.foreign_cores
        attempts.append(record)
        if record.get("error") or step.foreign_cores <= BUSY_CORES or attempt == args.retry_busy:
            break
        tqdm.write(
            f"  {key}: other processes used {step.foreign_cores:.2f} cores; running the step again", file=sys.stderr
        )
    # Later steps read files of the last attempt (indexes, vectors): equivalent, since
    # every attempt builds the same thing.
    record = min(
        (a for a in attempts if not a.get("error")),
        default=attempts[-1],
        key=lambda a: a.get("foreign_cpu_cores") or 0.0,
    )
    record["attempts"] = len(attempts)
    record["foreign_cpu_cores_all_attempts"] = [a.get("foreign_cpu_cores") for a in attempts]
    return record


def orchestrate(args, argv: list[str]) -> int:
    from tqdm import tqdm

    started = time.perf_counter()
    workdir = Path(args.workdir).resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="paper-bench-"))
    keep = args.keep or bool(args.workdir)
    args.workdir = str(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    jobs = steps_for(args.sizes)
    progress = tqdm(jobs, desc="benchmark", unit="step", position=0, disable=not args.progress, dynamic_ncols=True)
    for worker, size, key in progress:
        progress.set_postfix_str(key)
        if worker == "scale-search" and results.get(f"scale-build-{size}", {}).get("error"):
            results[key] = {"error": "its build failed"}
            continue
        record = results[key] = _run_step(args, workdir, worker, size, key)
        write_json(workdir / f"{key}.json", record)
        foreign = record.get("foreign_cpu_cores")
        tqdm.write(
            f"  {key}: done in {record['process_seconds']:.0f} s"
            + (f", other processes used {foreign:.2f} cores meanwhile" if foreign is not None else "")
            + (f" ({record['error']})" if record.get("error") else ""),
            file=sys.stderr,
        )
    progress.close()
    total = time.perf_counter() - started
    machine = machine_info()
    command = " ".join(["HF_HUB_OFFLINE=1 ANONYMIZED_TELEMETRY=False .venv/bin/python -m evals.bench", *argv])
    summary = summarise(results, machine, command, total)
    report = render(summary)
    print()
    print(report)
    if args.out:
        out = Path(args.out)
        if out.suffix.lower() == ".json":
            write_json(
                out,
                {
                    "format": 1,
                    "date": time.strftime("%Y-%m-%d"),
                    "command": command,
                    "machine": machine,
                    "total_seconds": total,
                    "queries": QUERIES[: args.queries],
                    "rounds": args.rounds,
                    "steps": results,
                    "summary": summary,
                },
            )
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(report, encoding="utf-8")
        print(f"written: {out}", file=sys.stderr)
    if keep:
        print(f"indexes and raw results kept in {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if any(r.get("error") for r in results.values()) else 0

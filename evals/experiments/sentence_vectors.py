"""What the stored sentence table costs and buys, in one run on this machine.

Builds the bundled corpus twice in fresh folders with the same loaded model,
`sentence_vectors` off and on (chunks are embedded by both; "on" also embeds every
abstract sentence), then answers the golden questions (lookup, factual,
unanswerable; extractive) on each index from a fresh assistant: "off" embeds the
retrieved abstracts' sentences on demand (its cache warms as questions repeat
papers), "on" reads the stored vectors. Sentence fusion in search is off in both
(`sentence_weight=0`; the "off" index has no table to fuse), so retrieval is the
same and only where the sentence vectors come from differs. Prints build seconds,
index size, answer latency p50/p95 and the ratios, and how many answers agree.

    HF_HUB_OFFLINE=1 .venv/bin/python -m evals.experiments.sentence_vectors [--workdir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.experiments.sentence_vectors",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workdir", type=Path, help="where to build the two indexes (default: a temp dir)")
    args = parser.parse_args(argv)

    from assistant.api import PaperAssistant
    from assistant.index import PaperIndex
    from assistant.index.embed import LocalEmbedder
    from assistant.settings import Settings
    from evals import metrics as M
    from evals.harness import load_golden

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sentvec-"))
    embedder = LocalEmbedder(Settings())
    embedder.embed_documents(["warm-up"])
    questions = [i.question for i in load_golden(split="all") if i.type != "comparison"]
    rows, answers = {}, {}
    for on in (False, True):
        settings = Settings(index_dir=workdir / ("on" if on else "off"), sentence_vectors=on, sentence_weight=0.0)
        shutil.rmtree(settings.index_dir, ignore_errors=True)
        t = time.perf_counter()
        PaperAssistant(settings, index=PaperIndex(settings, embedder=embedder), llm=False).ingest([settings.corpus_dir])
        build = time.perf_counter() - t
        pa = PaperAssistant(settings, index=PaperIndex(settings, embedder=embedder), llm=False)
        pa.ask("warm-up question about masked image modeling")
        pa.engine.vectors.embedded = 0  # count the golden questions only
        latencies, out = [], []
        for q in questions:
            t = time.perf_counter()
            a = pa.ask(q)
            latencies.append(time.perf_counter() - t)
            out.append((a.abstained, [c.paper_id for c in a.citations]))
        rows[on] = {
            "build": build,
            "mib": _mib(settings.index_path),
            **M.percentiles(latencies),
            "embedded": pa.engine.vectors.embedded,
        }
        answers[on] = out
    same = sum(a == b for a, b in zip(answers[False], answers[True]))
    print(f"bundled corpus, {len(questions)} golden questions (lookup, factual, unanswerable), extractive\n")
    print(
        "| sentence_vectors | build s | index MiB | answer p50 s | answer p95 s | sentences embedded while answering |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for on in (False, True):
        r = rows[on]
        print(
            f"| {'on' if on else 'off'} | {r['build']:.1f} | {r['mib']:.1f} | {r['p50']:.3f} | {r['p95']:.3f} | "
            f"{r['embedded']} |"
        )
    print(
        f"\nbuild on/off {rows[True]['build'] / rows[False]['build']:.2f}x; answer p50 off/on "
        f"{rows[False]['p50'] / rows[True]['p50']:.1f}x, p95 off/on {rows[False]['p95'] / rows[True]['p95']:.1f}x; "
        f"same abstention and citations for {same} of {len(questions)} questions"
    )
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

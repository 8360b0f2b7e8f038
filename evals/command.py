"""`papers eval`: the evaluation harness as a sub-command of the `papers` CLI.

The product (`assistant`) never imports this package. `papers` finds this command through
the `paper_assistant.commands` entry point (pyproject.toml: `eval = "evals.command:register"`),
and `python -m evals ARGS` runs the same command without the lookup. Run folders go to
`evals/runs/` under the current folder unless --out says otherwise."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub, common: argparse.ArgumentParser) -> None:
    """Add `eval` to the `papers` sub-parsers (`common`: --index-dir/--index-name)."""
    ev = sub.add_parser(
        "eval",
        parents=[common],
        help="offline evaluation: retrieval, answer and comparison metrics, reports",
        description="Run the golden questions (or a BEIR dataset) through search, ask and compare, and write "
        "a run folder (run.json with settings and git commit, summary.md, PNG plots). "
        "With --compare, print the metric deltas of two runs and flag regressions.",
        epilog="examples:\n  papers eval                          # golden test split\n"
        "  papers eval --split dev --set rrf_k=30 --name rrf30\n"
        "  papers eval --dataset beir:~/data/scifact\n"
        "  papers eval --compare evals/runs/A evals/runs/B",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev.add_argument(
        "--dataset",
        default="golden",
        help="'golden' or 'holdout' (the datasets shipped in evals/datasets/), a JSONL path of the "
        "same schema, or beir:FOLDER (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)",
    )
    ev.add_argument("--split", default="test", help="dev, test or all (default: test; tune on dev)")
    ev.add_argument("--name", default="run", help="name of the run folder (default: run)")
    ev.add_argument(
        "--out",
        metavar="DIR",
        help="where run folders go (default: evals/runs under the current folder; from the "
        "repository's root, its git-ignored evals/runs/)",
    )
    ev.add_argument("--k", type=int, default=10, help="papers retrieved per question (default 10)")
    ev.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="only N items, spread over the item types (round-robin in the dataset's order of types, "
        "deterministic; not the first N): a quick look",
    )
    ev.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a setting for this run, e.g. --set rrf_k=30 --set bm25_weight=0.5",
    )
    ev.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    ev.add_argument(
        "--no-leave-gold-out",
        action="store_true",
        help="skip asking each answerable question again without its gold papers (by default it "
        "is, and should abstain: the leave-gold-out abstention recall)",
    )
    ev.add_argument("--price-in", type=float, metavar="USD", help="USD per million prompt tokens (cost estimate)")
    ev.add_argument("--price-out", type=float, metavar="USD", help="USD per million completion tokens")
    ev.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="compare two run folders")
    ev.add_argument("--fail-on-regression", action="store_true", help="with --compare: exit 1 on a regression")
    ev.add_argument("--json", action="store_true", help="print the summary (or the comparison) as JSON")
    ev.set_defaults(func=cmd_eval)


def _overrides(pairs: list[str]) -> dict:
    """--set key=value pairs as settings overrides (checked by Settings itself)."""
    from assistant.errors import QueryError
    from assistant.settings import Settings

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip().lower().removeprefix("papers_")
        if not sep or key not in Settings.model_fields:
            raise QueryError(
                f"--set {pair!r}: expected KEY=VALUE with KEY one of the settings "
                f"(e.g. rrf_k, dense_weight, bm25_weight, candidates, abstain_threshold)"
            )
        out[key] = value
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    from assistant.cli import _EmbedBar, _open, _settings
    from evals import harness

    out = Path(args.out) if args.out else harness.RUNS_DIR
    if args.compare:
        a, b = (harness.load_run(Path(p)) for p in args.compare)
        rows, regressions = harness.compare_runs(a, b)
        if args.json:
            print(json.dumps({"rows": rows, "regressions": regressions}, indent=2))
        else:
            print(harness.compare_markdown(a, b, rows, regressions))
        return 1 if regressions and args.fail_on_regression else 0
    from assistant.api import PaperAssistant

    extra = _overrides(args.set)
    notes = [f"--set {pair}" for pair in args.set or []]
    beir = args.dataset.startswith("beir:")
    if beir:
        folder = Path(args.dataset[5:]).expanduser()
        items, records, more = harness.load_beir_items(folder, args.split)
        notes += more
    else:
        path = harness.DATASETS.get(args.dataset) or Path(args.dataset)
        items = harness.load_golden(path, args.split)
    if args.limit is not None:  # checked before an index is opened or built
        total = len(items)
        items = harness.select_items(items, args.limit)
        if len(items) < total:
            notes.append(f"--limit {args.limit}: {len(items)} of {total} items, taken round-robin over the item types")
    if beir:
        settings = _settings(args, **{**extra, "index_dir": out / "beir-indexes", "index_name": folder.name or "beir"})
        pa = PaperAssistant(settings)
        print(f"Indexing {records} into {settings.index_path} ...", file=sys.stderr)
        pa.ingest([records], prune=True, embed_progress=_EmbedBar())
    else:
        pa = _open(args, settings=_settings(args, **extra))
    folder = harness.run(
        pa,
        items,
        out,
        args.name,
        args.dataset,
        args.split,
        k=args.k,
        plots=not args.no_plots,
        price_in=args.price_in,
        price_out=args.price_out,
        notes=notes,
        leave_gold_out=not args.no_leave_gold_out,
    )
    summary = harness.load_run(folder)["summary"]
    if args.json:
        print(json.dumps({"run": str(folder), "summary": summary}, indent=2))
    else:
        print((folder / "summary.md").read_text(encoding="utf-8"))
        files = "run.json, summary.md" + ("" if args.no_plots else ", metrics_by_type.png, latency.png")
        print(f"Run written to {folder}/ ({files})")
    # What a reader of the numbers must know, on stderr even with --json.
    errors, origin = summary.get("errors") or {}, summary.get("answer_origin") or {}
    if errors.get("n"):
        print(
            f"warning: {errors['n']} of {len(items)} items failed and were recorded, not scored "
            f"({', '.join(f'{n} {kind}' for kind, n in errors['by_type'].items())}); see summary.md",
            file=sys.stderr,
        )
    if pa.llm is not None and origin.get("n") and origin["fallback"]["n"]:
        print(
            f"note: {origin['fallback']['n']} of {origin['n']} answers fell back to the extractive answer "
            f"(the model wrote {origin['model_written']['n']}); summary.md gives the metrics of each",
            file=sys.stderr,
        )
    if summary.get("judge_failed") or summary.get("judge_unparsed"):
        print(
            f"note: the judge failed {summary['judge_failed']} and gave {summary['judge_unparsed']} unreadable "
            f"verdicts of {summary['judge_calls']} calls; those are left out of its mean",
            file=sys.stderr,
        )
    return 0

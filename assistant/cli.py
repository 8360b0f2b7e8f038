"""`papers`: the command-line face of PaperAssistant. Argument parsing and
printing only; the work happens in `assistant.api`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterable, Sequence

from assistant.ingest import describe_layouts
from assistant.ingest.detect import BY_NAME
from assistant.records import FileReport

MAX_LISTED = 10  # problems listed per file before "... and N more"


def _progress(desc: str):
    """A tqdm wrapper for long loops; silent when stderr is not a terminal."""
    def wrap(items: Iterable) -> Iterable:
        from tqdm import tqdm

        items = list(items)
        return tqdm(items, desc=desc, unit="file", disable=None if len(items) > 1 else True, file=sys.stderr)
    return wrap


def _settings(args: argparse.Namespace):
    from assistant.settings import Settings

    overrides = {}
    if getattr(args, "index_dir", None):
        overrides["index_dir"] = Path(args.index_dir)
    if getattr(args, "index_name", None):
        overrides["index_name"] = args.index_name
    return Settings(**overrides)


def _print_file(report: FileReport) -> None:
    if report.error:
        print(f"  {report.file}: not ingested: {report.error}")
        return
    print(f"  {report.file}: {report.format}, {report.records} records, {len(report.skipped)} skipped")
    for kind, problems in (("skipped", report.skipped), ("warning", report.warnings)):
        for problem in problems[:MAX_LISTED]:
            print(f"    {kind}: {problem}")
        if len(problems) > MAX_LISTED:
            print(f"    ... and {len(problems) - MAX_LISTED} more {kind} entries (see --json)")


def cmd_ingest(args: argparse.Namespace) -> int:
    from assistant.api import PaperAssistant

    pa = PaperAssistant(_settings(args))
    progress = _progress("Parsing")
    if args.dry_run:
        result, update = pa.parse(args.paths, layout=args.layout, progress=progress), None
    else:
        result, update = pa.ingest(args.paths, layout=args.layout, progress=progress)
    if args.json:
        data = result.to_dict()
        if update:
            data["index"] = {"path": str(pa.settings.index_path), **vars(update)}
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(f"{'Parsed' if args.dry_run else 'Ingested'} {len(result.files)} file(s):")
        for report in result.files:
            _print_file(report)
        for error in result.errors:
            print(f"  {error}")
        print(f"{len(result.papers)} papers ({result.merged} duplicate records merged)")
        if update:
            print(f"Index {pa.settings.index_path}: {update.added} added, {update.updated} updated, "
                  f"{update.unchanged} unchanged, {update.total} papers in all")
    if not result.ok:
        print("error: no usable paper was found in the input", file=sys.stderr)
        return 1
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from assistant.api import PaperAssistant

    pa = PaperAssistant.open(_settings(args), build=not args.no_build, progress=_progress("Building index"))
    stats = pa.stats()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"Index {stats['index']}: {stats['papers']} papers, {stats['with_code']} with code")
    print("Per source file:")
    for name, count in stats["sources"].items():
        print(f"  {count:5d}  {name}")
    years = stats["years"]
    if years:
        peak = max(years.values())
        print("Per year:")
        for year, count in years.items():
            print(f"  {year}  {count:4d}  {'#' * max(1, round(30 * count / peak))}")
        print(f"  (no year: {stats['no_year']})")
    if stats["categories"]:
        print("Categories: " + ", ".join(f"{c} {n}" for c, n in stats["categories"].items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="papers",
        description="Ask questions across collections of research-paper abstracts.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Settings come from PAPERS_* environment variables (see README).")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", metavar="DIR", help="folder holding the indexes (default: ./indexes)")
    common.add_argument("--index-name", metavar="NAME", help="index to use inside --index-dir (default: default)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    ingest = sub.add_parser(
        "ingest", parents=[common], help="parse paper pages/exports and add them to the index",
        description="Parse paper listings, daily-paper pages, profiles and exports into paper "
                    "records and add them to the index. Folders are searched for supported files.",
        epilog="Layouts: " + describe_layouts(), formatter_class=argparse.RawDescriptionHelpFormatter)
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to ingest")
    ingest.add_argument("--dry-run", action="store_true", help="parse and report only; leave the index alone")
    ingest.add_argument("--json", action="store_true", help="print one JSON object (files, papers) instead of a summary")
    ingest.add_argument("--layout", choices=sorted(BY_NAME), help="skip auto-detection and read every file in this layout")
    ingest.set_defaults(func=cmd_ingest)

    status = sub.add_parser("status", parents=[common], help="show what is indexed (builds the default index if missing)",
                            description="Show what the index holds: papers per source, year and category. "
                                        "Builds the index from the bundled corpus when it does not exist yet.")
    status.add_argument("--json", action="store_true", help="print the counts as JSON")
    status.add_argument("--no-build", action="store_true", help="do not build a missing index")
    status.set_defaults(func=cmd_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from assistant.store import CorruptIndex

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CorruptIndex as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the index on disk is unchanged", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

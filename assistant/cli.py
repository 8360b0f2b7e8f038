"""`papers`: the command-line face of PaperAssistant. Argument parsing and
printing only; the work happens in `assistant.api`."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import shtab

from assistant import mcp_server
from assistant.export import package_version
from assistant.ingest import describe_layouts
from assistant.ingest.detect import BY_NAME
from assistant.records import FileReport, author_list

MAX_LISTED = 10  # problems listed per file before "... and N more"


def _progress(desc: str):
    """A tqdm wrapper for long loops; silent when stderr is not a terminal."""

    def wrap(items: Iterable) -> Iterable:
        from tqdm import tqdm

        items = list(items)
        return tqdm(items, desc=desc, unit="file", disable=None if len(items) > 1 else True, file=sys.stderr)

    return wrap


def _settings(args: argparse.Namespace, **extra):
    """Settings from the environment, --index-dir/--index-name, then `extra` (validated).
    A bad value raises SettingsError naming where it came from: the PAPERS_* variable,
    the flag, or `--set KEY` for an `extra` value that `papers eval --set` gave."""
    from assistant.settings import load_settings

    cli: dict[str, tuple[str, object]] = {}
    if getattr(args, "index_dir", None):
        cli["index_dir"] = ("--index-dir", Path(args.index_dir))
    if getattr(args, "index_name", None):
        cli["index_name"] = ("--index-name", args.index_name)
    sets = {}  # field -> ("--set KEY" as typed, value), parsed as `papers eval --set` does
    for pair in getattr(args, "set", None) or []:
        key, sep, value = pair.partition("=")
        if sep:
            sets[key.strip().lower().removeprefix("papers_")] = (f"--set {key.strip()}", value)
    extra = dict(extra)
    for field in list(extra):
        cli.pop(field, None)  # `extra` wins over the flags
        if field in sets and sets[field][1] == extra[field]:
            cli[field] = sets[field]
            del extra[field]
    return load_settings(cli, **extra)


def _print_file(report: FileReport, merges: list | None = None) -> None:
    from assistant.ingest.merge import by_key

    if report.error:
        print(f"  {report.file}: not ingested: {report.error}")
        return
    merges = merges or []
    print(
        f"  {report.file}: {report.format}, {report.records} records, {len(merges)} merged duplicates"
        + (f" ({by_key(merges)})" if merges else "")
        + f", "
        f"{len(report.skipped)} skipped"
    )
    from assistant.identity import BY

    listed = [
        f"{m.record.sources[0]} into {m.into.id} {_snippet(m.into.title, 60)!r}"
        + ("" if m.by == "title" else f" (read as {_snippet(m.record.title, 60)!r})" * (m.record.title != m.into.title))
        + f" (same {BY[m.by]})"
        for m in merges
    ]
    for kind, problems in (("skipped", report.skipped), ("warning", report.warnings), ("merged", listed)):
        for problem in problems[:MAX_LISTED]:
            print(f"    {kind}: {problem}")
        if len(problems) > MAX_LISTED:
            print(f"    ... and {len(problems) - MAX_LISTED} more {kind} entries (see --json)")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class _EmbedBar:
    """Embedding progress on stderr (`done`, `total`: characters of text), created on the
    first call (so nothing is shown when there is nothing to embed). A terminal gets a tqdm
    bar; a log file or pipe gets a plain line every `every` seconds (and at the end) with
    the share done and an ETA, so `make run > log` is not silent for minutes."""

    def __init__(
        self, stream=None, every: float = 10.0, clock=None, what: str = "Embedding", unit: str = "characters of text"
    ) -> None:
        import time

        self.stream, self.every, self.clock = stream or sys.stderr, every, clock or time.monotonic
        self.what, self.unit = what, unit
        self.bar: Any = None  # a tqdm bar, on a terminal
        self.start: float | None = None  # set by the first call
        self.last = 0.0
        self.shown = -1  # `done` of the last line printed

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.start is None:  # the first batch is done: the rate is measured from here
            self.start, self.last, self.first = now, now, done
            if self.stream.isatty():
                from tqdm import tqdm

                self.bar = tqdm(
                    total=total, desc=self.what, unit=self.unit.split()[0][:4], unit_scale=True, file=self.stream
                )
            else:
                size = f"{total / 1e6:.1f} M" if total >= 1e6 else f"{total / 1e3:.0f} k" if total >= 1e3 else total
                print(f"{self.what} {size} {self.unit} ...", file=self.stream, flush=True)
        if self.bar is not None:
            # Not closed at 100%: a pooled build may add a few sentences to embed afterwards.
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh()
            return
        if (now - self.last >= self.every or done >= total) and done != self.shown:
            self.last, self.shown = now, done
            elapsed = now - self.start
            rate = (done - self.first) / elapsed if elapsed > 0 else 0.0
            eta = f", ETA {_duration((total - done) / rate)}" if rate and done < total else ""
            print(
                f"{self.what}: {100 * done // max(total, 1)}% done, {_duration(elapsed)} elapsed{eta}",
                file=self.stream,
                flush=True,
            )


def _calibrating_bar() -> _EmbedBar:
    return _EmbedBar(what="Calibrating abstention on", unit="pseudo-questions")


def cmd_ingest(args: argparse.Namespace) -> int:
    from assistant.api import PaperAssistant

    progress = _progress("Parsing")
    if args.dry_run:
        from assistant.ingest import ingest_paths

        result, update, settings = ingest_paths(args.paths, layout=args.layout, progress=progress), None, None
    else:
        settings = _settings(args)
        if args.rebuild:
            pa, result, update = PaperAssistant.rebuild(
                args.paths, settings, layout=args.layout, progress=progress, embed_progress=_EmbedBar()
            )
        else:
            pa = PaperAssistant(settings)
            result, update = pa.ingest(
                args.paths,
                layout=args.layout,
                prune=args.prune,
                progress=progress,
                embed_progress=_EmbedBar(),
                calibrate_progress=_calibrating_bar(),
            )
    if args.json:
        data = result.to_dict()
        if update:
            assert settings is not None  # a dry run has no update
            data["index"] = {"path": str(settings.index_path), **update.to_dict()}
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(f"{'Parsed' if args.dry_run else 'Ingested'} {len(result.files)} file(s):")
        merges = result.merges_by_file()
        for report in result.files:
            _print_file(report, merges.get(report.file, []))
        for error in result.errors:
            print(f"  {error}")
        from assistant.ingest.merge import by_key

        by = f": {by_key(result.merges)}" if result.merges else ""
        print(f"{len(result.papers)} papers ({result.merged} duplicate records merged{by})")
        if update:
            assert settings is not None  # a dry run has no update
            print(
                f"Index {settings.index_path}: {update.added} added, {update.updated} updated, "
                f"{update.unchanged} unchanged, {update.removed} removed, {update.total} papers in all"
            )
            if update.index:
                ix = update.index
                print(
                    f"  {ix.chunks} chunks: {ix.embedded} embedded, {ix.reused} reused, {ix.removed} pruned"
                    + (f"; {ix.sentences_embedded} sentences embedded" if ix.sentences_embedded else "")
                    + f" in {ix.seconds:.1f} s"
                    + ("" if ix.committed else " (nothing changed)")
                )
    if not result.ok:
        print("error: no usable paper was found in the input", file=sys.stderr)
        return 1
    return 0


def _filters(args: argparse.Namespace) -> dict:
    filters = {
        "year_from": args.year_from,
        "year_to": args.year_to,
        "author": args.author,
        "category": args.category,
        "source": args.source,
    }
    if args.has_code:
        filters["has_code"] = True
    if args.include_unknown:
        filters["include_unknown"] = True
    return {k: v for k, v in filters.items() if v is not None}


def _excluded_notes(filter_excluded: dict[str, int]) -> list[str]:
    """The papers a filter left out for lacking its field, and how to keep them."""
    from assistant.retrieve import excluded_lines

    return [f"{line}; add --include-unknown to include them." for line in excluded_lines(filter_excluded)]


def _open(args: argparse.Namespace, build: bool = True, settings=None):
    """Open the index, building it from the bundled corpus (with a word on
    stderr, since it takes a minute) when it does not exist yet."""
    from assistant.api import PaperAssistant

    pa = PaperAssistant(settings or _settings(args))
    if build and not pa.index.exists:
        print(
            f"No index at {pa.settings.index_path} yet: building it from the bundled corpus "
            f"({pa.settings.corpus_dir}); this takes about a minute on 2 cores.",
            file=sys.stderr,
        )
        pa = PaperAssistant.open(
            pa.settings,
            progress=_progress("Parsing"),
            embed_progress=_EmbedBar(),
            calibrate_progress=_calibrating_bar(),
        )
    return pa


def cmd_search(args: argparse.Namespace) -> int:
    pa = _open(args)
    result = pa.search(args.query, k=args.k, filters=_filters(args), mmr=args.mmr or None)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return 0
    for notice in result.notices + _excluded_notes(result.filter_excluded):
        print(f"note: {notice}")
    if not result.hits:
        print("No paper matches.")
    for hit in result.hits:
        authors = author_list(hit.authors, hit.paper.authors_et_al, most=3)
        meta = " · ".join(x for x in (authors, str(hit.year or "year n/a"), hit.paper.category or "") if x)
        print(f"{hit.rank:2d}. {hit.title}")
        print(f"    {meta}   score {hit.score:.4f}")
        best = hit.chunks[0]
        ranks = ", ".join(f"{name} #{r}" for name, r in (("dense", best.dense_rank), ("bm25", best.bm25_rank)) if r)
        print(f"    “{_snippet(best.chunk.text)}” ({ranks})")
    print(f"({result.timings.get('total', 0) * 1000:.0f} ms)")
    return 0


def _print_paper(n: int, paper, quotes: Iterable[str] = ()) -> None:
    """'[n] Title', then authors · year · where to read it (`export.link`), then the quotes."""
    from assistant.export import link

    authors = author_list(paper.authors, paper.authors_et_al, most=3)
    meta = " · ".join(x for x in (authors, str(paper.year) if paper.year else "", link(paper)) if x)
    print(f"[{n}] {paper.title}" + (f"\n    {meta}" if meta else ""))
    for quote in quotes:
        print(f"    “{_snippet(quote, 300)}”")


def _print_sources(answer) -> None:
    """Numbered sources under an answer, with the quoted sentence(s) each citation uses
    (a table's cells are its quotes)."""
    quotes: dict[int, list[str]] = {}
    for c in answer.citations:
        if c.quote and c.quote not in quotes.setdefault(c.n, []) and answer.table is None:
            quotes[c.n].append(c.quote)
    cited = {c.n for c in answer.citations}
    shown = [s for s in answer.sources if s.n in cited] or answer.sources[:5]
    if not shown:
        return
    print("\nSources:" if cited else "\nClosest papers:")
    for src in shown:
        _print_paper(src.n, src.paper, quotes.get(src.n, []))


def _export_folder(args: argparse.Namespace) -> Path | None:
    """--export DIR as a Path (None when not given); a DIR that is a file is a user error."""
    from assistant.errors import UserError

    if not getattr(args, "export", None):
        return None
    folder = Path(args.export).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--export {args.export}: that is a file, not a folder; name a folder for the files")
    return folder


def _say_written(paths: list[Path], folder: Path) -> None:
    print(f"Wrote {', '.join(p.name for p in paths)} to {folder}", file=sys.stderr)


def _print_notices(notices) -> None:
    for notice in notices:
        print(f"note: {notice}", file=sys.stderr)


def cmd_ask(args: argparse.Namespace) -> int:
    folder = _export_folder(args)  # checked before the question is asked
    pa = _open(args)
    if args.json:
        answer = pa.ask(args.question, filters=_filters(args))
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        if folder is not None:
            _say_written(pa.save_answer(answer, folder), folder)
        return 0
    if pa.llm is not None:
        print(
            f"Asking {pa.llm.model} at {pa.llm.base_url} (scoring the papers, quoting, then writing; "
            f"the answer is checked before it is shown) ...",
            file=sys.stderr,
            flush=True,
        )
    stream = pa.ask(args.question, filters=_filters(args), stream=True)
    draft = _Draft(sys.stderr) if pa.llm is not None else None
    try:
        for delta in stream:  # the model's text as it is written: a draft, on a terminal only
            if draft is not None:
                draft.write(delta)
        answer = stream.result()
    finally:  # also on Ctrl-C: no draft left on screen, no dimmed terminal
        if draft is not None:
            draft.clear()
    # The checked answer, once (a comparison: its table; the sources follow).
    print(answer.text if answer.table is None else answer.table.markdown(sources=False))
    _print_sources(answer)
    _print_notices(answer.notices + _excluded_notes(answer.filter_excluded))
    print(f"({answer.backend}, {answer.timings.get('total', 0):.2f} s{_usage_line(answer.usage)})")
    if folder is not None:
        _say_written(pa.save_answer(answer, folder), folder)
    return 0


def _usage_line(usage: dict) -> str:
    from assistant.llm import describe_usage

    said = describe_usage(usage)
    return f"; {said}" if said else ""


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # control characters, ESC included; not \t or \n


def _columns(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


class _Draft:
    """The model's streamed text, shown on a terminal as a dimmed draft and erased once
    the checked answer is printed (which may differ: markers removed, or the extractive
    answer when the model's fails the checks). Not shown when the output is not a
    terminal: a log or a pipe gets the checked answer only."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.on = stream.isatty()
        self.text = ""

    def write(self, delta: str) -> None:
        if not self.on:
            return
        delta = _CONTROL.sub("", delta).replace("\t", " ")  # the model's text never drives the terminal
        if not delta:
            return
        if not self.text:
            self.stream.write("\x1b[2mdraft (not yet checked):\n")
        self.text += delta
        self.stream.write(delta)
        self.stream.flush()

    def clear(self) -> None:
        if not self.on or not self.text:
            return
        import shutil

        width = max(shutil.get_terminal_size().columns, 20)
        # the label + the draft's rows (a wide character counted as two columns)
        rows = 1 + sum(max(1, -(-_columns(line) // width)) for line in self.text.split("\n"))
        # The cursor is on the draft's last row: clear it, then each row above, up to the label's.
        # (Rows that scrolled off the top of the terminal stay in its scrollback.)
        self.stream.write("\x1b[0m\r\x1b[2K" + "\x1b[1A\x1b[2K" * (rows - 1))
        self.stream.flush()


def cmd_compare(args: argparse.Namespace) -> int:
    from assistant.answer.compare import NO_MENTION
    from assistant.errors import QueryError

    folder = _export_folder(args)  # checked before the table is built
    pa = _open(args)
    try:
        table = pa.compare(args.methods, filters=_filters(args))
    except QueryError as exc:
        if str(exc).startswith(NO_MENTION):  # no paper names any method: the command that finds their names
            raise QueryError(f"{exc} (`papers search NAME`)") from None
        raise
    if args.json:
        print(json.dumps(table.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(table.markdown(sources=False))
        if table.sources:
            print("\nSources:")
        for src in table.sources:
            _print_paper(src.n, src.paper)
        _print_notices(table.notices)
        print(f"({table.backend}, {table.timings.get('total', 0):.2f} s)")
    if folder is not None:
        _say_written(pa.save_comparison(table, folder), folder)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from assistant.ui import serve

    serve(_open(args), host=args.host, port=args.port, open_browser=args.open, show_api=args.show_api)
    return 0


def _snippet(text: str, width: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_status(args: argparse.Namespace) -> int:
    pa = _open(args, build=not args.no_build)
    stats = pa.stats()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(
        f"Index {stats['index']}: {stats['papers']} papers in {stats['chunks']} chunks, {stats['with_code']} with code"
    )
    if stats["embedding"]:
        print(
            f"Embeddings: {stats['embedding']['model']} ({stats['embedding']['dim']} dims), "
            f"vector store: {stats['vector_store']}"
        )
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
    abst = stats["abstention"]
    if abst.get("description"):
        print(f"Abstention {abst['description']}.")
    elif abst.get("thresholds"):
        print(f"Abstention threshold {abst['thresholds']['other']:.3f} ({abst['source']}).")
    return 0


# Sub-commands from other packages: entry points of this group, name = "module:register",
# register(subparsers, common) adding the command (`common`: the --index-dir/--index-name
# parent parser). `papers eval` comes from the eval package this way; the product never
# imports it. A known command that is not installed still answers, with how to get it.
COMMANDS_GROUP = "paper_assistant.commands"
OPTIONAL_COMMANDS = {
    "eval": (
        "offline evaluation (not installed)",
        "the evaluation harness (the `evals` package of the paper-assistant repository) is not installed. "
        "Install the project from a checkout (`make install`, or `pip install -e .` in it) or a wheel built "
        "from it; then run `papers eval` (or `python -m evals`).",
    ),
}


def _add_commands(sub, common: argparse.ArgumentParser, commands: dict | None = None) -> None:
    """Add the sub-commands of other packages: `commands` ({name: register}) when given,
    else those registered under COMMANDS_GROUP; a command of OPTIONAL_COMMANDS that none
    provides says how to install it."""
    found: dict[str, Callable[..., Any]] = dict(commands or {})
    broken: dict[str, str] = {}
    if commands is None:
        from importlib.metadata import entry_points

        for ep in entry_points(group=COMMANDS_GROUP):
            if ep.name in found:  # the same distribution seen twice on sys.path
                continue
            try:
                found[ep.name] = ep.load()
            except ImportError as exc:  # installed metadata, but its package is gone
                broken[ep.name] = f"{ep.value} cannot be imported ({exc})"
    for register in found.values():
        register(sub, common)
    for name, (summary, how) in OPTIONAL_COMMANDS.items():
        if name not in found:
            message = f"papers {name}: {broken[name] + '; ' if name in broken else ''}{how}"
            stub = sub.add_parser(name, help=summary, description=message, add_help=False)
            stub.set_defaults(func=lambda args, message=message: _unavailable(message), any_arguments=True)


def _unavailable(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


COMPLETION_HELP = """\
Install it once (then open a new shell):
  bash  papers completion bash > ~/.local/share/bash-completion/completions/papers
        (with the bash-completion package; without it, add to ~/.bashrc:
        eval "$(papers completion bash)")
  zsh   mkdir -p ~/.zfunc && papers completion zsh > ~/.zfunc/_papers
        and in ~/.zshrc, before compinit runs: fpath=(~/.zfunc $fpath)
  tcsh  papers completion tcsh > ~/.papers.completion.csh
        and in ~/.tcshrc: source ~/.papers.completion.csh
Run it again after an upgrade that adds commands or options."""


def _completes(action: argparse.Action, kind: dict[str, Any]) -> None:
    """What `papers completion` offers for the argument: shtab.FILE or shtab.DIRECTORY names."""
    action.complete = kind  # type: ignore[attr-defined]


def _completion(parser: argparse.ArgumentParser, shell: str) -> int:
    print(shtab.complete(parser, shell=shell))
    return 0


def build_parser(commands: dict | None = None) -> argparse.ArgumentParser:
    """The `papers` parser; `commands` ({name: register}) replaces the discovery of the
    sub-commands of other packages (see COMMANDS_GROUP)."""
    parser = argparse.ArgumentParser(
        prog="papers",
        description="Ask questions across collections of research-paper abstracts.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Settings come from PAPERS_* environment variables (see README).",
    )
    parser.add_argument("--version", action="version", version=f"papers {package_version()}")
    common = argparse.ArgumentParser(add_help=False)
    index_dir = common.add_argument(
        "--index-dir",
        metavar="DIR",
        help="folder holding the indexes (default: PAPERS_INDEX_DIR, else indexes in the per-user "
        "data folder, e.g. ~/.local/share/paper-assistant/indexes)",
    )
    _completes(index_dir, shtab.DIRECTORY)
    common.add_argument("--index-name", metavar="NAME", help="index to use inside --index-dir (default: default)")
    # Metadata filters shared by search, ask and compare.
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--year-from", type=int, metavar="Y", help="only papers from year Y on")
    filters.add_argument("--year-to", type=int, metavar="Y", help="only papers up to year Y")
    filters.add_argument("--author", help="only papers with an author containing this text")
    filters.add_argument("--category", help="only papers in this category (e.g. LG, CV)")
    filters.add_argument("--source", help="only papers read from a file whose name contains this text")
    filters.add_argument("--has-code", action="store_true", help="only papers marked as having code")
    filters.add_argument(
        "--include-unknown",
        action="store_true",
        help="also keep papers that lack a filtered field (no year, category, authors or code "
        "information); by default they are left out and counted",
    )

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    ingest = sub.add_parser(
        "ingest",
        parents=[common],
        help="parse paper pages/exports and add them to the index",
        description="Parse paper listings, daily-paper pages, profiles and exports into paper "
        "records and add them to the index. Folders are searched for supported files.",
        epilog="Layouts: " + describe_layouts(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _completes(ingest.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to ingest"), shtab.FILE)
    ingest.add_argument("--dry-run", action="store_true", help="parse and report only; leave the index alone")
    ingest.add_argument(
        "--json", action="store_true", help="print one JSON object (files, papers) instead of a summary"
    )
    ingest.add_argument(
        "--layout",
        choices=sorted(BY_NAME),
        metavar="LAYOUT",
        help="skip auto-detection and read every file in this layout: " + ", ".join(sorted(BY_NAME)),
    )
    ingest.add_argument(
        "--prune", action="store_true", help="drop papers from sources not named in this call (default: keep them)"
    )
    ingest.add_argument(
        "--rebuild",
        action="store_true",
        help="discard the existing index and build it again from PATH (e.g. after changing the model)",
    )
    ingest.set_defaults(func=cmd_ingest)

    search = sub.add_parser(
        "search",
        parents=[common, filters],
        help="hybrid (dense + BM25) search over the indexed papers",
        description="Find the papers that best match a query. Builds the default index from the "
        "bundled corpus the first time.",
        epilog='example: papers search "hard patches mining for masked image modeling" --k 5',
    )
    search.add_argument("query", help="what you are looking for, in words")
    search.add_argument("--k", type=int, default=None, help="number of papers to return (default 10)")
    search.add_argument("--mmr", action="store_true", help="diversify results (maximal marginal relevance)")
    search.add_argument("--json", action="store_true", help="print {hits: [...]} as JSON")
    search.set_defaults(func=cmd_search)

    ask = sub.add_parser(
        "ask",
        parents=[common, filters],
        help="answer a question from the abstracts, with citations",
        description="Answer a question from the indexed abstracts. Every sentence cites its paper [n]; "
        "the quoted sentences are listed under the answer. Without an LLM configured the answer "
        "is extractive (quoted sentences); with OPENAI_API_KEY/OPENAI_BASE_URL set, the model in "
        "PAPERS_LLM_MODEL writes it. When the abstracts do not answer, it says so and lists the "
        "closest papers.",
        epilog='example: papers ask "What is hard patches mining in masked image modeling?"',
    )
    ask.add_argument("question", help="your question, in words")
    ask.add_argument(
        "--json", action="store_true", help="print {answer, citations, sources, abstained, timings, usage, ...} as JSON"
    )
    _completes(
        ask.add_argument(
            "--export",
            metavar="DIR",
            help="also write answer.md, answer.json (citations with quotes and spans, settings, index version), "
            "references.bib, references.ris and references.json (CSL-JSON) of the cited papers into DIR",
        ),
        shtab.DIRECTORY,
    )
    ask.set_defaults(func=cmd_ask)

    compare = sub.add_parser(
        "compare",
        parents=[common, filters],
        help="side-by-side table of 2-6 methods, every cell cited",
        description="Compare methods (names as the abstracts write them, e.g. ADAHESSIAN, M-FAC, or paper ids): "
        "problem addressed, approach, key claims/results, limitations/assumptions and year, each "
        "cell citing the sentence it comes from.",
        epilog="example: papers compare ADAHESSIAN M-FAC",
    )
    compare.add_argument("methods", nargs="+", metavar="METHOD", help="two to six method names or paper ids")
    compare.add_argument("--json", action="store_true", help="print {methods, rows, markdown, sources} as JSON")
    _completes(
        compare.add_argument(
            "--export",
            metavar="DIR",
            help="also write comparison.md, comparison.csv and references.bib, references.ris and "
            "references.json (CSL-JSON) of the papers in the table into DIR",
        ),
        shtab.DIRECTORY,
    )
    compare.set_defaults(func=cmd_compare)

    _add_commands(sub, common, commands)

    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="start the web UI (chat, compare, corpus, settings) on 127.0.0.1:7860",
        description="Start the Gradio web UI over the index (built from the bundled corpus "
        "on first run). It listens on loopback unless --host says otherwise.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="port to listen on (default: 7860)")
    serve.add_argument("--open", action="store_true", help="open the UI in a browser tab")
    serve.add_argument(
        "--show-api", action="store_true", help="link Gradio's API page (for scripts calling the UI) in the footer"
    )
    serve.set_defaults(func=cmd_serve)

    status = sub.add_parser(
        "status",
        parents=[common],
        help="show what is indexed (builds the default index if missing)",
        description="Show what the index holds: papers per source, year and category. "
        "Builds the index from the bundled corpus when it does not exist yet.",
    )
    status.add_argument("--json", action="store_true", help="print the counts as JSON")
    status.add_argument("--no-build", action="store_true", help="do not build a missing index")
    status.set_defaults(func=cmd_status)

    completion = sub.add_parser(
        "completion",
        help="print the shell completion script (bash, zsh or tcsh)",
        description="Print the completion script of `papers` for SHELL (generated from its argument "
        "parser by shtab): sub-commands, options and their choices, file and folder names.",
        epilog=COMPLETION_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    completion.add_argument("shell", choices=["bash", "zsh", "tcsh"], help="your shell")
    completion.set_defaults(func=lambda args: _completion(parser, args.shell))
    mcp_server.register(sub, common)
    return parser


# The README's "papers --help" block: `help_markdown()` between these lines, rewritten by
# `make docs` (docs/update_readme.py); tests/test_cli_help.py checks it is current.
README_HELP_BEGIN = "<!-- papers --help: generated from assistant/cli.py by `make docs`; do not edit by hand -->"
README_HELP_END = "<!-- end of the generated papers --help -->"
HELP_WIDTH = 100  # columns the README's help is formatted for, whatever the terminal


def help_pages(width: int = HELP_WIDTH, commands: dict | None = None) -> dict[str, str]:
    """`papers --help` and every sub-command's `--help`, formatted `width` columns wide:
    {"papers": text, "papers ingest": text, ...} in the order `papers --help` lists them."""
    import functools

    parser = build_parser(commands)
    pages: dict[str, str] = {}

    def add(name: str, p: argparse.ArgumentParser) -> None:
        base: Any = p.formatter_class
        p.formatter_class = functools.partial(base, width=width)
        if hasattr(p, "color"):  # Python 3.14+: no colour codes in a file
            p.color = False
        pages[name] = p.format_help()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    add(f"{name} {sub_name}", sub)

    add("papers", parser)
    return pages


def help_markdown(width: int = HELP_WIDTH, commands: dict | None = None) -> str:
    """The README's block of `help_pages`: `papers --help` as a code block, then each
    sub-command's `--help` folded in a <details> element."""
    lines = []
    for name, text in help_pages(width, commands).items():
        block = ["```text", f"$ {name} --help", text.rstrip(), "```"]
        if name == "papers":
            lines += [*block, ""]
        else:
            lines += [f"<details><summary><code>{name} --help</code></summary>", "", *block, "", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None, commands: dict | None = None) -> int:
    from pydantic import ValidationError

    from assistant.errors import SettingsError, UserError
    from assistant.settings import settings_error

    parser = build_parser(commands)
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "any_arguments", False):  # a command that is not installed takes any
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.func(args)
    except SettingsError as exc:  # a bad PAPERS_* value, --index-name, --set KEY=VALUE ...: one line each
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the index on disk is unchanged", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # e.g. --index-dir names a file or a read-only folder
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # Settings built elsewhere (e.g. PaperAssistant()), or another model
        if exc.title == "Settings":
            for problem in settings_error(exc).problems:
                print(f"error: {problem}", file=sys.stderr)
            return 2
        for err in exc.errors():
            name = ".".join(str(part) for part in err["loc"])
            print(f"error: invalid setting {name}={err.get('input')!r}: {err['msg']}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

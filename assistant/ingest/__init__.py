"""Ingestion: read files in any supported layout into clean `Paper` records.

result = ingest_paths(["indexes/sources"])
result.papers        # merged, unique papers
result.files         # one FileReport per file (format, records, skipped, warnings)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.identity import BY
from assistant.ingest import pdf
from assistant.ingest.base import Collector, one_line
from assistant.ingest.detect import BY_NAME, LAYOUTS, describe_layouts, detect_layout
from assistant.ingest.merge import Merge, merge_records
from assistant.ingest.reader import UnreadableFile, read_text
from assistant.records import FileReport, Paper

SUPPORTED_SUFFIXES = {".txt", ".jsonl", ".json", ".csv", ".tsv", ".bib", ".ris", ".xml", ".atom", ".md", ".pdf", ""}

__all__ = ["IngestResult", "ingest_file", "ingest_paths", "expand_paths", "LAYOUTS", "describe_layouts"]


@dataclass
class IngestResult:
    files: list[FileReport]
    papers: list[Paper]
    errors: list[str] = field(default_factory=list)  # paths that could not be opened at all
    merges: list[Merge] = field(default_factory=list)  # each record merged away, and by which key

    @property
    def merged(self) -> int:
        """How many records merged into a paper read before them."""
        return len(self.merges)

    @property
    def merged_by_file(self) -> dict[str, int]:
        """Per file of the batch: how many of its records merged into a paper read before them."""
        counts = {f.file: 0 for f in self.files}
        for file, merges in self.merges_by_file().items():
            counts[file] = len(merges)
        return counts

    def merges_by_file(self) -> dict[str, list[Merge]]:
        """The merges, grouped by the file of the record that merged."""
        by_file: dict[str, list[Merge]] = {}
        for m in self.merges:
            by_file.setdefault(m.record.sources[0].file, []).append(m)
        return by_file

    def set_merges(self, merges: list[Merge]) -> None:
        """Take the merges of an index update whose record was read in this batch (also
        those that joined papers already indexed)."""
        files = {f.file for f in self.files}
        self.merges = [m for m in merges if m.record.sources[0].file in files]

    @property
    def ok(self) -> bool:
        """True when at least one usable paper was found."""
        return bool(self.papers)

    def to_dict(self) -> dict:
        return {
            "files": [{**f.to_dict(), "merged": self.merged_by_file.get(f.file, 0)} for f in self.files],
            "papers": [p.to_dict() for p in self.papers],
            "merged": self.merged,
            "merges": [merge_dict(m) for m in self.merges],
            "errors": self.errors,
        }


def merge_dict(merge: Merge) -> dict:
    """A merge as JSON: the record (where it was read), the paper it joined, the key they share."""
    src = merge.record.sources[0]
    return {
        "file": src.file,
        "line": src.line,
        "entry": src.entry,
        "title": merge.record.title,
        "into": merge.into.id,
        "into_title": merge.into.title,
        "by": merge.by,
        "by_name": BY[merge.by],
    }


def ingest_file(path: Path, label: str | None = None, layout: str | None = None) -> FileReport:
    """Parse one file. Never raises for bad content: problems land in the report. An
    exception a reader did not expect (a bug) becomes the file's error, so the rest of a
    batch is still read and no traceback is printed."""
    label = label or source_label(path)
    read_as: str | None = None  # the layout, once chosen
    try:
        if layout == pdf.NAME or (layout is None and pdf.is_pdf(path)):
            read_as = pdf.NAME
            return pdf.ingest_pdf(path, label)
        if layout and pdf.has_magic(path):
            return FileReport(
                file=label, format=None, error=f"a PDF, not {layout} text: leave out --layout (or use --layout pdf)"
            )
        try:
            text, warnings = read_text(path, label)
        except UnreadableFile as exc:
            return FileReport(file=label, format=None, error=str(exc).removeprefix(f"{label}: "))
        lines = text.splitlines()
        chosen = BY_NAME[layout] if layout else detect_layout(lines, path.suffix)
        if chosen is None:
            return FileReport(file=label, format=None, error=f"unknown layout; expected one of: {describe_layouts()}")
        read_as = chosen.name
        col = Collector(file=label, format=chosen.name)
        chosen.parse(lines, col)
    except Exception as exc:
        error = f"could not be read: {type(exc).__name__}: {one_line(exc)} (a bug: please report it)"
        return FileReport(file=label, format=read_as, error=error)
    col.report.warnings[:0] = warnings
    if not col.report.papers and not col.report.skipped:
        col.report.error = f"no paper entries found (read as {chosen.name})"
    return col.report


def source_label(path: Path) -> str:
    """How a file is named in records and messages: a file of the bundled corpus
    as `indexes/sources/<name>` (its place in the repository, so it reads the same
    on every machine and in every install), any other file by its absolute path."""
    from assistant import data

    resolved = path.resolve()
    try:
        return "indexes/" + resolved.relative_to(data.indexes_dir().resolve()).as_posix()
    except ValueError:
        return str(resolved)


def expand_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Files named directly, plus the supported files inside named folders
    (sorted, hidden files and READMEs skipped). A file named twice (directly
    and through its folder) is read once. Returns (files, errors)."""
    files: list[Path] = []
    errors: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not p.name.startswith(".")
                and p.suffix.lower() in SUPPORTED_SUFFIXES
                and p.stem.upper() != "README"
            )
            if not found:
                errors.append(
                    f"{path}: folder holds no supported files ({', '.join(sorted(s for s in SUPPORTED_SUFFIXES if s))})"
                )
            files += found
        elif path.exists():
            files.append(path)
        else:
            errors.append(f"{path}: no such file or folder")
    unique: dict[Path, Path] = {}
    for path in files:
        unique.setdefault(path.resolve(), path)
    return list(unique.values()), errors


def ingest_paths(
    paths: Iterable[str | Path],
    layout: str | None = None,
    progress: Callable[[Iterable[Path]], Iterable[Path]] | None = None,
) -> IngestResult:
    files, errors = expand_paths(paths)
    reports = [ingest_file(p, layout=layout) for p in (progress(files) if progress else files)]
    merged = merge_records([paper for r in reports for paper in r.papers])
    return IngestResult(
        files=reports,
        papers=merged.papers,
        errors=errors,
        merges=merged.merges,
    )

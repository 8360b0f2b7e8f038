"""`PaperAssistant`: the one facade the CLI, the UI and the evaluations use."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from assistant import store
from assistant.ingest import IngestResult, ingest_paths
from assistant.ingest.merge import merge_papers
from assistant.records import Paper
from assistant.settings import Settings


@dataclass
class LibraryUpdate:
    """What an ingest changed in the stored corpus."""

    added: int
    updated: int
    unchanged: int
    total: int


def _content(paper: Paper) -> dict:
    """What a paper says, without where it was read (for change detection)."""
    data = paper.to_dict()
    data.pop("sources")
    return data


class PaperAssistant:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        # One record per (source file, entry), as parsed; `papers` merges them.
        self.records: list[Paper] = store.read_records(self.settings.index_path)
        self.papers, _ = merge_papers(self.records)

    @classmethod
    def open(cls, settings: Settings | None = None, build: bool = True,
             progress: Callable[[Iterable[Path]], Iterable[Path]] | None = None) -> "PaperAssistant":
        """Open the configured index; build it from the bundled corpus if it is missing."""
        assistant = cls(settings)
        if build and not assistant.papers:
            assistant.ingest([assistant.settings.corpus_dir], progress=progress)
        return assistant

    def parse(self, paths: Iterable[str | Path], layout: str | None = None,
              progress: Callable[[Iterable[Path]], Iterable[Path]] | None = None) -> IngestResult:
        """Parse files into papers without touching the index (a dry run)."""
        return ingest_paths(paths, layout=layout, progress=progress)

    def ingest(self, paths: Iterable[str | Path], layout: str | None = None,
               progress: Callable[[Iterable[Path]], Iterable[Path]] | None = None) -> tuple[IngestResult, LibraryUpdate]:
        """Parse files and store their records in the index. A file read again
        replaces what was stored for it; other files are kept. The index on disk
        is replaced in one atomic step, and only when something usable was found."""
        result = self.parse(paths, layout=layout, progress=progress)
        before = {p.key: _content(p) for p in self.papers}
        if result.papers:
            records = {r.file: r.papers for r in result.files if r.papers}
            kept = [p for p in self.records if p.sources[0].file not in records]
            self.records = kept + [p for papers in records.values() for p in papers]
            store.write_records(self.settings.index_path, self.records)
            self.papers, _ = merge_papers(self.records)
        added = sum(1 for p in self.papers if p.key not in before)
        updated = sum(1 for p in self.papers if p.key in before and _content(p) != before[p.key])
        return result, LibraryUpdate(added, updated, len(self.papers) - added - updated, len(self.papers))

    def stats(self) -> dict:
        """Counts a researcher wants at a glance: papers per source file, year, category."""
        per_source: Counter[str] = Counter()
        for p in self.papers:
            for name in {Path(s.file).name for s in p.sources}:
                per_source[name] += 1
        return {
            "index": str(self.settings.index_path),
            "papers": len(self.papers),
            "sources": dict(sorted(per_source.items())),
            "years": dict(sorted(Counter(p.year for p in self.papers if p.year).items())),
            "no_year": sum(1 for p in self.papers if not p.year),
            "categories": dict(Counter(p.category for p in self.papers if p.category).most_common()),
            "with_code": sum(1 for p in self.papers if p.has_code),
        }

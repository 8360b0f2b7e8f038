"""`PaperAssistant`: the one facade the CLI, the UI and the evaluations use."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from assistant.index import PaperIndex, UpdateStats
from assistant.ingest import IngestResult, ingest_paths
from assistant.records import Paper
from assistant.retrieve import Filters, SearchResult, search
from assistant.settings import Settings
from assistant.store import IndexFolder

FileProgress = Callable[[Iterable[Path]], Iterable[Path]]
EmbedProgress = Callable[[int, int], None]


@dataclass
class LibraryUpdate:
    """What an ingest changed in the index."""

    added: int
    updated: int
    unchanged: int
    removed: int
    total: int
    index: UpdateStats | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "index"}
        data["index"] = vars(self.index) if self.index else None
        return data


_CONTENT_FIELDS = [name for name in Paper.__dataclass_fields__ if name != "sources"]


def _content(paper: Paper) -> tuple:
    """What a paper says, without where it was read (for change detection)."""
    return tuple(getattr(paper, name) for name in _CONTENT_FIELDS)


class PaperAssistant:
    def __init__(self, settings: Settings | None = None, index: PaperIndex | None = None):
        self.settings = settings or Settings()
        self.index = index or PaperIndex(self.settings)

    @classmethod
    def open(cls, settings: Settings | None = None, build: bool = True,
             progress: FileProgress | None = None, embed_progress: EmbedProgress | None = None) -> "PaperAssistant":
        """Open the configured index; build it from the bundled corpus if it is missing."""
        assistant = cls(settings)
        if build and not assistant.index.exists:
            assistant.ingest([assistant.settings.corpus_dir], progress=progress, embed_progress=embed_progress)
        return assistant

    @property
    def papers(self) -> list[Paper]:
        return self.index.papers

    def parse(self, paths: Iterable[str | Path], layout: str | None = None,
              progress: FileProgress | None = None) -> IngestResult:
        """Parse files into papers without touching the index (a dry run)."""
        return ingest_paths(paths, layout=layout, progress=progress)

    def ingest(self, paths: Iterable[str | Path], layout: str | None = None, prune: bool = False,
               progress: FileProgress | None = None,
               embed_progress: EmbedProgress | None = None) -> tuple[IngestResult, LibraryUpdate]:
        """Parse files and index their papers. A file read again replaces what
        was stored for it; other files are kept unless `prune` is set, which
        drops every source not named in this call. The index is updated only
        when something usable was found, and atomically."""
        result = self.parse(paths, layout=layout, progress=progress)
        before = {p.key: _content(p) for p in self.papers}
        stats = None
        if result.papers:
            fresh = {r.file: r.papers for r in result.files if r.papers}
            # A file read again takes the place its records had, so re-reading an
            # unchanged file leaves the record list (and the index) exactly as it was.
            records: list[Paper] = []
            placed: set[str] = set()
            for p in self.index.records:
                file = p.sources[0].file
                if file in fresh:
                    if file not in placed:
                        records += fresh[file]
                        placed.add(file)
                elif not prune:
                    records.append(p)
            records += [p for file, papers in fresh.items() if file not in placed for p in papers]
            stats = self.index.update(records, progress=embed_progress)
        now = {p.key for p in self.papers}
        added = sum(1 for p in self.papers if p.key not in before)
        updated = sum(1 for p in self.papers if p.key in before and _content(p) != before[p.key])
        removed = sum(1 for key in before if key not in now)
        return result, LibraryUpdate(added, updated, len(self.papers) - added - updated, removed,
                                     len(self.papers), stats)

    @classmethod
    def rebuild(cls, paths: Iterable[str | Path], settings: Settings | None = None, layout: str | None = None,
                progress: FileProgress | None = None, embed_progress: EmbedProgress | None = None,
                ) -> tuple["PaperAssistant | None", IngestResult, LibraryUpdate | None]:
        """Build the index again from `paths` alone (e.g. after changing the
        embedding model), without opening the old one. The new index is built
        beside the old and swapped in at the end, so an interrupted rebuild
        leaves the old index in place. Returns (assistant, result, update);
        the assistant is None when the input held no usable paper."""
        settings = settings or Settings()
        result = ingest_paths(paths, layout=layout)
        if not result.papers:
            return None, result, None
        staging = settings.model_copy(update={"index_name": f"{settings.index_name}.rebuild"})
        IndexFolder(staging.index_path).remove()
        built = cls(staging)
        result, update = built.ingest(paths, layout=layout, progress=progress, embed_progress=embed_progress)
        old = IndexFolder(settings.index_path)
        old_collection = (old.read_manifest_quietly() or {}).get("collection")
        IndexFolder(staging.index_path).swap_into(settings.index_path)
        if old_collection and settings.chroma_url and old_collection != built.index.manifest.get("collection"):
            built.index.vectors.drop_collection(old_collection)
        return cls(settings), result, update

    def search(self, query: str, k: int | None = None, filters: Filters | dict[str, Any] | None = None,
               mmr: bool | None = None) -> SearchResult:
        """Hybrid search; returns ranked paper hits with their matched chunks."""
        return search(self.index, query, k=k, filters=filters, mmr=mmr)

    def stats(self) -> dict:
        """Counts a researcher wants at a glance: papers per source file, year, category."""
        per_source: Counter[str] = Counter()
        for p in self.papers:
            for name in {Path(s.file).name for s in p.sources}:
                per_source[name] += 1
        manifest = self.index.manifest or {}
        return {
            "index": str(self.settings.index_path),
            "papers": len(self.papers),
            "chunks": len(self.index.chunks),
            "embedding": manifest.get("embedding"),
            "vector_store": manifest.get("chroma"),
            "sources": dict(sorted(per_source.items())),
            "years": dict(sorted(Counter(p.year for p in self.papers if p.year).items())),
            "no_year": sum(1 for p in self.papers if not p.year),
            "categories": dict(Counter(p.category for p in self.papers if p.category).most_common()),
            "with_code": sum(1 for p in self.papers if p.has_code),
        }

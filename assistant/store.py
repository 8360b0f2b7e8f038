"""Every read and write of the index folder goes through here. Writes are
atomic (temporary file in the same folder, fsync, rename), so an interrupted
run leaves the previous file in place, never a half-written one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

from assistant.records import Paper

RECORDS_FILE = "records.jsonl"


class CorruptIndex(Exception):
    """A file of the index cannot be read; the message names it."""


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_records(index_path: Path, papers: Iterable[Paper]) -> None:
    lines = (json.dumps(p.to_dict(), ensure_ascii=False) for p in papers)
    atomic_write_text(index_path / RECORDS_FILE, "".join(line + "\n" for line in lines))


def read_records(index_path: Path) -> list[Paper]:
    """Parsed records stored in the index, one per source entry; an empty
    list when there is no index yet."""
    path = index_path / RECORDS_FILE
    if not path.exists():
        return []
    papers = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                papers.append(Paper.from_dict(json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise CorruptIndex(f"{path}:{number}: unreadable paper record ({exc}); "
                                   f"rebuild the index with `papers ingest --rebuild`") from None
    return papers

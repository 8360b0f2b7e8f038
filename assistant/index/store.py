"""Every read and write of an index folder goes through here.

An index folder holds one *generation* of files plus `manifest.json`, which
names them:

    manifest.json        settings that shaped the index, live chunk ids, file names
    records.<g>.jsonl    parsed records, one per (source file, entry)
    chunks.<g>.jsonl     chunk texts and spans
    bm25.<g>/            the BM25 index over those chunks
    sentences.<g>/       vectors.npy and keys: the abstracts' sentence vectors
                         (not written by an ingest with sentence_vectors off)
    identity             a random token made when the folder is created
    chroma-<identity>/   the embedded Chroma store (unless a server is used)
    pending              present while vectors may be in the store that no
                         manifest names yet (removed once they are pruned)

A new generation is written beside the old one; then the manifest is
replaced atomically (temp file, fsync, rename). That rename is the commit:
an interrupted ingest leaves the previous manifest, which still names the
previous, complete generation. Old generations are removed after the commit.

The identity token names this folder's Chroma collection and store
directory, so two folders (a live index and its rebuild, or two projects
using one Chroma server) never share vectors, and a folder swapped in by a
rebuild is opened afresh rather than through a client cached for the path."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from assistant import jsonl
from assistant.errors import CorruptIndex
from assistant.index.sentences import SentenceTable
from assistant.records import Chunk, Paper

MANIFEST = "manifest.json"
FORMAT_VERSION = 2
IDENTITY = "identity"
PENDING = "pending"
CALIBRATION = "calibration.json"


@contextmanager
def atomic_file(path: Path, mode: str = "w"):
    """A handle on a temp file beside `path`, fsynced and renamed over it on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_file(path, "w") as handle:
        handle.write(text)


def _write_array(path: Path, array: np.ndarray) -> None:
    with atomic_file(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, jsonl.dumps(list(rows)))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise CorruptIndex(f"{path}: missing (the manifest names it); rebuild with `papers ingest --rebuild`")
    bad_line = "{where}: unreadable ({reason}); rebuild with `papers ingest --rebuild`"
    return [row for _, row in jsonl.objects(path, CorruptIndex, bad_line)]


class IndexFolder:
    def __init__(self, path: Path):
        self.path = path

    @property
    def identity(self) -> str:
        """This folder's token, made (and the folder created) on first use."""
        path = self.path / IDENTITY
        try:
            token = path.read_text(encoding="ascii").strip()
        except (FileNotFoundError, UnicodeDecodeError):
            token = ""
        if not re.fullmatch(r"[0-9a-f]{8}", token):
            token = secrets.token_hex(4)
            atomic_write_text(path, token + "\n")
        return token

    @property
    def chroma_path(self) -> Path:
        return self.path / f"chroma-{self.identity}"

    # A marker for vectors added but not yet named by a manifest (or not yet pruned).
    @property
    def pending(self) -> bool:
        return (self.path / PENDING).exists()

    def mark_pending(self) -> None:
        atomic_write_text(self.path / PENDING, "vectors may be in the store that no manifest names\n")

    def clear_pending(self) -> None:
        (self.path / PENDING).unlink(missing_ok=True)

    def read_manifest(self) -> dict[str, Any] | None:
        """The committed manifest, or None when no index was built here yet."""
        path = self.path / MANIFEST
        if not path.exists():
            return None
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptIndex(
                f"{path}: unreadable ({exc}); delete the folder or run `papers ingest --rebuild`"
            ) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION or "files" not in manifest:
            raise CorruptIndex(f"{path}: not a manifest of this version; run `papers ingest --rebuild`")
        files = manifest["files"]
        if (
            not isinstance(files, dict)
            or not all(isinstance(files.get(k), str) for k in ("records", "chunks", "bm25"))
            or not isinstance(manifest.get("shaping"), dict)
        ):
            raise CorruptIndex(
                f"{path}: incomplete manifest (no file names or settings); run `papers ingest --rebuild`"
            )
        return manifest

    def read_records(self, manifest: dict[str, Any]) -> list[Paper]:
        try:
            return [Paper.from_dict(r) for r in _read_jsonl(self.path / manifest["files"]["records"])]
        except (TypeError, KeyError, AttributeError) as exc:
            raise CorruptIndex(
                f"{self.path / manifest['files']['records']}: bad record ({exc}); "
                f"rebuild with `papers ingest --rebuild`"
            ) from None

    def read_chunks(self, manifest: dict[str, Any]) -> list[Chunk]:
        try:
            return [Chunk(**r) for r in _read_jsonl(self.path / manifest["files"]["chunks"])]
        except (TypeError, KeyError, AttributeError) as exc:
            raise CorruptIndex(
                f"{self.path / manifest['files']['chunks']}: bad chunk ({exc}); rebuild with `papers ingest --rebuild`"
            ) from None

    def bm25_path(self, manifest: dict[str, Any]) -> Path:
        return self.path / manifest["files"]["bm25"]

    def read_sentences(self, manifest: dict[str, Any]) -> SentenceTable | None:
        """The stored sentence vectors (memory-mapped), or None when this index has none."""
        name = manifest["files"].get("sentences")
        if not name:
            return None
        folder = self.path / name
        path = folder / "keys"
        try:
            keys = path.read_text(encoding="ascii").split()
            path = folder / "vectors.npy"
            vectors = np.load(path, mmap_mode="r", allow_pickle=False)
            if vectors.ndim != 2 or len(vectors) != len(keys):
                path = folder  # the two files disagree
                raise ValueError(f"{len(keys)} keys for an array of shape {vectors.shape}")
            dim = manifest.get("embedding", {}).get("dim")
            if vectors.dtype != np.float32 or (len(keys) and dim and vectors.shape[1] != dim):
                raise ValueError(
                    f"{vectors.dtype} vectors of width {vectors.shape[1]}; the index's model gives "
                    f"float32 of width {dim}"
                )
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise CorruptIndex(
                f"{path}: unreadable sentence vectors ({exc}); rebuild with `papers ingest --rebuild`"
            ) from None
        return SentenceTable(keys, vectors)

    def commit(
        self,
        manifest: dict[str, Any],
        records: list[Paper],
        chunks: list[Chunk],
        write_bm25: Callable[[Path], None],
        sentences: SentenceTable | None = None,
    ) -> dict[str, Any]:
        """Write a new generation and switch the manifest to it."""
        generation = int(manifest.get("generation", 0)) + 1
        files = {
            "records": f"records.{generation}.jsonl",
            "chunks": f"chunks.{generation}.jsonl",
            "bm25": f"bm25.{generation}",
        }
        if sentences is not None:
            files["sentences"] = f"sentences.{generation}"
            folder = self.path / files["sentences"]
            shutil.rmtree(folder, ignore_errors=True)
            _write_array(folder / "vectors.npy", sentences.vectors)
            atomic_write_text(folder / "keys", "".join(k + "\n" for k in sentences.keys))
        self.path.mkdir(parents=True, exist_ok=True)
        _write_jsonl(self.path / files["records"], (p.to_dict() for p in records))
        _write_jsonl(self.path / files["chunks"], (c.to_dict() for c in chunks))
        bm25_dir = self.path / files["bm25"]
        shutil.rmtree(bm25_dir, ignore_errors=True)
        write_bm25(bm25_dir)
        manifest = {**manifest, "format": FORMAT_VERSION, "generation": generation, "files": files}
        atomic_write_text(self.path / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False))
        self._remove_other_generations(files)
        return manifest

    def _remove_other_generations(self, live: dict[str, str]) -> None:
        keep = set(live.values()) | {MANIFEST}
        for entry in self.path.iterdir():
            generational = entry.name.split(".")[0] in (
                "records",
                "chunks",
                "bm25",
                "sentences",
            ) or entry.name.startswith(".")
            if generational and entry.name not in keep:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    # The library's abstention calibration (assistant.answer.abstain.Calibration), beside
    # the manifest: derived data, recomputed when missing, stale or unreadable.
    def read_calibration(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.path / CALIBRATION).read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def write_calibration(self, data: dict[str, Any]) -> None:
        if self.path.is_dir():
            atomic_write_text(self.path / CALIBRATION, json.dumps(data, indent=1))

    def read_manifest_quietly(self) -> dict[str, Any] | None:
        try:
            return self.read_manifest()
        except CorruptIndex:
            return None

    def swap_into(self, target: Path) -> None:
        """Replace the folder `target` by this one: rename the old aside, rename
        this one in, then delete the old. Both renames are atomic."""
        aside = target.with_name(f".{target.name}.old")
        shutil.rmtree(aside, ignore_errors=True)
        if target.exists():
            os.replace(target, aside)
        os.replace(self.path, target)
        self.path = target
        shutil.rmtree(aside, ignore_errors=True)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

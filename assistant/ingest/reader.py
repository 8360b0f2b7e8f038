"""Turn a file's bytes into text, or say plainly why it cannot be read."""

from __future__ import annotations

from pathlib import Path

from assistant.errors import UnreadableFile
from assistant.records import Problem

_TEXT_CONTROL = {9, 10, 12, 13}


def looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in _TEXT_CONTROL)
    return controls > max(8, len(sample) // 100)


def read_text(path: Path, label: str) -> tuple[str, list[Problem]]:
    """Read `path` as text. Lines that are not valid UTF-8 are decoded as
    Windows-1252 (the usual culprit) and reported by line number; the rest of
    the file is untouched."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFile(f"{label}: no such file") from None
    except IsADirectoryError:
        raise UnreadableFile(f"{label}: is a directory") from None
    except OSError as exc:
        raise UnreadableFile(f"{label}: cannot read ({exc.strerror or exc})") from None
    if not data.strip():
        raise UnreadableFile(f"{label}: empty file")
    if looks_binary(data):
        raise UnreadableFile(
            f"{label}: binary file, neither text nor a PDF (expected a page saved as text, JSON/JSONL, CSV, "
            "BibTeX, RIS, arXiv Atom XML, or a paper PDF)"
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    warnings: list[Problem] = []
    lines = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(raw.decode("cp1252", errors="replace"))
            warnings.append(
                Problem(label, number, "not valid UTF-8; decoded as Windows-1252, check accents on this line")
            )
    return "\n".join(lines), warnings

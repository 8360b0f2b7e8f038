"""JSON Lines (one paper object per line) and JSON (a list of paper objects,
or an object holding such a list under "papers")."""

from __future__ import annotations

import json

from assistant.ingest.base import Collector
from assistant.ingest.mapping import add_mapping
from assistant.ingest.structured import TOO_DEEP, JsonDoc

JSONL = "jsonl"
JSON = "json"


def detect_jsonl(lines: list[str], suffix: str) -> float:
    first = next((line.strip() for line in lines if line.strip()), "")
    if suffix == ".jsonl":
        return 1.0
    return 0.9 if first.startswith("{") and first.endswith("}") and suffix != ".json" else 0.0


def detect_json(lines: list[str], suffix: str) -> float:
    first = next((line.strip() for line in lines if line.strip()), "")
    if suffix == ".json":
        return 1.0
    return 0.8 if first.startswith("[") or (first == "{") else 0.0


def parse_jsonl(lines: list[str], col: Collector) -> None:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except RecursionError:
            col.skip(number, TOO_DEEP)
            continue
        except json.JSONDecodeError as exc:
            # Cut off: an open string, or the parser ran out of line while still inside the record.
            truncated = exc.msg.startswith("Unterminated") or exc.pos >= len(line.rstrip())
            what = "truncated entry (line ends mid-record)" if truncated else "invalid JSON"
            col.skip(number, f"{what}: {exc.msg} (column {exc.colno})")
            continue
        add_mapping(col, number, obj)


def parse_json(lines: list[str], col: Collector) -> None:
    text = "\n".join(lines)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        col.skip(exc.lineno, f"invalid JSON (file may be truncated): {exc.msg} (column {exc.colno})")
        return
    except RecursionError:  # located by reading the items one by one up to the one that is too deep
        doc = JsonDoc(text, ("papers",))
        for _ in doc.items():
            pass
        col.skip(doc.error.lineno if doc.error else 1, f"{TOO_DEEP}; the file was not read")
        return
    if isinstance(data, dict):
        data = data.get("papers", [data])
    if not isinstance(data, list):
        col.skip(1, "expected a list of paper objects or an object with a 'papers' list")
        return
    # Line numbers of the items are not kept by json; point at each item's
    # title in the text, which is what a user would search for.
    # Items come in file order, so each search starts at the line the previous item was found
    # on (one pass over the file, not one per item).
    cursor = 0
    for item in data:
        cursor = _line_of(lines, item, cursor)
        add_mapping(col, cursor + 1, item)


def _line_of(lines: list[str], item: object, start: int) -> int:
    """The index of the first line from `start` on that holds the item's title (`start` when none does)."""
    if isinstance(item, dict) and isinstance(item.get("title"), str) and item["title"]:
        needle = json.dumps(item["title"], ensure_ascii=False)[1:-1]
        for number in range(start, len(lines)):
            if needle in lines[number]:
                return number
    return start

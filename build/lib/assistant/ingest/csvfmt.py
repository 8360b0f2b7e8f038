"""CSV with a header row naming at least `title` and `abstract`."""

from __future__ import annotations

import csv
import io

from assistant.ingest.base import Collector
from assistant.ingest.mapping import add_mapping

NAME = "csv"


def _header(lines: list[str]) -> list[str]:
    first = next((line for line in lines if line.strip()), "")
    try:
        return [h.strip().lower() for h in next(csv.reader([first]))]
    except (csv.Error, StopIteration):
        return []


def detect(lines: list[str], suffix: str) -> float:
    header = _header(lines)
    if "title" in header and ("abstract" in header or "summary" in header):
        return 1.0
    return 0.5 if suffix in (".csv", ".tsv") else 0.0


def parse(lines: list[str], col: Collector) -> None:
    text = "\n".join(lines)
    dialect = csv.excel_tab if "\t" in lines[0] and "," not in lines[0] else csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "title" not in fields or not ({"abstract", "summary"} & set(fields)):
        col.skip(1, f"CSV header must name 'title' and 'abstract' columns (found: {', '.join(fields) or 'none'})")
        return
    start = 2
    try:
        for row in reader:
            if None in row:  # more cells than header columns
                col.warn(start, f"row has {len(row[None])} extra cell(s); ignored them", col.next_entry)
                row.pop(None)
            if all(v in (None, "") for v in row.values()):
                start = reader.line_num + 1
                continue
            if any(v is None for v in row.values()):
                col.skip(start, "truncated entry: row has fewer cells than the header")
            else:
                add_mapping(col, start, row)
            start = reader.line_num + 1
    except csv.Error as exc:
        col.skip(start, f"malformed CSV ({exc}); stopped reading here")

"""What paper identity and the new formats cost, on BEIR SciFact's abstracts:

* merging: `merge_records` (DOI / arXiv / PubMed / file id / title, generic titles kept
  apart) against the previous release's rule (one paper per normalised title), and
  `group_records` (how an index groups its stored records when it opens), on the corpus
  repeated to `--records` records (each copy with its own title and id, every tenth with a
  DOI, every fiftieth a second copy of one of those: something to merge);
* one title shared by 10,000 records with their own DOIs (each must not scan the others);
* reading: the same papers written as JSONL, BibTeX, RIS and CSL-JSON (by
  `assistant.export`) and read back by `ingest_file`, each against JSONL.

    .venv/bin/python -m evals.bench.identity --dataset ../shared/benchmarks/scifact [--records 100000]

Prints one JSON object (seconds are the best of `--repeat` runs).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from assistant import export
from assistant.ingest import ingest_file
from assistant.ingest.merge import group_records, merge_into, merge_records
from assistant.records import Paper, SourceRef, normalize_title
from evals.beir import load_beir


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def title_only(records: list[Paper]) -> list[Paper]:
    """The previous release's merge: one paper per normalised title."""
    by_key: dict[str, Paper] = {}
    for record in records:
        key = normalize_title(record.title)
        if key in by_key:
            merge_into(by_key[key], record)
        else:
            by_key[key] = copy.copy(record)
    return list(by_key.values())


def records(corpus: dict[str, dict], n: int) -> list[Paper]:
    docs = list(corpus.items())
    out: list[Paper] = []
    for i in range(n):
        k = i - 10 if i % 50 == 0 and i > 0 else i  # every fiftieth record repeats an earlier one (with a DOI)
        doc_id, doc = docs[k % len(docs)]
        part = k // len(docs)
        title = doc["title"] if part == 0 else f"{doc['title']} (part {part})"
        out.append(
            Paper(
                title,
                doc["text"] or title,
                external_id=f"{doc_id}-{part}",
                doi=f"10.5555/{doc_id}.{part}" if k % 10 == 0 else None,
                sources=[SourceRef("corpus.jsonl", "jsonl", i + 1, i + 1)],
            )
        )
    return out


def reading(papers: list[Paper], folder: Path, repeat: int) -> dict[str, dict]:
    texts = {
        "jsonl": "".join(
            json.dumps({"title": p.title, "abstract": p.abstract, "id": p.external_id}, ensure_ascii=False) + "\n"
            for p in papers
        ),
        "bib": export.bibtex(papers),
        "ris": export.ris(papers),
        "csl.json": export.csl_json(papers),
    }
    out: dict[str, dict] = {}
    for suffix, text in texts.items():
        path = folder / f"papers.{suffix}"
        path.write_text(text, encoding="utf-8")
        report = ingest_file(path)
        seconds = _best(lambda path=path: ingest_file(path), repeat)
        out[suffix] = {"format": report.format, "records": report.records, "seconds": round(seconds, 3)}
    base = out["jsonl"]["seconds"]
    for row in out.values():
        row["vs_jsonl"] = round(row["seconds"] / base, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench.identity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True, help="a BEIR folder (../shared/benchmarks/scifact)")
    parser.add_argument("--records", type=int, default=100_000, help="records to merge (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step; the best is reported")
    args = parser.parse_args(argv)
    ds = load_beir(args.dataset)
    recs = records(ds.corpus, args.records)
    merged = merge_records(recs)
    stamped = [copy.copy(r) for r in recs]
    for r, pid in zip(stamped, merged.ids):
        r.id = pid
    rules = _best(lambda: merge_records(recs), args.repeat)
    old = _best(lambda: title_only(recs), args.repeat)
    grouping = _best(lambda: group_records(stamped), args.repeat)
    # One title shared by 10,000 records, each with its own DOI (an "Erratum"-like title the
    # generic list misses): every record checks the papers of that title.
    shared = [
        Paper(
            "Front cover of the issue", f"Cover {i}.", doi=f"10.5555/cover.{i}", sources=[SourceRef("c", "json", i, i)]
        )
        for i in range(10_000)
    ]
    one_title = _best(lambda: merge_records(shared), args.repeat)
    sample = merged.papers[: len(ds.corpus)]
    with tempfile.TemporaryDirectory() as tmp:
        read = reading(sample, Path(tmp), args.repeat)
    result = {
        "records": len(recs),
        "papers": len(merged.papers),
        "merges_by": {kind: sum(1 for m in merged.merges if m.by == kind) for kind in {m.by for m in merged.merges}},
        "merge_records_s": round(rules, 3),
        "title_only_s": round(old, 3),
        "ratio": round(rules / old, 2),
        "group_records_s": round(grouping, 3),
        "shared_title_10k_s": round(one_title, 3),
        "reading": read,
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

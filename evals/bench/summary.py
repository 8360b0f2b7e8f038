"""The steps' raw records -> the numbers the report prints (`summarise`).

A result file (`run.py` writes it) holds both: "steps", every raw number of every step,
and "summary", what the tables show, computed here once. `report.py` only formats a
summary, so a table in docs/benchmarks.md can always be rendered again from the file."""

from __future__ import annotations

from typing import Any

# The library versions the report's machine line names, in this order.
SHOWN_VERSIONS = (
    "torch",
    "sentence-transformers",
    "chromadb",
    "llama-index-core",
    "llama-index-embeddings-huggingface",
    "bm25s",
)

# Parts of a synthetic build the scale table shows in their own column; the rest of the
# wall time is "chunking + other".
_SCALE_APART = ("embed chunks", "chroma open", "chroma lookups", "chroma add", "bm25 build", "commit", "prune")


def _div(a, b):
    return a / b if a is not None and b else None


def _peak(record: dict, stage: str) -> float | None:
    s = record.get("stages", {}).get(stage)
    return s["peak_rss_mib"] if s else None


def _build_row(r: dict) -> dict[str, Any]:
    return {
        "batch": r.get("embed_batch_size"),
        "chunk_size": r.get("chunk_size"),
        "papers": r["papers"],
        "chunks": r["chunks"],
        "seconds": r["seconds"],
        "chunks_per_s": r["chunks"] / r["seconds"],
        "papers_per_s": r["papers"] / r["seconds"],
        "embed_s": r.get("embed_s"),
        "pieces_per_s": _div(r.get("embed_tokens"), r.get("embed_s")),
        "peak_rss_mib": _peak(r, "cold build"),
        "imports_s": r.get("stages", {}).get("imports", {}).get("seconds"),
        "breakdown": r.get("breakdown", {}),
    }


def _arithmetic(r: dict, label: str, peak: dict | None) -> dict[str, Any] | None:
    emb, flops = r.get("embed_s"), r.get("embed_flops")
    if not emb or not flops:
        return None
    gflops = flops / emb / 1e9
    gemm = (peak or {}).get("gemm_gflops", {}).get(r.get("precision"))
    return {
        "label": label,
        "precision": r.get("precision"),
        "pieces": r["embed_tokens"],
        "padding": 1 - r["embed_tokens"] / r["embed_positions"] if r.get("embed_positions") else 0.0,
        "embed_s": emb,
        "pieces_per_s": r["embed_tokens"] / emb,
        "tflop": flops / 1e12,
        "gflops": gflops,
        "gemm_gflops": gemm,
        "of_gemm": gflops / gemm if gemm else None,
    }


def summarise(results: dict[str, dict], machine: dict, command: str, total_s: float) -> dict[str, Any]:
    versions = machine.get("versions", {})
    out: dict[str, Any] = {
        "command": command,
        "machine": {
            "cpu": machine.get("cpu", "?"),
            "nproc": machine.get("nproc"),
            "usable_cpus": machine.get("usable_cpus"),
            "ram_gib": machine.get("ram_gib"),
            "python": machine.get("python"),
            "versions": {k: versions.get(k) for k in SHOWN_VERSIONS},
        },
        "total_min": total_s / 60,
    }
    ours, theirs = results.get("bundled-build", {}), results.get("llamaindex", {})
    if "seconds" in ours:
        build: dict[str, Any] = {
            "torch_threads": ours.get("torch_threads"),
            "ours": _build_row(ours),
            "llamaindex": None,
            "ratio": None,
        }
        if "seconds" in theirs:
            t = build["llamaindex"] = _build_row(theirs)
            t["truncated"] = theirs.get("chunks_truncated")
            t["dense_only"] = theirs.get("retrieve_dense_only")
            o = build["ours"]
            build["ratio"] = {
                k: _div(o[k], t[k])
                for k in ("chunks", "seconds", "chunks_per_s", "papers_per_s", "embed_s", "pieces_per_s")
            }
        out["build"] = build
    arithmetic = [
        _arithmetic(results[key], label, results.get("peak"))
        for key, label in (("bundled-build", "bundled corpus"), ("scifact-build", "SciFact corpus"))
        if "seconds" in results.get(key, {})
    ]
    out["arithmetic"] = [a for a in arithmetic if a]
    sf = results.get("scifact-build", {})
    if "seconds" in sf:
        out["scifact"] = {
            "documents": sf.get("documents", 0),
            "papers": sf["papers"],
            "chunks": sf["chunks"],
            "sentences_embedded": sf["sentences_embedded"],
            "seconds": sf["seconds"],
            "embed_s": sf.get("embed_s"),
            "pieces": sf["embed_tokens"],
            "pieces_per_s": _div(sf["embed_tokens"], sf.get("embed_s")),
            "peak_rss_mib": _peak(sf, "cold build"),
            "index_mib": sf["index_mib"],
            "breakdown": sf["breakdown"],
        }
    st = results.get("ask-startup", {})
    if "best_s" in st:
        out["ask"] = {k: st[k] for k in ("walls_s", "best_s", "median_s", "torch_imported", "imports_s")}

    searches = []
    if "bundled-search" in results:
        searches.append(("bundled", results["bundled-search"]))
    for key in sorted((k for k in results if k.startswith("scale-search-")), key=lambda k: int(k.rsplit("-", 1)[1])):
        searches.append((key.rsplit("-", 1)[1], results[key]))
    out["warm"] = [
        {
            "corpus": label,
            "chunks": r["chunks"],
            "open_s": r["warm"]["open_s"],
            "ingest_s": r["warm"]["ingest_s"],
            "update_s": r["warm"].get("update_s"),
            "embedded": r["warm"]["embedded"],
            "peak_rss_mib": _peak(r, "warm re-ingest"),
        }
        for label, r in searches
        if r.get("warm")
    ]
    out["search"] = []
    for label, r in searches:
        s = r.get("search")
        if not s:
            continue
        p = s["parts_p50_ms"]
        out["search"].append(
            {
                "corpus": label,
                "chunks": r["chunks"],
                "vectors": "synthetic" if r.get("vectors") == "synthetic" else "MiniLM",
                "searches": s["searches"],
                "first_ms": s["first_query_ms"],
                "p50_ms": s["p50_ms"],
                "p95_ms": s["p95_ms"],
                "round1_p50_ms": s.get("first_round_p50_ms"),
                "round1_p95_ms": s.get("first_round_p95_ms"),
                "embed_ms": p.get("embed"),
                "dense_ms": p.get("dense"),
                "bm25_ms": p.get("bm25"),
                "fuse_ms": p.get("fuse"),
                "peak_rss_mib": _peak(r, "search"),
            }
        )
    cached = results.get("bundled-search", {}).get("search_cached")
    out["search_cached"] = {"p50_ms": cached["p50_ms"], "p95_ms": cached["p95_ms"]} if cached else None

    builds = sorted(
        (
            (int(k.rsplit("-", 1)[1]), results[k])
            for k in results
            if k.startswith("scale-build-") and "seconds" in results[k]
        ),
        key=lambda kv: kv[0],
    )
    out["scale"] = []
    for size, r in builds:
        b = r["breakdown"]
        out["scale"].append(
            {
                "target": size,
                "papers": r["papers"],
                "chunks": r["chunks"],
                "seconds": r["seconds"],
                "chunks_per_s": r["chunks"] / r["seconds"],
                "chunking_other_s": r["seconds"] - sum(b.get(k, 0.0) for k in _SCALE_APART),
                "vectors_s": b.get("embed chunks", 0.0),
                "chroma_add_s": b.get("chroma add", 0.0),
                "bm25_s": b.get("bm25 build", 0.0),
                "commit_s": b.get("commit", 0.0),
                "peak_rss_mib": _peak(r, "build"),
                "index_mib": r["index_mib"],
            }
        )
    out["load"] = [
        {
            "step": key,
            "wall_s": r.get("process_seconds"),
            "cpu_s": r.get("cpu_seconds"),
            "foreign_cores": r.get("foreign_cpu_cores"),
            "attempts": r.get("attempts", 1),
            "foreign_all": r.get("foreign_cpu_cores_all_attempts") or [],
        }
        for key, r in results.items()
    ]
    out["failed"] = [{"step": key, "error": r["error"]} for key, r in results.items() if r.get("error")]
    return out

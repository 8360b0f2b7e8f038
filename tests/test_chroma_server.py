"""The scale-out path: vectors on a real `chroma run` server (Settings.chroma_url),
everything else in the index folder. Then the server goes away (stopped for real, at
a chosen moment: between two calls of the embedder, or between two steps of a test).
The indexes are built with the FAKE embedder (tests/fake_embedder.py): these tests
judge where vectors go and what happens when the store fails, not ranking."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.api import PaperAssistant
from assistant.index import PaperIndex
from assistant.index.vectors import VectorStoreError
from assistant.records import paper_id
from assistant.retrieve import search
from fake_embedder import Scripted, fake_model_env

pytestmark = pytest.mark.slow

CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    def __init__(self, path: Path, port: int):
        self.path, self.port = path, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.log = path.parent / f"chroma-{port}.log"

    def start(self, timeout: float = 60) -> None:
        assert CHROMA.exists(), f"the chroma CLI is not installed at {CHROMA}"
        import chromadb

        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        with self.log.open("a") as log:
            self.proc = subprocess.Popen([str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1",
                                          "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"chroma run exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                chromadb.HttpClient(host="127.0.0.1", port=self.port).heartbeat()
                return
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(f"chroma run did not answer in {timeout} s:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        self.proc = None

    def client(self):
        import chromadb

        return chromadb.HttpClient(host="127.0.0.1", port=self.port)


@pytest.fixture
def server(tmp_path):
    srv = ChromaServer(tmp_path / "chroma-data", free_port())
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def served(server, tmp_path, make_assistant, sample_rows, write_jsonl):
    """12 papers indexed with their vectors on the server."""
    rows = [dict(r) for r in sample_rows[:12]]
    source = write_jsonl(tmp_path / "papers.jsonl", rows)
    pa = make_assistant(tmp_path / "idx", chroma_url=server.url)
    _, update = pa.ingest([source])
    return pa, rows, source, update


def test_index_with_vectors_on_a_chroma_server(served, server, fake_embedder, write_jsonl):
    pa, rows, source, update = served
    manifest = json.loads((pa.settings.index_path / "manifest.json").read_text())
    assert manifest["chroma"] == server.url
    assert not [n for n in os.listdir(pa.settings.index_path) if n.startswith("chroma")]  # nothing embedded locally
    on_server = server.client().get_collection(manifest["collection"])
    assert on_server.count() == update.index.embedded == update.index.chunks == len(pa.index.chunks)

    query = rows[6]["title"]
    first = pa.search(query, k=5)
    assert first.hits[0].paper_id == paper_id(rows[6]["title"])
    assert first.hits[0].chunks[0].dense_rank == 1

    # A new reader (its own HTTP client) finds the same.
    reopened = PaperIndex(pa.settings, embedder=fake_embedder)
    again = search(reopened, query, k=5)
    assert [h.paper_id for h in again.hits] == [h.paper_id for h in first.hits]
    assert [m.dense_rank for m in again.hits[0].chunks] == [m.dense_rank for m in first.hits[0].chunks]

    # Incremental on the server too: unchanged -> nothing; one abstract changed -> only it.
    _, update = pa.ingest([source])
    assert (update.index.embedded, update.index.committed) == (0, False)
    pid = paper_id(rows[2]["title"])
    old = {c.id for c in pa.index.chunks if c.paper_id == pid}
    rows[2]["abstract"] += " Code and pretrained models are released."
    write_jsonl(source, rows)
    _, update = pa.ingest([source])
    new = {c.id for c in pa.index.chunks if c.paper_id == pid}
    assert update.index.embedded == len(new) and update.index.removed == len(old)
    assert set(on_server.get(include=[])["ids"]) == {c.id for c in pa.index.chunks}


def test_a_server_without_the_collection_is_reported(served, server, fake_embedder):
    """E.g. the server was restarted with another --path: no silent BM25-only search."""
    pa = served[0]
    server.client().delete_collection(pa.index.collection_name)
    with pytest.raises(VectorStoreError, match="holds no vectors.*--path"):
        search(PaperIndex(pa.settings, embedder=fake_embedder), "adversarial robustness")


class NoModel:
    """An embedder that must not be used: the test fails if anything is embedded."""

    name, dim = "no-model", 384

    def embed_documents(self, texts, progress=None):
        raise AssertionError("a text was embedded before the vector store was opened")

    def embed_query(self, text):
        raise AssertionError("the query was embedded before the vector store was opened")


def test_a_server_that_is_down(served, server, write_jsonl, papers_main, llm_server, make_assistant):
    pa, rows, source, _ = served
    manifest = (pa.settings.index_path / "manifest.json").read_bytes()
    query = rows[4]["title"]
    expected = [h.paper_id for h in pa.search(query, k=3).hits]
    server.stop()

    # The open index: its client now fails.
    with pytest.raises(VectorStoreError) as info:
        pa.search(query)
    assert server.url in str(info.value)

    # A new reader: refused at once (before anything is embedded), with what to do.
    with pytest.raises(VectorStoreError) as info:
        search(PaperIndex(pa.settings, embedder=NoModel()), query)
    message = str(info.value)
    assert f"Chroma server at {server.url} is not reachable" in message and "chroma run" in message

    # An ingest fails cleanly and leaves the index as it was.
    rows[0]["abstract"] += " A new section on long-tailed data."
    write_jsonl(source, rows)
    with pytest.raises(VectorStoreError):
        pa.ingest([source])
    assert (pa.settings.index_path / "manifest.json").read_bytes() == manifest
    assert len(pa.papers) == 12

    # The CLI: a message and exit code 2, no traceback.
    proc = papers_main("search", query, "--index-dir", pa.settings.index_dir,
                       env={**fake_model_env(llm_server), "PAPERS_CHROMA_URL": server.url})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"error: Chroma server at {server.url} is not reachable"), proc.stderr

    # Back up (same data folder, same port): the previous state is all there.
    server.start()
    back = make_assistant(pa.settings.index_dir, chroma_url=server.url)
    assert [h.paper_id for h in back.search(query, k=3).hits] == expected
    _, update = back.ingest([source])
    assert update.updated == 1 and update.index.committed


def test_rebuilds_and_a_second_project_share_one_server_safely(served, server, tmp_path, make_assistant,
                                                               fake_embedder, write_jsonl):
    """Two index folders with the same index name on one server keep their own
    collections, and rebuilding one (twice: the second rebuild once pruned the
    live collection) leaves both whole."""
    pa, rows, source, _ = served
    other = make_assistant(tmp_path / "other-project", chroma_url=server.url)
    other.ingest([write_jsonl(tmp_path / "other.jsonl", rows[:3])])
    assert other.index.collection_name != pa.index.collection_name
    assert other.settings.index_name == pa.settings.index_name

    names = {pa.index.collection_name}
    for round_ in range(2):
        rebuilt, _, update = PaperAssistant.rebuild([source], pa.settings, embedder=fake_embedder)
        assert update.total == 12 and update.index.embedded == update.index.chunks
        names.add(rebuilt.index.collection_name)
        assert len(names) == round_ + 2  # a new collection each time
        hits = rebuilt.search(rows[5]["title"], k=3).hits
        assert hits[0].paper_id == paper_id(rows[5]["title"]) and hits[0].chunks[0].dense_rank == 1
        on_server = {c.name for c in server.client().list_collections()}
        assert on_server == {rebuilt.index.collection_name, other.index.collection_name}  # old one dropped
        assert rebuilt.index.vectors.ids() == {c.id for c in rebuilt.index.chunks}

    # The other project never noticed.
    reopened = make_assistant(tmp_path / "other-project", chroma_url=server.url)
    assert reopened.index.vectors.ids() == {c.id for c in reopened.index.chunks}
    assert reopened.search(rows[1]["title"], k=3).hits[0].paper_id == paper_id(rows[1]["title"])


def test_a_server_gone_after_the_commit_leaves_a_consistent_object(served, server, fake_embedder, write_jsonl):
    """The server stops while the ingest embeds the sentences (after the new vectors were
    added): the new generation is committed, then pruning the old vectors fails. The object
    must describe what is on disk, and once the server is back a later ingest prunes what
    was left."""
    pa, rows, source, _ = served
    kept = {paper_id(r["title"]) for r in rows[:8]}
    rows[0]["abstract"] += " A new section on long-tailed data."  # something to embed
    write_jsonl(source, rows[:8])  # 4 papers dropped: their vectors become orphans
    stopping = Scripted(fake_embedder, 2, server.stop)  # 2: the sentence pass, after the add
    broken = PaperAssistant(pa.settings, index=PaperIndex(pa.settings, embedder=stopping), llm=False)
    with pytest.raises(VectorStoreError, match=server.url):
        broken.ingest([source])
    assert json.loads((pa.settings.index_path / "manifest.json").read_text())["papers"] == 8
    assert {p.id for p in broken.papers} == kept == {c.paper_id for c in broken.index.chunks}

    server.start()
    dropped = rows[10]["title"]
    assert not {h.paper_id for h in broken.search(dropped, k=20).hits} - kept  # the orphans are never returned
    assert broken.index.vectors.ids() - {c.id for c in broken.index.chunks}  # but still stored
    rows[1]["abstract"] += " Code is released."
    write_jsonl(source, rows[:8])
    _, update = broken.ingest([source])
    assert update.index.removed > 0
    assert broken.index.vectors.ids() == {c.id for c in broken.index.chunks}

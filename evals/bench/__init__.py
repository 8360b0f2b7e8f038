"""Performance benchmark of the paper assistant on this machine.

    .venv/bin/python -m evals.bench                                  # everything (~12 min on 2 idle cores)
    .venv/bin/python -m evals.bench --sizes bundled                  # bundled corpus only (~3 min)
    .venv/bin/python -m evals.bench --sizes scifact                  # SciFact cold build (~5 min)
    .venv/bin/python -m evals.bench --sizes 10000 --out /tmp/b.json  # one scale point, result JSON
    .venv/bin/python -m evals.bench report                           # docs/benchmarks.md tables from results

Each step runs in its own subprocess (`run.py`), so memory peaks are separate and every
build is cold:

* `build.py`: cold builds. The bundled corpus through `PaperAssistant.ingest` and through
  LlamaIndex's default `VectorStoreIndex.from_documents` path (the point of comparison),
  the BEIR SciFact corpus, and synthetic scale corpora of N chunks (`synthetic.py`: real
  abstracts recombined, chunk vectors made from real MiniLM vectors plus noise; they
  measure the store, not embedding quality). The CPU's large-GEMM rate (`peak`) puts the
  embedding rate in context.
* `query.py`: warm re-ingest, search latency (p50/p95 of `pa.search(q, k=10)`), a fresh
  `papers ask`.
* `sampling.py`: wall time, CPU time, RSS and threads of a stage, sampled with psutil;
  the CPU other processes took meanwhile.
* `ui.py` (run on its own: `python -m evals.bench.ui --index-dir DIR`): the web UI in
  Debian's chromium: the server's CPU with idle pages open, and answer times for one
  page against many pages asking at once.
* `summary.py` turns the steps' raw records into the numbers the tables print;
  `report.py` renders them and rewrites the marked sections of docs/benchmarks.md.

Stage timings come from the project's own code, never from wrapping its methods:
`LibraryUpdate.timings` and `UpdateStats.timings` for an ingest, `SearchResult.timings`
for a search, LlamaIndex's callback manager for its embedding time.

pyperf is not used: the builds are single long runs, the searches need per-call p50/p95
with their parts from `SearchResult.timings`, and the GEMM peak wants the best of 10;
pyperf's calibrated loops in worker processes, summarised as mean ± std, fit none of them.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
RESULTS_DIR = PROJECT_DIR / "evals" / "results" / "bench"

QUESTION = "What is hard patches mining in masked image modeling?"  # the README's headline question

# Realistic researcher queries about topics the bundled corpus covers.
QUERIES = [
    "hard patches mining for masked image modeling",
    "over-squashing in graph neural networks",
    "scaling laws for language models",
    "second-order optimizer with Hessian diagonal",
    "edge of stability and sharpness in gradient descent",
    "grokking and delayed generalization",
    "sparse mixture of experts training",
    "low-rank adaptation LoRA for efficient fine-tuning",
    "classifier-free guidance in diffusion models",
    "efficient image super-resolution with attention",
    "self-supervised pre-training on point clouds",
    "federated learning with heterogeneous clients",
    "post-training quantization of vision transformers",
    "knowledge distillation from a large teacher",
    "neural tangent kernel and infinite-width networks",
    "contrastive learning of visual representations",
    "predicting wildfire spread from remote sensing data",
    "generative speech enhancement",
    "catastrophic forgetting in continual learning",
    "structured pruning of large language models",
    "adversarial robustness and adversarial training",
    "anomaly detection with masked autoencoders",
    "pedestrian trajectory prediction",
    "Fourier neural operator for partial differential equations",
    "batch normalization and gradient explosion in deep networks",
    "implicit neural representations for video",
    "learning rate transfer across model width",
    "hyperparameter optimization with bilevel optimization",
    "discrete diffusion models with masking",
    "link prediction on graphs",
]

SYNTHETIC_NOTE = (
    "synthetic corpus: chunk vectors are real MiniLM vectors of the donor papers + Gaussian noise "
    "(not embeddings of the synthetic text); queries are embedded by the real MiniLM model"
)

BUSY_CORES = 0.15  # foreign CPU load above which a step counts as contaminated

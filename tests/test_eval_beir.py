"""evals/beir.py: reading a BEIR-format folder, converting its corpus to the project's
JSONL, mapping qrels to our paper ids, and the errors a broken folder gives.

Fast (a fixture written in tmp_path; parsing only) except the one `slow` test, which
indexes the converted corpus with the real model and searches it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.ingest import ingest_paths
from assistant.records import paper_id
from evals.beir import BeirDataset, BeirError, doc_title, gold_paper_ids, load_beir, to_jsonl_records

CROP_TEXT = ("Crop yield prediction from weather records with gradient boosted trees gives strong gains over "
             "linear baselines across twelve countries. Rainfall and temperature during flowering matter most.")
DOCS = [
    {"_id": "d1", "title": "Deep networks predict protein structure",
     "text": "We predict the three-dimensional structure of proteins from their amino acid sequence with a deep "
             "attention network. Predicted folds reach near experimental accuracy.", "metadata": {}},
    {"_id": "d2", "title": "Graph neural networks for molecular property prediction",
     "text": "Message passing over atoms and bonds predicts solubility and toxicity of small molecules."},
    {"_id": "d3", "title": "Transformers for end-to-end speech recognition",
     "text": "A transformer encoder-decoder maps audio spectrograms directly to characters and lowers word "
             "error rate on read English speech."},
    {"_id": "d4", "title": "Self-supervised pretraining for low-resource speech recognition",
     "text": "Pretraining on unlabeled audio lets a recognizer learn from ten minutes of transcribed speech."},
    {"_id": "d5", "title": "Learning robotic grasping from trial and error",
     "text": "A robot arm learns to grasp unseen household objects with reinforcement learning from thousands "
             "of real grasp attempts."},
    {"_id": "d6", "title": "Semantic segmentation of satellite imagery",
     "text": "We label every pixel of satellite images as road, building, water or forest with a U-Net."},
    {"_id": "d7", "title": "Q&amp;A   retrieval over legal contracts",  # an HTML entity and extra spaces
     "text": "Dense retrieval finds the clauses of a contract that answer a lawyer's question."},
    {"_id": "d8", "title": "", "text": CROP_TEXT},  # untitled: the title is the text's first 12 words
]
QUERIES = [
    {"_id": "q1", "text": "How can a neural network predict the 3D shape of a protein from its sequence?"},
    {"_id": "q2", "text": "transformer models for speech recognition"},
    {"_id": "q3", "text": "robot arm grasping objects learned by reinforcement learning"},
    {"_id": "q4", "text": "predicting crop yields from weather data"},
    {"_id": "q5", "text": "a query with no judgement in this split"},
]
QRELS = [("q1", "d1", 1), ("q2", "d3", 2), ("q2", "d4", 1), ("q3", "d5", 1), ("q3", "d2", 0), ("q4", "d8", 1)]


def write_beir(folder: Path, docs=DOCS, queries=QUERIES, qrels=QRELS, split="test", header=True) -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    lines = (["query-id\tcorpus-id\tscore"] if header else []) + [f"{q}\t{d}\t{s}" for q, d, s in qrels]
    (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def beir_dir(tmp_path) -> Path:
    return write_beir(tmp_path / "toyset")


def test_load_reads_corpus_queries_and_qrels(beir_dir):
    ds = load_beir(beir_dir)
    assert isinstance(ds, BeirDataset)
    assert ds.name == "toyset" and ds.split == "test"
    assert list(ds.corpus) == [d["_id"] for d in DOCS]
    assert ds.corpus["d1"]["title"] == "Deep networks predict protein structure"
    assert ds.corpus["d1"]["metadata"] == {}  # other fields are kept
    assert ds.corpus["d8"]["title"] == ""
    # only judged queries are kept, as BEIR's own loader does
    assert ds.queries == {q["_id"]: q["text"] for q in QUERIES[:4]}
    assert ds.qrels == {"q1": {"d1": 1}, "q2": {"d3": 2, "d4": 1}, "q3": {"d5": 1, "d2": 0}, "q4": {"d8": 1}}
    assert ds.warnings == []


def test_qrels_header_is_optional_and_other_splits(tmp_path):
    ds = load_beir(write_beir(tmp_path / "noheader", header=False))
    assert ds.qrels["q2"] == {"d3": 2, "d4": 1}
    ds = load_beir(write_beir(tmp_path / "dev", qrels=[("q1", "d1", 1)], split="dev"), split="dev")
    assert ds.split == "dev" and list(ds.qrels) == ["q1"] and list(ds.queries) == ["q1"]


def test_titles_untitled_docs_and_html_entities(beir_dir):
    ds = load_beir(beir_dir)
    assert ds.title("d8") == " ".join(CROP_TEXT.split()[:12])
    assert ds.title("d8") == "Crop yield prediction from weather records with gradient boosted trees gives strong"
    assert ds.title("d7") == "Q&A retrieval over legal contracts"  # cleaned as ingestion cleans it
    assert doc_title({"title": "?!", "text": "Some words here"}) == "Some words here"  # no word character
    # two untitled documents get different ids
    assert paper_id(doc_title({"title": "", "text": "Alpha beta gamma."})) != \
        paper_id(doc_title({"title": "", "text": "Delta epsilon zeta."}))


def test_convert_writes_ingestible_jsonl(beir_dir, tmp_path):
    ds = load_beir(beir_dir)
    out = to_jsonl_records(ds, tmp_path / "out" / "toyset.jsonl")
    assert out == tmp_path / "out" / "toyset.jsonl"
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 8
    assert all(set(r) == {"title", "abstract", "id"} for r in rows)
    assert rows[0] == {"title": DOCS[0]["title"], "abstract": DOCS[0]["text"], "id": "d1"}
    assert rows[7]["title"] == ds.title("d8") and rows[7]["abstract"] == CROP_TEXT
    # The project's own parser reads it: every document a paper, the BEIR id kept as
    # external_id, and our paper id the one the dataset predicts.
    result = ingest_paths([out])
    assert not any(f.skipped or f.warnings or f.error for f in result.files)
    papers = {p.external_id: p for p in result.papers}
    assert set(papers) == set(ds.corpus)
    for doc_id, paper in papers.items():
        assert paper.id == ds.paper_id(doc_id), doc_id
        assert paper.title == ds.title(doc_id)


def test_gold_paper_ids_maps_relevance(beir_dir):
    ds = load_beir(beir_dir)
    assert gold_paper_ids(ds, "q2") == {paper_id(DOCS[2]["title"]): 2, paper_id(DOCS[3]["title"]): 1}
    assert gold_paper_ids(ds, "q3") == {paper_id(DOCS[4]["title"]): 1}  # d2 has score 0: not relevant
    assert gold_paper_ids(ds, "q4") == {paper_id(ds.title("d8")): 1}
    with pytest.raises(KeyError, match="q5"):
        gold_paper_ids(ds, "q5")  # no judgement in this split


def test_same_title_docs_with_their_own_ids_stay_two_papers(tmp_path):
    # Each BEIR document has its own _id: the file tells them apart, so a shared title no
    # longer merges them (issue 17: SciFact's "Summary" x3 were one paper).
    docs = DOCS + [{"_id": "d9", "title": "deep networks predict protein-structure.",  # normalises like d1
                    "text": "A shorter second copy."}]
    ds = load_beir(write_beir(tmp_path / "dupes", docs=docs, qrels=QRELS + [("q1", "d9", 2)]))
    assert ds.warnings == []
    assert ds.paper_id("d1") != ds.paper_id("d9")
    assert ds.paper_id("d1") == paper_id(DOCS[0]["title"])  # the first keeps its title's id
    assert set(gold_paper_ids(ds, "q1")) == {ds.paper_id("d1"), ds.paper_id("d9")}
    result = ingest_paths([to_jsonl_records(ds, tmp_path / "dupes.jsonl")])
    assert result.merged == 0 and len(result.papers) == 9
    assert {p.id for p in result.papers} == set(ds.paper_ids.values())
    second = next(p for p in result.papers if p.external_id == "d9")
    assert second.abstract == "A shorter second copy." and second.id == ds.paper_id("d9")


def test_bad_json_line_names_file_and_line(tmp_path):
    folder = write_beir(tmp_path / "bad")
    lines = (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2][:-5]  # cut off line 3
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(BeirError) as err:
        load_beir(folder)
    assert f"{folder / 'corpus.jsonl'}:3: invalid JSON" in str(err.value)


def test_missing_field_and_non_object_name_the_line(tmp_path):
    folder = write_beir(tmp_path / "nofield", queries=QUERIES[:2] + [{"_id": "q3"}] + QUERIES[3:])
    with pytest.raises(BeirError, match=r"queries\.jsonl:3: missing field 'text'"):
        load_beir(folder)
    folder = write_beir(tmp_path / "list", docs=DOCS[:1])
    (folder / "corpus.jsonl").write_text(json.dumps(DOCS[0]) + "\n\n[1, 2]\n", encoding="utf-8")
    with pytest.raises(BeirError, match=r"corpus\.jsonl:3: expected a JSON object, got list"):
        load_beir(folder)


def test_qrels_for_unknown_doc_or_query_warn_and_skip(tmp_path):
    qrels = QRELS + [("q1", "nope", 1), ("q9", "d1", 1)]
    folder = write_beir(tmp_path / "unknown", qrels=qrels)
    ds = load_beir(folder)
    qrels_file = folder / "qrels" / "test.tsv"
    # header is line 1, so the 7th judgement is on line 8
    assert f"{qrels_file}:8: corpus-id 'nope' is not in corpus.jsonl; skipped" in ds.warnings
    assert f"{qrels_file}:9: query-id 'q9' is not in queries.jsonl; skipped" in ds.warnings
    assert ds.qrels["q1"] == {"d1": 1} and "q9" not in ds.qrels


def test_qrels_with_nothing_usable_is_an_error(tmp_path):
    folder = write_beir(tmp_path / "empty", qrels=[("q1", "nope", 1), ("q2", "gone", 1)])
    with pytest.raises(BeirError, match=r"no usable relevance judgements \(2 judgement"):
        load_beir(folder)


def test_bad_qrels_lines(tmp_path):
    folder = write_beir(tmp_path / "cols")
    path = folder / "qrels" / "test.tsv"
    path.write_text(path.read_text() + "q1\td1\n", encoding="utf-8")
    with pytest.raises(BeirError, match=r"test\.tsv:8: expected 3 tab-separated columns"):
        load_beir(folder)
    path.write_text("query-id\tcorpus-id\tscore\nq1\td1\thigh\n", encoding="utf-8")
    with pytest.raises(BeirError, match=r"test\.tsv:2: score 'high' is not a number"):
        load_beir(folder)


def test_missing_files_are_clear_errors(tmp_path):
    folder = write_beir(tmp_path / "noqueries")
    (folder / "queries.jsonl").unlink()
    with pytest.raises(BeirError, match=r"queries\.jsonl: missing queries file"):
        load_beir(folder)
    folder = write_beir(tmp_path / "nosplit")
    with pytest.raises(BeirError, match=r"missing qrels for split 'dev' \(available splits: test\)"):
        load_beir(folder, split="dev")
    with pytest.raises(BeirError, match="not a folder"):
        load_beir(tmp_path / "does-not-exist")


def test_duplicate_ids_and_empty_docs_warn(tmp_path):
    docs = DOCS + [{"_id": "d1", "title": "Another", "text": "Dup."}, {"_id": "d0", "title": "", "text": "  "}]
    ds = load_beir(write_beir(tmp_path / "dupids", docs=docs))
    assert ds.corpus["d1"]["title"] == DOCS[0]["title"] and "d0" not in ds.corpus
    assert any(":9: document id 'd1' already given on line 1" in w for w in ds.warnings)
    assert any(":10: document 'd0' has neither title nor text" in w for w in ds.warnings)


def test_bad_utf8_names_the_line(tmp_path):
    folder = write_beir(tmp_path / "bytes")
    path = folder / "corpus.jsonl"
    path.write_bytes(path.read_bytes() + b'{"_id": "x", "text": "caf\xe9"}\n')
    with pytest.raises(BeirError, match=r"corpus\.jsonl:9: not UTF-8"):
        load_beir(folder)


@pytest.mark.slow
def test_converted_corpus_is_searchable(beir_dir, tmp_path, make_assistant):
    """Index the converted corpus with the real model; each query finds its best gold doc first."""
    ds = load_beir(beir_dir)
    pa = make_assistant(tmp_path / "idx")
    _, update = pa.ingest([to_jsonl_records(ds, tmp_path / "toyset.jsonl")])
    assert update.total == 8
    for qid, text in ds.queries.items():
        gold = gold_paper_ids(ds, qid)
        best = max(gold, key=gold.get)
        hits = pa.search(text, k=3).hits
        assert hits and hits[0].paper_id == best, (qid, [h.title for h in hits])
        assert hits[0].paper.external_id in ds.qrels[qid]


def test_harness_items_are_the_queries_with_a_relevant_document(tmp_path, monkeypatch):
    """`papers eval --dataset beir:FOLDER` asks every query with a judgement above 0;
    one judged only "not relevant" has no gold paper to find and is skipped, with a note."""
    from assistant.ingest import ingest_paths
    from evals.harness import load_beir_items

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    queries = QUERIES + [{"_id": "q6", "text": "judged, but nothing relevant"}]
    folder = write_beir(tmp_path / "toyset", queries=queries, qrels=QRELS + [("q6", "d1", 0)])
    items, records, notes = load_beir_items(folder)
    assert [i.id for i in items] == ["q1", "q2", "q3", "q4"]
    assert all(i.type == "lookup" and i.gold for i in items)
    assert notes[-1] == "1 judged queries skipped: no judgement above 0"
    papers = {p.id: p for p in ingest_paths([records]).papers}
    assert set(items[1].gold) <= set(papers) and len(items[1].gold) == 2


def test_splits_without_a_qrels_file_are_read_from_claims(tmp_path):
    """A SciFact-style folder with claims.jsonl: train and test (SciFact's "dev" claims)
    come from the claims' cited_ids when qrels/<split>.tsv is absent; any other split is
    refused by name; a qrels file, when present, wins."""
    folder = write_beir(tmp_path / "sf")  # qrels/test.tsv only
    claims = [{"id": "q1", "split": "train", "cited_ids": ["d1"]},
              {"id": "q2", "split": "train", "cited_ids": ["d3", "d4", "d99"]},  # d99: unknown, skipped
              {"id": "q3", "split": "dev", "cited_ids": ["d5"]}]
    (folder / "claims.jsonl").write_text("".join(json.dumps(c) + "\n" for c in claims), encoding="utf-8")
    train = load_beir(folder, "train")
    assert train.qrels == {"q1": {"d1": 1}, "q2": {"d3": 1, "d4": 1}}
    assert any("d99" in w for w in train.warnings) and any("claims.jsonl" in w for w in train.warnings)
    assert load_beir(folder, "test").qrels == load_beir(write_beir(tmp_path / "plain"), "test").qrels
    (folder / "qrels" / "test.tsv").unlink()
    assert load_beir(folder, "test").qrels == {"q3": {"d5": 1}}
    with pytest.raises(BeirError, match="dev"):
        load_beir(folder, "dev")


def test_rationales_are_read_from_claims_for_gold_documents_only(tmp_path):
    """SciFact's claims.jsonl carries rationale sentences: each judged claim of the split gets
    those of its documents judged relevant; claims without evidence (NOT_ENOUGH_INFO) or of
    another split get none; the harness scores abstention only on claims with rationales."""
    from evals.harness import load_beir_items

    folder = write_beir(tmp_path / "sf", qrels=QRELS, split="train")
    claims = [{"id": "q1", "split": "train", "cited_ids": ["d1"],
               "evidence": [{"doc_id": "d1", "sentences": ["Predicted folds reach near experimental accuracy."]},
                            {"doc_id": "d6", "sentences": ["Not a judged document."]}]},
              {"id": "q2", "split": "train", "cited_ids": ["d3"], "evidence": []},
              {"id": "q3", "split": "dev", "cited_ids": ["d5"],
               "evidence": [{"doc_id": "d5", "sentences": ["Another split."]}]}]
    (folder / "claims.jsonl").write_text("".join(json.dumps(c) + "\n" for c in claims), encoding="utf-8")
    ds = load_beir(folder, "train")
    assert ds.rationales == {"q1": ["Predicted folds reach near experimental accuracy."]}
    items, _, notes = load_beir_items(folder, "train")
    by_id = {i.id: i for i in items}
    assert by_id["q1"].rationales and by_id["q1"].abstention_scored
    assert not by_id["q2"].rationales and not by_id["q2"].abstention_scored
    assert any("rationale" in n for n in notes)
    (folder / "claims.jsonl").write_text('{"id": "q1", "split": "train", "evidence": [{"sentences": []}]}\n',
                                         encoding="utf-8")
    with pytest.raises(BeirError, match=r"claims.jsonl:1: evidence"):
        load_beir(folder, "train")

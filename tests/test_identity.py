"""Paper identity (issue 17): which records are one paper, the ids papers get, how an
index built under the old title-only rule moves to the new keys without embedding
unchanged text again, and the SciFact corpus ingesting as 5,183 papers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from assistant import identity
from assistant.identity import GENERIC_TITLES, id_of, is_generic_title, normalize_arxiv, normalize_doi, normalize_pmid
from assistant.ingest import ingest_paths
from assistant.ingest.merge import merge_records
from assistant.records import Paper, SourceRef, normalize_title, paper_id


def rec(title, abstract="An abstract.", file="a.jsonl", entry=1, **meta) -> Paper:
    return Paper(title, abstract, sources=[SourceRef(file, "jsonl", entry, entry)], **meta)


# --- identifiers -------------------------------------------------------------------------------


def test_every_generic_title_is_listed_normalised():
    assert all(t == normalize_title(t) for t in GENERIC_TITLES)
    assert is_generic_title("Summary") and is_generic_title("Corresponding author:")
    assert is_generic_title("EDITORIAL.") and is_generic_title("— 1 —")  # no letter at all
    assert not is_generic_title("Summary statistics of deep networks")


@pytest.mark.parametrize("raw, doi", [
    ("10.1234/ABC.def", "10.1234/abc.def"),
    ("doi:10.1234/x", "10.1234/x"),
    ("https://doi.org/10.1016/j.cell.2020.01.001", "10.1016/j.cell.2020.01.001"),
    ("http://dx.doi.org/10.1234/x.", "10.1234/x"),
    ("4983", None),
    ("", None),
])
def test_doi_normalised(raw, doi):
    assert normalize_doi(raw) == doi


@pytest.mark.parametrize("raw, arxiv", [
    ("2301.01234v2", "2301.01234"),
    ("arXiv:2301.01234", "2301.01234"),
    ("https://arxiv.org/abs/2301.01234v3", "2301.01234"),
    ("http://arxiv.org/abs/hep-th/9901001v1", "hep-th/9901001"),
    ("10.1234/x", None),
])
def test_arxiv_id_normalised(raw, arxiv):
    assert normalize_arxiv(raw) == arxiv


def test_pmid_normalised():
    assert normalize_pmid("PMID: 12345678") == "12345678"
    assert normalize_pmid("https://pubmed.ncbi.nlm.nih.gov/0012345/") == "12345"
    assert normalize_pmid("abc") is None and normalize_pmid("0") is None


def test_a_file_id_that_is_a_doi_or_arxiv_id_counts_as_one():
    assert rec("T", external_id="https://doi.org/10.1234/Q").doi == "10.1234/q"
    assert rec("T", external_id="arXiv:2301.00001v1").arxiv_id == "2301.00001"
    bare = rec("T", external_id="4983")
    assert (bare.doi, bare.arxiv_id, bare.pmid, bare.external_id) == (None, None, None, "4983")


# --- merging -----------------------------------------------------------------------------------


def test_a_paper_known_by_title_alone_keeps_the_id_it_always_had():
    assert rec("Hard Patches Mining for Masked Image Modeling").id == paper_id("hard patches mining for masked image modeling.")


def test_same_doi_merges_whatever_the_titles_say():
    a = rec("Deep nets predict protein structure", doi="10.1234/p", file="lib.bib")
    b = rec("Deep networks predict protein-structure (preprint)", doi="https://doi.org/10.1234/P", file="z.ris")
    m = merge_records([a, b])
    assert len(m.papers) == 1 and [(x.by, x.record is b) for x in m.merges] == [("doi", True)]
    assert m.papers[0].id == id_of("doi", "10.1234/p") == m.ids[0] == m.ids[1]


def test_a_bibtex_entry_with_a_doi_and_a_listing_entry_of_its_title_merge():
    listing = rec("Sparse Mixtures of Experts", "Short.", file="listing.txt")
    bib = rec("Sparse mixtures of experts.", "A longer abstract, kept.", file="lib.bib", doi="10.5555/moe")
    m = merge_records([listing, bib])
    [paper] = m.papers
    assert m.merges[0].by == "title" and paper.doi == "10.5555/moe"
    assert paper.id == id_of("doi", "10.5555/moe")  # the merged paper is named by its strongest key
    assert paper.abstract == "A longer abstract, kept." and paper.source_files == ["lib.bib", "listing.txt"]


def test_different_dois_keep_one_title_apart():
    m = merge_records([rec("Deep Learning", doi="10.1038/nature14539"), rec("Deep learning", doi="10.7551/dl")])
    assert len(m.papers) == 2 and m.merges == [] and len(set(m.ids)) == 2


def test_generic_titles_merge_only_by_id_or_identical_text():
    records = [
        rec("Summary", "First report.", file="c.jsonl", entry=1, external_id="11"),
        rec("Summary", "Second report.", file="c.jsonl", entry=2, external_id="12"),
        rec("SUMMARY", "Third report.", file="d.jsonl", entry=1),
        rec("Summary", "Third report.", file="e.jsonl", entry=1),  # the same text again: a copy
        rec("Corresponding author:", "Letter one.", file="c.jsonl", entry=3),
        rec("Corresponding author:", "Letter two.", file="c.jsonl", entry=4),
    ]
    m = merge_records(records)
    assert [p.abstract for p in m.papers] == ["First report.", "Second report.", "Third report.", "Letter one.",
                                              "Letter two."]
    assert [(x.record.sources[0].file, x.by) for x in m.merges] == [("e.jsonl", "text")]
    assert len({p.id for p in m.papers}) == 5


def test_ids_a_file_gives_are_compared_within_that_file_only():
    same_file = merge_records([rec("Attention", "One.", entry=1, external_id="1"),
                               rec("Attention", "Two.", entry=2, external_id="2")])
    assert len(same_file.papers) == 2 and len(set(same_file.ids)) == 2  # ids unique even with one title
    assert same_file.papers[0].id == paper_id("Attention")
    across = merge_records([rec("Attention", "One.", file="a.csv", external_id="1"),
                            rec("Attention", "One, longer.", file="b.csv", external_id="7")])
    assert len(across.papers) == 1 and across.merges[0].by == "title"
    again = merge_records([rec("A title", "One.", file="a.csv", entry=1, external_id="x9"),
                           rec("A title (v2)", "One.", file="a.csv", entry=5, external_id="x9")])
    assert len(again.papers) == 1 and again.merges[0].by == "file"  # one file, one id, one text: one record twice
    # A file that reuses a key for another paper (Mendeley exports do) keeps both.
    reused = merge_records([rec("Graph neural networks for molecules", "Molecules.", file="a.bib", entry=1,
                                external_id="Wang2020"),
                            rec("Speech enhancement with diffusion", "Audio.", file="a.bib", entry=2,
                                external_id="Wang2020", doi="10.5555/audio")])
    assert [p.abstract for p in reused.papers] == ["Molecules.", "Audio."] and reused.papers[0].doi is None


def test_a_record_whose_ids_name_two_papers_joins_them():
    ris = rec("Sparse attention (journal)", "Long.", file="z.ris", doi="10.5555/sa")
    atom = rec("Sparse attention", "Short.", file="arxiv.xml", arxiv_id="2301.00001")
    bib = rec("Sparse Attention", "Long.", file="lib.bib", doi="10.5555/SA", arxiv_id="arXiv:2301.00001v2")
    m = merge_records([ris, atom, bib])
    [paper] = m.papers
    assert (paper.doi, paper.arxiv_id, paper.id) == ("10.5555/sa", "2301.00001", id_of("doi", "10.5555/sa"))
    assert [(x.record.sources[0].file, x.by, x.into is paper) for x in m.merges] == [
        ("lib.bib", "doi", True), ("arxiv.xml", "arxiv", True)]
    assert set(m.ids) == {paper.id}
    # ... but not two papers whose ids conflict
    other = rec("Sparse attention", "Other.", file="x.ris", doi="10.5555/other")
    kept = merge_records([ris, other, rec("Sparse attention", "Long.", file="y.bib", doi="10.5555/sa",
                                         arxiv_id="2301.00001")])
    assert len(kept.papers) == 2


def test_an_arxiv_datacite_doi_is_the_arxiv_id():
    preprint = rec("Sparse attention", "A.", file="arxiv.bib", doi="10.48550/ARXIV.2301.00001")
    journal = rec("Sparse attention", "A longer one.", file="acm.bib", doi="10.1145/3580305", arxiv_id="2301.00001")
    assert (preprint.doi, preprint.arxiv_id) == (None, "2301.00001")
    both = rec("Sparse attention", "A.", doi="10.48550/arXiv.2301.00001", external_id="https://doi.org/10.1145/3580305")
    assert (both.doi, both.arxiv_id) == ("10.1145/3580305", "2301.00001")
    m = merge_records([preprint, journal])
    assert len(m.papers) == 1 and m.merges[0].by == "arxiv" and m.papers[0].doi == "10.1145/3580305"


def test_ingest_reports_merges_by_key(tmp_path, write_jsonl):
    a = write_jsonl(tmp_path / "a.jsonl", [
        {"title": "Summary", "abstract": "One.", "id": "1"},
        {"title": "Summary", "abstract": "Two.", "id": "2"},
        {"title": "Graph nets", "abstract": "Graphs.", "doi": "10.1234/g"},
    ])
    b = write_jsonl(tmp_path / "b.jsonl", [
        {"title": "Graph neural networks (journal version)", "abstract": "Graphs!", "id": "doi:10.1234/G"},
        {"title": "graph nets", "abstract": "Graphs."},
    ])
    result = ingest_paths([a, b])
    assert len(result.papers) == 3 and result.merged_by_file == {str(a.resolve()): 0, str(b.resolve()): 2}
    assert [(m["line"], m["by"], m["by_name"]) for m in result.to_dict()["merges"]] == [
        (1, "doi", "DOI"), (2, "title", "title")]


# --- an index built before identity keys ---------------------------------------------------------


FIXTURE = Path(__file__).parent / "fixtures" / "index-v16"  # built by the previous release: see its README


def test_an_old_index_moves_to_the_new_ids_without_embedding_unchanged_text(tmp_path, make_assistant):
    shutil.copytree(FIXTURE, tmp_path / "v16")
    rows = [json.loads(line) for line in (tmp_path / "v16" / "lib.jsonl").read_text("utf-8").splitlines()]
    old = make_assistant(tmp_path / "v16" / "indexes", abstain_threshold=0.25)
    # Today's code reads the old index as it was built: ids from titles, and both "Summary"
    # records one paper (the longer text kept, the shorter lost).
    assert {p.id for p in old.papers} == {paper_id(r["title"]) for r in rows} and len(old.papers) == 3
    assert old.search("sparse attention long documents").hits[0].paper_id == paper_id(rows[0]["title"])
    old_vectors = old.index.vectors.vectors([c.id for c in old.index.chunks])

    _, update = old.ingest([tmp_path / "v16" / "lib.jsonl"], prune=True)
    stats = update.index
    sparse, s1, s2 = id_of("doi", "10.1234/sparse"), id_of("file", "summary\x00s1"), id_of("file", "summary\x00s2")
    assert {p.id for p in old.papers} == {sparse, s1, s2, paper_id("Plain paper")}
    # Only the note the old index had lost is embedded; the others' vectors moved.
    chunks = {c.paper_id: c for c in old.index.chunks}
    assert (stats.embedded, stats.moved, stats.reused) == (1, 2, 3)
    assert old.index.vectors.ids() == {c.id for c in old.index.chunks}  # stored under the new ids, old ones pruned
    moved = old.index.vectors.vectors([chunks[sparse].id, chunks[s2].id])
    assert (moved[chunks[sparse].id] == old_vectors[f"{paper_id(rows[0]['title'])}:{chunks[sparse].id.split(':')[1]}:0"]).all()
    # Three papers updated (two moved, and the old "Summary" split in two: both halves were its records).
    assert (update.added, update.updated, update.removed, update.total) == (0, 3, 0, 4)
    assert old.search("foraging honey bees in cities").hits[0].paper_id == s2
    assert old.search("a short note on bees").hits[0].paper_id == s1
    _, again = make_assistant(tmp_path / "v16" / "indexes", abstain_threshold=0.25).ingest(
        [tmp_path / "v16" / "lib.jsonl"], prune=True)
    assert not again.index.committed  # and the next ingest finds nothing to do


# --- SciFact -------------------------------------------------------------------------------------


def _scifact() -> Path | None:
    """BEIR SciFact as the project reads it: PAPERS_SCIFACT_DIR, else ../shared beside the checkout."""
    folder = Path(os.environ.get("PAPERS_SCIFACT_DIR") or Path(__file__).resolve().parents[2] / "shared" /
                  "benchmarks" / "scifact")
    return folder if (folder / "corpus.jsonl").is_file() else None


@pytest.mark.skipif(_scifact() is None, reason="BEIR SciFact is not beside the checkout (../shared/benchmarks/scifact)")
def test_the_scifact_corpus_ingests_as_5183_papers():
    folder = _scifact()
    assert folder is not None
    docs = [json.loads(line) for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    result = ingest_paths([folder / "corpus.jsonl"])
    assert len(docs) == 5183 and result.merged == 0
    assert len(result.papers) == 5183 and len({p.id for p in result.papers}) == 5183
    summaries = [p for p in result.papers if p.title == "Summary"]
    assert sorted(p.external_id for p in summaries) == sorted(d["_id"] for d in docs if d["title"] == "Summary")
    assert len(summaries) == 3


def test_identity_module_names_every_kind():
    assert set(identity.BY) == set(identity.KINDS)


def test_two_papers_of_one_text_and_a_new_doi_move_without_clashing(tmp_path, write_jsonl, make_assistant):
    """Found by review: a paper whose id changes took the chunks of every old paper with its
    text, so two papers with one text (kept apart by their file's ids) gave duplicate chunk
    ids and every later ingest failed."""
    pa = make_assistant(tmp_path / "idx", abstain_threshold=0.25)
    twice = {"title": "Diffusion for speech", "abstract": "We denoise speech with diffusion. It works."}
    pa.ingest([write_jsonl(tmp_path / "lib.jsonl", [{**twice, "id": "lee2021"}, {**twice, "id": "lee2021a"}])])
    assert len(pa.papers) == 2
    _, update = pa.ingest([write_jsonl(tmp_path / "doi.jsonl", [{**twice, "doi": "10.5555/speech"}])])
    assert update.index.committed and update.index.embedded == 0 and update.index.moved == 1
    assert {p.id for p in pa.papers} >= {id_of("doi", "10.5555/speech")} and len(pa.papers) == 2
    assert pa.index.vectors.ids() == {c.id for c in pa.index.chunks}
    _, again = pa.ingest([tmp_path / "doi.jsonl"])
    assert not again.index.committed


def test_an_ingest_reports_merges_with_papers_already_indexed(tmp_path, write_jsonl, make_assistant):
    """The issue's case, in two ingests: a listing entry, then a BibTeX entry of its title with
    a DOI. The second ingest says it merged (by title) and counts one paper updated."""
    pa = make_assistant(tmp_path / "idx", abstain_threshold=0.25)
    listing = write_jsonl(tmp_path / "listing.jsonl", [{"title": "Graph nets", "abstract": "Graphs."},
                                                        {"title": "Other", "abstract": "Other."}])
    pa.ingest([listing])
    bib = tmp_path / "lib.bib"
    bib.write_text("@article{g, title={Graph Nets}, abstract={Graphs, with a longer abstract.}, "
                   "doi={10.5555/g}}\n", encoding="utf-8")
    result, update = pa.ingest([bib])
    assert (update.added, update.updated, update.unchanged, update.removed, update.total) == (0, 1, 1, 0, 2)
    [merge] = result.merges
    assert (merge.by, merge.record.sources[0].file, merge.into.id) == ("title", str(bib.resolve()),
                                                                       id_of("doi", "10.5555/g"))
    assert result.merged == 1 and result.merged_by_file == {str(bib.resolve()): 1}
    assert pa.paper(id_of("doi", "10.5555/g")).source_files == sorted([str(bib.resolve()), str(listing.resolve())])


def test_one_old_paper_giving_its_text_to_two_new_papers(tmp_path, write_jsonl, make_assistant):
    """Found by the second review: two new papers with one old paper's text asked Chroma for
    one id twice (refused), so this ingest and every later one failed."""
    pa = make_assistant(tmp_path / "idx", abstain_threshold=0.25)
    row = {"title": "Alpha paper one", "abstract": "Alpha abstract words about graphs."}
    pa.ingest([write_jsonl(tmp_path / "a.jsonl", [row])])
    _, update = pa.ingest([write_jsonl(tmp_path / "a.jsonl", [{**row, "doi": "10.1234/a1"},
                                                              {**row, "doi": "10.1234/a2"}])])
    assert (update.index.embedded, update.index.moved, len(pa.papers)) == (0, 2, 2)
    assert pa.index.vectors.ids() == {c.id for c in pa.index.chunks}


def test_joined_papers_read_the_same_from_memory_and_from_disk(tmp_path, write_jsonl, make_assistant):
    """Found by the second review: a join merged two papers in another order than opening the
    index does, so after a reopen the chunks' text no longer matched the paper's abstract."""
    pa = make_assistant(tmp_path / "idx", abstain_threshold=0.25)
    pa.ingest([write_jsonl(tmp_path / "x.jsonl", [
        {"title": "Preprint title", "abstract": "Preprint abstract text.", "arxiv_id": "2301.00001", "year": 2023},
        {"title": "Journal title", "abstract": "Journal abstract text!!", "doi": "10.1234/j", "year": 2024},
        {"title": "Joined record", "abstract": "j", "doi": "10.1234/j", "arxiv_id": "2301.00001"}])])
    [paper] = pa.papers
    assert (paper.title, paper.year, paper.abstract) == ("Preprint title", 2023, "Preprint abstract text.")
    reopened = make_assistant(tmp_path / "idx", abstain_threshold=0.25)
    assert [p.to_dict() for p in reopened.papers] == [paper.to_dict()]
    for chunk in reopened.index.chunks:
        assert reopened.index.paper_by_id[chunk.paper_id].abstract[chunk.start:chunk.end] == chunk.text


def test_counts_follow_records_not_entry_numbers(tmp_path, write_jsonl, make_assistant):
    pa = make_assistant(tmp_path / "idx", abstain_threshold=0.25)
    row = lambda t: {"title": t, "abstract": t + " words."}  # noqa: E731
    pa.ingest([write_jsonl(tmp_path / "a.jsonl", [row("Alpha one"), row("Beta two")])])
    _, u = pa.ingest([write_jsonl(tmp_path / "a.jsonl", [row("Gamma new"), row("Alpha one"), row("Beta two")])])
    assert (u.added, u.updated, u.unchanged, u.removed) == (1, 0, 2, 0)
    _, u = pa.ingest([write_jsonl(tmp_path / "a.jsonl", [row("Beta two")])])
    assert (u.added, u.updated, u.unchanged, u.removed) == (0, 0, 1, 2)


def test_the_merge_report_names_this_batch_s_merges_only(tmp_path, write_jsonl, make_assistant):
    pa = make_assistant(tmp_path / "idx", abstain_threshold=0.25)
    pa.ingest([write_jsonl(tmp_path / "x.jsonl",
                           [{"title": f"V{i}", "abstract": f"a{i}", "doi": "10.1234/same"} for i in range(5)])])
    result, _ = pa.ingest([write_jsonl(tmp_path / "y.jsonl", [{"title": "Copy", "abstract": "b", "doi": "10.1234/same"}])])
    assert (result.merged, list(result.merged_by_file.values()), [m.by for m in result.merges]) == (1, [1], ["doi"])


def test_a_reused_key_does_not_merge_two_generic_titles():
    a = rec("Editorial", "On journals.", file="a.bib", entry=1, external_id="ed2020")
    b = rec("Editorial", "On reviewers.", file="a.bib", entry=2, external_id="ed2020")
    assert len(merge_records([a, b]).papers) == 2

"""Bad input: empty, binary, unknown layout, truncated entries, titles with no
abstract, non-UTF-8 bytes. Each gives a message naming the file and the
line/entry; the rest of the file and of the batch is still ingested; nothing
raises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.ingest import BY_NAME, ingest_file, ingest_paths
from assistant.records import FileReport, Problem

ARXIV = "000_7b93b8b2ecf15c87.txt"
DAILY = "001_31d6d93f2181969b.txt"
SEARCH = "002_155326858a143be8.txt"
PROFILE = "004_ba3c4bcb233d5406.txt"


def page_lines(corpus_dir: Path, name: str, *ranges: tuple[int, int]) -> list[str]:
    """Lines first..last (1-based, inclusive) of a bundled page, for each range."""
    lines = (corpus_dir / name).read_text(encoding="utf-8").splitlines()
    return [line for first, last in ranges for line in lines[first - 1 : last]]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def label(path: Path) -> str:
    return str(path.resolve())


def titles(report: FileReport) -> list[str]:
    return [p.title for p in report.papers]


def assert_located(problem: Problem, path: Path, line: int, entry: int | None, *words: str) -> None:
    """The message a user sees names the file, the line and the entry."""
    where = f"{label(path)}:{line}" + (f" (entry {entry})" if entry is not None else "")
    assert str(problem).startswith(where + ": "), str(problem)
    assert (problem.file, problem.line, problem.entry) == (label(path), line, entry)
    for word in words:
        assert word in problem.reason, problem.reason


@pytest.fixture
def good_jsonl(tmp_path) -> Path:
    path = tmp_path / "good.jsonl"
    path.write_text(json.dumps({"title": "A Good Paper", "abstract": "It parses."}) + "\n"
                    + json.dumps({"title": "Another Good Paper", "abstract": "So does this."}) + "\n",
                    encoding="utf-8")
    return path


def assert_batch_continues(bad: Path, good: Path, bad_titles: list[str]) -> None:
    """Ingesting the bad file with a good one keeps both files' usable entries."""
    result = ingest_paths([bad, good])
    assert result.ok
    got = [p.title for p in result.papers]
    assert got == bad_titles + ["A Good Paper", "Another Good Paper"]


# --- layouts of the bundled pages -------------------------------------------


def test_paper_search_title_without_abstract_in_the_middle(corpus_dir, tmp_path, good_jsonl):
    # Drop the abstract of entry 6 ("AERO: ...", line 13 of the page).
    path = write_lines(tmp_path / "search.txt", page_lines(corpus_dir, SEARCH, (1, 13), (15, 20)))
    report = ingest_file(path)
    assert report.format == "paper-search"
    [problem] = report.skipped
    assert_located(problem, path, 13, 6, "title with no abstract", "AERO: Audio Super Resolution in the Spectral Domain")
    expected = ["Hard Patches Mining for Masked Image Modeling",
                "Bi-directional Masks for Efficient N:M Sparse Training",
                "Can Forward Gradient Match Backpropagation?",
                "Is Fast Adaptation All You Need?",
                "Optimal Input Gain: All You Need to Supercharge a Feed-Forward Neural Network",
                "Sensitivity Analysis On Loss Landscape",
                "Learning by Reconstruction Produces Uninformative Features For Perception",
                "Bootstrap Masked Visual Modeling via Hard Patches Mining"]
    assert titles(report) == expected
    # Entries after the gap keep their own line numbers and abstracts.
    after = report.papers[5]
    assert (after.sources[0].line, after.sources[0].entry) == (14, 7)
    assert after.abstract.startswith("Gradients can be employed for sensitivity analysis.")
    assert_batch_continues(path, good_jsonl, expected)


def test_paper_search_cut_after_a_title(corpus_dir, tmp_path):
    path = write_lines(tmp_path / "search.txt", page_lines(corpus_dir, SEARCH, (1, 7)))
    report = ingest_file(path)
    assert titles(report) == ["Hard Patches Mining for Masked Image Modeling",
                              "Bi-directional Masks for Efficient N:M Sparse Training"]
    [problem] = report.skipped
    assert_located(problem, path, 7, 3, "truncated entry at end of file", "Can Forward Gradient Match Backpropagation?")


def test_arxiv_listing_cut_after_a_date_line(corpus_dir, tmp_path, good_jsonl):
    path = write_lines(tmp_path / "listing.txt", page_lines(corpus_dir, ARXIV, (1, 7)))
    report = ingest_file(path)
    assert report.format == "arxiv-listing"
    expected = ["Understanding Edge-of-Stability Training Dynamics with a Minimalist Example",
                'Plateau in Monotonic Linear Interpolation -- A "Biased" View of Loss Landscape for Deep Networks']
    assert titles(report) == expected
    [problem] = report.skipped
    assert_located(problem, path, 7, 3, "truncated entry", "date line")
    assert_batch_continues(path, good_jsonl, expected)


def test_arxiv_listing_date_line_with_nothing_after_it_in_the_middle(corpus_dir, tmp_path):
    path = write_lines(tmp_path / "listing.txt",
                       page_lines(corpus_dir, ARXIV, (1, 3)) + ["CVMay 19, 2022"] + page_lines(corpus_dir, ARXIV, (7, 9)))
    report = ingest_file(path)
    assert titles(report) == ["Understanding Edge-of-Stability Training Dynamics with a Minimalist Example",
                              "Depth Separation with Multilayer Mean-Field Networks"]
    assert report.papers[1].sources[0].entry == 3
    [problem] = report.skipped
    assert_located(problem, path, 4, 2, "truncated entry")


def test_arxiv_listing_title_with_no_abstract(corpus_dir, tmp_path):
    path = write_lines(tmp_path / "listing.txt", page_lines(corpus_dir, ARXIV, (1, 8)))
    report = ingest_file(path)
    assert len(report.papers) == 2
    [problem] = report.skipped
    assert_located(problem, path, 7, 3, "title with no abstract", "Depth Separation with Multilayer Mean-Field Networks")


def test_daily_papers_cut_after_a_title(corpus_dir, tmp_path, good_jsonl):
    path = write_lines(tmp_path / "daily.txt", page_lines(corpus_dir, DAILY, (1, 29)))
    report = ingest_file(path)
    assert report.format == "daily-papers"
    expected = ["Locally Regularized Neural Differential Equations: Some Black Boxes Were Meant to Remain Closed!",
                "Ensembles of Compact, Region-specific & Regularized Spiking Neural Networks for Scalable Place "
                "Recognition"]
    assert titles(report) == expected
    [problem] = report.skipped
    assert_located(problem, path, 29, 3, "truncated entry at end of file",
                   "Pruning-aware Sparse Regularization for Network Pruning", "no abstract")
    assert_batch_continues(path, good_jsonl, expected)


def test_daily_papers_cut_after_an_abstract_keeps_the_entry(corpus_dir, tmp_path):
    path = write_lines(tmp_path / "daily.txt", page_lines(corpus_dir, DAILY, (1, 31)))
    report = ingest_file(path)
    assert titles(report)[-1] == "Pruning-aware Sparse Regularization for Network Pruning"
    last = report.papers[-1]
    assert last.abstract.startswith("Structural neural network pruning aims to remove")
    assert (last.author_count, last.date) == (None, None)
    [warning] = report.warnings
    assert (warning.line, warning.entry) == (29, 3)
    assert "no author count or date" in warning.reason


def test_daily_papers_entry_missing_its_abstract_in_the_middle(corpus_dir, tmp_path):
    # Entry 3 keeps its title and "• 6 authors" line but loses its abstract.
    path = write_lines(tmp_path / "daily.txt", page_lines(corpus_dir, DAILY, (1, 30), (33, 60)))
    report = ingest_file(path)
    [problem] = report.skipped
    assert_located(problem, path, 29, 3, "Pruning-aware Sparse Regularization for Network Pruning", "no abstract")
    assert len(report.papers) == 5
    after = report.papers[2]
    assert after.title == "Modality Alignment with Multi-scale Bilateral Attention for Multimodal Recommendation"
    assert (after.sources[0].entry, after.author_count, after.date) == (4, 3, "--09-10")


def test_daily_papers_entry_cut_before_its_author_line_in_the_middle(corpus_dir, tmp_path):
    # Entry 3 is only a title: its abstract, author count and date are gone.
    path = write_lines(tmp_path / "daily.txt", page_lines(corpus_dir, DAILY, (1, 30), (37, 60)))
    report = ingest_file(path)
    [problem] = report.skipped
    assert_located(problem, path, 29, 3, "truncated entry", "Pruning-aware Sparse Regularization for Network Pruning")
    assert [p.title for p in report.papers][2:] == [
        "Modality Alignment with Multi-scale Bilateral Attention for Multimodal Recommendation",
        "Local or Global: Selective Knowledge Assimilation for Federated Learning with Limited Labels",
        "The Implicit Regularization of Dynamical Stability in Stochastic Gradient Descent"]
    # The next entry's own title is not swallowed into the cut one, and vice versa.
    assert report.papers[2].abstract.startswith("Multimodal recommendation systems")


def test_profile_marker_with_nothing_after_it(corpus_dir, tmp_path, good_jsonl):
    path = write_lines(tmp_path / "profile.txt", page_lines(corpus_dir, PROFILE, (1, 66)) + ["preprint2026arXiv"])
    report = ingest_file(path)
    assert report.format == "profile"
    expected = ["AutoTrust: Benchmarking Trustworthiness in Large Vision Language Models for Autonomous Driving",
                "Good Agentic Friends Do Not Just Give Verbal Advice: They Can Update Your Weights"]
    assert titles(report) == expected
    [problem] = report.skipped
    assert_located(problem, path, 67, 3, "truncated entry")
    assert_batch_continues(path, good_jsonl, expected)


def test_profile_title_with_no_abstract_in_the_middle(corpus_dir, tmp_path):
    # Entry 2 ("Good Agentic Friends...", line 63) loses its abstract (line 65).
    path = write_lines(tmp_path / "profile.txt", page_lines(corpus_dir, PROFILE, (1, 64), (66, 72)))
    report = ingest_file(path)
    [problem] = report.skipped
    assert_located(problem, path, 63, 2, "title with no abstract", "Good Agentic Friends")
    assert [(p.sources[0].entry, p.year) for p in report.papers] == [(1, 2026), (3, 2026)]
    assert report.papers[1].title == "Graph-KV: Breaking Sequence via Injecting Structural Biases into Large Language Models"


# --- generic formats ---------------------------------------------------------


def test_jsonl_line_cut_mid_record(tmp_path, good_jsonl):
    path = tmp_path / "cut.jsonl"
    path.write_text('{"title": "First", "abstract": "One."}\n'
                    '{"title": "Second", "abstract": "Two is cut he\n'
                    '{"title": "Third", "abstract": "Three."}\n'
                    '{"title": "Fourth", "abstract": "Four." "oops"}\n'
                    '{"title": "Fifth", "abstract": "Five."', encoding="utf-8")
    report = ingest_file(path)
    assert titles(report) == ["First", "Third"]
    cut, broken, last = report.skipped
    assert_located(cut, path, 2, 2, "truncated entry (line ends mid-record)")
    assert_located(broken, path, 4, 4, "invalid JSON", "column")
    assert_located(last, path, 5, 5, "truncated entry")
    assert_batch_continues(path, good_jsonl, ["First", "Third"])


def test_json_file_cut_short(tmp_path, good_jsonl):
    path = tmp_path / "cut.json"
    path.write_text('[\n  {"title": "First", "abstract": "One."},\n  {"title": "Sec', encoding="utf-8")
    report = ingest_file(path)
    assert report.records == 0
    [problem] = report.skipped
    assert problem.file == label(path) and problem.line == 3
    assert "invalid JSON (file may be truncated)" in problem.reason
    result = ingest_paths([path, good_jsonl])
    assert [p.title for p in result.papers] == ["A Good Paper", "Another Good Paper"]


def test_mapping_records_missing_fields(tmp_path):
    path = tmp_path / "fields.jsonl"
    path.write_text("\n".join([
        '{"title": "No Abstract Here"}',
        '{"abstract": "An abstract with no title."}',
        '{"name": "neither"}',
        '["not", "an", "object"]',
        '{"title": "Complete", "abstract": "Yes."}',
    ]) + "\n", encoding="utf-8")
    report = ingest_file(path)
    assert titles(report) == ["Complete"]
    no_abs, no_title, neither, not_obj = report.skipped
    assert_located(no_abs, path, 1, 1, "title with no abstract", "No Abstract Here")
    assert_located(no_title, path, 2, 2, "abstract with no title")
    assert_located(neither, path, 3, 3, "no 'title' or 'abstract' field", "name")
    assert_located(not_obj, path, 4, 4, "expected an object", "list")
    assert report.papers[0].sources[0].entry == 5


def test_bibtex_entry_with_unclosed_brace(tmp_path, good_jsonl):
    path = tmp_path / "refs.bib"
    path.write_text("@article{a,\n  title = {First Entry},\n  abstract = {Fine.}\n}\n\n"
                    "@misc{b,\n  title = {Broken Entry},\n  abstract = {This abstract never closes,\n  year = {2022}\n\n"
                    "@article{c,\n  title = {Third Entry},\n  abstract = {Also fine.},\n  year = 2019\n}\n",
                    encoding="utf-8")
    report = ingest_file(path)
    assert titles(report) == ["First Entry", "Third Entry"]
    assert report.papers[1].year == 2019 and report.papers[1].sources[0].line == 11
    [problem] = report.skipped
    assert_located(problem, path, 6, 2, "@misc", "unclosed '{'")
    assert_batch_continues(path, good_jsonl, ["First Entry", "Third Entry"])


def test_bibtex_entry_without_abstract(tmp_path):
    path = tmp_path / "refs.bib"
    path.write_text("@article{a, title = {Only a Title}, year = 2020}\n"
                    "@article{b, title = {Both}, abstract = {Here.}}\n", encoding="utf-8")
    report = ingest_file(path)
    assert titles(report) == ["Both"]
    [problem] = report.skipped
    assert_located(problem, path, 1, 1, "title with no abstract", "Only a Title")


def test_csv_short_row_and_missing_abstract(tmp_path, good_jsonl):
    path = tmp_path / "papers.csv"
    path.write_text("title,abstract,year\nFirst,One.,2020\nNo Abstract,,2021\nCut Row\nLast,Four.,2022\n",
                    encoding="utf-8")
    report = ingest_file(path)
    assert titles(report) == ["First", "Last"]
    missing, short = report.skipped
    assert_located(missing, path, 3, 2, "title with no abstract", "No Abstract")
    assert_located(short, path, 4, 3, "truncated entry", "fewer cells")
    assert_batch_continues(path, good_jsonl, ["First", "Last"])


def test_csv_without_title_and_abstract_columns(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("name,score\nfoo,1\n", encoding="utf-8")
    report = ingest_file(path)
    assert report.records == 0
    [problem] = report.skipped
    assert problem.line == 1 and "'title' and 'abstract'" in problem.reason and "name, score" in problem.reason


# --- non-UTF-8 bytes ---------------------------------------------------------


def test_latin1_bytes_are_decoded_and_reported_by_line(corpus_dir, tmp_path, good_jsonl):
    lines = page_lines(corpus_dir, SEARCH, (1, 10))
    lines[4] = "Bi-directional Café Masks for Efficient N:M Sparse Training"  # line 5, written as Latin-1 below
    path = tmp_path / "latin1.txt"
    path.write_bytes("\n".join(lines[:4]).encode("utf-8") + b"\n" + lines[4].encode("latin-1") + b"\n"
                     + "\n".join(lines[5:]).encode("utf-8") + b"\n")
    report = ingest_file(path)
    assert report.format == "paper-search" and report.records == 4
    assert report.papers[1].title == "Bi-directional Café Masks for Efficient N:M Sparse Training"
    [warning] = report.warnings
    assert_located(warning, path, 5, None, "not valid UTF-8")
    assert report.papers[0].title == "Hard Patches Mining for Masked Image Modeling"
    assert len(ingest_paths([path, good_jsonl]).papers) == 6


def test_latin1_jsonl_and_bibtex(tmp_path):
    jsonl = tmp_path / "latin1.jsonl"
    jsonl.write_bytes('{"title": "Ok", "abstract": "Fine."}\n{"title": "Résumé Nets", "abstract": "Naïve."}\n'
                      .encode("latin-1"))
    bib = tmp_path / "latin1.bib"
    bib.write_bytes("@article{x, title={Über Models}, author={Gödel, Kurt}, abstract={Ça marche.}}\n".encode("latin-1"))
    jr, br = ingest_file(jsonl), ingest_file(bib)
    assert [(p.title, p.abstract) for p in jr.papers] == [("Ok", "Fine."), ("Résumé Nets", "Naïve.")]
    assert [w.line for w in jr.warnings] == [2]
    assert [(p.title, p.authors, p.abstract) for p in br.papers] == [("Über Models", ["Kurt Gödel"], "Ça marche.")]
    assert [w.line for w in br.warnings] == [1] and br.warnings[0].file == label(bib)


def test_utf8_bom_is_ignored(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftitle,abstract\nWith BOM,Still parsed.\n")
    report = ingest_file(path)
    assert (report.format, titles(report), report.warnings) == ("csv", ["With BOM"], [])


# --- whole files that cannot be used -----------------------------------------

UNUSABLE = {
    "empty.txt": (b"", "empty file"),
    "blank.jsonl": (b"\n  \n\t\n", "empty file"),
    "image.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary file"),
    "notes.txt": (b"Shopping list\nmilk, eggs\nCall Bob about the car.\n", "unknown layout"),
    "notes.md": (b"# Reading group\n\nWe meet on Fridays.\n", "unknown layout"),
}


@pytest.mark.parametrize("name", list(UNUSABLE))
def test_unusable_file_is_reported_and_batch_continues(tmp_path, good_jsonl, name):
    data, message = UNUSABLE[name]
    path = tmp_path / name
    path.write_bytes(data)
    report = ingest_file(path)
    assert (report.format, report.records, report.skipped) == (None, 0, [])
    assert report.file == label(path)
    assert report.error.startswith(message)
    result = ingest_paths([path, good_jsonl])
    assert result.ok and [p.title for p in result.papers] == ["A Good Paper", "Another Good Paper"]
    assert [f.error is None for f in result.files] == [False, True]


def test_unknown_layout_message_lists_the_layouts(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some words\n", encoding="utf-8")
    error = ingest_file(path).error
    for name in BY_NAME:
        assert name in error


def test_detected_layout_with_no_entries(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("[]", encoding="utf-8")
    report = ingest_file(path)
    assert report.format == "json" and report.records == 0
    assert report.error == "no paper entries found (read as json)"


def test_batch_with_nothing_usable_is_not_ok(tmp_path):
    paths = []
    for name, (data, _) in UNUSABLE.items():
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    result = ingest_paths(paths + [tmp_path / "missing.txt"])
    assert not result.ok and result.papers == []
    assert len(result.files) == len(UNUSABLE)
    assert result.errors == [f"{tmp_path / 'missing.txt'}: no such file or folder"]


def test_folder_without_supported_files(tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.png").write_bytes(b"\x89PNG")
    result = ingest_paths([tmp_path / "pics"])
    assert result.files == [] and not result.ok
    assert result.errors[0].startswith(f"{tmp_path / 'pics'}: folder holds no supported files")


# --- never raises ------------------------------------------------------------


@pytest.mark.parametrize("name", [ARXIV, DAILY, SEARCH, PROFILE])
def test_any_cut_of_a_real_page_parses_without_raising(corpus_dir, tmp_path, name):
    """Cut each page after every line and in the middle of lines: parsing never
    raises, every record has a title and an abstract, every problem a line."""
    lines = page_lines(corpus_dir, name, (1, 70))
    for cut in range(1, len(lines) + 1):
        for text in ("\n".join(lines[:cut]), "\n".join(lines[: cut - 1] + [lines[cut - 1][: len(lines[cut - 1]) // 2]])):
            path = tmp_path / f"cut{cut}.txt"
            path.write_text(text, encoding="utf-8")
            report = ingest_file(path)
            assert all(p.title and p.abstract for p in report.papers)
            assert all(isinstance(p.line, int) and p.line >= 1 for p in report.skipped + report.warnings)
            if report.papers:
                assert all(p.sources[0].line <= cut for p in report.papers)


@pytest.mark.parametrize("layout", sorted(BY_NAME))
def test_forcing_the_wrong_layout_never_raises(corpus_dir, tmp_path, layout):
    samples = [corpus_dir / name for name in (ARXIV, DAILY, SEARCH, PROFILE)]
    junk = tmp_path / "junk.txt"
    junk.write_text('{"a": [1, 2\n@article{x,\n"unterminated\ntitle,abstract\n,\n• 3 authors\npreprint2020\n',
                    encoding="utf-8")
    for path in samples + [junk]:
        report = ingest_file(path, layout=layout)
        assert report.format == layout
        assert all(p.title and p.abstract for p in report.papers)

"""Generic formats: JSONL, JSON, CSV and BibTeX written by the tests.

Fields: title, abstract, optional authors, year, url, id (plus category, date,
venue, has_code); authors as a list or a joined string, `et al.` / `others`
kept as a flag; BibTeX LaTeX accents and "Last, First and ..." names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.ingest import ingest_file, ingest_paths
from assistant.ingest.bibtex import latex_to_text
from assistant.ingest.mapping import split_authors
from assistant.identity import id_of
from assistant.records import normalize_title, paper_id


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def label(path: Path) -> str:
    return str(path.resolve())


def by_title(report_or_papers, title: str):
    papers = getattr(report_or_papers, "papers", report_or_papers)
    found = [p for p in papers if p.title == title]
    assert len(found) == 1, f"{title!r} in {[p.title for p in papers]}"
    return found[0]


# --- JSONL -------------------------------------------------------------------


JSONL = "\n".join(json.dumps(obj, ensure_ascii=False) for obj in [
    {"id": "arXiv:2301.00001", "title": "Sparse Mixtures of Experts at Scale",
     "abstract": "We study  sparse\nexperts. They scale.", "authors": ["Ana Lima", "Bo Chen"],
     "year": 2023, "url": "https://example.org/moe", "category": "cs.LG"},
    {"title": "Why Do Deep Nets Generalize?", "abstract": "A survey of generalization.",
     "authors": "Carl Diaz, Dana Evans et al.", "year": "2021-07-04", "has_code": "yes"},
    {"Title": "Upper-Case Keys Are Fine", "Summary": "Summary is accepted as the abstract.",
     "Authors": "Eve Fox; Gus Hale; others"},
]) + "\n\n"  # trailing blank lines are not entries


def test_jsonl_fields(tmp_path):
    path = write(tmp_path / "papers.jsonl", JSONL)
    report = ingest_file(path)
    assert (report.format, report.records, report.skipped, report.warnings) == ("jsonl", 3, [], [])

    moe = by_title(report, "Sparse Mixtures of Experts at Scale")
    assert moe.abstract == "We study sparse experts. They scale."  # whitespace squashed, nothing lost
    assert (moe.authors, moe.authors_et_al, moe.year) == (["Ana Lima", "Bo Chen"], False, 2023)
    assert (moe.url, moe.category, moe.has_code) == ("https://example.org/moe", "cs.LG", False)
    assert moe.external_id == "arXiv:2301.00001"  # an id given in the file is kept beside ours
    assert moe.arxiv_id == "2301.00001"  # ... and read as the arXiv id it is, which names the paper
    assert moe.id == id_of("arxiv", "2301.00001") != paper_id("Sparse Mixtures of Experts at Scale")
    assert [(s.file, s.format, s.entry, s.line) for s in moe.sources] == [(label(path), "jsonl", 1, 1)]

    why = by_title(report, "Why Do Deep Nets Generalize?")
    assert (why.authors, why.authors_et_al) == (["Carl Diaz", "Dana Evans"], True)
    assert why.year == 2021 and why.has_code is True
    assert why.id == paper_id("Why Do Deep Nets Generalize?")
    assert (why.sources[0].entry, why.sources[0].line) == (2, 2)

    upper = by_title(report, "Upper-Case Keys Are Fine")
    assert upper.abstract == "Summary is accepted as the abstract."
    assert (upper.authors, upper.authors_et_al) == (["Eve Fox", "Gus Hale"], True)
    assert upper.year is None


def test_jsonl_detected_by_content_without_suffix(tmp_path):
    path = write(tmp_path / "export.txt", JSONL)
    report = ingest_file(path)
    assert (report.format, report.records) == ("jsonl", 3)


def test_jsonl_bad_year_is_a_warning_not_a_skip(tmp_path):
    path = write(tmp_path / "p.jsonl", '{"title": "T One", "abstract": "A one.", "year": "n.d."}\n')
    report = ingest_file(path)
    assert report.records == 1 and report.papers[0].year is None
    [warning] = report.warnings
    assert (warning.line, warning.entry) == (1, 1) and "'n.d.'" in warning.reason


# --- JSON --------------------------------------------------------------------


def test_json_list(tmp_path):
    path = write(tmp_path / "papers.json", json.dumps([
        {"title": "Graph Transformers Revisited", "abstract": "Attention on graphs.", "authors": ["Hu Li"],
         "year": 2024, "url": "https://example.org/gt", "id": "gt-2024"},
        {"title": "Tiny Recursive Models", "abstract": "Small models think twice.", "date": "2025-10-01"},
    ], indent=2))
    report = ingest_file(path)
    assert (report.format, report.records, report.skipped) == ("json", 2, [])
    gt = by_title(report, "Graph Transformers Revisited")
    assert (gt.authors, gt.year, gt.url, gt.external_id) == (["Hu Li"], 2024, "https://example.org/gt", "gt-2024")
    tiny = by_title(report, "Tiny Recursive Models")
    assert (tiny.date, tiny.year, tiny.authors) == ("2025-10-01", 2025, [])  # the year comes from the date
    # Line numbers point at each item's title in the file.
    assert [p.sources[0].line for p in report.papers] == [3, 13]


def test_json_object_with_papers_list(tmp_path):
    path = write(tmp_path / "library.json",
                 '{"exported": "today", "papers": [{"title": "Only One", "abstract": "The abstract."}]}')
    report = ingest_file(path)
    assert [(p.title, p.abstract) for p in report.papers] == [("Only One", "The abstract.")]


# --- CSV ---------------------------------------------------------------------


def test_csv_same_columns(tmp_path):
    path = write(tmp_path / "papers.csv",
                 "title,abstract,authors,year,url,id\n"
                 '"Deep Sets, Revisited","Permutation invariance, ""again"",\nover two lines.",'
                 '"Ann Lee; Bob Stone",2019,https://example.org/ds,ds-1\n'
                 "Plain Row Title,A plain abstract.,Cy Young and Di Zhao,2020,,\n")
    report = ingest_file(path)
    assert (report.format, report.records, report.skipped) == ("csv", 2, [])
    ds = by_title(report, "Deep Sets, Revisited")
    assert ds.abstract == 'Permutation invariance, "again", over two lines.'
    assert (ds.authors, ds.year, ds.url, ds.external_id) == (["Ann Lee", "Bob Stone"], 2019, "https://example.org/ds", "ds-1")
    plain = by_title(report, "Plain Row Title")
    assert (plain.authors, plain.year, plain.url) == (["Cy Young", "Di Zhao"], 2020, None)
    # The first record spans lines 2-3, so the second starts on line 4.
    assert [(p.sources[0].entry, p.sources[0].line) for p in report.papers] == [(1, 2), (2, 4)]


def test_csv_detected_by_header_and_tab_separated(tmp_path):
    path = write(tmp_path / "papers.tsv", "Title\tAbstract\tYear\nTab Paper\tTabs separate cells.\t2018\n")
    report = ingest_file(path)
    assert (report.format, [(p.title, p.abstract, p.year) for p in report.papers]) == (
        "csv", [("Tab Paper", "Tabs separate cells.", 2018)])


# --- BibTeX ------------------------------------------------------------------

BIB = r"""% exported from a reference manager
@string{jmlr = "Journal of Machine Learning Research"}
@comment{not an entry}

@article{mueller2021,
  title     = {{Robust} Training of {M\"uller} Nets for {\'E}cole {BERT} Models},
  author    = {M{\"u}ller, J{\"o}rg and Garc{\'\i}a, Ana and Dupont, Fran{\c{c}}ois and Nov{\'a}k, Ji{\v{r}}{\'\i} and others},
  journal   = {Journal of Tests},
  year      = {2021},
  doi       = {10.1000/xyz123},
  abstract  = {We study \emph{robust} training: it works \& scales to 50\% more data,
               at cost $O(n \cdot \log n)$ with $\hat{x}$ fixed.}
}

@inproceedings{smith2020,
  title = "Second Paper on Things",
  author = "Smith, John A. and Doe, Jane and S{\o}rensen, S{\o}ren and {\L}ukasiewicz, Jan",
  booktitle = {Proc. of Things},
  year = 2020,
  url = {https://example.org/things},
  abstract = "A short abstract."
}

@misc{plain2019,
  title = {Plain Names Paper},
  author = {Ada Lovelace and Alan Turing},
  abstract = {Names already in First Last order.},
  year = {2019}
}
"""


@pytest.fixture
def bib_report(tmp_path):
    return ingest_file(write(tmp_path / "refs.bib", BIB))


def test_bibtex_entries_and_latex_accents(bib_report):
    assert (bib_report.format, bib_report.records, bib_report.skipped) == ("bibtex", 3, [])
    p = bib_report.papers[0]
    assert p.title == "Robust Training of Müller Nets for École BERT Models"
    assert p.authors == ["Jörg Müller", "Ana García", "François Dupont", "Jiří Novák"]
    assert p.authors_et_al is True  # "and others"
    assert p.abstract == ("We study robust training: it works & scales to 50% more data, "
                          r"at cost $O(n \cdot \log n)$ with $\hat{x}$ fixed.")
    assert (p.year, p.venue, p.url) == (2021, "Journal of Tests", "https://doi.org/10.1000/xyz123")
    assert (p.sources[0].entry, p.sources[0].line) == (1, 5)


def test_bibtex_last_first_names_and_quoted_fields(bib_report):
    p = bib_report.papers[1]
    assert p.title == "Second Paper on Things"
    assert p.authors == ["John A. Smith", "Jane Doe", "Søren Sørensen", "Jan Łukasiewicz"]
    assert p.authors_et_al is False
    assert (p.year, p.venue, p.url, p.abstract) == (2020, "Proc. of Things", "https://example.org/things",
                                                     "A short abstract.")
    assert p.sources[0].line == 15
    assert bib_report.papers[2].authors == ["Ada Lovelace", "Alan Turing"]


def test_bibtex_detected_by_content_without_suffix(tmp_path):
    report = ingest_file(write(tmp_path / "refs.txt", BIB))
    assert (report.format, report.records) == ("bibtex", 3)


@pytest.mark.parametrize("latex, text", [
    (r"Erd{\H{o}}s and Stra{\ss}e", "Erdős and Straße"),
    (r"\"Ozg\"ur \c{C}elik and \c c", "Özgür Çelik and ç"),
    (r"{\`a} la \^{o} \~n \=a", "à la ô ñ ā"),
    (r"Hamilton--Jacobi", "Hamilton–Jacobi"),
    (r"$\chi^2$ and $\cdot$ are math, not cedillas", r"$\chi^2$ and $\cdot$ are math, not cedillas"),
    (r"see \url{https://x.io/a\_b} and \textbf{bold}", "see https://x.io/a_b and bold"),
])
def test_latex_to_text(latex, text):
    assert latex_to_text(latex) == text


# --- authors strings ---------------------------------------------------------


@pytest.mark.parametrize("value, names, et_al", [
    ("Ann Lee, Bob Stone", ["Ann Lee", "Bob Stone"], False),
    ("Ann Lee; Bob Stone; et al.", ["Ann Lee", "Bob Stone"], True),
    ("Ann Lee and Bob Stone and others", ["Ann Lee", "Bob Stone"], True),
    ("Ann Lee, Bob Stone et al.", ["Ann Lee", "Bob Stone"], True),
    (["Vishal M. Patel", "  Mo   Zhou "], ["Vishal M. Patel", "Mo Zhou"], False),
    ("", [], False),
    (None, [], False),
])
def test_split_authors(value, names, et_al):
    assert split_authors(value) == (names, et_al)


# --- ids and merging across formats -----------------------------------------


def test_id_is_stable_over_title_variants():
    a = "Hard Patches Mining for Masked Image Modeling"
    b = "  hard patches mining for masked-image modeling. "
    assert normalize_title(a) == normalize_title(b) == "hard patches mining for masked image modeling"
    assert paper_id(a) == paper_id(b)
    assert len(paper_id(a)) == 16
    assert paper_id(a) != paper_id("Hard Patches Mining for Masked Video Modeling")
    assert paper_id("Über Nets") == paper_id("Uber nets")


def test_same_paper_in_three_formats_is_merged(tmp_path):
    jsonl = write(tmp_path / "a.jsonl", json.dumps(
        {"title": "Learning to Merge Records", "abstract": "Short.", "authors": ["Ann Lee", "Bo Chen"]}) + "\n")
    csv = write(tmp_path / "b.csv", "title,abstract,year,url\n"
                "learning to merge records.,A longer abstract about merging records.,2022,https://example.org/m\n")
    bib = write(tmp_path / "c.bib", "@article{m, title={Learning to {Merge} Records}, abstract={Mid length one.},"
                                    " author={Lee, Ann and Chen, Bo and Diaz, Cy}, journal={J}}\n")
    result = ingest_paths([jsonl, csv, bib])
    assert (len(result.papers), result.merged) == (1, 2)
    assert result.merged_by_file == {label(jsonl): 0, label(csv): 1, label(bib): 1}
    [paper] = result.papers
    assert paper.title == "Learning to Merge Records"  # first seen
    assert paper.id == paper_id("Learning to Merge Records")
    assert paper.abstract == "A longer abstract about merging records."
    assert paper.authors == ["Ann Lee", "Bo Chen", "Cy Diaz"]
    assert (paper.year, paper.url, paper.venue) == (2022, "https://example.org/m", "J")
    assert [(s.file, s.format) for s in paper.sources] == [
        (label(jsonl), "jsonl"), (label(csv), "csv"), (label(bib), "bibtex")]


@pytest.mark.parametrize("marked_first", [True, False])
def test_a_clean_abstract_beats_a_slightly_longer_latex_one(tmp_path, marked_first):
    marked = {"title": "Markup Paper", "abstract": "We propose \\textit{GRACE}, a method that steers models."}
    clean = {"title": "Markup Paper", "abstract": "We propose GRACE, a method that steers models."}
    rows = [marked, clean] if marked_first else [clean, marked]
    [paper] = ingest_paths([write(tmp_path / "a.jsonl", "".join(json.dumps(r) + "\n" for r in rows))]).papers
    assert paper.abstract == clean["abstract"]
    # ...but a much longer marked-up copy still wins over a stub.
    stub = {"title": "Markup Paper", "abstract": "We propose GRACE."}
    [paper] = ingest_paths([write(tmp_path / "b.jsonl", json.dumps(stub) + "\n" + json.dumps(marked) + "\n")]).papers
    assert paper.abstract == marked["abstract"]


def test_full_author_list_beats_truncated_one(tmp_path):
    first = write(tmp_path / "a.jsonl", json.dumps(
        {"title": "Et Al Paper", "abstract": "A.", "authors": "Ann Lee, Bo Chen et al."}) + "\n")
    second = write(tmp_path / "b.jsonl", json.dumps(
        {"title": "Et Al Paper", "abstract": "A.", "authors": ["Ann Lee", "Bo Chen"]}) + "\n")
    [paper] = ingest_paths([first, second]).papers
    assert (paper.authors, paper.authors_et_al) == (["Ann Lee", "Bo Chen"], False)


def test_export_merges_with_bundled_page(tmp_path, corpus_dir):
    jsonl = write(tmp_path / "mine.jsonl", json.dumps(
        {"title": "Hard patches mining for masked image modeling", "abstract": "Short.",
         "authors": ["Haochen Wang", "Kaiyou Song"], "year": 2023}) + "\n")
    page = corpus_dir / "002_155326858a143be8.txt"
    result = ingest_paths([page, jsonl])
    paper = by_title(result.papers, "Hard Patches Mining for Masked Image Modeling")
    assert [s.file for s in paper.sources] == ["indexes/sources/002_155326858a143be8.txt", label(jsonl)]
    assert (paper.authors, paper.year) == (["Haochen Wang", "Kaiyou Song"], 2023)
    assert paper.abstract.startswith("Masked image modeling (MIM) has attracted")  # the page's whole abstract
    assert len(result.papers) == 213 and result.merged == 1

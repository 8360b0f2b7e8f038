"""Paper PDFs (assistant/ingest/pdf.py), written here with reportlab: a single-column
arXiv-style page, a two-column IEEE-style page whose columns are drawn line by line
across the page (so text order alone would mix them), no abstract heading, no text
layer, files that are not PDFs or are cut short, encrypted files, and PDFs in a folder,
through `--layout`, the CLI and `PaperAssistant.add_files`."""

from __future__ import annotations

from pathlib import Path

import pytest
from reportlab.lib import pdfencrypt
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

from assistant.ingest import ingest_file, ingest_paths

W, H = letter

# --- (a) single column, arXiv-style ----------------------------------------------------------

TITLE_A = "Learning Müller Representations for Long Document Retrieval"
ABSTRACT_A_LINES = [
    "Long documents are hard to retrieve because a single vector cannot hold their repre-",
    "sentation. We split each document into passages, learn a self-",
    "supervised passage encoder, and pool the passage scores with a learned",
    "weighting. On three benchmarks the method improves recall by 4 points.",
]
ABSTRACT_A = (
    "Long documents are hard to retrieve because a single vector cannot hold their representation. "
    "We split each document into passages, learn a self-supervised passage encoder, and pool the "
    "passage scores with a learned weighting. On three benchmarks the method improves recall by 4 points."
)
INTRO_A = [
    "Dense retrieval encodes a query and a document into one vector each and ranks by their",
    "similarity. This works for passages but loses detail on long documents.",
]


def draw_lines(c: canvas.Canvas, x: float, y: float, lines: list[str], font="Times-Roman", size=10, leading=12):
    c.setFont(font, size)
    for i, text in enumerate(lines):
        c.drawString(x, y - i * leading, text)
    return y - len(lines) * leading


def authors_with_marks(c: canvas.Canvas, y: float, pieces: list[tuple[str, str]]) -> None:
    """'Ana Müller¹, Bo Chen²' centred, each mark a raised small figure drawn on its own."""
    width = sum(c.stringWidth(name, "Times-Roman", 11) + c.stringWidth(mark, "Times-Roman", 7) for name, mark in pieces)
    x = (W - width) / 2
    for name, mark in pieces:
        c.setFont("Times-Roman", 11)
        c.drawString(x, y, name)
        x += c.stringWidth(name, "Times-Roman", 11)
        c.setFont("Times-Roman", 7)
        c.drawString(x, y + 4, mark)
        x += c.stringWidth(mark, "Times-Roman", 7)


def single_column_pdf(path: Path, **canvas_args) -> Path:
    c = canvas.Canvas(str(path), pagesize=letter, **canvas_args)
    c.setTitle(TITLE_A)
    c.setFont("Times-Roman", 8)
    c.drawString(72, H - 40, "Preprint. Under review.")
    # The arXiv stamp, vertical on the left margin.
    c.saveState()
    c.translate(30, 250)
    c.rotate(90)
    c.setFont("Times-Roman", 20)
    c.drawString(0, 0, "arXiv:2301.01234v2  [cs.LG]  3 Jan 2023")
    c.restoreState()
    c.setFont("Times-Bold", 17)
    c.drawCentredString(W / 2, H - 90, "Learning Müller Representations for")
    c.drawCentredString(W / 2, H - 110, "Long Document Retrieval")
    authors_with_marks(c, H - 140, [("Ana Müller", "1"), (", Bo Chen", "2")])
    c.setFont("Times-Roman", 10)
    c.drawCentredString(W / 2, H - 155, "1University of Somewhere   2Example Labs")
    c.setFont("Times-Bold", 12)
    c.drawCentredString(W / 2, H - 190, "Abstract")
    y = draw_lines(c, 100, H - 210, ABSTRACT_A_LINES)
    c.setFont("Times-Bold", 12)
    c.drawString(72, y - 24, "1 Introduction")
    draw_lines(c, 72, y - 42, INTRO_A)
    c.showPage()
    draw_lines(c, 72, H - 72, ["Related work on long documents splits them into passages. " * 2])
    c.showPage()
    c.save()
    return path


def label(path: Path) -> str:
    return str(path.resolve())


def test_single_column_paper(tmp_path):
    report = ingest_file(single_column_pdf(tmp_path / "paper.pdf"))
    assert (report.format, report.error, report.skipped, report.warnings) == ("pdf", None, [], [])
    [paper] = report.papers
    assert paper.title == TITLE_A  # two lines of the largest type, joined; the /Title agrees
    assert paper.abstract == ABSTRACT_A  # "repre-/sentation" mended, "self-/supervised" kept
    assert paper.authors == ["Ana Müller", "Bo Chen"]  # the footnote marks dropped
    # From the vertical arXiv stamp: the id without its version, the stamp's date and year.
    assert (paper.arxiv_id, paper.year, paper.date, paper.doi) == ("2301.01234", 2023, "2023-01-03", None)
    assert [(s.file, s.format, s.entry, s.line) for s in paper.sources] == [
        (label(tmp_path / "paper.pdf"), "pdf", 1, 1)
    ]


# --- (b) two columns, IEEE-style ------------------------------------------------------------

TITLE_B = "Block-Sparse Attention Scales to Book-Length Inputs"
LEFT_B = [
    "cost grows with the square of the input length. We show",
    "that a block-sparse pattern with a few global tokens",
    "matches dense attention on book-length inputs while us-",
    "ing a tenth of the memory.",
    "Index Terms—sparse attention, long documents.",
    "",
    "I. INTRODUCTION",
    "Long inputs such as books, contracts and code",
    "repositories do not fit the context of a dense model.",
]
RIGHT_B = [
    "RIGHT COLUMN quadratic memory is the first limit we",
    "meet: a single chapter of a novel already needs more",
    "memory than one accelerator holds. Several lines of",
    "work reduce this cost. Sparse patterns restrict each",
    "token to a window and a few global tokens, low-rank",
    "methods project keys and values to a small dimension,",
    "and recurrent methods carry a summary from one block",
    "to the next. We compare the three families on the",
    "same inputs and the same hardware budget.",
]
ABSTRACT_B = (
    "Transformers attend to every pair of tokens, so their cost grows with the square of the input "
    "length. We show that a block-sparse pattern with a few global tokens matches dense attention on "
    "book-length inputs while using a tenth of the memory."
)


def two_column_pdf(path: Path) -> Path:
    c = canvas.Canvas(str(path), pagesize=letter)
    c.setTitle("Formatting Instructions for ICLR 2024 Conference Submissions")  # a template's leftover
    c.setFont("Times-Bold", 20)
    c.drawCentredString(W / 2, H - 80, TITLE_B)
    c.setFont("Times-Roman", 11)
    c.drawCentredString(W / 2, H - 104, "Li Wei and Sara Costa")
    c.drawCentredString(W / 2, H - 118, "Institute of Examples, Lisbon, Portugal")
    top = H - 160
    # Row by row across the page: left line, then the right column's line at the same height.
    c.setFont("Times-Bold", 9)
    c.drawString(54, top, "Abstract—")
    c.setFont("Times-Roman", 9)
    c.drawString(
        54 + c.stringWidth("Abstract—", "Times-Bold", 9) + 2,
        top,
        "Transformers attend to every pair of tokens, so their",
    )
    c.drawString(318, top, RIGHT_B[0])
    for i, (left, right) in enumerate(zip(LEFT_B, RIGHT_B[1:]), start=1):
        y = top - 11 * i
        if left:
            c.setFont("Times-Bold" if left.startswith("I. ") else "Times-Roman", 9)
            c.drawString(54, y, left)
        c.setFont("Times-Roman", 9)
        c.drawString(318, y, right)
    c.setFont("Times-Roman", 7)
    c.drawString(54, 60, "Digital Object Identifier 10.1109/TPAMI.2023.1234567")
    c.showPage()
    c.save()
    return path


def test_two_column_paper_reads_the_left_column_only(tmp_path):
    path = two_column_pdf(tmp_path / "ieee.pdf")
    from pypdf import PdfReader

    plain = PdfReader(path).pages[0].extract_text()
    # The test has teeth: in drawing order the right column sits between the abstract's lines.
    assert plain.index("RIGHT COLUMN") < plain.index("cost grows with")

    report = ingest_file(path)
    assert (report.format, report.error, report.skipped) == ("pdf", None, [])
    [paper] = report.papers
    assert paper.title == TITLE_B  # the page's title, not the leftover /Title
    assert paper.abstract == ABSTRACT_B  # up to "Index Terms", nothing of the right column
    assert paper.authors == ["Li Wei", "Sara Costa"]
    assert (paper.doi, paper.arxiv_id, paper.year) == ("10.1109/tpami.2023.1234567", None, None)


TITLE_C = "Hashing Tricks for Cheap Retrieval"
ABSTRACT_C = (
    "Retrieval over millions of abstracts needs an index that fits in memory. We hash each abstract "
    "into a short binary code and rank by Hamming distance, which matches the dense baseline at a "
    "fraction of the cost."
)


def acm_pdf(path: Path) -> Path:
    """ACM-style: author blocks side by side, an ABSTRACT heading in the left column and an
    abstract that runs on into the right one mid-sentence; columns drawn one after the other."""
    c = canvas.Canvas(str(path), pagesize=letter)
    c.setFont("Helvetica-Bold", 18)
    c.drawCentredString(W / 2, H - 80, TITLE_C)
    c.setFont("Helvetica", 11)
    for x, name, place in ((W / 4, "Ana Müller", "University A"), (3 * W / 4, "Bo Chen", "Lab B")):
        c.drawCentredString(x, H - 110, name)
        c.drawCentredString(x, H - 124, place)
    top = H - 170
    c.setFont("Helvetica-Bold", 10)
    c.drawString(54, top, "ABSTRACT")
    draw_lines(
        c,
        54,
        top - 14,
        [
            "Retrieval over millions of abstracts needs an index",
            "that fits in memory. We hash each abstract into a",
            "short binary code and rank by Hamming distance,",
            "which matches the",
        ],
        font="Helvetica",
        size=9,
    )
    draw_lines(
        c,
        318,
        top,
        [
            "dense baseline at a fraction of the cost.",
            "CCS CONCEPTS",
            "Information systems -> Retrieval models.",
            "KEYWORDS",
            "hashing, retrieval",
        ],
        font="Helvetica",
        size=9,
    )
    c.showPage()
    c.save()
    return path


def test_abstract_running_on_into_the_right_column(tmp_path):
    report = ingest_file(acm_pdf(tmp_path / "acm.pdf"))
    [paper] = report.papers
    assert (paper.title, paper.abstract) == (TITLE_C, ABSTRACT_C)  # stopped by "CCS CONCEPTS"
    assert paper.authors == []  # "Ana Müller Bo Chen" on one line: not split by guessing


def test_abstract_on_page_two_after_a_cover_page(tmp_path):
    path = tmp_path / "report.pdf"
    c = canvas.Canvas(str(path), pagesize=letter)
    c.setFont("Times-Roman", 10)
    c.drawString(72, H - 60, "Technical Report TR-2024-07")
    c.setFont("Times-Bold", 22)
    c.drawCentredString(W / 2, H - 300, "Caching Strategies for Paper Search")
    c.setFont("Times-Roman", 12)
    c.drawCentredString(W / 2, H - 330, "March 2024")
    c.showPage()
    c.setFont("Times-Bold", 12)
    c.drawString(72, H - 72, "Summary")
    draw_lines(c, 72, H - 90, ["We cache the answers to frequent questions and cut the", "median latency in half."])
    c.setFont("Times-Bold", 12)
    c.drawString(72, H - 140, "Contents")
    c.showPage()
    c.save()
    report = ingest_file(path)
    [paper] = report.papers
    assert (paper.title, paper.abstract) == (
        "Caching Strategies for Paper Search",
        "We cache the answers to frequent questions and cut the median latency in half.",
    )
    assert [(s.entry, s.line) for s in paper.sources] == [(1, 2)]  # the line is the abstract's page
    assert (paper.year, paper.authors) == (None, [])  # no arXiv stamp: no year is guessed


# --- (c) no abstract, no text ---------------------------------------------------------------


def test_no_abstract_heading_is_a_skipped_entry(tmp_path):
    path = tmp_path / "notes.pdf"
    c = canvas.Canvas(str(path), pagesize=letter)
    for page in (1, 2):
        c.setFont("Times-Bold", 16)
        c.drawString(72, H - 80, f"Lecture Notes on Attention, Part {page}")
        draw_lines(c, 72, H - 110, ["Attention weighs every token by its similarity to the query."] * 3)
        c.showPage()
    c.save()
    report = ingest_file(path)
    assert (report.format, report.records, report.error) == ("pdf", 0, None)
    assert [str(p) for p in report.skipped] == [
        f"{label(path)}:1 (entry 1): no abstract found on the first 2 pages: no 'Abstract' heading"
    ]


def test_a_pdf_without_text_says_so(tmp_path):
    path = tmp_path / "scan.pdf"
    c = canvas.Canvas(str(path), pagesize=letter)
    c.rect(72, 72, W - 144, H - 144, fill=1)  # what a scanned page is to a text reader: no text
    c.showPage()
    c.save()
    report = ingest_file(path)
    assert (report.records, report.skipped) == (0, [])
    assert report.error == (
        "no text on the first pages (a scanned PDF?): its only page has no text layer; "
        "OCR the file first (e.g. with ocrmypdf)"
    )


# --- (d) not a PDF, cut short ---------------------------------------------------------------


def test_files_that_are_not_pdfs(tmp_path):
    text = tmp_path / "notes.pdf"
    text.write_text("Title\nAbstract text\n", encoding="utf-8")
    html = tmp_path / "download.pdf"
    html.write_text("<!DOCTYPE html><html><body>Access denied</body></html>", encoding="utf-8")
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    errors = {Path(r.file).name: r.error for r in ingest_paths([text, html, empty]).files}
    assert errors == {
        "notes.pdf": "not a PDF: the file does not start with '%PDF-'",
        "download.pdf": "not a PDF: it is an HTML page (a download that failed?)",
        "empty.pdf": "empty file",
    }


def test_a_truncated_pdf_is_an_error_not_a_traceback(tmp_path, capsys):
    whole = single_column_pdf(tmp_path / "whole.pdf").read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(whole[: len(whole) // 2])
    report = ingest_file(cut)
    assert (report.format, report.records) == ("pdf", 0)
    assert report.error == "cannot read this PDF (damaged or truncated?): Stream has ended unexpectedly"
    assert capsys.readouterr().err == ""  # pypdf's repair notes are not printed


# --- (e) encrypted --------------------------------------------------------------------------


def test_encrypted_pdfs(tmp_path):
    # No user password (only an owner password restricting edits): pypdf opens it.
    open_one = single_column_pdf(
        tmp_path / "restricted.pdf", encrypt=pdfencrypt.StandardEncryption("", ownerPassword="owner")
    )
    report = ingest_file(open_one)
    assert report.error is None and [(p.title, p.abstract) for p in report.papers] == [(TITLE_A, ABSTRACT_A)]
    locked = single_column_pdf(tmp_path / "locked.pdf", encrypt="secret")
    report = ingest_file(locked)
    assert (report.records, report.error) == (
        0,
        "encrypted PDF: it needs a password; save a copy without one and ingest that",
    )


# --- (f) folders, --layout, the CLI, uploads ------------------------------------------------


def search_page(corpus_dir: Path, path: Path) -> Path:
    """The first entry of a bundled paper-search page, as a .txt of its own."""
    lines = (corpus_dir / "002_155326858a143be8.txt").read_text(encoding="utf-8").splitlines()[:4]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_folder_with_a_pdf_and_a_listing(tmp_path, corpus_dir):
    folder = tmp_path / "mixed"
    folder.mkdir()
    single_column_pdf(folder / "paper.pdf")
    two_column_pdf(folder / "ieee")  # no suffix: known by its %PDF- bytes
    search_page(corpus_dir, folder / "search.txt")
    result = ingest_paths([folder])
    assert result.errors == []
    assert [(Path(f.file).name, f.format, f.records, f.error) for f in result.files] == [
        ("ieee", "pdf", 1, None),
        ("paper.pdf", "pdf", 1, None),
        ("search.txt", "paper-search", 1, None),
    ]
    assert sorted(p.title for p in result.papers) == [
        TITLE_B,
        "Hard Patches Mining for Masked Image Modeling",
        TITLE_A,
    ]


def test_layout_option_and_pdfs(tmp_path, corpus_dir):
    pdf = single_column_pdf(tmp_path / "paper.pdf")
    text = search_page(corpus_dir, tmp_path / "search.txt")
    assert ingest_file(text, layout="pdf").error == "not a PDF: the file does not start with '%PDF-'"
    assert ingest_file(pdf, layout="bibtex").error == "a PDF, not bibtex text: leave out --layout (or use --layout pdf)"
    assert ingest_file(pdf, layout="pdf").papers[0].title == TITLE_A


def test_cli_lists_and_reads_pdfs(papers_main, tmp_path, corpus_dir):
    proc = papers_main("ingest", "--help")
    assert "pdf: paper PDF (.pdf or %PDF-)" in " ".join(proc.stdout.split())
    pdf = single_column_pdf(tmp_path / "paper.pdf")
    text = search_page(corpus_dir, tmp_path / "search.txt")
    env = {"PAPERS_INDEX_DIR": str(tmp_path / "idx")}
    proc = papers_main("ingest", "--dry-run", "--layout", "pdf", pdf, text, env=env)
    assert proc.returncode == 0
    assert f"{label(pdf)}: pdf, 1 records" in proc.stdout
    assert f"{label(text)}: not ingested: not a PDF: the file does not start with '%PDF-'" in proc.stdout
    proc = papers_main("ingest", "--dry-run", "--layout", "csv", pdf, env=env)
    assert proc.returncode == 1
    assert f"{label(pdf)}: not ingested: a PDF, not csv text: leave out --layout (or use --layout pdf)" in proc.stdout


def test_upload_a_pdf_through_the_api(tmp_path, make_assistant):
    pa = make_assistant(tmp_path / "idx", abstain_threshold=0.3)
    (tmp_path / "incoming").mkdir()
    upload = single_column_pdf(tmp_path / "incoming" / "paper.pdf")
    result, update = pa.add_files([upload])
    assert [(f.format, f.records, f.error) for f in result.files] == [("pdf", 1, None)]
    assert update.added == 1 and update.total == 1
    [paper] = pa.papers
    assert (paper.title, paper.abstract, paper.arxiv_id) == (TITLE_A, ABSTRACT_A, "2301.01234")
    [kept] = pa.uploads_dir.rglob("*.pdf")
    assert paper.sources[0].file == label(kept)  # the index names its own copy of the upload


@pytest.mark.parametrize("suffix", [".pdf", ".PDF"])
def test_pdfs_are_picked_up_from_folders(tmp_path, suffix):
    from assistant.ingest import expand_paths

    single_column_pdf(tmp_path / f"paper{suffix}")
    files, errors = expand_paths([tmp_path])
    assert ([p.name for p in files], errors) == ([f"paper{suffix}"], [])


@pytest.mark.parametrize(
    ("lines", "joined"),
    [
        (["their repre-", "sentation."], "their representation."),  # a word broken by hyphenation
        (["a self-", "supervised encoder"], "a self-supervised encoder"),  # a compound keeps its hyphen
        (["the state-of-", "the-art model"], "the state-of-the-art model"),
        (["Transformer-", "XL and"], "Transformer-XL and"),
        (["soft\u00ad", "ware"], "software"),
    ],
)
def test_line_joining(lines, joined):
    from assistant.ingest.pdf import _clean, _join_lines

    assert _join_lines([_clean(line) for line in lines]) == joined


def test_keyword_spotting_is_not_a_keywords_heading(tmp_path):
    path = tmp_path / "kws.pdf"
    c = canvas.Canvas(str(path), pagesize=letter)
    c.setFont("Times-Bold", 16)
    c.drawString(72, H - 80, "Small Models for Keyword Spotting")
    c.setFont("Times-Bold", 11)
    c.drawString(72, H - 110, "Abstract")
    draw_lines(
        c,
        72,
        H - 126,
        ["We study on-device speech models.", "Keyword spotting needs little memory.", "Keywords: speech"],
    )
    c.showPage()
    c.save()
    [paper] = ingest_file(path).papers
    assert paper.abstract == "We study on-device speech models. Keyword spotting needs little memory."


def doi_pdf(path: Path, header: str | None, footnotes: list[str], column: str | None = None) -> Path:
    """A one-column paper with an optional running header line at the top, a body with the
    `column` line among its text, and footnotes at the bottom of the page."""
    c = canvas.Canvas(str(path), pagesize=letter)
    if header:
        c.setFont("Times-Roman", 8)
        c.drawString(72, H - 40, header)
    c.setFont("Times-Bold", 17)
    c.drawCentredString(W / 2, H - 90, "Graph Networks Need Fewer Layers")
    c.setFont("Times-Bold", 12)
    c.drawCentredString(W / 2, H - 140, "Abstract")
    y = draw_lines(c, 100, H - 160, ["Deep graph networks oversmooth. Two layers suffice on", "most benchmarks."])
    c.setFont("Times-Bold", 12)
    c.drawString(72, y - 24, "1 Introduction")
    draw_lines(c, 72, y - 42, ["Message passing mixes node features.", *([column] if column else []),
                                "Our earlier study [1] found the same."])
    draw_lines(c, 72, 90, footnotes, size=7, leading=9)
    c.showPage()
    c.save()
    return path


CITED = "[1] Lee, A. Oversmoothing in deep graph networks. J. Graphs 4 (2020). https://doi.org/10.1000/cited.42"


@pytest.mark.parametrize("header, footnotes, column, doi", [
    # The only DOI on the page is a cited work's, in a footnote: not the paper's (it would merge the two).
    (None, [CITED], None, None),
    (None, ["* Extended version of a paper published as doi:10.1000/earlier.7"], None, None),
    (None, [], "A cited data set, doi:10.1000/other.9, is used.", None),  # in the body text
    # Printed in the header at the top of the page: the paper's own, whatever the footnotes cite.
    ("Journal of Graphs 12 (2023) 1-9. https://doi.org/10.1000/own.1", [CITED], None, "10.1000/own.1"),
    # IEEE's label for the paper's own DOI, in the first page's footnote.
    (None, ["Digital Object Identifier 10.1109/TNN.2023.1234567"], None, "10.1109/tnn.2023.1234567"),
])
def test_only_the_papers_own_doi_is_read_from_its_text(tmp_path, header, footnotes, column, doi):
    [paper] = ingest_file(doi_pdf(tmp_path / "paper.pdf", header, footnotes, column)).papers
    assert (paper.title, paper.abstract) == (
        "Graph Networks Need Fewer Layers", "Deep graph networks oversmooth. Two layers suffice on most benchmarks.")
    assert paper.doi == doi

"""The files a researcher takes away (`assistant.export`): answer and conversation Markdown
with one numbered reference list, BibTeX that the project's own ingest reads back to the
same papers, and the comparison as Markdown and as one rectangular CSV table."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest

from assistant import export
from assistant.answer.compare import Cell, Comparison
from assistant.ingest import ingest_paths
from assistant.records import Answer, Citation, Paper, Source


def paper(title: str, authors=("Ada Lovelace",), year: int | None = 2023, **meta) -> Paper:
    return Paper(
        title=title, abstract=meta.pop("abstract", f"Abstract of {title}."), authors=list(authors), year=year, **meta
    )


def cite(n: int, p: Paper, quote: str) -> Citation:
    return Citation(n, p.id, p.title, p.authors, p.year, quote, 0, len(quote), "test.jsonl", p.url)


def answer(question: str, text: str, sources: list[Paper], cited: dict[int, str], **extra) -> Answer:
    """An answer whose sources are numbered 1.. in order; `cited`: source number -> quote."""
    srcs = [Source(n, p, 1.0) for n, p in enumerate(sources, start=1)]
    return Answer(question, text, [cite(n, sources[n - 1], q) for n, q in cited.items()], srcs, **extra)


A = paper(
    "Hard Patches Mining for Masked Image Modeling",
    ["Haochen Wang", "Kaiyou Song"],
    2023,
    venue="CVPR",
    url="https://arxiv.org/abs/2304.05919",
)
B = paper("Adaptive Second Order Optimization", ["Zhewei Yao"], 2021, external_id="10.1609/aaai.v35i12.17275")
C = paper("Message Passing Limits", ["Jörg Müller"], None, external_id="arXiv:2301.01234v2")


# --- answers ----------------------------------------------------------------------------------------


def test_answer_markdown_has_question_notices_text_and_numbered_references():
    ans = answer(
        "What is hard patches mining?",
        "It predicts hard patches [1]. It uses curvature [2][1].",
        [A, B, C],
        {1: "HPM mines hard patches.", 2: "AdaHessian uses curvature."},
        notices=["Only 3 papers matched."],
        fallback="the model failed (timeout)",
    )
    md = export.answer_markdown(ans)
    lines = md.splitlines()
    assert lines[0] == "# What is hard patches mining?"
    assert "> Only 3 papers matched." in lines
    assert any(x.startswith("> **The language model's answer was not used**") for x in lines)
    assert "It predicts hard patches [1]. It uses curvature [2][1]." in lines
    refs = lines[lines.index("## References") :]
    first = (
        "[1] Hard Patches Mining for Masked Image Modeling. Haochen Wang, Kaiyou Song (2023). CVPR. "
        "https://arxiv.org/abs/2304.05919"
    )
    assert refs[refs.index(first) + 1] == "> HPM mines hard patches."
    second = "[2] Adaptive Second Order Optimization. Zhewei Yao (2021). https://doi.org/10.1609/aaai.v35i12.17275"
    assert refs[refs.index(second) + 1] == "> AdaHessian uses curvature."
    third = "[3] Message Passing Limits. Jörg Müller. https://arxiv.org/abs/2301.01234v2"
    assert refs[-1] == third  # read, not cited: no quote under it
    assert md.endswith("\n") and "<" not in md


def test_an_abstained_answer_says_so_and_lists_the_closest_papers():
    md = export.answer_markdown(
        answer("Who won the 2026 cup?", "The abstracts do not answer this.", [A], {}, abstained=True)
    )
    assert "> **Not answered.**" in md
    assert "[1] Hard Patches Mining for Masked Image Modeling." in md


def test_a_comparison_answer_shows_the_table_without_its_own_source_list():
    table = _comparison()
    ans = Answer("Compare Alpha and Beta", table.markdown(), table.citations, table.sources, table=table)
    md = export.answer_markdown(ans)
    assert table.markdown(sources=False) in md
    assert "Sources:" not in md and md.count("## References") == 1
    assert "> Alpha approach sentence." not in md  # the cells are the quotes


def test_titles_and_text_from_papers_stay_text_when_the_markdown_is_rendered():
    from markdown_it import MarkdownIt  # CommonMark, as Markdown viewers render it

    evil = paper("<script>alert(1)</script> & Friends $$x$$", ["Eve <e@x.org>"])
    ans = answer("Is 1 < 2? ![p](http://evil.example/p.png)", "Yes, p < 0.05 [1]. See [here](javascript:x).",
                 [evil, A], {1: "We find p < 0.05 <b>here</b> `code`."})
    for md in (export.answer_markdown(ans), export.conversation_markdown([ans])):
        assert "[1] \\<script\\>alert(1)\\</script\\> & Friends \\$\\$x\\$\\$. Eve \\<e@x.org\\> (2023)." in md
        assert "&lt;" not in md and "&amp;" not in md  # Markdown, not HTML entities
        rendered = MarkdownIt("commonmark").render(md)
        for tag in ("<script", "<img", "<b>", "<a ", "<code>", "<e@x"):
            assert tag not in rendered, (tag, rendered)
        for shown in ("&lt;script&gt;alert(1)&lt;/script&gt;", "![p](http://evil.example/p.png)",
                      "We find p &lt; 0.05 &lt;b&gt;here&lt;/b&gt; `code`.", "[here](javascript:x)", "$$x$$"):
            assert shown in rendered, (shown, rendered)
        assert "[1]" in rendered  # the markers stay markers
    clean = answer("Plain?", "Plain [1].", [A, B], {1: "q"})
    assert "<" not in export.answer_markdown(clean) + export.conversation_markdown([clean, clean])


@pytest.mark.parametrize("text", [
    "![1](http://evil.example/p.png)",  # a marker made into an image
    "see [1, 2](http://evil.example) now",  # ... or a link
    "x [1]\n\n[1]: http://evil.example/p.png",  # ... or a link definition that turns every [1] into one
    "a \\<script>alert(1)</script> and ![i](http://evil.example/i.png)",
])
def test_nothing_around_a_marker_becomes_a_link_or_an_image(text):
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(export.md_text(text))
    assert "<img" not in rendered and "<a " not in rendered and "<script" not in rendered, rendered


def test_a_link_with_markdown_in_it_is_one_plain_address():
    from markdown_it import MarkdownIt

    odd = paper("Odd", ["A B"])
    odd.url = "http://a.example/![y](http://evil.example/p.png)"
    line = export.reference_line(1, odd)
    assert "http://a.example/%21%5By%5D%28http://evil.example/p.png%29" in line
    assert "<img" not in MarkdownIt("commonmark").render(line)


# --- conversations ----------------------------------------------------------------------------------


def test_conversation_gives_each_paper_one_number_and_rewrites_every_turn():
    turn1 = answer("First?", "A finding [2]. Another [1]. Both [1, 2].", [A, B], {1: "qa", 2: "qb"})
    # B is [2] in turn 1 and [1] in turn 2; C is new.
    turn2 = answer(
        "Second?",
        "More on it [1]. Grouped [1, 2] and [2; 1]. Split [1][2]. In [2023] too.",
        [B, C],
        {1: "qb2", 2: "qc"},
    )
    md = export.conversation_markdown([turn1, turn2], title="My session")
    lines = md.splitlines()
    assert lines[0] == "# My session"
    assert lines.count("## First?") == 1 and lines.count("## Second?") == 1
    assert "A finding [2]. Another [1]. Both [1, 2]." in lines  # turn 1 already uses the global numbers
    assert "More on it [2]. Grouped [2, 3] and [3, 2]. Split [2][3]. In [2023] too." in lines
    refs = lines[lines.index("## References") :]
    numbered = [x for x in refs if re.match(r"\[\d+\] ", x)]
    assert [x.split(".")[0] for x in numbered] == [
        "[1] Hard Patches Mining for Masked Image Modeling",
        "[2] Adaptive Second Order Optimization",
        "[3] Message Passing Limits",
    ]
    assert md.count("## References") == 1
    # B's quotes from both turns sit under its one entry.
    at = refs.index(numbered[1])
    assert refs[at + 1 : at + 4] == ["> qb", ">", "> qb2"]


def test_a_paper_known_only_from_its_citation_is_still_referenced():
    orphan = Answer("Q?", "Said [4].", [cite(4, C, "quoted")], [Source(1, A, 1.0)])
    md = export.conversation_markdown([orphan])
    assert "Said [2]." in md  # A is [1] (a source), C gets [2]
    assert "[2] Message Passing Limits." in md and "> quoted" in md


def test_cited_papers_in_first_cited_order_each_once():
    turn1 = Answer(
        "Q1", "x [2] y [1]", [cite(2, B, "b"), cite(1, A, "a")], [Source(1, A, 1), Source(2, B, 1), Source(3, C, 1)]
    )
    turn2 = Answer("Q2", "z [1] w [2]", [cite(1, B, "b"), cite(2, A, "a2")], [Source(1, B, 1), Source(2, A, 1)])
    got = export.cited_papers([turn1, turn2])
    assert [p.id for p in got] == [B.id, A.id]  # C was read, never cited
    assert got[0] is B  # the paper record itself (its abstract, venue, ids), not a stub
    stub = export.cited_papers([Answer("Q", "t [7]", [cite(7, C, "c")], [])])
    assert [(p.id, p.title, p.authors, p.year) for p in stub] == [(C.id, C.title, C.authors, C.year)]


# --- BibTeX -----------------------------------------------------------------------------------------


def _balanced(text: str) -> bool:
    """Braces as BibTeX counts them: every one, escaped or not."""
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _entries(bib: str) -> dict[str, str]:
    return dict(re.findall(r"^@\w+\{([^,]+),\n(.*?)\n\}$", bib, re.M | re.S))


def test_bibtex_keys_are_stable_unique_and_readable():
    papers = [
        paper("The Deep Nets of Tomorrow", ["Jörg Müller"], 2021),
        paper("On Deep Nets, Again", ["Anna Müller"], 2021),
        paper("Deep nets: a third look", ["Li Müller"], 2021),
        paper("An Untitled Thought", [], None),
        paper("The Deep Nets of Tomorrow", ["Jörg Müller"], 2021),  # same id as the first: one entry
    ]
    bib = export.bibtex(papers)
    assert list(_entries(bib)) == ["muller2021deep", "muller2021deepb", "muller2021deepc", "anonnduntitled"]
    again = [Paper(**{k: v for k, v in p.to_dict().items() if k != "sources"}) for p in papers]
    assert export.bibtex(again) == bib  # same papers, same file (no run-dependent key)
    assert export.bibtex_keys(papers[:1]) == ["muller2021deep"]


def test_bibtex_fields_entry_types_and_identifiers():
    entries = _entries(export.bibtex([A, B, C]))
    assert re.search(r"^@article\{wang2023hard,", export.bibtex([A]), re.M)  # a venue: an article
    assert export.bibtex([B]).startswith("@misc{yao2021adaptive,")
    a, b, c = entries.values()
    assert "  title = {{Hard Patches Mining for Masked Image Modeling}}" in a
    assert "  author = {Haochen Wang and Kaiyou Song}" in a and "  journal = {CVPR}" in a
    assert "  url = {https://arxiv.org/abs/2304.05919}" in a and "doi = " not in a and "eprint" not in a
    assert "  doi = {10.1609/aaai.v35i12.17275}" in b and "eprint" not in b
    assert "  eprint = {2301.01234v2}" in c and "  archivePrefix = {arXiv}" in c and "year" not in c
    assert "  abstract = {Abstract of Message Passing Limits.}" in c
    other = export.bibtex([paper("X", external_id="W2963403868")])
    assert "doi" not in other and "eprint" not in other


def test_bibtex_escapes_specials_and_keeps_braces_balanced():
    nasty = paper(
        r"50% of {Loss} & $k$-means_x #1 ~a^b \cite{x} -- a } b {",
        ["Ann O'Neil"],
        2020,
        abstract="Unbalanced } brace, { another, and @Twitter (2020) too.",
        venue="Proc. A&B",
    )
    bib = export.bibtex([nasty])
    title = re.search(r"title = \{\{(.*)\}\},", bib)[1]
    assert title == (
        r"50\% of \textbraceleft{}Loss\textbraceright{} \& \$k\$-means\_x \#1 "
        r"\textasciitilde{}a\textasciicircum{}b \textbackslash{}cite\textbraceleft{}x\textbraceright{} "
        r"-{}- a \textbraceright{} b \textbraceleft{}"
    )
    assert "journal = {Proc. A\\&B}" in bib
    assert _balanced(bib)
    for value in re.findall(r"= \{(.*)\},?$", bib, re.M):
        assert _balanced("{" + value + "}")
        assert not re.search(r"(?<!\\)[&%$#_]", value.replace("\\textbackslash{}", "")), value


def test_bibtex_round_trips_through_the_projects_own_ingest(tmp_path, sample_rows):
    # Real titles and abstracts ("--", quotes, math), and made-up ones with every special.
    papers = [
        Paper(title=r["title"], abstract=r["abstract"], authors=r["authors"], year=r["year"]) for r in sample_rows[:12]
    ]
    papers += [
        paper(
            r"50% of {Loss} & $k$-means_x #1 ~a^b \cite{x} -- a } b {",
            ["Ann O'Neil", "Łukasz Kaiser"],
            2020,
            abstract=r"We use R&D at 5% cost; a\b {x} y, a lone } brace --- and @Twitter (2020) too.",
            venue="Proc. A&B",
            url="https://example.org/a--b_c?q=1%20#frag",
        ),
        paper(
            "Étude des Réseaux",
            ["François Dupont", "Jiří Novák"],
            2019,
            authors_et_al=True,
            external_id="10.1000/xyz_123",
        ),
    ]
    bib = tmp_path / "export.bib"
    bib.write_text(export.bibtex(papers), encoding="utf-8")
    result = ingest_paths([bib])
    report = result.files[0]
    assert (report.format, report.skipped, report.warnings, result.errors) == ("bibtex", [], [], [])
    back = {p.title: p for p in result.papers}
    assert sorted(back) == sorted(p.title for p in papers)
    for p in papers:
        q = back[p.title]
        assert (q.abstract, q.authors, q.authors_et_al, q.year, q.venue) == (
            p.abstract,
            p.authors,
            p.authors_et_al,
            p.year,
            p.venue,
        ), p.title
    assert back[papers[-2].title].url == "https://example.org/a--b_c?q=1%20#frag"
    assert back[papers[-1].title].url == "https://doi.org/10.1000/xyz_123"


# --- comparison -------------------------------------------------------------------------------------


def _comparison() -> Comparison:
    p1 = paper("Alpha: A Method", ["Ann Alpha"], 2022, url="https://example.org/alpha")
    p2 = paper("Alpha Again", ["Bo Alpha"], None, url="https://example.org/alpha2")
    p3 = paper("Beta, the Method", ["Cy Beta"], 2024)
    sources = [Source(1, p1, 0.0), Source(2, p2, 0.0), Source(3, p3, 0.0)]
    cells = {
        "Approach": {
            "Alpha": Cell("Alpha approach sentence.", [cite(1, p1, "Alpha approach sentence.")]),
            "Beta": Cell('Beta, with a comma and a "quote".', [cite(3, p3, "Beta sentence.")]),
            "Gamma": Cell("no indexed abstract mentions Gamma"),
        },
        "Year": {
            "Alpha": Cell("2022", [cite(1, p1, "")]),
            "Beta": Cell("2024", [cite(3, p3, "")]),
            "Gamma": Cell("no indexed abstract mentions Gamma"),
        },
    }
    return Comparison(
        ["Alpha", "Beta", "Gamma"],
        ["Approach", "Year"],
        cells,
        sources,
        {"Alpha": [1, 2], "Beta": [3], "Gamma": []},
        notices=["No indexed abstract mentions Gamma; its column is empty."],
    )


def test_comparison_csv_is_one_rectangle_pandas_reads():
    comparison = _comparison()
    rows = export.comparison_csv_rows(comparison)
    assert len({len(r) for r in rows}) == 1
    frame = pd.read_csv(io.StringIO(export.comparison_csv(comparison)), dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["row", "Alpha", "Beta", "Gamma"]
    assert list(frame["row"]) == ["Approach", "Year", "papers", "links"]
    by_row = frame.set_index("row")
    assert by_row.loc["Approach", "Beta"] == 'Beta, with a comma and a "quote". [3]'
    assert by_row.loc["papers", "Alpha"] == "[1] Alpha: A Method (2022); [2] Alpha Again"
    assert by_row.loc["papers", "Beta"] == "[3] Beta, the Method (2024)"
    assert by_row.loc["links", "Alpha"] == "https://example.org/alpha; https://example.org/alpha2"
    assert (by_row.loc["links", "Beta"], by_row.loc["papers", "Gamma"]) == ("", "")


def test_comparison_markdown_file():
    comparison = _comparison()
    md = export.comparison_markdown(comparison)
    lines = md.splitlines()
    assert lines[0] == "# Comparison: Alpha vs Beta vs Gamma"
    assert comparison.markdown(sources=False) in md and "Sources:" not in md
    assert "[1] Alpha: A Method. Ann Alpha (2022). https://example.org/alpha" in lines
    assert "[3] Beta, the Method. Cy Beta (2024)." in lines
    assert lines[-1] == "- No indexed abstract mentions Gamma; its column is empty."
    assert "<" not in md


def test_a_comparison_from_a_small_index_exports(sample_lib):
    pa, rows, _, _ = sample_lib
    methods = ["MixedNUTS", "UniRes"]
    assert all(any(m in r["title"] for r in rows) for m in methods)
    comparison = pa.compare(methods)
    frame = pd.read_csv(io.StringIO(export.comparison_csv(comparison)), dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["row", *methods]
    assert list(frame["row"]) == [*comparison.rows, "papers", "links"]
    papers = frame.set_index("row").loc["papers"]
    for method in methods:
        (n,) = comparison.papers[method]
        src = next(s for s in comparison.sources if s.n == n)
        assert papers[method] == f"[{n}] {src.paper.title} ({src.paper.year})"
        assert method in src.paper.title
    md = export.comparison_markdown(comparison)
    assert md.startswith("# Comparison: MixedNUTS vs UniRes\n")
    assert all(f"[{s.n}] {s.paper.title}" in md for s in comparison.sources)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Compare ADAHESSIAN vs M-FAC", "compare-adahessian-vs-m-fac"),
        ("Études  réseaux!", "etudes-reseaux"),
        ("", "x"),
        ("a" * 39 + " b", "a" * 39),
    ],
)
def test_slug(text, expected):
    assert export.slug(text) == expected


def test_a_csv_cell_a_spreadsheet_would_run_is_defused():
    from assistant.export import _cell

    assert [_cell(x) for x in ("=HYPERLINK(\"http://x\")", "+A1", "@SUM(A1)", "-cmd|' /C calc'!A0")] == [
        "'=HYPERLINK(\"http://x\")", "'+A1", "'@SUM(A1)", "'-cmd|' /C calc'!A0"]
    assert _cell("-2+3+cmd|' /C calc'!A0") == "'-2+3+cmd|' /C calc'!A0"  # a number first is no excuse
    assert [_cell(x) for x in ("-0.5", "+1", "1e-3", "- a list item", "plain", 3)] == [
        "-0.5", "+1", "1e-3", "'- a list item", "plain", "3"]

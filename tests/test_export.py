"""The files a researcher takes away (`assistant.export`): answer and conversation Markdown
with one numbered reference list, BibTeX that the project's own ingest reads back to the
same papers, and the comparison as Markdown and as one rectangular CSV table."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timezone

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
    third = "[3] Message Passing Limits. Jörg Müller. https://arxiv.org/abs/2301.01234"  # the id, not a version
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
    assert "  eprint = {2301.01234}" in c and "  archivePrefix = {arXiv}" in c and "year" not in c
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


# --- RIS and CSL-JSON -------------------------------------------------------------------------------

# A preprint: non-ASCII and particle names, a DOI and an arXiv id (both as a file may spell
# them: normalised by Paper), no year.
KNOWN = Paper(
    title="Message  Passing Limits",
    abstract="We show\nlimits of message passing.",
    authors=["Jörg Müller", "Ana van der Berg", "Martin Luther King Jr.", "Plato"],
    year=None,
    doi="https://doi.org/10.1000/XYZ_1",
    arxiv_id="arXiv:2301.01234v2",
)
# A journal article with a date and its own URL.
DATED = paper("Sparse Experts", ["Li Wei"], 2021, date="2021-03-15", venue="JMLR", url="https://example.org/se")


def test_ris_of_known_papers_exactly():
    assert export.ris([KNOWN, DATED, KNOWN]) == (
        "TY  - GEN\n"
        "ID  - mullerndmessage\n"
        "TI  - Message Passing Limits\n"
        "AU  - Müller, Jörg\n"
        "AU  - van der Berg, Ana\n"
        "AU  - King, Martin Luther, Jr.\n"
        "AU  - Plato\n"
        "DO  - 10.1000/xyz_1\n"
        "UR  - https://arxiv.org/abs/2301.01234\n"
        "AB  - We show limits of message passing.\n"
        "ER  - \n"
        "\n"
        "TY  - JOUR\n"
        "ID  - wei2021sparse\n"
        "TI  - Sparse Experts\n"
        "AU  - Wei, Li\n"
        "PY  - 2021\n"
        "DA  - 2021/03/15/\n"
        "JO  - JMLR\n"
        "UR  - https://example.org/se\n"
        "AB  - Abstract of Sparse Experts.\n"
        "ER  - \n"
    )
    assert export.ris([]) == ""


def test_csl_json_of_known_papers_exactly():
    text = export.csl_json([KNOWN, DATED])
    assert text.startswith('[\n  {\n    "id": "mullerndmessage",') and text.endswith("]\n")
    assert "Jörg" in text  # UTF-8, not \\u escapes
    assert json.loads(text) == [
        {
            "id": "mullerndmessage",
            "type": "article",
            "title": "Message Passing Limits",
            "author": [
                {"family": "Müller", "given": "Jörg"},
                {"family": "van der Berg", "given": "Ana"},
                {"family": "King", "given": "Martin Luther", "suffix": "Jr."},
                {"literal": "Plato"},
            ],
            "DOI": "10.1000/xyz_1",
            "number": "arXiv:2301.01234",
            "URL": "https://arxiv.org/abs/2301.01234",
            "abstract": "We show limits of message passing.",
        },
        {
            "id": "wei2021sparse",
            "type": "article-journal",
            "title": "Sparse Experts",
            "author": [{"family": "Wei", "given": "Li"}],
            "issued": {"date-parts": [[2021, 3, 15]]},
            "container-title": "JMLR",
            "URL": "https://example.org/se",
            "abstract": "Abstract of Sparse Experts.",
        },
    ]
    assert export.csl_json([]) == "[]\n"


@pytest.mark.parametrize("date, year, parts", [
    ("2021-03-15", 2021, [2021, 3, 15]),
    ("2021-03", 2021, [2021, 3]),
    ("--03-15", 2021, [2021, 3, 15]),  # a month and day without a year (a daily-papers page) and the year
    ("--03-15", None, []),
    ("2020-03-15", 2021, [2021]),  # a date that disagrees with the year: the year alone
    (None, 2021, [2021]),
])
def test_dates_in_csl_and_ris(date, year, parts):
    p = paper("Dated", year=year, date=date)
    item = json.loads(export.csl_json([p]))[0]
    assert item.get("issued", {}).get("date-parts") == ([parts] if parts else None)
    ris = export.ris([p])
    assert (f"PY  - {year}\n" in ris) == bool(parts)
    if len(parts) > 1:
        assert "DA  - " + "/".join(f"{x:02d}" for x in parts) + "/" * (4 - len(parts)) + "\n" in ris
    else:
        assert "DA  - " not in ris


def test_one_key_per_paper_in_every_format_and_on_every_run():
    papers = [KNOWN, DATED, paper("Sparse experts, again", ["Wu Wei"], 2021), KNOWN]
    keys = ["mullerndmessage", "wei2021sparse", "wei2021sparseb"]
    assert list(_entries(export.bibtex(papers))) == keys
    assert re.findall(r"^ID  - (.*)$", export.ris(papers), re.M) == keys
    assert [item["id"] for item in json.loads(export.csl_json(papers))] == keys
    again = [Paper.from_dict(p.to_dict()) for p in papers]  # the same papers, read back (a new run)
    for write in (export.bibtex, export.ris, export.csl_json):
        assert write(again) == write(papers)


ROUND_TRIP_FIELDS = ("id", "title", "abstract", "authors", "year", "doi", "arxiv_id", "pmid")
# Papers the other identifiers do not help with: one known only by its PubMed id, one without authors.
PUBMED_ONLY = paper("Sleep and memory in older adults", ["Dara Ó Briain"], 2019, pmid="31234567")
NO_AUTHORS = paper("Front matter of a workshop on sparse retrieval", [], 2022, venue="Workshop on Retrieval")


def round_trip_papers(sample_rows) -> list[Paper]:
    """Real papers, and made-up ones with what exports get wrong: non-ASCII and particle
    names, a suffix, DOIs and arXiv ids, braces and LaTeX specials in titles."""
    papers = [Paper(title=r["title"], abstract=r["abstract"], authors=r["authors"], year=r["year"])
              for r in sample_rows[:6]]
    papers += [
        paper(r"Sparse {MoE} & the 50% rule: $k$-means_x #1 ~ a^b \cite{x} -- a } b {", ["Łukasz Kaiser", "Jörg Müller"],
              2021, abstract=r"We use R&D at 5% cost; a\b {x} y, a lone } brace --- and @Twitter (2020) too.",
              venue="Proc. A&B", doi="10.1002/(SICI)1097-4636(199812)43:4<360::AID-JBM3>3.0.CO;2-H"),
        paper("Étude des réseaux « graphes »", ["François Dupont", "Ana van der Berg"], None,
              arxiv_id="2301.01234v3"),
        paper("Old-style identifiers", ["Martin Luther King Jr.", "Zoë Ng"], 2019, arxiv_id="hep-th/9901001",
              doi="10.1103/PhysRev.47.777", url="https://example.org/p?q=1&r=2"),
        PUBMED_ONLY,
        NO_AUTHORS,
    ]
    return papers


@pytest.mark.parametrize("suffix, write", [(".bib", export.bibtex), (".ris", export.ris), (".json", export.csl_json)])
def test_exports_read_back_into_the_same_papers(tmp_path, sample_rows, suffix, write):
    # The whole list, and a file of only the PubMed-only and the author-less paper (which
    # the CSL reader must still recognise: no author list, no DOI).
    for papers in (round_trip_papers(sample_rows), [PUBMED_ONLY, NO_AUTHORS]):
        path = tmp_path / f"refs{suffix}"
        path.write_text(write(papers), encoding="utf-8")
        result = ingest_paths([path])
        report = result.files[0]
        assert (report.skipped, report.warnings, report.error, result.errors) == ([], [], None, []), report
        assert report.format == {".bib": "bibtex", ".ris": "ris", ".json": "csl-json"}[suffix]
        back = {p.id: p for p in result.papers}
        assert sorted(back) == sorted(p.id for p in papers)  # same ids: nothing merged, nothing new
        for p in papers:
            q = back[p.id]
            assert [getattr(q, f) for f in ROUND_TRIP_FIELDS] == [getattr(p, f) for f in ROUND_TRIP_FIELDS], p.title
        assert back[PUBMED_ONLY.id].pmid == "31234567"


def test_the_pubmed_id_is_written_in_every_format():
    assert "  pmid = {31234567}" in export.bibtex([PUBMED_ONLY])
    ris = export.ris([PUBMED_ONLY])
    assert "AN  - 31234567\n" in ris and "DB  - PubMed\n" in ris
    assert json.loads(export.csl_json([PUBMED_ONLY]))[0]["PMID"] == "31234567"
    assert "pmid" not in export.bibtex([NO_AUTHORS]) and "AN  - " not in export.ris([NO_AUTHORS])


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


# --- bundles: `papers ask/compare --export DIR` -------------------------------------------------------

BUNDLE = ["answer.json", "answer.md", "references.bib", "references.json", "references.ris"]
SECRET = "sk-test-not-a-real-key-1234567890"


def test_papers_ask_export_writes_the_bundle(sample_lib, papers_main, llm_server, tmp_path):
    from importlib.metadata import version

    from fake_embedder import FAKE_MODEL, fake_model_env

    pa, rows, _, _ = sample_lib
    question = f"What does the paper {rows[0]['title']} propose?"
    folder = tmp_path / "out" / "hpm"  # made, with its parent
    env = {**fake_model_env(llm_server), "PAPERS_ABSTAIN_THRESHOLD": "0.05", "OPENAI_API_KEY": SECRET}
    proc = papers_main("ask", question, "--index-dir", pa.settings.index_dir, "--export", folder, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"Wrote answer.md, answer.json, references.bib, references.ris, references.json to {folder}\n" in proc.stderr
    assert sorted(p.name for p in folder.iterdir()) == BUNDLE
    assert {p.stat().st_mode & 0o777 for p in folder.iterdir()} == {0o644}  # not the temp files' private 0600
    texts = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()}
    assert all(SECRET not in text for text in texts.values())

    data = json.loads(texts["answer.json"])
    assert data["question"] == question and not data["abstained"] and data["backend"] == "extractive"
    assert data["answer"] and data["answer"] in proc.stdout
    abstracts = {r["title"]: r["abstract"] for r in rows}
    assert data["citations"]
    for c in data["citations"]:
        assert c["quote"] and abstracts[c["title"]][c["start"]:c["end"]] == c["quote"]
    assert [s["n"] for s in data["sources"]] == list(range(1, len(data["sources"]) + 1))
    settings = data["settings"]
    assert (settings["embed_model"], settings["abstain_threshold"], settings["index_name"]) == (FAKE_MODEL, 0.05, "default")
    assert settings["openai_base_url"] == llm_server.url + "/v1" and "openai_api_key" not in settings
    assert data["index"] == {"name": "default", "generation": pa.generation, "version": pa.version}
    assert data["paper_assistant"] == version("paper-assistant")
    assert datetime.fromisoformat(data["created"]).tzinfo is not None

    assert texts["answer.md"].startswith(f"# {question}\n") and "## References" in texts["answer.md"]
    cited = list(dict.fromkeys(c["title"] for c in data["citations"]))
    keys = list(_entries(texts["references.bib"]))
    assert [i["title"] for i in json.loads(texts["references.json"])] == cited
    assert [i["id"] for i in json.loads(texts["references.json"])] == keys
    assert re.findall(r"^ID  - (.*)$", texts["references.ris"], re.M) == keys
    assert len(keys) == len(cited)


def test_papers_ask_export_refuses_a_file(sample_lib, papers_main, llm_server, tmp_path):
    from fake_embedder import fake_model_env

    pa = sample_lib[0]
    taken = tmp_path / "notes.txt"
    taken.write_text("mine", encoding="utf-8")
    proc = papers_main("ask", "What is it?", "--index-dir", pa.settings.index_dir, "--export", taken,
                       env=fake_model_env(llm_server))
    assert proc.returncode == 2 and proc.stdout == ""  # refused before anything was asked
    assert proc.stderr == f"error: --export {taken}: that is a file, not a folder; name a folder for the files\n"
    assert taken.read_text(encoding="utf-8") == "mine"
    with pytest.raises(NotADirectoryError, match="notes.txt is a file, not a folder"):
        pa.save_answer(Answer("Q", "A"), taken)


def test_papers_compare_export_writes_the_table_and_its_references(sample_lib, papers_main, llm_server, tmp_path):
    from fake_embedder import fake_model_env

    pa = sample_lib[0]
    folder = tmp_path / "table"
    proc = papers_main("compare", "MixedNUTS", "UniRes", "--index-dir", pa.settings.index_dir, "--export", folder,
                       env=fake_model_env(llm_server))
    assert proc.returncode == 0, proc.stderr
    names = ["comparison.md", "comparison.csv", "references.bib", "references.ris", "references.json"]
    assert f"Wrote {', '.join(names)} to {folder}\n" in proc.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    table = pa.compare(["MixedNUTS", "UniRes"])
    assert (folder / "comparison.md").read_text(encoding="utf-8") == export.comparison_markdown(table)
    assert (folder / "comparison.csv").read_text(encoding="utf-8") == export.comparison_csv(table)
    papers = [s.paper for s in table.sources]
    assert (folder / "references.ris").read_text(encoding="utf-8") == export.ris(papers)
    # The terminal shows the table, then each paper with where to read it.
    assert proc.stdout.startswith("| | MixedNUTS | UniRes |\n")
    for s in table.sources:
        assert f"\n[{s.n}] {s.paper.title}\n" in proc.stdout


def test_the_bundle_of_an_abstention_lists_the_closest_papers(tmp_path):
    from assistant.settings import Settings

    ans = answer("Who won the 2026 cup?", "The abstracts do not answer this.", [A, B], {}, abstained=True)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    files = export.answer_bundle(ans, Settings(index_dir=tmp_path, openai_api_key=SECRET,
                                               openai_base_url="https://user:pw@llm.example/v1"),
                                 {"name": "default", "generation": 3, "version": "3@x"}, when)
    assert sorted(files) == BUNDLE
    data = json.loads(files["answer.json"])
    assert data["created"] == "2026-01-02T03:04:05+00:00" and data["abstained"] is True
    assert data["settings"]["openai_base_url"] == "https://llm.example/v1"  # no user or password
    assert SECRET not in files["answer.json"] and "pw@" not in files["answer.json"]
    assert list(_entries(files["references.bib"])) == ["wang2023hard", "yao2021adaptive"]


@pytest.mark.parametrize("url, kept", [
    ("https://user:pw@llm.example:8443/openai/v1?api-key=SECRET2&x=1#token=SECRET3", "https://llm.example:8443/openai/v1"),
    ("https://x.example/openai/v1?api-key=SECRET2", "https://x.example/openai/v1"),
    ("http://127.0.0.1:8000/v1#SECRET3", "http://127.0.0.1:8000/v1"),
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
])
def test_public_settings_keep_no_secret_of_a_url(tmp_path, url, kept):
    """A key may ride in a URL's user part, query (?api-key=) or fragment: none is written."""
    from assistant.settings import Settings

    record = Settings(index_dir=tmp_path, openai_base_url=url, chroma_url=url.replace("/openai/v1", "")).public()
    assert record["openai_base_url"] == kept
    assert record["chroma_url"] == kept.replace("/openai/v1", "")
    assert not re.search("SECRET|pw@", json.dumps(record))

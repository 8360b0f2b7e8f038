"""Reference-manager and service formats (issue 17): RIS, CSL-JSON, arXiv API Atom,
OpenAlex works and Semantic Scholar papers, plus the identifiers that JSON/CSV/BibTeX
records and BEIR corpora give. The fixtures copy the shapes real exports have (Zotero's
RIS with its BOM and CRLF lines, Better CSL JSON, an export.arxiv.org/api/query response
with its namespaces and opensearch elements, an OpenAlex page with meta/results, a
Semantic Scholar search page with total/offset/next/data); the papers in them are
made up. Each bad input is reported by file, line and entry, and the good entries of
the same file and batch are still read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant.ingest import SUPPORTED_SUFFIXES, describe_layouts, expand_paths, ingest_file, ingest_paths
from assistant.ingest.base import Collector
from assistant.ingest.detect import BY_NAME, detect_layout
from assistant.ingest.merge import merge_records
from assistant.ingest.services import abstract_from_index
from assistant.records import FileReport, Problem


def write(path: Path, text: str, bom: bool = False, crlf: bool = False) -> Path:
    data = (text.replace("\n", "\r\n") if crlf else text).encode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def label(path: Path) -> str:
    return str(path.resolve())


def line_of(text: str, needle: str) -> int:
    """1-based line of the one line of `text` that contains `needle`."""
    found = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


def by_title(papers, title: str):
    found = [p for p in getattr(papers, "papers", papers) if p.title == title]
    assert len(found) == 1, f"{title!r} in {[p.title for p in getattr(papers, 'papers', papers)]}"
    return found[0]


def titles(report: FileReport) -> list[str]:
    return [p.title for p in report.papers]


def where(paper) -> tuple[int, int]:
    return paper.sources[0].line, paper.sources[0].entry


def assert_located(problem: Problem, path: Path, line: int, entry: int | None, *words: str) -> None:
    """The message names the file, the line and the entry, and says what is wrong."""
    assert str(problem).startswith(f"{label(path)}:{line}" + (f" (entry {entry})" if entry else "") + ": "), problem
    assert (problem.file, problem.line, problem.entry) == (label(path), line, entry)
    for word in words:
        assert word in problem.reason, problem.reason


@pytest.fixture
def good_jsonl(tmp_path) -> Path:
    return write(tmp_path / "good.jsonl", json.dumps({"title": "A Good Paper", "abstract": "It parses."}) + "\n")


def assert_batch_continues(bad: Path, good: Path, bad_titles: list[str]) -> None:
    result = ingest_paths([bad, good])
    assert [p.title for p in result.papers] == bad_titles + ["A Good Paper"]


# --- RIS ---------------------------------------------------------------------------------------------

# A Zotero "Export Collection... > RIS" file (written below with Zotero's BOM and CRLF lines).
RIS = """TY  - JOUR
TI  - Sparse mixtures of experts for protein structure prediction
AU  - Müller, Jörg
AU  - Sørensen, Søren
AU  - Lee, Ann
T2  - Nature Methods
AB  - Protein structure predictors spend most of their compute on easy residues. We route each residue to a few experts.
Sparse routing halves the cost at equal accuracy.
DA  - 2021/03/15/
PY  - 2021
DO  - 10.1038/s41592-021-01100-x
SP  - 301
EP  - 310
J2  - Nat Methods
LA  - en
SN  - 1548-7091
UR  - https://www.nature.com/articles/s41592-021-01100-x
VL  - 18
IS  - 3
Y2  - 2024/05/02/09:14:11
KW  - protein folding
KW  - mixture of experts
ER  - 

TY  - JOUR
TI  - Editorial note on benchmark reporting
AU  - Garcia, Ana
T2  - Journal of Benchmarks
DA  - 2022///
PY  - 2022
ER  - 

TY  - JOUR
TI  - Cohort study of sleep and memory in older adults
AU  - 李, 明
AU  - Zhang, Wei
AU  - Ó Briain, Dara
T2  - Sleep Medicine
AB  - We followed 1,204 adults over 65 for six years. Shorter sleep predicted faster memory decline.
DA  - 2019/07//
PY  - 2019
DO  - 10.1016/j.sleep.2019.04.012
AN  - 31234567
DB  - PubMed
DP  - NLM
ER  - 

TY  - CONF
TI  - Message passing limits in graph networks
AU  - King, Martin Luther, Jr.
AU  - Novák, Jiří
T2  - Proceedings of the 40th International Conference on Machine Learning
AB  - We bound what message passing can distinguish. The bound is tight on trees.
DA  - 2023///
PY  - 2023
UR  - http://arxiv.org/abs/2301.01234v2
ER  - 

TY  - JOUR
TI  - Calibrated uncertainty for weather forecasts
AU  - Dupont, François
T2  - Quarterly Journal of the Royal Meteorological Society
AB  - Ensemble forecasts are overconfident. Post-hoc calibration fixes this cheaply.
DA  - 2020/11/02/
PY  - 2020
DO  - 10.1002/qj.3890
UR  - https://rmets.onlinelibrary.wiley.com/doi/10.1002/qj.3890
ER  - 
"""

# A BibTeX file read in the same batch: its first entry is the RIS file's first paper (same
# DOI, written in capitals; a longer title), its second the CSL file's first paper.
BIB = r"""@article{muller2021sparse,
  title = {Sparse Mixtures of Experts for Protein Structure Prediction: Routing Residues},
  author = {M{\"u}ller, J{\"o}rg and S{\o}rensen, S{\o}ren and Lee, Ann},
  journal = {Nat. Methods},
  year = {2021},
  doi = {10.1038/S41592-021-01100-X},
  abstract = {Protein structure predictors spend most of their compute on easy residues.}
}

@inproceedings{tanaka2022retrieval,
  title = {Retrieval-Augmented Summarization of Clinical Notes},
  author = {Tanaka, Hiro and Okafor, Chidi},
  booktitle = {Proceedings of ACL},
  year = {2022},
  doi = {https://doi.org/10.18653/v1/2022.acl-long.42},
  abstract = {We summarize clinical notes with retrieved evidence.}
}
"""


@pytest.fixture
def ris_file(tmp_path) -> Path:
    return write(tmp_path / "zotero.ris", RIS, bom=True, crlf=True)


def test_ris_zotero_export(ris_file):
    report = ingest_file(ris_file)
    assert (report.format, report.records, report.warnings) == ("ris", 4, [])
    assert titles(report) == [
        "Sparse mixtures of experts for protein structure prediction",
        "Cohort study of sleep and memory in older adults",
        "Message passing limits in graph networks",
        "Calibrated uncertainty for weather forecasts",
    ]
    moe, sleep, graphs, weather = report.papers
    assert moe.abstract == (
        "Protein structure predictors spend most of their compute on easy residues. We route each residue to a few "
        "experts. Sparse routing halves the cost at equal accuracy."  # the wrapped line is part of AB
    )
    assert moe.authors == ["Jörg Müller", "Søren Sørensen", "Ann Lee"]
    assert (moe.year, moe.date, moe.venue) == (2021, "2021-03-15", "Nature Methods")
    assert (moe.doi, moe.arxiv_id, moe.pmid, moe.external_id) == ("10.1038/s41592-021-01100-x", None, None, None)
    assert moe.url == "https://www.nature.com/articles/s41592-021-01100-x"
    assert where(moe) == (1, 1)

    assert sleep.authors == ["李明", "Wei Zhang", "Dara Ó Briain"]  # a Chinese name reads family name first
    assert sleep.abstract == "We followed 1,204 adults over 65 for six years. Shorter sleep predicted faster memory decline."
    assert (sleep.year, sleep.date) == (2019, None)  # "2019/07//": no day, no date
    assert (sleep.doi, sleep.pmid, sleep.external_id) == ("10.1016/j.sleep.2019.04.012", "31234567", None)
    assert sleep.url == "https://doi.org/10.1016/j.sleep.2019.04.012"
    assert where(sleep) == (line_of(RIS, "TI  - Cohort study") - 1, 3)

    assert graphs.authors == ["Martin Luther King Jr.", "Jiří Novák"]  # "Last, First, Suffix"
    assert (graphs.arxiv_id, graphs.doi, graphs.year, graphs.date) == ("2301.01234", None, 2023, None)
    assert graphs.url == "http://arxiv.org/abs/2301.01234v2"
    assert graphs.venue == "Proceedings of the 40th International Conference on Machine Learning"

    assert (weather.authors, weather.year, weather.date, weather.doi) == (
        ["François Dupont"], 2020, "2020-11-02", "10.1002/qj.3890")
    assert where(weather) == (line_of(RIS, "TI  - Calibrated") - 1, 5)

    [no_abstract] = report.skipped
    assert_located(no_abstract, ris_file, line_of(RIS, "TI  - Editorial") - 1, 2,
                   "title with no abstract", "Editorial note on benchmark reporting")


def test_ris_endnote_style_tags(tmp_path):
    """T1/A1/N2/Y1/JO and ID, as EndNote and older exporters write them; M3 holding a DOI."""
    path = write(tmp_path / "endnote.txt", "\n".join([
        "TY  - JOUR",
        "ID  - 1187",
        "T1  - Noise-robust keyword spotting",
        "A1  - Okafor, Chidi",
        "A1  - Berg, Anna",
        "Y1  - 2017/06/01/",
        "N2  - Keyword spotters fail in noise. Multi-condition training helps.",
        "JO  - IEEE Signal Processing Letters",
        "M3  - doi:10.1109/LSP.2017.1234567",
        "AN  - WOS:000401234500012",
        "ER  - ",
    ]) + "\n")
    report = ingest_file(path)
    assert (report.format, report.skipped, report.warnings) == ("ris", [], [])
    [p] = report.papers
    assert (p.title, p.abstract) == ("Noise-robust keyword spotting",
                                     "Keyword spotters fail in noise. Multi-condition training helps.")
    assert (p.authors, p.year, p.date, p.venue) == (["Chidi Okafor", "Anna Berg"], 2017, "2017-06-01",
                                                    "IEEE Signal Processing Letters")
    assert (p.doi, p.pmid, p.external_id) == ("10.1109/lsp.2017.1234567", None, "1187")


def test_ris_cut_short_keeps_the_entries_before(tmp_path, good_jsonl):
    cut = RIS[: RIS.index("We bound what")]  # inside the fourth entry's abstract, before its ER line
    path = write(tmp_path / "cut.ris", cut)
    report = ingest_file(path)
    assert titles(report) == ["Sparse mixtures of experts for protein structure prediction",
                              "Cohort study of sleep and memory in older adults"]
    no_abstract, truncated = report.skipped
    assert no_abstract.entry == 2
    assert_located(truncated, path, line_of(RIS, "TY  - CONF"), 4, "cut short", "'ER  -'")
    assert_batch_continues(path, good_jsonl, titles(report))


def test_ris_entries_missing_their_start_or_end_line(tmp_path):
    text = "\n".join([
        "TY  - JOUR",                                   # 1: never ends: the next TY comes first
        "TI  - Lost end line",
        "AB  - This entry has no ER line.",
        "TY  - JOUR",                                   # 4
        "TI  - Good one",
        "AB  - Complete.",
        "ER  - ",
        "",
        "TI  - No start line",                          # 9: tags, then ER, no TY
        "AB  - Its TY line is missing.",
        "ER  - ",
        "",
        "Exported by a tool that writes a footer.",     # 13: stray text
        "TY  - JOUR",                                   # 14
        "TI  - Last good one",
        "AB  - Also complete.",
        "ER  - ",
    ]) + "\n"
    path = write(tmp_path / "broken.ris", text)
    report = ingest_file(path)
    assert [(p.title, where(p)) for p in report.papers] == [("Good one", (4, 2)), ("Last good one", (14, 4))]
    no_end, no_start = report.skipped
    assert_located(no_end, path, 1, 1, "never ends", "line 4")
    assert_located(no_start, path, 9, 3, "no 'TY  -' line", "line 11")
    [stray] = report.warnings
    assert (stray.line, "text outside any entry" in stray.reason) == (13, True)


def test_ris_garbage_file_is_named(tmp_path):
    path = write(tmp_path / "notes.ris", "These are my reading notes,\nnot an export.\n")
    report = ingest_file(path)
    assert (report.format, report.records, report.skipped) == ("ris", 0, [])
    assert report.error == "no paper entries found (read as ris)"
    assert [w.line for w in report.warnings] == [1]


# --- CSL-JSON ---------------------------------------------------------------------------------------

CSL_ITEMS = [
    {
        "id": "tanaka2022retrieval",
        "type": "paper-conference",
        "abstract": "We summarize clinical notes with retrieved evidence. Retrieval cuts unsupported statements by half.",
        "container-title": "Proceedings of the 60th Annual Meeting of the Association for Computational Linguistics",
        "DOI": "10.18653/v1/2022.acl-long.42",
        "event-place": "Dublin, Ireland",
        "page": "512-525",
        "publisher": "Association for Computational Linguistics",
        "source": "ACLWeb",
        "title": "Retrieval-augmented summarization of clinical notes",
        "URL": "https://aclanthology.org/2022.acl-long.42",
        "author": [{"family": "Tanaka", "given": "Hiro"}, {"family": "Okafor", "given": "Chidi"}],
        "accessed": {"date-parts": [[2024, 5, 2]]},
        "issued": {"date-parts": [[2022, 5]]},
        "citation-key": "tanaka2022retrieval",
    },
    {
        "id": "garcia2020reply",
        "type": "article-journal",
        "container-title": "Sleep Medicine",
        "title": "Reply to comments on the cohort design",
        "author": [{"family": "Garcia", "given": "Ana"}],
        "issued": {"date-parts": [["2020"]]},
        "citation-key": "garcia2020reply",
    },
    {
        "id": "li2024graph",
        "type": "article-journal",
        "abstract": "Graph transformers predict solubility better than message passing on small molecules.",
        "container-title": "Journal of Chemical Information and Modeling",
        "DOI": "10.1021/acs.jcim.3c01234",
        "PMID": "38345678",
        "title": "Graph transformers for molecule property prediction",
        "author": [
            {"family": "李", "given": "明"},
            {"family": "Sørensen", "given": "Søren"},
            {"family": "Berg", "given": "Anna", "non-dropping-particle": "van den"},
            {"literal": "Ørsted Open Science Consortium"},
        ],
        "issued": {"date-parts": [["2024", 2, 29]]},
        "citation-key": "li2024graph",
    },
    {
        "id": "lee2023scaling",
        "type": "article",
        "abstract": "Sparse retrievers follow power laws in model size. We fit them on 40 runs.",
        "DOI": "10.48550/arXiv.2302.05678",
        "note": "arXiv:2302.05678 [cs]",
        "number": "arXiv:2302.05678",
        "publisher": "arXiv",
        "source": "arXiv.org",
        "title": "Scaling laws for sparse retrieval",
        "URL": "http://arxiv.org/abs/2302.05678",
        "author": [{"family": "Lee", "given": "Ann"}],
        "issued": {"date-parts": [[2023, 1, 4]]},
        "citation-key": "lee2023scaling",
    },
    {
        "id": "okafor2018low",
        "type": "paper-conference",
        "abstract": "Self-training helps speech recognition when labels are scarce.",
        "container-title": "Interspeech",
        "title": "Low-resource speech recognition with self-training",
        "author": [{"family": "Okafor", "given": "Chidi"}],
        "issued": {"raw": "2018-09-02"},
        "citation-key": "okafor2018low",
    },
]
CSL = json.dumps(CSL_ITEMS, indent="\t", ensure_ascii=False)  # Zotero writes tab-indented JSON
CSL_STARTS = [n for n, line in enumerate(CSL.splitlines(), start=1) if line == "\t{"]


def test_csl_json_better_csl_export(tmp_path):
    path = write(tmp_path / "library.json", CSL)
    report = ingest_file(path)
    assert (report.format, report.records, report.warnings) == ("csl-json", 4, [])
    acl, graphs, scaling, speech = report.papers
    assert (acl.title, acl.abstract) == (
        "Retrieval-augmented summarization of clinical notes",
        "We summarize clinical notes with retrieved evidence. Retrieval cuts unsupported statements by half.")
    assert (acl.authors, acl.year, acl.date) == (["Hiro Tanaka", "Chidi Okafor"], 2022, None)  # no day: no date
    assert (acl.doi, acl.external_id, acl.url) == (
        "10.18653/v1/2022.acl-long.42", "tanaka2022retrieval", "https://aclanthology.org/2022.acl-long.42")
    assert acl.venue == "Proceedings of the 60th Annual Meeting of the Association for Computational Linguistics"
    assert where(acl) == (CSL_STARTS[0], 1)

    assert graphs.authors == ["李明", "Søren Sørensen", "Anna van den Berg", "Ørsted Open Science Consortium"]
    assert (graphs.year, graphs.date, graphs.doi, graphs.pmid) == (
        2024, "2024-02-29", "10.1021/acs.jcim.3c01234", "38345678")
    assert where(graphs) == (CSL_STARTS[2], 3)

    assert (scaling.arxiv_id, scaling.doi, scaling.date, scaling.external_id) == (
        "2302.05678", None, "2023-01-04", "lee2023scaling")  # arXiv's DataCite DOI is read as the arXiv id
    assert (speech.date, speech.year, speech.venue, speech.url) == ("2018-09-02", 2018, "Interspeech", None)

    [no_abstract] = report.skipped
    assert_located(no_abstract, path, CSL_STARTS[1], 2, "title with no abstract", "Reply to comments")


def test_csl_items_that_are_not_papers(tmp_path, good_jsonl):
    items = [CSL_ITEMS[0], "just a string", {**CSL_ITEMS[4], "title": 1234}, CSL_ITEMS[2]]
    text = json.dumps(items, indent=2, ensure_ascii=False)
    path = write(tmp_path / "odd.json", text)
    report = ingest_file(path)
    assert report.format == "csl-json"
    assert titles(report) == [CSL_ITEMS[0]["title"], CSL_ITEMS[2]["title"]]
    string, number = report.skipped
    assert_located(string, path, line_of(text, '"just a string"'), 2, "CSL item is text", "'just a string'")
    assert_located(number, path, line_of(text, '"title": 1234') - 5, 3, "field 'title' is a number (1234)")
    assert_batch_continues(path, good_jsonl, titles(report))


def test_csl_file_cut_short_keeps_the_items_before(tmp_path):
    cut = CSL[: CSL.index('"title": "Graph transformers')]
    path = write(tmp_path / "cut.json", cut)
    report = ingest_file(path)
    assert (report.format, titles(report)) == ("csl-json", [CSL_ITEMS[0]["title"]])
    no_abstract, broken = report.skipped
    assert no_abstract.entry == 2
    assert_located(broken, path, len(cut.splitlines()), 3, "invalid JSON, the file is cut short",
                   "the entries before it were read")


# --- merging with a BibTeX file of the same batch ------------------------------------------------------


def test_same_doi_in_ris_csl_and_bibtex_is_one_paper(tmp_path, ris_file):
    csl = write(tmp_path / "library.json", CSL)
    bib = write(tmp_path / "refs.bib", BIB)
    result = ingest_paths([ris_file, csl, bib])
    assert [f.format for f in result.files] == ["ris", "csl-json", "bibtex"]
    assert (len(result.papers), result.merged) == (8, 2)
    assert result.merged_by_file == {label(ris_file): 0, label(csl): 0, label(bib): 2}

    moe = by_title(result, "Sparse mixtures of experts for protein structure prediction")  # first seen
    assert [(s.file, s.format, s.line) for s in moe.sources] == [(label(ris_file), "ris", 1), (label(bib), "bibtex", 1)]
    assert moe.doi == "10.1038/s41592-021-01100-x"
    assert moe.external_id == "muller2021sparse"  # the RIS record had none: the merged paper takes the BibTeX key
    acl = by_title(result, "Retrieval-augmented summarization of clinical notes")
    assert [s.format for s in acl.sources] == ["csl-json", "bibtex"]
    assert acl.abstract == CSL_ITEMS[0]["abstract"]  # the longer abstract

    records = [p for f in result.files for p in f.papers]
    merged = merge_records(records)
    assert [(m.record.title, m.into.title, m.by) for m in merged.merges] == [
        ("Sparse Mixtures of Experts for Protein Structure Prediction: Routing Residues",
         "Sparse mixtures of experts for protein structure prediction", "doi"),
        ("Retrieval-Augmented Summarization of Clinical Notes",
         "Retrieval-augmented summarization of clinical notes", "doi"),
    ]


# --- arXiv API Atom ---------------------------------------------------------------------------------

ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3Dall%3Asparse%26id_list%3D%26start%3D0%26max_results%3D3" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=all:sparse&amp;id_list=&amp;start=0&amp;max_results=3</title>
  <id>http://arxiv.org/api/4f2wBJwYb1KPXgnzOq2yrQ3QzXE</id>
  <updated>2024-05-02T00:00:00-04:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1532</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">3</opensearch:itemsPerPage>
  <entry>
    <id>http://arxiv.org/abs/2305.01234v3</id>
    <updated>2023-09-14T17:02:11Z</updated>
    <published>2023-05-02T13:45:07Z</published>
    <title>Sparse Attention Routing for Long Documents: Scaling to a Million
  Tokens</title>
    <summary>  Attention over long documents is quadratic in their length. We route each
query to a few blocks, which makes it linear. On a million tokens the
routed model matches full attention.
</summary>
    <author>
      <name>Ana García</name>
    </author>
    <author>
      <name>Wei Zhang</name>
    </author>
    <arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">12 pages, 4 figures</arxiv:comment>
    <arxiv:journal_ref xmlns:arxiv="http://arxiv.org/schemas/atom">Transactions on Machine Learning Research (2023)</arxiv:journal_ref>
    <link href="http://arxiv.org/abs/2305.01234v3" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/2305.01234v3" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/hep-th/9901001v2</id>
    <updated>1999-03-02T10:00:00Z</updated>
    <published>1999-01-04T09:12:40Z</published>
    <title>Boundary States &amp; Dualities in String Field Theory</title>
    <summary>  We construct boundary states for open strings in a constant field and show
that T-duality maps them to each other.
</summary>
    <author>
      <name>Émilie Durand</name>
      <arxiv:affiliation xmlns:arxiv="http://arxiv.org/schemas/atom">Université Paris-Saclay</arxiv:affiliation>
    </author>
    <arxiv:doi xmlns:arxiv="http://arxiv.org/schemas/atom">10.1103/PhysRevD.59.105001</arxiv:doi>
    <link title="doi" href="http://dx.doi.org/10.1103/PhysRevD.59.105001" rel="related"/>
    <arxiv:journal_ref xmlns:arxiv="http://arxiv.org/schemas/atom">Phys.Rev. D59 (1999) 105001</arxiv:journal_ref>
    <link href="http://arxiv.org/abs/hep-th/9901001v2" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/hep-th/9901001v2" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="hep-th" scheme="http://arxiv.org/schemas/atom"/>
    <category term="hep-th" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2401.00007v1</id>
    <updated>2023-12-29T18:00:01Z</updated>
    <published>2023-12-29T18:00:01Z</published>
    <title>When Is $k$-Means &lt;i&gt;Stable&lt;/i&gt;?</title>
    <summary>  We give conditions under which $k$-means returns the same clusters on
resampled data, at cost $O(n \\log n)$.
</summary>
    <author>
      <name>Søren Sørensen</name>
    </author>
    <link href="http://arxiv.org/abs/2401.00007v1" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/2401.00007v1" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="stat.ML" scheme="http://arxiv.org/schemas/atom"/>
    <category term="stat.ML" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
</feed>
"""
ATOM_STARTS = [n for n, line in enumerate(ATOM.splitlines(), start=1) if line.strip() == "<entry>"]


def test_arxiv_atom_response(tmp_path):
    path = write(tmp_path / "query.xml", ATOM)
    report = ingest_file(path)
    assert (report.format, report.records, report.skipped, report.warnings) == ("arxiv-atom", 3, [], [])
    routing, strings, kmeans = report.papers
    assert routing.title == "Sparse Attention Routing for Long Documents: Scaling to a Million Tokens"
    assert routing.abstract == (
        "Attention over long documents is quadratic in their length. We route each query to a few blocks, which "
        "makes it linear. On a million tokens the routed model matches full attention.")
    assert (routing.authors, routing.year, routing.date, routing.category) == (
        ["Ana García", "Wei Zhang"], 2023, "2023-05-02", "cs.CL")
    assert (routing.arxiv_id, routing.external_id, routing.doi) == ("2305.01234", "2305.01234v3", None)
    assert (routing.url, routing.venue) == (
        "http://arxiv.org/abs/2305.01234v3", "Transactions on Machine Learning Research (2023)")
    assert where(routing) == (ATOM_STARTS[0], 1)

    assert strings.title == "Boundary States & Dualities in String Field Theory"
    assert (strings.authors, strings.affiliations) == (["Émilie Durand"], ["Université Paris-Saclay"])
    assert (strings.arxiv_id, strings.doi, strings.year, strings.category) == (
        "hep-th/9901001", "10.1103/physrevd.59.105001", 1999, "hep-th")
    assert strings.venue == "Phys.Rev. D59 (1999) 105001"
    assert where(strings) == (ATOM_STARTS[1], 2)

    assert kmeans.title == "When Is $k$-Means <i>Stable</i>?"  # text, as the feed escaped it
    assert kmeans.abstract == ("We give conditions under which $k$-means returns the same clusters on resampled data, "
                               "at cost $O(n \\log n)$.")
    assert (kmeans.authors, kmeans.date, kmeans.category, kmeans.arxiv_id) == (
        ["Søren Sørensen"], "2023-12-29", "stat.ML", "2401.00007")


def test_arxiv_atom_cut_short_keeps_the_entries_before(tmp_path, good_jsonl):
    cut = ATOM[: ATOM.index("resampled data")]
    path = write(tmp_path / "cut.atom", cut)
    report = ingest_file(path)
    assert report.format == "arxiv-atom"
    assert titles(report) == ["Sparse Attention Routing for Long Documents: Scaling to a Million Tokens",
                              "Boundary States & Dualities in String Field Theory"]
    [problem] = report.skipped
    last, column = len(cut.splitlines()), len(cut.splitlines()[-1]) + 1
    assert_located(problem, path, last, 3, "malformed XML, the file is cut short: no element found",
                   f"(line {last}, column {column})", "the entries before it were read")
    assert_batch_continues(path, good_jsonl, titles(report))


def test_arxiv_atom_mismatched_tag_is_located(tmp_path):
    broken = ATOM.replace("<name>Wei Zhang</name>", "<name>Wei Zhang</nam>")
    path = write(tmp_path / "broken.xml", broken)
    report = ingest_file(path)
    assert (report.format, report.records) == ("arxiv-atom", 0)
    [problem] = report.skipped
    line = line_of(broken, "</nam>")
    column = broken.splitlines()[line - 1].index("nam>") + 1  # expat points at the closing tag's name
    assert_located(problem, path, line, 1, "malformed XML: mismatched tag", f"line {line}, column {column}")


def test_xml_declaring_entities_is_refused(tmp_path):
    text = ('<?xml version="1.0"?>\n<!DOCTYPE feed [\n <!ENTITY a "aaaaaaaaaa">\n <!ENTITY b "&a;&a;&a;&a;&a;">\n]>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2301.00001v1</id>'
            "<title>&b;</title><summary>&b;</summary></entry></feed>\n")
    path = write(tmp_path / "bomb.xml", text)
    report = ingest_file(path)
    assert (report.format, report.records) == ("arxiv-atom", 0)
    [problem] = report.skipped
    assert_located(problem, path, 3, 1, "declares entities")


def test_arxiv_api_error_entry_is_reported(tmp_path):
    text = ATOM.split("  <entry>")[0] + """  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_2301.0</id>
    <title>Error</title>
    <summary>incorrect id format for 2301.0</summary>
    <updated>2024-05-02T00:00:00-04:00</updated>
    <link href="http://arxiv.org/api/errors#incorrect_id_format_for_2301.0" rel="alternate" type="text/html"/>
    <author>
      <name>arXiv api core</name>
    </author>
  </entry>
</feed>
"""
    path = write(tmp_path / "error.xml", text)
    report = ingest_file(path)
    [problem] = report.skipped
    assert_located(problem, path, line_of(text, "<entry>"), 1, "arXiv API error entry", "incorrect id format")


# --- OpenAlex ----------------------------------------------------------------------------------------

OPENALEX = {
    "meta": {"count": 3, "db_response_time_ms": 31, "page": 1, "per_page": 25, "groups_count": None},
    "results": [
        {
            "id": "https://openalex.org/W4385012345",
            "doi": "https://doi.org/10.1145/3580305.3599123",
            "title": "Small data, deep models",
            "display_name": "Small data, deep models",
            "publication_year": 2023,
            "publication_date": "2023-08-04",
            "ids": {"openalex": "https://openalex.org/W4385012345", "doi": "https://doi.org/10.1145/3580305.3599123"},
            "language": "en",
            "primary_location": {
                "is_oa": False,
                "landing_page_url": "https://dl.acm.org/doi/10.1145/3580305.3599123",
                "pdf_url": None,
                "source": {"id": "https://openalex.org/S4363608762", "display_name": "Proceedings of KDD 2023",
                           "issn_l": None, "type": "conference"},
                "license": None,
                "version": "publishedVersion",
            },
            "type": "article",
            "authorships": [
                {"author_position": "first",
                 "author": {"id": "https://openalex.org/A5023888391", "display_name": "Jörg Müller", "orcid": None},
                 "institutions": [{"id": "https://openalex.org/I62916508", "display_name": "Technical University of Munich",
                                   "ror": "https://ror.org/02kkvpp62", "country_code": "DE", "type": "education"}],
                 "countries": ["DE"], "is_corresponding": True, "raw_author_name": "J. Müller",
                 "raw_affiliation_strings": ["TU Munich"]},
                {"author_position": "last",
                 "author": {"id": "https://openalex.org/A5000000002", "display_name": "李明", "orcid": None},
                 "institutions": [], "countries": [], "is_corresponding": False, "raw_author_name": "Li Ming",
                 "raw_affiliation_strings": []},
            ],
            "cited_by_count": 12,
            "abstract_inverted_index": {"Deep": [0], "models": [1, 6], "overfit": [2], "small": [3], "data;": [4],
                                        "smaller": [5], "do": [7], "not.": [8]},
            "updated_date": "2024-04-30T11:42:12.071145",
        },
        {
            "id": "https://openalex.org/W3123456789",
            "doi": None,
            "title": "Sleep and memory in a national cohort",
            "display_name": "Sleep and memory in a national cohort",
            "publication_year": 2021,
            "publication_date": "2021-01-01",
            "ids": {"openalex": "https://openalex.org/W3123456789", "pmid": "https://pubmed.ncbi.nlm.nih.gov/33456789"},
            "primary_location": {"is_oa": False, "landing_page_url": "https://pubmed.ncbi.nlm.nih.gov/33456789",
                                 "pdf_url": None, "source": None},
            "type": "article",
            "authorships": [
                {"author_position": "first", "author": {"id": "https://openalex.org/A5000000003",
                                                        "display_name": "Dara Ó Briain", "orcid": None},
                 "institutions": [], "countries": [], "is_corresponding": False, "raw_author_name": "Dara Ó Briain",
                 "raw_affiliation_strings": []},
            ],
            "abstract_inverted_index": {"Short": [0], "sleep": [1], "predicted": [2], "decline.": [3]},
        },
        {
            "id": "https://openalex.org/W2000000042",
            "doi": "https://doi.org/10.1000/front.matter",
            "title": "Front matter and committees",
            "display_name": "Front matter and committees",
            "publication_year": 2019,
            "publication_date": "2019-06-01",
            "ids": {"openalex": "https://openalex.org/W2000000042"},
            "primary_location": None,
            "authorships": [],
            "abstract_inverted_index": None,
        },
    ],
    "group_by": [],
}
OPENALEX_TEXT = json.dumps(OPENALEX, indent=2, ensure_ascii=False)
OPENALEX_STARTS = [n for n, line in enumerate(OPENALEX_TEXT.splitlines(), start=1) if line == "    {"]


def test_openalex_works_page(tmp_path):
    path = write(tmp_path / "works.json", OPENALEX_TEXT)
    report = ingest_file(path)
    assert (report.format, report.records, report.warnings) == ("openalex", 2, [])
    small, sleep = report.papers
    assert (small.title, small.abstract) == ("Small data, deep models",
                                             "Deep models overfit small data; smaller models do not.")
    assert (small.authors, small.affiliations) == (["Jörg Müller", "李明"], ["Technical University of Munich"])
    assert (small.year, small.date, small.venue) == (2023, "2023-08-04", "Proceedings of KDD 2023")
    assert (small.doi, small.pmid, small.external_id) == ("10.1145/3580305.3599123", None, "W4385012345")
    assert small.url == "https://dl.acm.org/doi/10.1145/3580305.3599123"
    assert where(small) == (OPENALEX_STARTS[0], 1)

    assert (sleep.abstract, sleep.authors, sleep.venue) == ("Short sleep predicted decline.", ["Dara Ó Briain"], None)
    assert (sleep.doi, sleep.pmid, sleep.external_id, sleep.year) == (None, "33456789", "W3123456789", 2021)
    assert where(sleep) == (OPENALEX_STARTS[1], 2)

    [no_abstract] = report.skipped
    assert_located(no_abstract, path, OPENALEX_STARTS[2], 3, "title with no abstract",
                   "abstract_inverted_index is null", "'Front matter and committees' (W2000000042)")


def test_openalex_result_that_is_not_a_work(tmp_path, good_jsonl):
    page = {**OPENALEX, "results": [OPENALEX["results"][0], ["W1", "W2"],
                                    {**OPENALEX["results"][1], "abstract_inverted_index": {"Short": "zero"}}]}
    text = json.dumps(page, indent=2, ensure_ascii=False)
    path = write(tmp_path / "odd.txt", text)
    report = ingest_file(path)
    assert (report.format, titles(report)) == ("openalex", ["Small data, deep models"])
    listed, bad_index = report.skipped
    assert_located(listed, path, line_of(text, '"W1"') - 1, 2, "OpenAlex result is a list", "expected a work object")
    assert_located(bad_index, path, line_of(text, '"id": "https://openalex.org/W3123456789"') - 1, 3, "not a map of words to positions",
                   "Sleep and memory in a national cohort")
    assert_batch_continues(path, good_jsonl, titles(report))


def test_abstract_from_inverted_index():
    assert abstract_from_index({"b": [1, 3], "a": [0], "c": [2]}) == "a b c b"
    assert abstract_from_index({}) == ""
    assert abstract_from_index({"a": [0.5]}) is None
    assert abstract_from_index(None) is None


# --- Semantic Scholar --------------------------------------------------------------------------------

S2 = {
    "total": 2841,
    "offset": 0,
    "next": 3,
    "data": [
        {
            "paperId": "0f3b2c6a9d1e4f5a8b7c6d5e4f3a2b1c0d9e8f7a",
            "externalIds": {"DBLP": "conf/nips/LeeS22", "ArXiv": "2205.01234", "DOI": "10.48550/arXiv.2205.01234",
                            "CorpusId": 248496012},
            "url": "https://www.semanticscholar.org/paper/0f3b2c6a9d1e4f5a8b7c6d5e4f3a2b1c0d9e8f7a",
            "title": "Retrieval heads in sparse transformers",
            "abstract": "A few attention heads do most of the retrieval. Pruning the rest keeps accuracy.",
            "venue": "Neural Information Processing Systems",
            "year": 2022,
            "publicationDate": "2022-05-03",
            "authors": [{"authorId": "2109876543", "name": "Ann Lee"}, {"authorId": None, "name": "Søren Sørensen"}],
        },
        {
            "paperId": "7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b",
            "externalIds": {"MAG": "3012345678", "CorpusId": 215123456},
            "url": "https://www.semanticscholar.org/paper/7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b",
            "title": "Proceedings overview",
            "abstract": None,
            "venue": "",
            "year": 2020,
            "publicationDate": None,
            "authors": [],
        },
        {
            "paperId": "c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0",
            "externalIds": {"PubMed": "34567890", "PubMedCentral": "8012345", "DOI": "10.1093/bioinformatics/btab123",
                            "CorpusId": 232123456},
            "url": "https://www.semanticscholar.org/paper/c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0",
            "title": "Protein language models learn contacts",
            "abstract": "Attention maps of protein language models predict residue contacts.",
            "venue": "",
            "year": 2021,
            "publicationDate": None,
            "journal": {"name": "Bioinformatics", "volume": "37", "pages": "2012 - 2020"},
            "authors": [{"authorId": "1741101", "name": "François Dupont"}],
        },
    ],
}
S2_TEXT = json.dumps(S2, indent=2, ensure_ascii=False)
S2_STARTS = [n for n, line in enumerate(S2_TEXT.splitlines(), start=1) if line == "    {"]


def test_semantic_scholar_search_page(tmp_path):
    path = write(tmp_path / "search.json", S2_TEXT)
    report = ingest_file(path)
    assert (report.format, report.records, report.warnings) == ("semantic-scholar", 2, [])
    heads, contacts = report.papers
    assert (heads.title, heads.abstract) == ("Retrieval heads in sparse transformers",
                                             "A few attention heads do most of the retrieval. Pruning the rest keeps accuracy.")
    assert (heads.authors, heads.year, heads.date, heads.venue) == (
        ["Ann Lee", "Søren Sørensen"], 2022, "2022-05-03", "Neural Information Processing Systems")
    assert (heads.arxiv_id, heads.doi, heads.pmid) == ("2205.01234", None, None)  # the DataCite DOI is the arXiv id
    assert heads.external_id == "0f3b2c6a9d1e4f5a8b7c6d5e4f3a2b1c0d9e8f7a"
    assert heads.url == "https://www.semanticscholar.org/paper/0f3b2c6a9d1e4f5a8b7c6d5e4f3a2b1c0d9e8f7a"
    assert where(heads) == (S2_STARTS[0], 1)

    assert (contacts.authors, contacts.year, contacts.date, contacts.venue) == (
        ["François Dupont"], 2021, None, "Bioinformatics")  # an empty venue: the journal's name
    assert (contacts.doi, contacts.pmid, contacts.arxiv_id) == ("10.1093/bioinformatics/btab123", "34567890", None)
    assert where(contacts) == (S2_STARTS[2], 3)

    [no_abstract] = report.skipped
    assert_located(no_abstract, path, S2_STARTS[1], 2, "title with no abstract (abstract is null)",
                   "'Proceedings overview' (paperId 7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b)")


def test_semantic_scholar_title_that_is_a_number(tmp_path, good_jsonl):
    page = {**S2, "data": [{**S2["data"][0], "title": 2022}, S2["data"][2], None]}
    text = json.dumps(page, indent=2, ensure_ascii=False)
    path = write(tmp_path / "odd.json", text)
    report = ingest_file(path)
    assert (report.format, titles(report)) == ("semantic-scholar", ["Protein language models learn contacts"])
    number, null = report.skipped
    assert_located(number, path, line_of(text, '"0f3b2c6a9d1e4f5a8b7c6d5e4f3a2b1c0d9e8f7a",') - 1, 1,
                   "field 'title' is a number (2022), expected text")
    assert_located(null, path, line_of(text, "    null"), 3, "Semantic Scholar item is null")
    assert_batch_continues(path, good_jsonl, titles(report))


def test_semantic_scholar_single_paper_and_list(tmp_path):
    one = write(tmp_path / "paper.json", json.dumps(S2["data"][2], indent=2))
    listed = write(tmp_path / "papers.txt", json.dumps(S2["data"], indent=2))
    assert [(r.format, r.records) for r in map(ingest_file, [one, listed])] == [
        ("semantic-scholar", 1), ("semantic-scholar", 2)]


# --- detection ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, name, layout", [
    (RIS, "export.ris", "ris"),
    (RIS, "export.txt", "ris"),
    (CSL, "library.json", "csl-json"),
    (CSL, "library.txt", "csl-json"),
    (ATOM, "query.xml", "arxiv-atom"),
    (ATOM, "query.atom", "arxiv-atom"),
    (ATOM, "query", "arxiv-atom"),
    (OPENALEX_TEXT, "works.json", "openalex"),
    (OPENALEX_TEXT, "works", "openalex"),
    (json.dumps(OPENALEX["results"][:2]), "works.json", "openalex"),
    (S2_TEXT, "search.json", "semantic-scholar"),
    (S2_TEXT, "search.txt", "semantic-scholar"),
    (BIB, "refs.txt", "bibtex"),
    # The older layouts keep their files.
    (json.dumps([{"title": "T", "abstract": "A.", "type": "paper", "authors": ["Ann Lee"]}]), "p.json", "json"),
    (json.dumps([{"title": "T", "abstract": "A."}]), "p.txt", "json"),
    (json.dumps({"papers": [{"title": "T", "abstract": "A."}]}), "p.json", "json"),
    (json.dumps({"data": [{"title": "T", "abstract": "A."}]}), "p.json", "json"),
    (json.dumps(CSL_ITEMS[0]) + "\n" + json.dumps(CSL_ITEMS[2]) + "\n", "p.jsonl", "jsonl"),
    (json.dumps(CSL_ITEMS[0]) + "\n" + json.dumps(CSL_ITEMS[2]) + "\n", "p.txt", "jsonl"),
    (json.dumps(S2["data"][0]) + "\n" + json.dumps(S2["data"][2]) + "\n", "p.txt", "jsonl"),
])
def test_layout_is_detected_from_content(tmp_path, text, name, layout):
    assert ingest_file(write(tmp_path / name, text)).format == layout


def test_new_layouts_are_described_and_their_files_found(tmp_path):
    described = describe_layouts()
    for name in ("ris", "csl-json", "arxiv-atom", "openalex", "semantic-scholar"):
        assert f"{name}: " in described
    assert {".ris", ".xml", ".atom"} <= SUPPORTED_SUFFIXES
    for name, text in (("a.ris", RIS), ("b.xml", ATOM), ("c.atom", ATOM), ("d.png", "x")):
        write(tmp_path / name, text)
    files, errors = expand_paths([tmp_path])
    assert ([p.name for p in files], errors) == (["a.ris", "b.xml", "c.atom"], [])


def test_other_xml_is_not_taken_for_a_feed(tmp_path):
    report = ingest_file(write(tmp_path / "pom.xml", '<?xml version="1.0"?>\n<project><name>x</name></project>\n'))
    assert report.format is None and report.error.startswith("unknown layout")


# --- identifiers in JSON/CSV records and BEIR corpora ---------------------------------------------------


def test_mapping_reads_identifiers_and_warns_on_bad_ones(tmp_path):
    rows = [
        {"title": "With ids", "abstract": "A.", "doi": "https://doi.org/10.1000/ABC", "pmid": "PMID: 123456",
         "arxiv": "arXiv:2301.00002v1"},
        {"title": "Bad ids", "abstract": "B.", "doi": "not-a-doi", "arxiv_id": "see paper", "pmid": "n/a"},
    ]
    path = write(tmp_path / "ids.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    report = ingest_file(path)
    good, bad = report.papers
    assert (good.doi, good.pmid, good.arxiv_id) == ("10.1000/abc", "123456", "2301.00002")
    assert (bad.doi, bad.pmid, bad.arxiv_id) == (None, None, None)
    assert [(w.line, w.entry, w.reason) for w in report.warnings] == [
        (2, 2, "field 'doi': 'not-a-doi' is not a DOI; ignored"),
        (2, 2, "field 'arxiv_id': 'see paper' is not a arXiv id; ignored"),
        (2, 2, "field 'pmid': 'n/a' is not a PubMed id; ignored"),
    ]


def test_beir_corpus_rows(tmp_path):
    rows = [
        {"_id": "4983", "title": "Microstructural development of white matter", "text": "Diffusion imaging shows it."},
        {"_id": "5836", "title": "", "text": "A document with no title."},
        {"_id": "7912", "title": "Summary", "text": "One summary."},
        {"_id": "7913", "title": "Summary", "text": "Another summary."},
    ]
    path = write(tmp_path / "corpus.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    result = ingest_paths([path])
    report = result.files[0]
    assert [(p.external_id, p.title, p.abstract) for p in report.papers] == [
        ("4983", "Microstructural development of white matter", "Diffusion imaging shows it."),
        ("7912", "Summary", "One summary."),
        ("7913", "Summary", "Another summary."),
    ]
    assert [(p.line, "abstract with no title" in p.reason) for p in report.skipped] == [(2, True)]
    assert len(result.papers) == 3  # two papers titled "Summary" stay two (their ids differ)


# --- BibTeX identifiers and reader fixes ------------------------------------------------------------------

BIB_IDS = r"""@misc{lee2023scaling,
  title = {Scaling Laws for Sparse Retrieval},
  author = {Lee, Ann and {Ørsted Open Science Consortium} and King, Jr, Martin Luther and {Barnes and Noble, Inc.}},
  eprint = {2302.05678v2},
  archivePrefix = {arXiv},
  primaryClass = {cs.IR},
  abstract = {Contact us at team@lab{x} or see @misc{not, an = entry}
@article{also, not = {an entry}} in the appendix.},
  year = {2023}
}

@article{okafor2019,
  title = {Sleep in Shift Workers},
  author = {Okafor, Chidi},
  journal = {Sleep},
  pmid = {31234568},
  doi = {10.1093/sleep/zsz123},
  abstract = {Shift work shortens sleep.},
  year = 2019
}
"""


def test_bibtex_identifiers_key_and_at_signs_in_values(tmp_path):
    path = write(tmp_path / "refs.bib", BIB_IDS)
    report = ingest_file(path)
    assert (report.format, report.skipped, report.warnings) == ("bibtex", [], [])
    scaling, sleep = report.papers
    # One entry: the @-words inside its abstract start none (its braces are LaTeX grouping, dropped as usual).
    assert scaling.abstract == "Contact us at team@labx or see @miscnot, an = entry @articlealso, not = an entry in the appendix."
    assert scaling.authors == ["Ann Lee", "Ørsted Open Science Consortium", "Martin Luther King Jr",
                               "Barnes and Noble, Inc."]
    assert (scaling.arxiv_id, scaling.external_id, scaling.category, scaling.url) == (
        "2302.05678", "lee2023scaling", "cs.IR", "https://arxiv.org/abs/2302.05678")
    assert (sleep.pmid, sleep.doi, sleep.external_id, sleep.url) == (
        "31234568", "10.1093/sleep/zsz123", "okafor2019", "https://doi.org/10.1093/sleep/zsz123")
    assert where(sleep) == (line_of(BIB_IDS, "@article{okafor2019"), 2)


@pytest.mark.parametrize("author, names", [
    ("Müller, Jörg", ["Jörg Müller"]),
    ("Smith, Jr., John and de la Fuente, Ana", ["John Smith Jr.", "Ana de la Fuente"]),
    ("Ada Lovelace AND Alan Turing", ["Ada Lovelace", "Alan Turing"]),
    (r"{\L}ukasiewicz, Jan and M{\"u}ller, J{\"o}rg and others", ["Jan Łukasiewicz", "Jörg Müller"]),
])
def test_bibtex_author_forms(tmp_path, author, names):
    path = write(tmp_path / "a.bib", f"@article{{k, title = {{T}}, abstract = {{A.}}, author = {{{author}}}}}\n")
    [paper] = ingest_file(path).papers
    assert paper.authors == names


# --- never raises ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, text", [("a.ris", RIS), ("b.json", CSL), ("c.xml", ATOM), ("d.json", OPENALEX_TEXT),
                                        ("e.json", S2_TEXT), ("f.bib", BIB_IDS)])
def test_any_cut_of_an_export_parses_without_raising(tmp_path, name, text):
    """Cut each export every few characters: nothing raises, every record has a title and an
    abstract, every problem a line; the format is still recognised."""
    path = tmp_path / name
    for cut in range(1, len(text), 13):
        path.write_text(text[:cut], encoding="utf-8")
        report = ingest_file(path)
        assert all(p.title and p.abstract for p in report.papers)
        assert all(isinstance(p.line, int) and p.line >= 1 for p in report.skipped + report.warnings)


def test_a_csl_export_of_papers_without_authors_or_dates_is_still_csl(tmp_path):
    """Found by evals/bench/identity.py: such an export was read as the plain JSON layout
    (no `author` list, `issued` or `container-title` to go by), which ignores CSL's fields."""
    from assistant import export
    from assistant.records import Paper

    paper = Paper("Summary", "A note with no authors.", doi="10.5555/note.1", external_id="4983")
    path = tmp_path / "notes.json"
    path.write_text(export.csl_json([paper]), encoding="utf-8")
    report = ingest_file(path)
    assert report.format == "csl-json" and report.skipped == []
    [back] = report.papers
    assert (back.title, back.abstract, back.doi, back.id) == ("Summary", "A note with no authors.", "10.5555/note.1", paper.id)


# --- wrong types and odd values: never a traceback, every problem located ---------------------------------

# A string that stands for raw JSON text json.dumps cannot write (Python's json reads
# Infinity, NaN and 1e999, and lists nested thousands deep until its recursion limit).
RAW = "\x00raw:"
DEEP = "[" * 5000 + "]" * 5000
WRONG_VALUES = [5, -1, 2.5, True, None, "", "x", [], [3], [None, {}], {}, {"x": [1]},
                RAW + "Infinity", RAW + "1e999", RAW + "-1e999", RAW + "NaN", RAW + DEEP]


def dumps(value, **kw) -> str:
    """json.dumps, with each RAW string written as the raw JSON text it stands for."""
    text = json.dumps(value, ensure_ascii=False, **kw)
    return re.sub(r'"\\u0000raw:([^"]*)"', r"\1", text)


def json_paths(value, at=()):
    """The place of every member and element inside a JSON value, as key/index tuples."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        yield (*at, key)
        yield from json_paths(inner, (*at, key))


def replaced(value, path, new):
    copy = json.loads(json.dumps(value))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return copy


def read_directly(text: str, suffix: str, expected: str) -> None:
    """Detect and parse `text` without `ingest_file`'s last-resort catch (which turns a parser's
    exception into a file error: a bug), as detected and as the `expected` layout: nothing
    raises, every record has a title and an abstract, every problem a line."""
    lines = text.splitlines()
    chosen = detect_layout(lines, suffix)
    for layout in {chosen.name if chosen else expected, expected}:
        col = Collector(file="f", format=layout)
        BY_NAME[layout].parse(lines, col)
        assert all(p.title and p.abstract for p in col.report.papers)
        assert all(isinstance(p.line, int) and p.line >= 1 for p in col.report.skipped + col.report.warnings), (
            [str(p) for p in col.report.skipped + col.report.warnings])


PLAIN = [
    {"id": "p1", "title": "Sparse routing", "abstract": "We route tokens.", "authors": ["Ann Lee", "Bo Chen"],
     "year": 2021, "date": "2021-03-15", "url": "https://example.org/p1", "doi": "10.1000/p1",
     "arxiv_id": "2101.00001", "pmid": "123", "category": "cs.LG", "venue": "JMLR", "has_code": True},
    {"title": "Second paper", "abstract": "Also read.", "authors": "Ann Lee and Bo Chen", "year": "2020"},
]


@pytest.mark.parametrize("name, value, layout", [
    ("csl.json", CSL_ITEMS, "csl-json"), ("works.json", OPENALEX, "openalex"), ("search.json", S2, "semantic-scholar"),
    ("papers.json", PLAIN, "json"), ("papers.jsonl", PLAIN, "jsonl"),
])
def test_any_wrong_typed_field_of_an_export_parses_without_raising(name, value, layout):
    """Every member and element of each export, in turn, replaced by a value of every other
    JSON type (and Infinity, 1e999, NaN, a list nested 5,000 deep): the readers warn or skip,
    located, and never raise."""
    suffix = Path(name).suffix
    for path in json_paths(value):
        for new in WRONG_VALUES:
            doc = replaced(value, path, new)
            if layout == "jsonl":
                text = "".join(dumps(row) + "\n" for row in doc)
            else:
                text = dumps(doc, indent=2)
            read_directly(text, suffix, layout)


ODD_TEXT = ["", ",", ", ", ",,", " , , ", "and", "and and", "{,}", "{, }", "Infinity", "1e999", "-1", "0",
            "99999999999999999999", "$", "@", "--", "{\\'}", "doi:", "arXiv:", "PMID:"]


@pytest.mark.parametrize("name, text, layout", [("a.ris", RIS, "ris"), ("b.bib", BIB_IDS, "bibtex"),
                                                ("c.bib", BIB, "bibtex")])
def test_any_odd_value_of_a_text_export_parses_without_raising(name, text, layout):
    """The same for RIS and BibTeX, whose values are all text: each tag or one-line field
    given an empty, comma-only, 'and'-only, infinite or huge value."""
    lines = text.splitlines()
    field = re.compile(r"^([A-Z][A-Z0-9]  - ).*$" if layout == "ris" else r"^(\s*\w+\s*=\s*)(?:\{.*\}|\d+)(,?)$")
    for i, line in enumerate(lines):
        m = field.match(line)
        if not m:
            continue
        for odd in ODD_TEXT:
            new = m[1] + odd if layout == "ris" else f"{m[1]}{{{odd}}}{m[2]}"
            read_directly("\n".join([*lines[:i], new, *lines[i + 1:]]), Path(name).suffix, layout)


@pytest.mark.parametrize("author, names", [
    (", ", []), (",,", []), ("Lee, Ann and , and ,", ["Ann Lee"]), (" and ", []), ("{,}", [","]),
])
def test_bibtex_author_lists_with_empty_names(tmp_path, author, names):
    path = write(tmp_path / "a.bib", f"@article{{k, title = {{T}}, abstract = {{A.}}, author = {{{author}}}}}\n")
    report = ingest_file(path)
    assert (report.error, report.skipped) == (None, [])
    assert [p.authors for p in report.papers] == [names]


def test_wrong_typed_lists_and_years_in_service_responses_are_warned_about(tmp_path):
    small, sleep = OPENALEX["results"][:2]
    works = [{**small, "authorships": 5, "locations": 7},
             {**sleep, "authorships": [{**sleep["authorships"][0], "institutions": 3}], "publication_date": None,
              "publication_year": RAW + "Infinity"}]
    text = dumps({**OPENALEX, "results": works}, indent=2)
    path = write(tmp_path / "works.json", text)
    report = ingest_file(path)
    assert (report.format, titles(report), report.skipped) == ("openalex", [small["title"], sleep["title"]], [])
    assert (report.papers[0].authors, report.papers[1].authors, report.papers[1].year) == ([], ["Dara Ó Briain"], None)
    starts = [n for n, line in enumerate(text.splitlines(), start=1) if line == "    {"]
    assert [(w.line, w.entry, w.reason) for w in report.warnings] == [
        (starts[0], 1, "field 'authorships' is a number (5), expected a list; ignored"),
        (starts[0], 1, "field 'locations' is a number (7), expected a list; ignored"),
        (starts[1], 2, "field 'institutions' of authorship 1 is a number (3), expected a list; ignored"),
        (starts[1], 2, "field 'publication_year': Infinity is not a year; ignored"),
    ]

    paper = {**S2["data"][0], "authors": 3, "year": RAW + "1e999", "publicationDate": None}
    text = dumps({**S2, "data": [paper]}, indent=2)
    report = ingest_file(write(tmp_path / "search.json", text))
    assert (report.format, titles(report), report.papers[0].year) == ("semantic-scholar", [paper["title"]], None)
    start = line_of(text, '"paperId"') - 1
    assert [(w.line, w.entry, w.reason) for w in report.warnings] == [
        (start, 1, "field 'authors' is a number (3), expected a list; ignored"),
        (start, 1, "field 'year': Infinity is not a year; ignored"),
    ]


@pytest.mark.parametrize("parts, year, warned", [
    ([RAW + "Infinity", 5], None, True), ([2020, RAW + "Infinity"], 2020, False), ([RAW + "1e999"], None, True),
    ([2020, 5, RAW + "-1e999"], 2020, False),
])
def test_csl_dates_with_infinite_parts(tmp_path, parts, year, warned):
    text = dumps([{**CSL_ITEMS[0], "issued": {"date-parts": [parts]}}], indent=2)
    report = ingest_file(write(tmp_path / "library.json", text))
    assert (report.format, report.records, report.papers[0].year, report.papers[0].date) == ("csl-json", 1, year, None)
    assert [(w.line, w.entry, w.reason.split(":")[0]) for w in report.warnings] == (
        [(2, 1, "field 'issued'")] if warned else [])


@pytest.mark.parametrize("name, text, layout, kept, line", [
    ("deep.json", '[\n{"title": "Kept", "abstract": "Read."},\n{"title": "Deep", "abstract": "x", "x": ' + DEEP + "}\n]\n",
     "json", [], 3),
    ("deep.json", '[\n{"type": "article", "title": "Kept", "abstract": "Read."},\n{"type": "article", "x": ' + DEEP
     + "}\n]\n", "csl-json", ["Kept"], 3),
    ("deep.txt", '{"data": [\n{"paperId": "1", "title": "Kept", "abstract": "Read."},\n' + DEEP + "\n]}\n",
     "semantic-scholar", ["Kept"], 3),
    ("deep.jsonl", '{"title": "Kept", "abstract": "Read."}\n{"title": "Deep", "abstract": "x", "x": ' + DEEP + "}\n",
     "jsonl", ["Kept"], 2),
])
def test_json_nested_thousands_deep_is_reported_not_raised(tmp_path, good_jsonl, name, text, layout, kept, line):
    path = write(tmp_path / name, text)
    report = ingest_file(path)
    assert (report.format, titles(report)) == (layout, kept)
    [deep] = report.skipped
    assert deep.line == line and "JSON nested too deeply to read" in deep.reason, str(deep)
    assert_batch_continues(path, good_jsonl, kept)


def test_a_readers_bug_is_the_files_error_and_the_batch_goes_on(tmp_path, good_jsonl, monkeypatch, capsys):
    """The last resort: an exception no reader expects (here raised on purpose by the standard
    library's XML and JSON parsers) becomes the file's error, in one line; the rest of the
    batch is read and nothing is printed."""
    from xml.parsers import expat

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(expat, "ParserCreate", broken)
    original = json.JSONDecoder.raw_decode

    def raw_decode(self, s, idx=0):
        if "BOOM" in s:
            raise KeyError("BOOM")
        return original(self, s, idx)

    monkeypatch.setattr(json.JSONDecoder, "raw_decode", raw_decode)
    feed = write(tmp_path / "query.xml", ATOM)
    detected = write(tmp_path / "list.txt", json.dumps([{"title": "BOOM", "abstract": "A."}]))
    result = ingest_paths([feed, detected, good_jsonl])
    assert [(f.format, f.error) for f in result.files] == [
        ("arxiv-atom", "could not be read: RuntimeError: boom (a bug: please report it)"),
        (None, "could not be read: KeyError: 'BOOM' (a bug: please report it)"),
        ("jsonl", None),
    ]
    assert [p.title for p in result.papers] == ["A Good Paper"]
    assert capsys.readouterr() == ("", "")


def test_atom_text_keeps_inline_markup_and_spaces_blocks(tmp_path):
    """Text in elements is all kept, in order: inline markup adds no space ('U<b>bold</b>' is
    'Ubold', as a browser shows it), block elements and line breaks of XHTML part words."""
    xhtml = 'xmlns:h="http://www.w3.org/1999/xhtml"'
    text = f"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" {xhtml}>
  <entry>
    <id>http://arxiv.org/abs/2301.00001v1</id>
    <title>U<h:b>bold</h:b> and <h:i>k</h:i>-means</title>
    <summary type="xhtml"><h:div><h:p>First.</h:p><h:p>Second<h:br/>line.</h:p><h:ul><h:li>a</h:li><h:li>b</h:li></h:ul></h:div></summary>
  </entry>
</feed>
"""
    [paper] = ingest_file(write(tmp_path / "feed.xml", text)).papers
    assert (paper.title, paper.abstract) == ("Ubold and k-means", "First. Second line. a b")


@pytest.mark.parametrize("parts, suffix_second, expected", [
    (["Müller", " Jörg "], False, ("Müller", "Jörg", "")),
    (["King", "Martin  Luther", "Jr."], False, ("King", "Martin Luther", "Jr.")),  # RIS, the exports
    (["King", "Jr", "Martin Luther"], True, ("King", "Martin Luther", "Jr")),  # BibTeX's "von Last, Jr, First"
    (["Plato"], False, ("Plato", "", "")),
    (["", " "], False, ("", "", "")),
    ([], True, ("", "", "")),
])
def test_one_reading_of_names_with_commas(parts, suffix_second, expected):
    """RIS, BibTeX and the exports read "Last, First[, Suffix]" with the same function."""
    from assistant import export
    from assistant.ingest.structured import comma_name, reading_order

    assert comma_name(parts, suffix_second=suffix_second) == expected
    family, given, suffix = expected
    assert reading_order(parts, suffix_second=suffix_second) == " ".join(p for p in (given, family, suffix) if p)
    if not suffix_second and len(parts) > 1:
        assert export.name_parts(",".join(parts)) == expected


def test_wrong_typed_fields_of_json_records_are_located(tmp_path, good_jsonl):
    rows = [
        {"title": {"en": "Object title"}, "abstract": "A."},
        {"title": "Listed", "abstract": "B.", "authors": {"name": "Ann"}, "year": {"y": 2020}, "url": {"href": "x"},
         "id": {"x": 1}, "doi": 5, "has_code": {"a": 1}},
        {"title": "Kept", "abstract": "C.", "authors": ["Ann Lee", {"name": "Bo"}], "year": [2020]},
    ]
    path = write(tmp_path / "rows.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    report = ingest_file(path)
    assert titles(report) == ["Listed", "Kept"]
    assert [(p.authors, p.year, p.url, p.external_id, p.has_code) for p in report.papers] == [
        ([], None, None, None, False), (["Ann Lee"], 2020, None, None, False)]
    [title] = report.skipped
    assert_located(title, path, 1, 1, """field 'title' is an object ({"en": "Object title"}), expected text""")
    assert [(w.line, w.entry, w.reason) for w in report.warnings] == [
        (2, 2, """field 'authors': {"name": "Ann"} is not a list of names; ignored"""),
        (2, 2, """field 'year': {"y": 2020} is not a year; ignored"""),
        (2, 2, """field 'url': {"href": "x"} is not text; ignored"""),
        (2, 2, """field 'id': {"x": 1} is not an id; ignored"""),
        (2, 2, "field 'doi': 5 is not a DOI; ignored"),
        (3, 3, """field 'authors': ["Ann Lee", {"name": "Bo"}] holds objects, not names; they are ignored"""),
    ]
    assert_batch_continues(path, good_jsonl, ["Listed", "Kept"])

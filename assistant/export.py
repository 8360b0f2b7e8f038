"""Files a researcher takes away: an answer or a whole conversation as Markdown with one
numbered reference list, papers as BibTeX, RIS and CSL-JSON (one key per paper in all
three), a comparison as Markdown and as one rectangular CSV table, and the bundles
`papers ask/compare --export DIR` writes (`answer_bundle`, `comparison_bundle`). Pure
functions of library records (no I/O), for the web UI (Copy and its downloads), the CLI
and Python callers (`from assistant import export`; `PaperAssistant.save_answer` writes a bundle).

Text from papers, models and users stays text in every format: in Markdown the
characters that would start a tag, a link or image, code or maths are backslash-escaped
(`md_text`; a Markdown viewer shows them as typed and loads nothing), BibTeX values are
escaped for LaTeX, and a CSV cell that a spreadsheet would run as a formula is prefixed
with an apostrophe."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote as url_quote

import rispy

from assistant.answer.compare import Cell, Comparison
from assistant.answer.text import MARKER_RE, marker_numbers
from assistant.ingest.structured import comma_name
from assistant.records import Answer, Citation, Paper, author_list
from assistant.retrieve import excluded_lines
from assistant.settings import Settings

REFERENCE_AUTHORS = 10  # authors named in a reference line ("et al." after them)

# --- identifiers and links -----------------------------------------------------------------------

_WEB_LINK = re.compile(r"https?://[^\s\"'<>]+")


def web_link(url: str | None) -> str | None:
    """`url` when it is a plain http(s) address (no space, quote or angle bracket: safe in
    an attribute and in Markdown), else None (a javascript: link, a file path...)."""
    return url.strip() if isinstance(url, str) and _WEB_LINK.fullmatch(url.strip()) else None


def link(paper: Paper) -> str:
    """Where to read the paper: its URL, else its DOI or arXiv page; "" when none is known."""
    if paper.url and paper.url.strip():
        return "".join(paper.url.split())
    if paper.doi:
        return f"https://doi.org/{paper.doi}"
    if paper.arxiv_id:
        return arxiv_link(paper.arxiv_id)
    return ""


def arxiv_link(arxiv_id: str) -> str:
    """The arXiv abstract page of an id ("2301.01234", "hep-th/9901001")."""
    return f"https://arxiv.org/abs/{arxiv_id}"


def _ascii(text: str) -> str:
    """Accents folded (é -> e), then anything not ASCII dropped."""
    folded = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in folded if not unicodedata.combining(ch)).encode("ascii", "ignore").decode()


def slug(text: str, most: int = 40) -> str:
    """A file-name piece: lowercase ASCII words joined by '-', at most `most` characters ("x" when empty)."""
    return re.sub(r"[^a-z0-9]+", "-", _ascii(text).lower()).strip("-")[:most].rstrip("-") or "x"


def _squash(text: str) -> str:
    return " ".join(text.split())


_MD_SPECIAL = re.compile(r"([\\`<>\[\]$])")


def md_text(text: str) -> str:
    """Text as Markdown in which nothing loads or runs: a backslash before \\ ` < > [ ] $
    (no tag, link, image, code span or maths); the citation markers [n] stay as they are,
    with a "!" before one and a "(" or ":" after one escaped, so a marker never becomes an
    image, a link or a link definition."""
    out, at = [], 0
    for m in MARKER_RE.finditer(text):
        before = _MD_SPECIAL.sub(r"\\\1", text[at : m.start()])
        if before.endswith("!"):
            before = before[:-1] + "\\!"
        after = text[m.end() : m.end() + 1]
        out += [before, m.group(0) + ("\\" if after in ("(", ":") and after else "")]
        at = m.end()
    out.append(_MD_SPECIAL.sub(r"\\\1", text[at:]))
    return "".join(out)


def md_link(url: str) -> str:
    """A URL for a Markdown file: the characters Markdown reads as syntax percent-encoded
    (the same address), so it shows as one plain link and nothing in it loads."""
    return url_quote(url, safe=":/?#&=%+,;~-._@")


# --- references ----------------------------------------------------------------------------------


def _citation_paper(c: Citation) -> Paper:
    """A paper known only from a citation (its source is not in the answer): what the citation says."""
    return Paper(title=c.title, abstract="", authors=list(c.authors), year=c.year, url=c.url, id=c.paper_id)


def _references(answer: Answer) -> list[tuple[int, Paper, list[str]]]:
    """The answer's numbered papers as (n, paper, quoted sentences), by n: its sources, and
    any number its citations name that no source has. A table's cells are its quotes already."""
    papers = {s.n: s.paper for s in answer.sources}
    quotes: dict[int, list[str]] = {}
    for c in answer.citations:
        papers.setdefault(c.n, _citation_paper(c))
        said = quotes.setdefault(c.n, [])
        quote = _squash(c.quote)
        if quote and quote not in said and answer.table is None:
            said.append(quote)
    return [(n, papers[n], quotes.get(n, [])) for n in sorted(papers)]


def reference_line(n: int, paper: Paper) -> str:
    """'[n] Title. Authors (Year). Venue. URL' (the parts that are known)."""
    title = md_text(_squash(paper.title)) or "Untitled"
    parts = [f"[{n}] {title}" + ("" if title[-1] in ".?!" else ".")]
    who = md_text(author_list(paper.authors, paper.authors_et_al, most=REFERENCE_AUTHORS))
    when = f"({paper.year})" if paper.year else ""
    if who or when:
        parts.append(" ".join(x for x in (who, when) if x) + ".")
    if paper.venue and paper.venue.strip():
        parts.append(md_text(_squash(paper.venue)).rstrip(".") + ".")
    if where := link(paper):
        parts.append(md_link(where) if web_link(where) else md_text(where))
    return " ".join(parts)


def _reference_block(refs: Iterable[tuple[int, Paper, list[str]]]) -> list[str]:
    """Numbered reference paragraphs, each followed by its quoted sentences as blockquotes."""
    lines: list[str] = []
    for n, paper, quotes in refs:
        lines += [reference_line(n, paper)]
        for i, quote in enumerate(quotes):
            lines += [">", f"> {md_text(quote)}"] if i else [f"> {md_text(quote)}"]
        lines.append("")
    return lines


# --- answers -------------------------------------------------------------------------------------


def _notices(answer: Answer) -> list[str]:
    """What the UI says above an answer, as sentences."""
    out = []
    if answer.outside_filter:
        out.append(
            "**Not answered within the filters.** Papers the filters leave out answer this better; "
            "they are named below."
        )
    elif answer.abstained:
        out.append(
            "**Not answered.** The indexed abstracts do not answer this question, so nothing is made up. "
            "The closest papers are listed as a starting point."
        )
    if answer.fallback:
        out.append(
            "**The language model's answer was not used**, so this is the extractive answer: "
            "sentences quoted from the abstracts."
        )
    if answer.standalone_question:
        out.append(f"Follow-up read as: {md_text(_squash(answer.standalone_question))}")
    out += [md_text(_squash(text)) for text in answer.notices]
    out += [f"{line}." for line in excluded_lines(answer.filter_excluded)]
    return out


def _renumber(text: str, numbers: dict[int, int]) -> str:
    """Each marker's numbers mapped through `numbers` ([2, 3] -> [5, 1]); a marker none of whose
    numbers is a source (a year "[2023]") stays as written, unknown numbers in a group are dropped."""

    def sub(m: re.Match) -> str:
        known = [numbers[n] for n in marker_numbers(m.group(1)) if n in numbers]
        return f"[{', '.join(map(str, known))}]" if known else m.group(0)

    return MARKER_RE.sub(sub, text)


def _body(answer: Answer) -> str:
    # A comparison answer: the table alone (its sources are the answer's references). The
    # answer's own bold (**title**) stays; what could load or run is escaped (`md_text`).
    return table_markdown(answer.table) if answer.table is not None else md_text(answer.text)


def _turn(answer: Answer, level: str, numbers: dict[int, int] | None = None) -> list[str]:
    """One question and its answer: heading, notices as blockquote lines, the text (markers
    mapped through `numbers` when given)."""
    lines = [f"{level} {md_text(_squash(answer.question)) or 'Question'}", ""]
    notices = _notices(answer)
    for i, text in enumerate(notices):
        lines += [">"] if i else []
        lines.append(f"> {text}")
    if notices:
        lines.append("")
    body = _body(answer).strip()
    lines += [_renumber(body, numbers) if numbers is not None else body, ""]
    return lines


def answer_markdown(answer: Answer) -> str:
    """One answer as Markdown (what "Copy" copies): question, notices, text with its [n]
    markers, then the numbered references with the sentences each cited paper was quoted for."""
    lines = _turn(answer, "#")
    refs = _references(answer)
    if refs:
        lines += ["## References", "", *_reference_block(refs)]
    return "\n".join(lines).rstrip() + "\n"


def conversation_markdown(answers: list[Answer], title: str = "Conversation") -> str:
    """A whole conversation as Markdown with one reference list: a paper keeps one number
    in every turn (by `paper.id`), and each turn's markers are rewritten to those numbers."""
    lines = [f"# {_squash(title) or 'Conversation'}", ""]
    number: dict[str, int] = {}  # paper id -> its number in the conversation
    papers: dict[int, Paper] = {}
    quotes: dict[int, list[str]] = {}
    for answer in answers:
        local: dict[int, int] = {}
        for n, paper, said in _references(answer):
            g = number.setdefault(paper.id, len(number) + 1)
            papers.setdefault(g, paper)
            local[n] = g
            kept = quotes.setdefault(g, [])
            kept += [q for q in said if q not in kept]
        lines += _turn(answer, "##", local)
    if papers:
        lines += ["## References", "", *_reference_block((g, papers[g], quotes[g]) for g in sorted(papers))]
    return "\n".join(lines).rstrip() + "\n"


def cited_papers(answers: list[Answer]) -> list[Paper]:
    """The papers the answers cite (each citation's number looked up in its answer's
    sources), in the order first cited, each once (by id)."""
    out: dict[str, Paper] = {}
    for answer in answers:
        by_n = {s.n: s.paper for s in answer.sources}
        for c in answer.citations:
            paper = by_n.get(c.n) or _citation_paper(c)
            out.setdefault(paper.id, paper)
    return list(out.values())


# --- BibTeX --------------------------------------------------------------------------------------

# LaTeX specials as text. Braces become commands, not \{ \}: BibTeX counts every brace,
# escaped or not, so a lone "{" in a title would unbalance the entry.
_TEX = {
    "\\": r"\textbackslash{}",
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
}
_TEX_RE = re.compile("[" + re.escape("".join(_TEX)) + "]")
_KEY_STOPWORDS = frozenset(
    "a an the on of in for to and or with without via from by at as is are be do does how what when why "
    "towards toward into using we our your its their this that".split()
)


def tex_escape(text: str) -> str:
    """Plain text as a BibTeX value that LaTeX prints as the same text: specials escaped,
    '--' kept as two hyphens ('-{}-', not a dash), '@' braced (no parser takes it for an
    entry), whitespace collapsed. Every brace written is balanced."""
    value = _TEX_RE.sub(lambda m: _TEX[m[0]], _squash(text))
    return re.sub(r"-(?=-)", "-{}", value).replace("@", "{@}")


def _verbatim(text: str) -> str:
    """A URL, DOI or eprint as a value: kept as is (they are read verbatim), but with braces,
    backslashes and spaces percent-encoded so the value stays balanced and on one token."""
    return "".join({"{": "%7B", "}": "%7D", "\\": "%5C"}.get(ch, ch) for ch in text.strip()).replace(" ", "%20")


def _key_base(paper: Paper) -> str:
    """family name + year (or "nd") + first significant title word, lowercase ASCII."""
    first = next((a for a in paper.authors if a.strip()), "")
    last = (name_parts(first)[0] or first).split()[-1] if first else ""
    family = re.sub(r"[^a-z0-9]", "", _ascii(last).lower())
    words = re.findall(r"[a-z0-9]+", _ascii(paper.title).lower())
    word = next((w for w in words if w not in _KEY_STOPWORDS), "")
    return f"{family or 'anon'}{paper.year or 'nd'}{word}"


def bibtex_keys(papers: list[Paper]) -> list[str]:
    """A key per paper, unique in the list and the same on every run: the base, then
    'b', 'c', ... appended to later papers that share it, in order."""
    used: set[str] = set()
    keys = []
    for paper in papers:
        base = key = _key_base(paper)
        i = 1
        while key in used:
            i += 1
            key = base + (chr(ord("a") + i - 1) if i <= 26 else str(i))
        used.add(key)
        keys.append(key)
    return keys


def bibtex_entry(paper: Paper, key: str) -> str:
    """One entry, @article when the venue is known, else @misc: title, author, year,
    journal, url, doi, eprint (an arXiv id), pmid, abstract (the ones known)."""
    fields: list[tuple[str, str]] = [("title", "{" + tex_escape(paper.title) + "}")]
    names = [tex_escape(a) for a in paper.authors if a.strip()]
    if names:
        fields.append(("author", " and ".join(names + (["others"] if paper.authors_et_al else []))))
    if paper.year:
        fields.append(("year", str(paper.year)))
    venue = (paper.venue or "").strip()
    if venue:
        fields.append(("journal", tex_escape(venue)))
    if paper.url and paper.url.strip():
        fields.append(("url", _verbatim(paper.url)))
    if paper.doi:
        fields.append(("doi", _verbatim(paper.doi)))
    if paper.arxiv_id:
        fields += [("eprint", _verbatim(paper.arxiv_id)), ("archivePrefix", "arXiv")]
    if paper.pmid:
        fields.append(("pmid", paper.pmid))
    if paper.abstract.strip():
        fields.append(("abstract", tex_escape(paper.abstract)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{'article' if venue else 'misc'}{{{key},\n{body}\n}}\n"


def _keyed(papers: list[Paper]) -> list[tuple[Paper, str]]:
    """The first paper of each id, order kept, with its key (`bibtex_keys`): the same key
    in the .bib, .ris and CSL-JSON files of one list."""
    first: dict[str, Paper] = {}
    for p in papers:
        first.setdefault(p.id, p)
    unique = list(first.values())
    return list(zip(unique, bibtex_keys(unique), strict=True))


def bibtex(papers: list[Paper]) -> str:
    """The papers as a .bib file, one entry each (the first of each id, order kept)."""
    return "\n".join(bibtex_entry(p, k) for p, k in _keyed(papers))


# --- RIS and CSL-JSON ----------------------------------------------------------------------------

_PARTICLES = frozenset("van von der den de del della di da du dos das la le ter ten".split())
_SUFFIX = re.compile(r"(?:Jr|Sr)\.?|I{2,3}|IV", re.IGNORECASE)


def name_parts(name: str) -> tuple[str, str, str]:
    """(family, given, suffix) of an author as written: "Last, First" as given, else
    "First [von] Last [Jr.]" (lower-case particles such as "van" belong to the family
    name); a single word is a family name."""
    name = _squash(name)
    if "," in name:
        return comma_name(name.split(","))
    words = name.split()
    suffix = words.pop() if len(words) > 2 and _SUFFIX.fullmatch(words[-1]) else ""
    if len(words) < 2:
        return " ".join(words), "", suffix
    at = len(words) - 1
    while at > 1 and words[at - 1] in _PARTICLES:
        at -= 1
    return " ".join(words[at:]), " ".join(words[:at]), suffix


def _date_parts(paper: Paper) -> list[int]:
    """[year, month, day] as far as known: the ISO `date` ("2022-10-07", "2022-10", or
    "--10-07" with the paper's year) when it agrees with `year`, else [year]; [] with no year."""
    m = re.fullmatch(r"(\d{4}|-)-(\d{2})(?:-(\d{2}))?", (paper.date or "").strip())
    year = int(m[1]) if m and m[1] != "-" else paper.year
    if not year or (paper.year and year != paper.year):
        return [paper.year] if paper.year else []
    if not m or not 1 <= int(m[2]) <= 12:
        return [year]
    return [year, int(m[2])] + ([int(m[3])] if m[3] and 1 <= int(m[3]) <= 31 else [])


def _urls(paper: Paper) -> list[str]:
    """The paper's URL, then its arXiv page when it is not that URL."""
    urls = ["".join(paper.url.split())] if paper.url and paper.url.strip() else []
    if paper.arxiv_id and arxiv_link(paper.arxiv_id) not in urls:
        urls.append(arxiv_link(paper.arxiv_id))
    return urls


def ris_entry(paper: Paper, key: str) -> dict[str, Any]:
    """One RIS record as rispy's field names: TY JOUR when the venue is known, else GEN;
    ID the key; TI, AU ("Last, First"), PY, DA ("YYYY/MM/DD/"), JO, DO, AN and DB (the
    PubMed id, "PubMed"), UR (the paper's URL and its arXiv page), AB. Every value is one line."""
    venue = _squash(paper.venue or "")
    entry: dict[str, Any] = {"type_of_reference": "JOUR" if venue else "GEN", "id": key, "title": _squash(paper.title)}
    authors = []
    for author in paper.authors:
        family, given, suffix = name_parts(author)
        if family:
            authors.append(", ".join(x for x in (family, given, suffix) if x) if given or suffix else family)
    if authors:
        entry["authors"] = authors
    parts = _date_parts(paper)
    if parts:
        entry["year"] = str(parts[0])
    if len(parts) > 1:
        entry["date"] = "/".join(f"{x:02d}" for x in parts) + "/" * (4 - len(parts))
    if venue:
        entry["journal_name"] = venue
    if paper.doi:
        entry["doi"] = paper.doi
    if paper.pmid:  # PubMed's own export: the id as accession number, the database named
        entry["accession_number"] = paper.pmid
        entry["name_of_database"] = "PubMed"
    if urls := _urls(paper):
        entry["urls"] = urls
    if abstract := _squash(paper.abstract):
        entry["abstract"] = abstract
    return entry


class _RisWriter(rispy.RisWriter):
    """rispy's writer without the "1." line it puts before each record (not RIS)."""

    def set_header(self, count: int) -> str:
        return ""


def ris(papers: list[Paper]) -> str:
    """The papers as an .ris file (Zotero, Mendeley, EndNote), one record each (the first of
    each id, order kept), keyed as in `bibtex`; written by rispy."""
    keyed = _keyed(papers)
    return rispy.dumps([ris_entry(p, k) for p, k in keyed], implementation=_RisWriter) if keyed else ""


def csl_item(paper: Paper, key: str) -> dict[str, Any]:
    """One CSL-JSON item (the format of Zotero, Pandoc and citeproc): id (the key), type
    ("article-journal" with a venue, else "article", a preprint), title, author [{family,
    given}] ({literal} for a one-word name), issued, container-title, DOI, PMID, number
    ("arXiv:<id>" for a preprint), URL (the paper's, else its arXiv page), abstract."""
    venue = _squash(paper.venue or "")
    item: dict[str, Any] = {"id": key, "type": "article-journal" if venue else "article", "title": _squash(paper.title)}
    authors: list[dict[str, str]] = []
    for author in paper.authors:
        family, given, suffix = name_parts(author)
        if family and not given:
            authors.append({"literal": family})
        elif family:
            authors.append({"family": family, "given": given, **({"suffix": suffix} if suffix else {})})
    if authors:
        item["author"] = authors
    if parts := _date_parts(paper):
        item["issued"] = {"date-parts": [parts]}
    if venue:
        item["container-title"] = venue
    if paper.doi:
        item["DOI"] = paper.doi
    if paper.pmid:
        item["PMID"] = paper.pmid
    if paper.arxiv_id and not venue:  # a preprint's number, as Zotero writes it
        item["number"] = f"arXiv:{paper.arxiv_id}"
    if urls := _urls(paper):
        item["URL"] = urls[0]
    if abstract := _squash(paper.abstract):
        item["abstract"] = abstract
    return item


def csl_json(papers: list[Paper]) -> str:
    """The papers as a CSL-JSON file: a list of items (the first of each id, order kept),
    keyed as in `bibtex`."""
    return json.dumps([csl_item(p, k) for p, k in _keyed(papers)], ensure_ascii=False, indent=2) + "\n"


# --- comparison ----------------------------------------------------------------------------------


def table_markdown(comparison: Comparison) -> str:
    """The comparison's table in Markdown, every cell's text shown as typed (`md_text`, and
    "|" escaped so it cannot split a cell), with the cell's markers."""

    def cell(text: str) -> str:
        return md_text(_squash(text)).replace("|", "\\|")

    head = "| | " + " | ".join(cell(m) for m in comparison.methods) + " |"
    lines = [head, "|---|" + "---|" * len(comparison.methods)]
    for row in comparison.rows:
        cells = []
        for m in comparison.methods:
            c = comparison.cells[row][m]
            marks = "".join(f"[{n}]" for n in dict.fromkeys(x.n for x in c.citations))
            cells.append(cell(c.text) + (f" {marks}" if marks else ""))
        lines.append(f"| **{cell(row)}** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_markdown(comparison: Comparison) -> str:
    """The comparison as a Markdown file: heading, the cited table, its numbered sources
    with links, and its notes."""
    lines = [f"# Comparison: {' vs '.join(md_text(_squash(m)) for m in comparison.methods)}", ""]
    lines += [table_markdown(comparison), ""]
    if comparison.sources:
        lines += ["## Sources", ""]
        lines += [reference_line(s.n, s.paper) + "\n" for s in comparison.sources]
    if comparison.notices:
        lines += ["## Notes", "", *(f"- {md_text(_squash(n))}" for n in comparison.notices)]
    return "\n".join(lines).rstrip() + "\n"


def comparison_csv_rows(comparison: Comparison) -> list[list[str]]:
    """The comparison as one rectangular table: a header "row, <method>...", the table's
    rows (each cell's text, then its markers), then "papers" (the paper(s) behind each
    column) and "links" (their URLs)."""
    head = ["row", *comparison.methods]
    rows = [[row, *(_cell_text(comparison.cells[row][m]) for m in comparison.methods)] for row in comparison.rows]
    by_n = {s.n: s.paper for s in comparison.sources}
    behind = {m: [(n, by_n[n]) for n in comparison.papers.get(m, []) if n in by_n] for m in comparison.methods}
    papers = [
        "; ".join(f"[{n}] {_squash(p.title)}" + (f" ({p.year})" if p.year else "") for n, p in behind[m])
        for m in comparison.methods
    ]
    links = ["; ".join(x for x in (link(p) for _, p in behind[m]) if x) for m in comparison.methods]
    width = len(head)
    table = [head, *rows, ["papers", *papers], ["links", *links]]
    return [[_cell(x) for x in row[:width]] + [""] * (width - len(row)) for row in table]


def _cell_text(cell: Cell) -> str:
    """A table cell as one text: its text, then its markers (" [1] [2]")."""
    return cell.text + "".join(f" [{n}]" for n in dict.fromkeys(c.n for c in cell.citations))


_FORMULA = re.compile(r"[=+\-@\t\r]")  # how a spreadsheet formula starts
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?([eE][-+]?\d+)?")


def _cell(value: object) -> str:
    """A CSV cell; one a spreadsheet would run as a formula (it starts with = + - @ or a
    tab or carriage return and is not just a number) gets a leading apostrophe."""
    text = str(value)
    return "'" + text if _FORMULA.match(text) and not _NUMBER.fullmatch(text) else text


def comparison_csv(comparison: Comparison) -> str:
    """`comparison_csv_rows` written as CSV text (lines end with '\\n')."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(comparison_csv_rows(comparison))
    return out.getvalue()


# --- bundles -------------------------------------------------------------------------------------


def package_version() -> str:
    """The version of the installed paper-assistant (its distribution's metadata), else
    `assistant.__version__` when there is one, else "unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("paper-assistant")
    except PackageNotFoundError:
        import assistant

        return str(getattr(assistant, "__version__", "unknown"))


def reference_files(papers: list[Paper]) -> dict[str, str]:
    """The papers as references.bib, references.ris and references.json (CSL-JSON), one key each."""
    return {"references.bib": bibtex(papers), "references.ris": ris(papers), "references.json": csl_json(papers)}


def answer_bundle(answer: Answer, settings: Settings, index: dict[str, Any], when: datetime) -> dict[str, str]:
    """An answer's files by name: answer.md (`answer_markdown`), answer.json (the answer's
    `to_dict` with its citations' quotes and spans, plus `index` (name, generation,
    version), the settings without secrets, the time and the package version), and the
    references of the papers it cites (those it lists when it cites none, as an abstention
    does) as `reference_files`."""
    record = {
        **answer.to_dict(),
        "index": index,
        "settings": settings.public(),
        "created": when.isoformat(timespec="seconds"),
        "paper_assistant": package_version(),
    }
    papers = cited_papers([answer]) or [s.paper for s in answer.sources]
    return {
        "answer.md": answer_markdown(answer),
        "answer.json": json.dumps(record, ensure_ascii=False, indent=2) + "\n",
        **reference_files(papers),
    }


def comparison_bundle(comparison: Comparison) -> dict[str, str]:
    """A comparison's files by name: comparison.md, comparison.csv and the references of
    the papers in the table (`reference_files`)."""
    return {
        "comparison.md": comparison_markdown(comparison),
        "comparison.csv": comparison_csv(comparison),
        **reference_files([s.paper for s in comparison.sources]),
    }

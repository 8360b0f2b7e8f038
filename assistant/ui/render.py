"""What the web UI shows, as HTML: answers with citation markers linked to numbered
source cards, notices, the comparison table and its paper pickers, the corpus counts,
the paper list and an opened paper, the upload report, the backend panel. Pure
functions of library records (no Gradio, no I/O): the handlers
(`assistant.ui.handlers`) call them, and they are tested without a server. Every
text taken from a paper, a file name, a model or the user goes through `esc`, so only
the tags written here are markup. Styles are in page.css, behaviour in page.js; files
to take away (Markdown, BibTeX, CSV) come from `assistant.export`."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from assistant import export
from assistant.answer.text import MARKER, marker_numbers
from assistant.errors import UserError
from assistant.ingest import SUPPORTED_SUFFIXES
from assistant.ingest.merge import by_key
from assistant.llm import describe_usage
from assistant.records import Answer, Citation, Paper, Source, author_list
from assistant.retrieve import Filters, excluded_lines

TITLE = "Paper Assistant"
TAGLINE = (
    "Ask questions across research-paper abstracts. Every answer sentence cites the paper "
    "and quotes the sentence it comes from; when the abstracts do not answer, it says so."
)
EXAMPLES = [
    "What is hard patches mining in masked image modeling?",
    "Which paper proposes an adaptive second order optimizer that estimates the Hessian diagonal?",
    "Compare ADAHESSIAN and M-FAC",
    "What limits message passing in graph neural networks?",
    "Who won the 2026 football world cup?",
]
UPLOAD_TYPES = sorted(s for s in SUPPORTED_SUFFIXES if s)  # what ingest reads (a file without suffix too)
INCLUDE_UNKNOWN_LABEL = "Include papers lacking the field"
CARD_AUTHORS = 6  # authors named on a source card
LIST_AUTHORS = 4  # authors named in the corpus paper list
MAX_PROBLEMS = 10  # problems listed per uploaded file
SEARCH_URL = "https://scholar.google.com/scholar?q="  # where a paper without a URL opens (by title)

THINKING = '<span class="pa-thinking">Searching the abstracts…</span>'

# --- text ---------------------------------------------------------------------------------------


def friendly_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is written for users (shown as is, no traceback): the
    library's `UserError`s, plus OSError (an upload that cannot be read)."""
    return (UserError, OSError)


def redact(text: Any) -> str:
    """Belt and braces: no credentials in anything shown (URL user:password, sk-... keys)."""
    text = re.sub(r"(//)[^/@\s]+@", r"\1***@", str(text))
    return re.sub(r"\b(sk-[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-]{8,}", r"\1***", text)


def esc(text: Any) -> str:
    return html.escape(redact(text), quote=True)


def notice(kind: str, text: str) -> str:
    """A coloured callout (kind: abstain, warn, error, info, ok); `text` is HTML."""
    return f'<div class="pa-notice pa-notice-{kind}">{text}</div>'


# The library's citation marker (`answer.text.MARKER`: [1], [2, 3]), where Markdown would not
# read it as something else: not escaped (\\[1]), not a link "[1](url)", a reference "[1][ref]"
# or a definition "[1]: " - but "[1][2]" is two markers.
CITE_RE = re.compile(rf"(?<!\\){MARKER}(?!\(|:|(?!{MARKER})\[)")


def mark_citations(
    text: str, titles: dict[int, str] | None = None, quotes: dict[int, list[str]] | None = None, aid: str = ""
) -> str:
    """Turn the markers [n] of already-escaped HTML text into links to the numbered
    source cards (`#<aid>-src-<n>`; the page script scrolls to and highlights the card),
    each with a tip naming the cited paper and its quote, shown on hover, focus and tap.
    The text stays "[n]"."""
    titles = titles or {}
    quotes = quotes or {}

    def sub(m: re.Match) -> str:
        numbers = marker_numbers(m.group(1))
        if any(n > 999 for n in numbers):  # "[2023]": a year in a draft, not a source number
            return m.group(0)
        tips = []
        for n in numbers:
            said = "; ".join(f"“{q}”" for q in quotes.get(n, [])[:2])
            if n in titles or said:
                tips.append(f"[{n}] " + " ".join(x for x in (titles.get(n, ""), said) if x))
        tip = f'<span class="pa-tip" role="tooltip">{esc(" · ".join(tips))}</span>' if tips else ""
        href = f' href="#{aid}-src-{numbers[0]}"' if aid else ""
        return f'<a class="pa-cite"{href}>[{", ".join(map(str, numbers))}]{tip}</a>'

    return CITE_RE.sub(sub, text)


_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def text_html(text: str) -> str:
    """Answer text as HTML that shows it as text: everything escaped (tags, entities and
    Markdown links or images from an abstract or a model stay literal characters, so
    nothing loads), with only what the answers use rendered: **bold**, paragraphs,
    line breaks and bullet lists."""
    blocks = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = [ln for ln in para.split("\n") if ln.strip()]
        if lines and all(_BULLET.match(ln) for ln in lines):
            items = "".join(f"<li>{_inline(_BULLET.sub('', ln))}</li>" for ln in lines)
            blocks.append(f"<ul>{items}</ul>")
        elif lines:
            blocks.append("<p>" + "<br>".join(_inline(ln) for ln in lines) + "</p>")
    return "".join(blocks)


def _inline(line: str) -> str:
    return _BOLD.sub(r"<b>\1</b>", esc(line))


def plain_html(text: str) -> str:
    """A user's message: every character shown as typed, line breaks kept."""
    return "<br>".join(esc(line) for line in (text or "").split("\n"))


def backend_label(info: dict[str, Any]) -> str:
    if info.get("backend") == "extractive":
        return "extractive answers (no LLM configured)"
    model = info.get("model") or "?"
    return f"LLM {model}" + (f" at {info['base_url']}" if info.get("base_url") else "")


_SECRET_KEY = re.compile(r"key|secret|token|password|auth", re.IGNORECASE)


def kv_list(data: dict[str, Any]) -> str:
    """Key/value pairs as an HTML list (keys that could name a secret are left out)."""
    items = "".join(
        f"<li><b>{esc(k).replace('_', ' ')}</b>: {esc(v)}</li>"
        for k, v in data.items()
        if not _SECRET_KEY.search(str(k)) and v not in (None, "")
    )
    return f"<ul>{items}</ul>"


# --- sources ------------------------------------------------------------------------------------


def paper_meta(paper: Paper) -> str:
    parts = [
        author_list(paper.authors, paper.authors_et_al, most=CARD_AUTHORS),
        str(paper.year) if paper.year else "",
        paper.venue or "",
        paper.category or "",
        "code available" if paper.has_code else "",
    ]
    return " · ".join(esc(p) for p in parts if p)


def paper_link(title: str, url: str | None) -> str:
    """Where a paper opens: `url` (the paper's `export.link`: its URL, DOI or arXiv page),
    else a search for its title (a link only: nothing is fetched unless it is followed)."""
    href = export.web_link(url) or SEARCH_URL + quote_plus(title)
    label = esc(title)
    return f'<a href="{esc(href)}" target="_blank" rel="noopener noreferrer nofollow">{label}</a>'


def highlighted_abstract(abstract: str, spans: Iterable[tuple[int, int]] = ()) -> str:
    """The abstract, escaped, with the quoted character spans marked."""
    out, at = [], 0
    for start, end in sorted({(s, e) for s, e in spans if 0 <= s < e <= len(abstract)}):
        if start < at:
            continue
        out += [esc(abstract[at:start]), f"<mark>{esc(abstract[start:end])}</mark>"]
        at = end
    out.append(esc(abstract[at:]))
    return "".join(out)


def where_read(paper: Paper) -> str:
    """The file(s) and entries a paper was read from ("000_7b93….txt, entry 12, line 40")."""
    refs = [f"{Path(r.file).name}, entry {r.entry}, line {r.line}" for r in paper.sources[:3]]
    more = f" and {len(paper.sources) - 3} more" if len(paper.sources) > 3 else ""
    return esc("; ".join(refs) + more)


def source_card(
    n: int,
    paper: Paper | None,
    citation: Citation | None = None,
    quotes: Iterable[str] = (),
    spans: Iterable[tuple[int, int]] = (),
    aid: str = "",
) -> str:
    """One numbered source: title (its URL, else a title search), authors, year, the
    quoted sentences, and the full abstract (folded) with the quoted spans marked."""
    title = paper.title if paper else (citation.title if citation else "?")
    head = paper_link(title, (export.link(paper) if paper else None) or (citation.url if citation else None))
    if paper is not None:
        meta = paper_meta(paper)
    elif citation is not None:
        meta = " · ".join(esc(x) for x in (author_list(citation.authors, most=CARD_AUTHORS), citation.year or "") if x)
    else:
        meta = ""
    ident = f' id="{aid}-src-{n}"' if aid else ""
    body = [
        f'<div class="pa-card pa-src-{n}"{ident}>',
        f'<div class="pa-card-title"><span class="pa-n">[{n}]</span>{head}</div>',
    ]
    if meta:
        body.append(f'<div class="pa-meta">{meta}</div>')
    for quote in quotes:
        body.append(f'<blockquote class="pa-quote">“{esc(quote)}”</blockquote>')
    if paper is not None:
        body.append(
            '<details class="pa-abstract"><summary>Full abstract</summary>'
            f"<p>{highlighted_abstract(paper.abstract, spans)}</p>"
            f'<div class="pa-meta">Read from {where_read(paper)}</div></details>'
        )
    body.append("</div>")
    return "".join(body)


def cited_quotes(citations: list[Citation]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for c in citations:
        quotes = out.setdefault(c.n, [])
        if c.quote and c.quote not in quotes:
            quotes.append(c.quote)
    return out


def cited_spans(citations: list[Citation]) -> dict[int, list[tuple[int, int]]]:
    out: dict[int, list[tuple[int, int]]] = {}
    for c in citations:
        out.setdefault(c.n, []).append((c.start, c.end))
    return out


def sources_block(
    sources: list[Source],
    citations: list[Citation],
    abstained: bool = False,
    with_quotes: bool = True,
    aid: str = "",
) -> str:
    """Numbered source cards under an answer: the cited papers (with the
    sentences quoted), then the other papers read, folded."""
    by_n = {s.n: s for s in sources}
    quotes = cited_quotes(citations)
    spans = cited_spans(citations)
    first_citation: dict[int, Citation] = {}
    for c in citations:
        first_citation.setdefault(c.n, c)
    if abstained:
        cards = "".join(source_card(s.n, s.paper, aid=aid) for s in sources)
        return (
            f'<details class="pa-sources"><summary>Papers read ({len(sources)})</summary>{cards}</details>'
            if sources
            else ""
        )
    cited = sorted(quotes)
    cards = "".join(
        source_card(
            n,
            by_n[n].paper if n in by_n else None,
            first_citation.get(n),
            quotes[n] if with_quotes else (),
            spans.get(n, ()),
            aid=aid,
        )
        for n in cited
    )
    others = [s for s in sources if s.n not in quotes]
    more = ""
    if others:
        items = "".join(source_card(s.n, s.paper, aid=aid) for s in others)
        more = f'<details class="pa-more"><summary>Also read, not cited ({len(others)})</summary>{items}</details>'
    if not cited and not others:
        return ""
    label = f"Sources ({len(cited)} cited)" if cited else "Papers read"
    return f'<details class="pa-sources" open><summary>{label}</summary>{cards}{more}</details>'


# --- answers ------------------------------------------------------------------------------------


def describe_filters(filters: dict[str, Any]) -> str:
    return Filters.coerce(filters).describe()


def usage_line(usage: dict[str, Any] | None) -> str:
    """What the model calls behind an answer cost (`llm.describe_usage`), as escaped HTML;
    "" when no model was called."""
    said = describe_usage(usage)
    return esc("usage: " + said) if said else ""


def new_aid() -> str:
    """A page-unique id for one rendered answer (its cards' anchors)."""
    return "pa" + uuid.uuid4().hex[:8]


def render_answer(answer: Answer, filters: dict[str, Any] | None = None, aid: str | None = None) -> str:
    """The final assistant message, as HTML in which every text from a paper, a model or
    the user is escaped: notices, the answer (markers linked to the cards), numbered
    source cards, a footer, and a Copy button with the answer as Markdown (hidden)."""
    aid = aid or new_aid()
    out = []
    if answer.outside_filter:
        out.append(
            notice(
                "abstain",
                "<b>Not answered within the filters.</b> Papers the filters leave out "
                "answer this better; they are named below.",
            )
        )
    elif answer.abstained:
        out.append(
            notice(
                "abstain",
                "<b>Not answered.</b> The indexed abstracts do not answer this question, "
                "so nothing is made up. The closest papers are listed as a starting point.",
            )
        )
    if answer.fallback:
        out.append(
            notice(
                "warn",
                "<b>The language model's answer was not used</b> (the reason is below), so "
                "this is the extractive answer: sentences quoted from the abstracts.",
            )
        )
    if answer.standalone_question:
        out.append(notice("info", f"Follow-up read as: <i>{esc(answer.standalone_question)}</i>"))
    for text in answer.notices:
        out.append(notice("warn", esc(text)))
    for text in excluded_lines(answer.filter_excluded):
        out.append(notice("info", esc(f"{text}; tick “{INCLUDE_UNKNOWN_LABEL}” to include them.")))
    titles = {s.n: s.paper.title for s in answer.sources}
    quotes = cited_quotes(answer.citations)
    if answer.table is not None:  # a comparison: the table alone; the source cards list its papers
        out.append(comparison_table(answer.table, aid))
    else:
        out.append(mark_citations(text_html(answer.text), titles, quotes, aid))
    block = sources_block(
        answer.sources, answer.citations, abstained=answer.abstained, with_quotes=answer.table is None, aid=aid
    )
    if block:
        out.append(block)
    foot = [f"answered by: {esc(answer.backend)}"]
    if filters and describe_filters(filters):
        foot.append(f"filters: {esc(describe_filters(filters))}")
    usage = usage_line(answer.usage)
    if usage:
        foot.append(f'<span class="pa-usage">{usage}</span>')
    copy = (
        '<button class="pa-copy" type="button" title="Copy the answer as Markdown with its references">'
        f'Copy</button><pre class="pa-md">{esc(export.answer_markdown(answer))}</pre>'
    )
    out.append(f'<div class="pa-foot">{" · ".join(foot)} {copy}</div>')
    return f'<div class="pa-answer" id="{aid}">' + "".join(out) + "</div>"


def render_user(message: str) -> str:
    """A user's question as shown in the chat: text, never markup."""
    return f'<div class="pa-user">{plain_html(message)}</div>'


def render_partial(text: str, draft: bool = False) -> str:
    """Text as it streams in, shown as text. `draft`: a model is writing it, so it is shown
    under a label and replaced by the checked answer (which may be another text)."""
    if not text.strip():
        return THINKING
    shown = mark_citations(text_html(text))
    if draft:
        return (
            '<div class="pa-draft-label">Draft from the model, not yet checked: the checked answer '
            "replaces it.</div>" + shown + THINKING
        )
    return shown + THINKING


def render_error(exc: BaseException, what: str = "answer that question") -> str:
    """An error as a notice: "I could not <what>: <the library's message>" for errors written
    for users; anything else names only its kind (the details go to the server log)."""
    if isinstance(exc, friendly_errors()):
        return notice("error", f"<b>I could not {esc(what)}:</b> {esc(exc)}")
    return notice(
        "error",
        f"<b>Something went wrong</b> ({esc(type(exc).__name__)}). "
        "The details are in the server log; please try again.",
    )


# --- comparison ---------------------------------------------------------------------------------


def comparison_table(comparison, aid: str = "") -> str:
    """A `Comparison` as an HTML table: a column per method whose head names the paper(s)
    it was built from, a row per aspect, every cell escaped with its markers linked."""
    by_n = {s.n: s for s in comparison.sources}
    titles = {n: s.paper.title for n, s in by_n.items()}
    quotes = cited_quotes(comparison.citations)
    head = ['<th class="pa-row-label"></th>']
    for method in comparison.methods:
        papers = [(n, by_n[n].paper) for n in comparison.papers.get(method, []) if n in by_n]
        named = (
            "".join(
                f'<div class="pa-col-paper">[{n}] {esc(short_title(p.title))}{f" ({p.year})" if p.year else ""}</div>'
                for n, p in papers
            )
            or '<div class="pa-col-paper">no indexed paper</div>'
        )
        head.append(f'<th><div class="pa-col-method">{esc(method)}</div>{named}</th>')
    rows = []
    for row in comparison.rows:
        cells = [f'<th class="pa-row-label" scope="row">{esc(row)}</th>']
        for method in comparison.methods:
            cell = comparison.cells[row][method]
            marks = "".join(f"[{n}]" for n in dict.fromkeys(c.n for c in cell.citations))
            cells.append(
                f"<td>{mark_citations(esc(cell.text) + (' ' + marks if marks else ''), titles, quotes, aid)}</td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<div class="pa-table-wrap"><table class="pa-compare"><thead><tr>'
        + "".join(head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


def short_title(title: str, most: int = 70) -> str:
    return title if len(title) <= most else title[: most - 1].rstrip() + "…"


def comparison_views(comparison) -> tuple[str, str]:
    """A `Comparison` as (the HTML table, notes: notices, source cards, footer)."""
    aid = new_aid()
    details = [notice("warn", esc(n)) for n in comparison.notices]
    cards = "".join(source_card(s.n, s.paper, aid=aid) for s in comparison.sources)
    if cards:
        details.append(f'<details class="pa-sources" open><summary>Sources</summary>{cards}</details>')
    details.append(f'<div class="pa-foot">compared by: {esc(comparison.backend)}</div>')
    return comparison_table(comparison, aid), "".join(details)


def comparison_file_name(comparison) -> str:
    return "comparison-" + "-vs-".join(export.slug(m) for m in comparison.methods)[:80]


def pick_choices(comparison, method: str) -> list[tuple[str, str]]:
    """The papers a column may be built from: the one(s) used, then the other papers that
    name the method, as (label, paper id) dropdown choices."""
    by_n = {s.n: s for s in comparison.sources}
    used = [by_n[n].paper for n in comparison.papers.get(method, []) if n in by_n]
    others = comparison.candidates.get(method, [])
    seen: set[str] = set()
    out = []
    for p in [*used, *others]:
        if p.id not in seen:
            seen.add(p.id)
            out.append((short_title(p.title, 90) + (f" ({p.year})" if p.year else ""), p.id))
    return out


# --- corpus -------------------------------------------------------------------------------------


def header_html(stats: dict[str, Any], backend: dict[str, Any]) -> str:
    return f'<div class="pa-status"><b>{stats["papers"]:,} papers</b> indexed · {esc(backend_label(backend))}</div>'


def source_label(name: str, formats: dict[str, str] | None = None) -> str:
    """A source file as listed: its name and the layout it was read as."""
    fmt = (formats or {}).get(name)
    return esc(name) + (f" <small>({esc(fmt)})</small>" if fmt else "")


def html_table(head: list[str], rows: list[list[str]], numeric: Iterable[int] = ()) -> str:
    """An HTML table from cells that are already HTML (escape text before passing it)."""
    right = set(numeric)

    def cell(tag: str, i: int, value: str) -> str:
        return f'<{tag} class="pa-num">{value}</{tag}>' if i in right else f"<{tag}>{value}</{tag}>"

    return (
        '<div class="pa-table-wrap"><table class="pa-plain"><thead><tr>'
        + "".join(cell("th", i, h) for i, h in enumerate(head))
        + "</tr></thead><tbody>"
        + "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
        + "</tbody></table></div>"
    )


def stats_html(stats: dict[str, Any]) -> str:
    """The Corpus tab's counts: papers, passages, years, categories, and a row per source file."""
    years = stats["years"]
    span = f"{min(years)}–{max(years)}" if years else "none"
    cats = ", ".join(f"{esc(c)} ({n})" for c, n in stats["categories"].items()) or "none"
    formats = stats.get("source_formats") or {}
    rows = [[source_label(name, formats), f"{count:,}"] for name, count in stats["sources"].items()]
    return (
        f"<p><b>{stats['papers']:,} papers</b> in {len(stats['sources'])} source file(s), "
        f"{stats['chunks']:,} searchable passages.</p><ul>"
        f"<li>Years: {span} ({stats['papers'] - stats['no_year']:,} papers have a year, "
        f"{stats['no_year']:,} do not)</li><li>Categories: {cats}</li>"
        f"<li>With code: {stats['with_code']:,}</li></ul>"
        + html_table(["Source file (layout)", "Papers"], rows, numeric=[1])
    )


def filter_note(stats: dict[str, Any]) -> str:
    """The note under the filter widgets: what a filter leaves out, and how many papers have a year."""
    years = stats["years"]
    return (
        f"<small>Filters leave out papers that lack the filtered field (unless "
        f"“{INCLUDE_UNKNOWN_LABEL}” is ticked), and the answer says how many: "
        f"{stats['papers'] - stats['no_year']:,} of {stats['papers']:,} have a year"
        + (f" ({min(years)}–{max(years)})" if years else "")
        + ".</small>"
    )


def match_line(counts: dict[str, Any]) -> str:
    """The live line under the filters (`PaperAssistant.count_matching`): "N of M papers
    match", and how many were left out only for lacking a filtered field."""
    line = f"<b>{counts['matching']:,} of {counts['total']:,} papers match</b> the filters."
    lacking = excluded_lines(counts.get("excluded") or {})
    if lacking:
        line += " " + " ".join(esc(x + ".") for x in lacking)
    return f'<div class="pa-match">{line}</div>'


def year_choices(stats: dict[str, Any]) -> list[tuple[str, str]]:
    return [("Any", "")] + [(str(y), str(y)) for y in stats["years"]]


def category_choices(stats: dict[str, Any]) -> list[tuple[str, str]]:
    return [("Any category", "")] + [(f"{c} ({n})", c) for c, n in stats["categories"].items()]


def year_plot_title(stats: dict[str, Any]) -> str:
    """The year chart's title: it shows only the papers that have a year, and says so."""
    return (
        f"Papers per year ({stats['papers'] - stats['no_year']:,} with a year; {stats['no_year']:,} without, not shown)"
    )


def year_frame(stats: dict[str, Any]):
    import pandas as pd

    return pd.DataFrame({"year": [str(y) for y in stats["years"]], "papers": list(stats["years"].values())})


def category_frame(stats: dict[str, Any]):
    import pandas as pd

    return pd.DataFrame({"category": list(stats["categories"]), "papers": list(stats["categories"].values())})


PAPER_COLUMNS = ["Title", "Year", "Authors", "Category"]


def paper_table(papers: list[Paper], matched: int, query: str | None):
    """The corpus paper list (`PaperAssistant.find_papers`): (frame of the listed papers,
    the line saying how many matched)."""
    import pandas as pd

    rows = [
        [p.title, str(p.year or ""), author_list(p.authors, p.authors_et_al, most=LIST_AUTHORS), p.category or ""]
        for p in papers
    ]
    frame = pd.DataFrame(rows, columns=PAPER_COLUMNS)
    shown = f"first {len(papers)} of " if matched > len(papers) else ""
    what = (
        f"matching “{esc((query or '').strip())}” in title, authors or abstract"
        if (query or "").strip()
        else "in the index"
    )
    return frame, f"Showing {shown}{matched:,} paper(s) {what}. Select a row to open the paper."


def paper_view(paper: Paper) -> str:
    """One paper opened from the corpus list: its card with the whole abstract shown."""
    return (
        f'<div class="pa-card pa-paper"><div class="pa-card-title">{paper_link(paper.title, export.link(paper))}</div>'
        f'<div class="pa-meta">{paper_meta(paper)}</div><p>{esc(paper.abstract)}</p>'
        f'<div class="pa-meta">Read from {where_read(paper)}</div></div>'
    )


def ingest_report(result, update) -> str:
    """What an upload did (an `IngestResult` and its `LibraryUpdate`): the new count, a
    row per chosen file (the page refuses none before upload: every file reaches the
    library, which reads it or says why not), then the problems (files not ingested,
    skipped entries, warnings)."""
    report: list[str] = []
    if result.papers and update is not None and not (update.added or update.updated):
        report.append(
            notice(
                "info",
                f"<b>Already indexed:</b> all {len(result.papers)} paper(s) in these files were in the index; "
                f"nothing changed (it holds <b>{update.total:,} papers</b>).",
            )
        )
    elif result.papers:
        report.append(
            notice(
                "ok",
                f"<b>{update.added} new paper(s)</b>, {update.updated} updated, "
                f"{update.unchanged} unchanged: the index now holds "
                f"<b>{update.total:,} papers</b>.",
            )
        )
    else:
        report.append(notice("error", "<b>No usable paper</b> was found in the upload; the index is unchanged."))
    rows: list[list[str]] = []
    problems: list[str] = []
    merges_of = result.merges_by_file()
    for file in result.files:
        name = Path(file.file).name
        merges = merges_of.get(file.file, [])
        merged = f"{len(merges)} ({by_key(merges)})" if merges else "0"
        rows.append([esc(name), esc(file.format or "—"), str(file.records), merged, str(len(file.skipped))])
        if file.error:
            problems.append(f"<b>{esc(name)}</b>: not ingested: {esc(file.error)}")
        listed = [("skipped", p) for p in file.skipped] + [("warning", p) for p in file.warnings]
        for kind, p in listed[:MAX_PROBLEMS]:
            problems.append(f"{kind}: {esc(replace(p, file=name))}")
        if len(listed) > MAX_PROBLEMS:
            problems.append(f"… and {len(listed) - MAX_PROBLEMS} more in {esc(name)}")
    report.append(html_table(["File", "Format", "Papers", "Merged", "Skipped"], rows, numeric=[2, 4]))
    problems += [f"{esc(Path(str(e)).name)}: could not be opened" for e in result.errors]
    if problems:
        report.append("<p><b>Problems</b></p><ul>" + "".join(f"<li>{x}</li>" for x in problems) + "</ul>")
    return "".join(report)


def backend_html(info: dict[str, Any], stats: dict[str, Any]) -> str:
    embedding = stats.get("embedding") or {}
    index = {  # the index by name, not its path on the server
        "index": Path(str(stats["index"])).name,
        "vector store": stats.get("vector_store") or "embedded",
        "embedding model": embedding.get("model", "?") if isinstance(embedding, dict) else embedding,
    }
    return (
        f"<p><b>Answers:</b> {esc(backend_label(info))}</p>{kv_list(info)}<p><b>Index</b></p>{kv_list(index)}"
        "<p>Configure an LLM with <code>OPENAI_BASE_URL</code> / <code>OPENAI_API_KEY</code> and "
        "<code>PAPERS_LLM_MODEL</code> (see the README); keys are never shown here.</p>"
    )


def health_html(result: dict[str, Any]) -> str:
    ok = bool(result.get("ok"))
    detail = result.get("detail") or ""
    shown = {k: v for k, v in result.items() if k not in ("ok", "detail")}
    head = notice(
        "ok" if ok else "error",
        f"<b>{'Backend OK' if ok else 'Backend not reachable'}</b>" + (f": {esc(detail)}" if detail else ""),
    )
    return head + kv_list(shown)

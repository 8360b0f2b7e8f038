"""What the web UI shows, as HTML and Markdown strings: answers with styled
citation markers and numbered source cards, notices, the comparison's notes
and files, the corpus counts, the upload report, and the stylesheet. Pure
functions of library records (no Gradio, no I/O): the handlers
(`assistant.ui.handlers`) call them, and they are tested without a server.
Everything taken from a paper, a model or the user is escaped here."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from assistant.answer import accept
from assistant.answer.text import MARKER, marker_numbers
from assistant.errors import QueryError, UserError
from assistant.ingest import SUPPORTED_SUFFIXES
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

THINKING = '<span class="pa-thinking">Searching the abstracts…</span>'

CSS = """
.pa-header h1 { margin-bottom: 0.1em; }
.pa-header p { margin-top: 0; color: var(--body-text-color-subdued); }
.pa-status { font-size: 0.9em; color: var(--body-text-color-subdued); }
.pa-draft-label { font-size: 0.85em; opacity: 0.7; font-style: italic; }
.pa-cite { font-size: 0.72em; font-weight: 700; color: var(--color-accent); padding: 0 0.1em; cursor: help; }
.pa-sources { margin-top: 0.8em; border-top: 1px solid var(--border-color-primary); padding-top: 0.4em; }
.pa-sources > summary, .pa-more > summary { cursor: pointer; font-weight: 600; }
.pa-card { border: 1px solid var(--border-color-primary); border-left: 4px solid var(--color-accent);
           border-radius: 8px; padding: 0.45em 0.75em; margin: 0.5em 0; background: var(--background-fill-secondary); }
.pa-card-title { font-weight: 600; }
.pa-n { display: inline-block; min-width: 1.7em; text-align: center; border-radius: 999px; padding: 0 0.35em;
        margin-right: 0.35em; background: var(--color-accent); color: white; font-size: 0.8em; font-weight: 700; }
.pa-meta { color: var(--body-text-color-subdued); font-size: 0.85em; margin-top: 0.1em; }
.pa-quote { margin: 0.35em 0 0.1em 0 !important; padding: 0.15em 0.6em !important; font-style: italic;
            border-left: 3px solid var(--border-color-accent) !important; }
.pa-notice { border-radius: 8px; padding: 0.45em 0.75em; margin: 0.2em 0 0.6em 0; font-size: 0.92em; }
.pa-notice-abstain { background: #fef3c7; color: #78350f; border: 1px solid #f59e0b; }
.pa-notice-warn { background: #ffedd5; color: #7c2d12; border: 1px solid #fb923c; }
.pa-notice-error { background: #fee2e2; color: #7f1d1d; border: 1px solid #f87171; }
.pa-notice-info { background: #e0e7ff; color: #312e81; border: 1px solid #818cf8; }
.pa-notice-ok { background: #dcfce7; color: #14532d; border: 1px solid #4ade80; }
.pa-foot { font-size: 0.8em; color: var(--body-text-color-subdued); margin-top: 0.4em; }
#compare-table td:first-child, #compare-table th:first-child { min-width: 9.5em; }
.pa-thinking { color: var(--body-text-color-subdued); font-style: italic; }
"""


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
# read it as something else: not escaped (\[1]), not a link "[1](url)", a reference "[1][ref]"
# or a definition "[1]: " - but "[1][2]" is two markers.
CITE_RE = re.compile(rf"(?<!\\){MARKER}(?!\(|:|(?!{MARKER})\[)")


def mark_citations(text: str, titles: dict[int, str] | None = None) -> str:
    """Style the markers [n] of an answer (the text stays '[n]'), with the
    cited title(s) as a tooltip, so they match the numbered source cards."""
    titles = titles or {}

    def sub(m: re.Match) -> str:
        numbers = marker_numbers(m.group(1))
        if any(n > 999 for n in numbers):  # "[2023]": a year in a draft, not a source number
            return m.group(0)
        named = [titles[n] for n in numbers if n in titles]
        tip = f' title="{esc("; ".join(named)).replace("|", "&#124;")}"' if named else ""  # safe in table cells
        return f'<sup class="pa-cite"{tip}>[{", ".join(map(str, numbers))}]</sup>'

    return CITE_RE.sub(sub, text)


def safe_url(url: str | None) -> str | None:
    return url if isinstance(url, str) and re.match(r"https?://[^\s\"'<>]+$", url.strip()) else None


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "x"


def backend_label(info: dict[str, Any]) -> str:
    if info.get("backend") == "extractive":
        return "extractive answers (no LLM configured)"
    model = info.get("model") or "?"
    return f"LLM {model}" + (f" at {info['base_url']}" if info.get("base_url") else "")


_SECRET_KEY = re.compile(r"key|secret|token|password|auth", re.IGNORECASE)


def kv_list(data: dict[str, Any]) -> str:
    """Key/value pairs as a Markdown list (keys that could name a secret are left out)."""
    return "\n".join(
        f"- **{esc(k).replace('_', ' ')}**: {esc(v)}"
        for k, v in data.items()
        if not _SECRET_KEY.search(str(k)) and v not in (None, "")
    )


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


def source_card(n: int, paper: Paper | None, citation: Citation | None = None, quotes: Iterable[str] = ()) -> str:
    """One numbered source: title (linked when a URL is known), authors, year, quoted sentences."""
    title = paper.title if paper else (citation.title if citation else "?")
    url = safe_url((paper.url if paper else None) or (citation.url if citation else None))
    head = f'<a href="{esc(url)}" target="_blank">{esc(title)}</a>' if url else esc(title)
    if paper is not None:
        meta = paper_meta(paper)
    elif citation is not None:
        meta = " · ".join(esc(x) for x in (author_list(citation.authors, most=CARD_AUTHORS), citation.year or "") if x)
    else:
        meta = ""
    body = [
        f'<div class="pa-card pa-src-{n}">',
        f'<div class="pa-card-title"><span class="pa-n">[{n}]</span>{head}</div>',
    ]
    if meta:
        body.append(f'<div class="pa-meta">{meta}</div>')
    for quote in quotes:
        body.append(f'<blockquote class="pa-quote">“{esc(quote)}”</blockquote>')
    body.append("</div>")
    return "".join(body)


def cited_quotes(citations: list[Citation]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for c in citations:
        quotes = out.setdefault(c.n, [])
        if c.quote and c.quote not in quotes:
            quotes.append(c.quote)
    return out


def sources_block(
    sources: list[Source], citations: list[Citation], abstained: bool = False, with_quotes: bool = True
) -> str:
    """Numbered source cards under an answer: the cited papers (with the
    sentences quoted), then the other papers read, folded."""
    by_n = {s.n: s for s in sources}
    quotes = cited_quotes(citations)
    first_citation: dict[int, Citation] = {}
    for c in citations:
        first_citation.setdefault(c.n, c)
    if abstained:
        cards = "".join(source_card(s.n, s.paper) for s in sources)
        return (
            (f'<details class="pa-sources"><summary>Closest papers ({len(sources)})</summary>{cards}</details>')
            if sources
            else ""
        )
    cited = sorted(quotes)
    cards = "".join(
        source_card(n, by_n[n].paper if n in by_n else None, first_citation.get(n), quotes[n] if with_quotes else ())
        for n in cited
    )
    others = [s for s in sources if s.n not in quotes]
    more = ""
    if others:
        items = "".join(source_card(s.n, s.paper) for s in others)
        more = f'<details class="pa-more"><summary>Also read, not cited ({len(others)})</summary>{items}</details>'
    if not cited and not others:
        return ""
    label = f"Sources ({len(cited)} cited)" if cited else "Papers read"
    return f'<details class="pa-sources" open><summary>{label}</summary>{cards}{more}</details>'


# --- answers ------------------------------------------------------------------------------------


def _answer_body(answer: Answer) -> str:
    # A comparison: the table alone; the source cards replace its plain list of sources.
    return answer.table.markdown(sources=False) if answer.table is not None else answer.text


def describe_filters(filters: dict[str, Any]) -> str:
    return Filters.coerce(filters).describe()


def usage_line(usage: dict[str, Any] | None) -> str:
    """What the model calls behind an answer cost (`llm.describe_usage`), as escaped HTML;
    "" when no model was called."""
    said = describe_usage(usage)
    return esc("usage: " + said) if said else ""


def render_answer(answer: Answer, filters: dict[str, Any] | None = None) -> str:
    """The final assistant message: notices, answer text (Markdown, markers
    styled), numbered source cards, and a small footer."""
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
    out.append(mark_citations(_answer_body(answer), titles))
    block = sources_block(
        answer.sources, answer.citations, abstained=answer.abstained, with_quotes=answer.table is None
    )
    if block:
        out.append(block)
    foot = [f"answered by: {esc(answer.backend)}"]
    if filters and describe_filters(filters):
        foot.append(f"filters: {esc(describe_filters(filters))}")
    usage = usage_line(answer.usage)
    if usage:
        foot.append(f'<span class="pa-usage">{usage}</span>')
    out.append(f'<div class="pa-foot">{" · ".join(foot)}</div>')
    return "\n\n".join(out)


def render_partial(text: str, draft: bool = False) -> str:
    """Text as it streams in. `draft`: a model is writing it, so it is shown escaped
    under a label and replaced by the checked answer (which may be another text)."""
    if not text.strip():
        return THINKING
    if draft:  # not yet checked: its links and images stay text (an image would load its URL)
        inert = accept.MARKUP.sub(lambda m: re.sub(r"([!\[\]()])", r"\\\1", m.group(0)), text)
        return (
            '<div class="pa-draft-label">Draft from the model, not yet checked: the checked answer '
            "replaces it.</div>\n\n" + mark_citations(esc(inert)) + "\n\n" + THINKING
        )
    return mark_citations(text) + "\n\n" + THINKING


def render_error(exc: BaseException, what: str = "that question") -> str:
    if isinstance(exc, QueryError):
        return notice("error", f"<b>I could not run {what}:</b> {esc(exc)}")
    if isinstance(exc, friendly_errors()):
        return notice("error", f"<b>The assistant could not answer:</b> {esc(exc)}")
    return notice(
        "error",
        f"<b>Something went wrong</b> ({esc(type(exc).__name__)}). "
        "The details are in the server log; please try again.",
    )


# --- comparison ---------------------------------------------------------------------------------


def comparison_views(comparison) -> tuple[str, str]:
    """A `Comparison` as (table Markdown with styled markers, notes: notices, source cards, footer)."""
    table = comparison.markdown(sources=False)
    titles = {s.n: s.paper.title for s in comparison.sources}
    details = [notice("warn", esc(n)) for n in comparison.notices]
    cards = "".join(source_card(s.n, s.paper) for s in comparison.sources)
    if cards:
        details.append(f'<details class="pa-sources" open><summary>Sources</summary>{cards}</details>')
    details.append(f'<div class="pa-foot">compared by: {esc(comparison.backend)}</div>')
    return mark_citations(table, titles), "\n\n".join(details)


def comparison_file_name(comparison) -> str:
    return "comparison-" + "-vs-".join(slug(m) for m in comparison.methods)[:80]


def comparison_markdown_file(comparison) -> str:
    """The Markdown download: the cited table, its links and notes."""
    lines = [f"# Comparison: {' vs '.join(comparison.methods)}", "", comparison.markdown()]
    links = [f"[{s.n}] {s.paper.url}" for s in comparison.sources if safe_url(s.paper.url)]
    if links:
        lines += ["", "Links:", *links]
    if comparison.notices:
        lines += ["", "Notes:", *(f"- {n}" for n in comparison.notices)]
    return "\n".join(lines) + "\n"


def comparison_csv_rows(comparison) -> list[list[Any]]:
    """The CSV download: the table's rows, a blank row, then one row per source."""
    rows: list[list[Any]] = [*comparison.csv_rows(), [], ["source", "title", "authors", "year", "url"]]
    for s in comparison.sources:
        p = s.paper
        rows.append([f"[{s.n}]", p.title, "; ".join(p.authors), p.year or "", p.url or ""])
    return rows


# --- corpus -------------------------------------------------------------------------------------


def header_html(stats: dict[str, Any], backend: dict[str, Any]) -> str:
    return f'<div class="pa-status"><b>{stats["papers"]:,} papers</b> indexed · {esc(backend_label(backend))}</div>'


def stats_markdown(stats: dict[str, Any]) -> str:
    years = stats["years"]
    span = f"{min(years)}–{max(years)}" if years else "none"
    lines = [
        f"**{stats['papers']:,} papers** in {len(stats['sources'])} source file(s), "
        f"{stats['chunks']:,} searchable passages.",
        "",
        f"- Years: {span} ({stats['papers'] - stats['no_year']:,} papers have a year, {stats['no_year']:,} do not)",
        "- Categories: " + (", ".join(f"{c} ({n})" for c, n in stats["categories"].items()) or "none"),
        f"- With code: {stats['with_code']:,}",
        "",
        "| Source file | Papers |",
        "|---|---:|",
    ]
    lines += [f"| {esc(name)} | {count:,} |" for name, count in stats["sources"].items()]
    return "\n".join(lines)


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


def year_choices(stats: dict[str, Any]) -> list[tuple[str, str]]:
    return [("Any", "")] + [(str(y), str(y)) for y in stats["years"]]


def category_choices(stats: dict[str, Any]) -> list[tuple[str, str]]:
    return [("Any category", "")] + [(f"{c} ({n})", c) for c, n in stats["categories"].items()]


def year_frame(stats: dict[str, Any]):
    import pandas as pd

    return pd.DataFrame({"year": [str(y) for y in stats["years"]], "papers": list(stats["years"].values())})


def category_frame(stats: dict[str, Any]):
    import pandas as pd

    return pd.DataFrame({"category": list(stats["categories"]), "papers": list(stats["categories"].values())})


def paper_table(papers: list[Paper], query: str | None, most: int):
    """The corpus paper list: (frame of the first `most` papers whose title contains
    `query`, newest first, and the line saying how many matched)."""
    import pandas as pd

    needle = " ".join((query or "").lower().split())
    matched = [p for p in papers if needle in " ".join(p.title.lower().split())] if needle else list(papers)
    matched.sort(key=lambda p: (-(p.year or 0), p.title.lower()))
    rows = [
        [p.title, str(p.year or ""), author_list(p.authors, p.authors_et_al, most=LIST_AUTHORS), p.category or ""]
        for p in matched[:most]
    ]
    frame = pd.DataFrame(rows, columns=["Title", "Year", "Authors", "Category"])
    shown = f"first {most} of " if len(matched) > most else ""
    what = f"matching “{esc((query or '').strip())}”" if needle else "in the index"
    return frame, f"Showing {shown}{len(matched):,} paper(s) {what}."


def ingest_report(result, update) -> str:
    """What an upload did (an `IngestResult` and its `LibraryUpdate`): the new count, a
    row per file, then the problems (files not ingested, skipped entries, warnings)."""
    report: list[str] = []
    if result.papers:
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
    table = "| File | Format | Papers | Skipped |\n|---|---|---:|---:|"
    problems: list[str] = []
    for file in result.files:
        name = Path(file.file).name
        table += f"\n| {esc(name)} | {esc(file.format or '—')} | {file.records} | {len(file.skipped)} |"
        if file.error:
            problems.append(f"- **{esc(name)}**: not ingested: {esc(file.error)}")
        listed = [("skipped", p) for p in file.skipped] + [("warning", p) for p in file.warnings]
        for kind, p in listed[:MAX_PROBLEMS]:
            problems.append(f"- {kind}: {esc(replace(p, file=name))}")
        if len(listed) > MAX_PROBLEMS:
            problems.append(f"- … and {len(listed) - MAX_PROBLEMS} more in {esc(name)}")
    report.append(table)
    problems += [f"- {esc(Path(str(e)).name)}: could not be opened" for e in result.errors]
    if problems:
        report.append("**Problems**\n\n" + "\n".join(problems))
    return "\n\n".join(report)


def backend_markdown(info: dict[str, Any], stats: dict[str, Any]) -> str:
    embedding = stats.get("embedding") or {}
    index = {
        "index": stats["index"],
        "vector store": stats.get("vector_store") or "embedded",
        "embedding model": embedding.get("model", "?") if isinstance(embedding, dict) else embedding,
    }
    return (
        f"**Answers:** {esc(backend_label(info))}\n\n{kv_list(info)}\n\n**Index**\n\n{kv_list(index)}\n\n"
        "Configure an LLM with `OPENAI_BASE_URL` / `OPENAI_API_KEY` and `PAPERS_LLM_MODEL` "
        "(see the README); keys are never shown here."
    )


def health_markdown(result: dict[str, Any]) -> str:
    ok = bool(result.get("ok"))
    detail = result.get("detail") or ""
    shown = {k: v for k, v in result.items() if k not in ("ok", "detail")}
    head = notice(
        "ok" if ok else "error",
        f"<b>{'Backend OK' if ok else 'Backend not reachable'}</b>" + (f": {esc(detail)}" if detail else ""),
    )
    return head + "\n\n" + kv_list(shown)

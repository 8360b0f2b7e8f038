"""The web UI (Gradio): chat with cited answers, method comparison, corpus
browser and upload, backend settings. A thin layer over `PaperAssistant`:
every answer, table and count comes from `assistant.api`; this module only
lays it out.

    from assistant.ui import build_app, serve
    build_app(PaperAssistant.open()).launch()   # or: serve(PaperAssistant.open(), host, port)
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import csv
import hashlib
import html
import logging
import re
import shutil
import sys
import tempfile
import threading
import uuid
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Iterator

import gradio as gr

from assistant.answer import accept
from assistant.api import PaperAssistant, user_errors
from assistant.ingest import SUPPORTED_SUFFIXES
from assistant.llm import describe_usage
from assistant.records import Answer, Citation, Paper, Source
from assistant.retrieve import Filters, QueryError, excluded_lines

log = logging.getLogger(__name__)

TITLE = "Paper Assistant"
TAGLINE = ("Ask questions across research-paper abstracts. Every answer sentence cites the paper "
           "and quotes the sentence it comes from; when the abstracts do not answer, it says so.")

EXAMPLES = [
    "What is hard patches mining in masked image modeling?",
    "Which paper proposes an adaptive second order optimizer that estimates the Hessian diagonal?",
    "Compare ADAHESSIAN and M-FAC",
    "What limits message passing in graph neural networks?",
    "Who won the 2026 football world cup?",
]
UPLOAD_TYPES = sorted(s for s in SUPPORTED_SUFFIXES if s)  # what ingest reads (a file without suffix too)
METHOD_BOXES = 4  # method fields on the compare tab (each may hold several, comma-separated)
MAX_LISTED_PAPERS = 200  # rows shown in the corpus paper list
MAX_PROBLEMS = 10  # problems listed per uploaded file
WRITE_WAIT_SECONDS = 300  # how long an upload waits for running questions to finish

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


# --- lock ------------------------------------------------------------------------------------


class ReadWriteLock:
    """Questions share the index (readers); an upload changes it (writer) and
    waits until running questions are done. Waiting writers go first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    def try_read(self) -> bool:
        with self._cond:
            if self._writer or self._writers_waiting:
                return False
            self._readers += 1
            return True

    def acquire_read(self) -> None:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1

    def release_read(self) -> None:
        with self._cond:
            self._readers -= 1
            self._cond.notify_all()

    @contextmanager
    def reading(self) -> Iterator[None]:
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def writing(self, timeout: float | None = None) -> Iterator[bool]:
        """Yields True when the lock was taken, False after `timeout` seconds."""
        with self._cond:
            self._writers_waiting += 1
            try:
                got = self._cond.wait_for(lambda: not self._writer and not self._readers, timeout)
                if got:
                    self._writer = True
            finally:
                self._writers_waiting -= 1
                self._cond.notify_all()
        try:
            yield got
        finally:
            if got:
                with self._cond:
                    self._writer = False
                    self._cond.notify_all()


# --- rendering helpers ------------------------------------------------------------------------


def friendly_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is written for users (shown as is, no traceback): the CLI's,
    plus OSError (an upload that cannot be read)."""
    return (*user_errors(), OSError)


def redact(text: Any) -> str:
    """Belt and braces: no credentials in anything shown (URL user:password, sk-... keys)."""
    text = re.sub(r"(//)[^/@\s]+@", r"\1***@", str(text))
    return re.sub(r"\b(sk-[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-]{8,}", r"\1***", text)


def esc(text: Any) -> str:
    return html.escape(redact(text), quote=True)


def notice(kind: str, text: str) -> str:
    """A coloured callout (kind: abstain, warn, error, info, ok); `text` is HTML."""
    return f'<div class="pa-notice pa-notice-{kind}">{text}</div>'


def mark_citations(text: str, titles: dict[int, str] | None = None) -> str:
    """Style the markers [n] of an answer (the text stays '[n]'), with the
    cited title as a tooltip, so they match the numbered source cards."""
    titles = titles or {}

    def sub(m: re.Match) -> str:
        n = int(m.group(1))
        tip = f' title="{esc(titles[n]).replace("|", "&#124;")}"' if n in titles else ""  # safe in table cells
        return f'<sup class="pa-cite"{tip}>[{n}]</sup>'

    # Not a Markdown link "[1](url)", reference "[1][ref]" or definition "[1]: " - but "[1][2]" is two markers.
    return re.sub(r"(?<!\\)\[(\d{1,3})\](?!\(|:|\[(?!\d{1,3}\]))", sub, text)


def _safe_url(url: str | None) -> str | None:
    return url if isinstance(url, str) and re.match(r"https?://[^\s\"'<>]+$", url.strip()) else None


def format_authors(authors: list[str], et_al: bool = False, most: int = 6) -> str:
    names = [a for a in authors if a and a.strip()]
    if not names:
        return ""
    shown = ", ".join(names[:most])
    return shown + (" et al." if et_al or len(names) > most else "")


def paper_meta(paper: Paper) -> str:
    parts = [format_authors(paper.authors, paper.authors_et_al),
             str(paper.year) if paper.year else "", paper.venue or "", paper.category or "",
             "code available" if paper.has_code else ""]
    return " · ".join(esc(p) for p in parts if p)


def source_card(n: int, paper: Paper | None, citation: Citation | None = None, quotes: Iterable[str] = ()) -> str:
    """One numbered source: title (linked when a URL is known), authors, year, quoted sentences."""
    title = paper.title if paper else (citation.title if citation else "?")
    url = _safe_url((paper.url if paper else None) or (citation.url if citation else None))
    head = f'<a href="{esc(url)}" target="_blank">{esc(title)}</a>' if url else esc(title)
    if paper is not None:
        meta = paper_meta(paper)
    elif citation is not None:
        meta = " · ".join(esc(x) for x in (format_authors(citation.authors), citation.year or "") if x)
    else:
        meta = ""
    body = [f'<div class="pa-card pa-src-{n}">',
            f'<div class="pa-card-title"><span class="pa-n">[{n}]</span>{head}</div>']
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


def sources_block(sources: list[Source], citations: list[Citation], abstained: bool = False,
                  with_quotes: bool = True) -> str:
    """Numbered source cards under an answer: the cited papers (with the
    sentences quoted), then the other papers read, folded."""
    by_n = {s.n: s for s in sources}
    quotes = cited_quotes(citations)
    first_citation = {}
    for c in citations:
        first_citation.setdefault(c.n, c)
    if abstained:
        cards = "".join(source_card(s.n, s.paper) for s in sources)
        return (f'<details class="pa-sources"><summary>Closest papers ({len(sources)})</summary>'
                f"{cards}</details>") if sources else ""
    cited = sorted(quotes)
    cards = "".join(source_card(n, by_n[n].paper if n in by_n else None, first_citation.get(n),
                                quotes[n] if with_quotes else ()) for n in cited)
    others = [s for s in sources if s.n not in quotes]
    more = ""
    if others:
        items = "".join(source_card(s.n, s.paper) for s in others)
        more = (f'<details class="pa-more"><summary>Also read, not cited ({len(others)})</summary>'
                f"{items}</details>")
    if not cited and not others:
        return ""
    label = f"Sources ({len(cited)} cited)" if cited else "Papers read"
    return f'<details class="pa-sources" open><summary>{label}</summary>{cards}{more}</details>'


def _answer_body(answer: Answer) -> str:
    # A comparison: the table alone; the source cards replace its plain list of sources.
    return answer.table.markdown(sources=False) if answer.table is not None else answer.text


def describe_filters(filters: dict[str, Any]) -> str:
    return Filters.coerce(filters).describe()


INCLUDE_UNKNOWN_LABEL = "Include papers lacking the field"


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
        out.append(notice("abstain", "<b>Not answered within the filters.</b> Papers the filters leave out "
                                     "answer this better; they are named below."))
    elif answer.abstained:
        out.append(notice("abstain", "<b>Not answered.</b> The indexed abstracts do not answer this question, "
                                     "so nothing is made up. The closest papers are listed as a starting point."))
    if "fallback" in (answer.backend or ""):
        out.append(notice("warn", "<b>The language model's answer was not used</b> (the reason is below), so "
                                  "this is the extractive answer: sentences quoted from the abstracts."))
    if answer.standalone_question:
        out.append(notice("info", f"Follow-up read as: <i>{esc(answer.standalone_question)}</i>"))
    for text in answer.notices:
        out.append(notice("warn", esc(text)))
    for text in excluded_lines(answer.filter_excluded):
        out.append(notice("info", esc(f"{text}; tick “{INCLUDE_UNKNOWN_LABEL}” to include them.")))
    titles = {s.n: s.paper.title for s in answer.sources}
    out.append(mark_citations(_answer_body(answer), titles))
    block = sources_block(answer.sources, answer.citations, abstained=answer.abstained,
                          with_quotes=answer.table is None)
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
        return ('<div class="pa-draft-label">Draft from the model, not yet checked: the checked answer '
                'replaces it.</div>\n\n' + mark_citations(esc(inert)) + "\n\n" + THINKING)
    return mark_citations(text) + "\n\n" + THINKING


def render_error(exc: BaseException, what: str = "that question") -> str:
    if isinstance(exc, QueryError):
        return notice("error", f"<b>I could not run {what}:</b> {esc(exc)}")
    if isinstance(exc, friendly_errors()):
        return notice("error", f"<b>The assistant could not answer:</b> {esc(exc)}")
    return notice("error", f"<b>Something went wrong</b> ({esc(type(exc).__name__)}). "
                           "The details are in the server log; please try again.")


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
    return "\n".join(f"- **{esc(k).replace('_', ' ')}**: {esc(v)}" for k, v in data.items()
                     if not _SECRET_KEY.search(str(k)) and v not in (None, ""))


# --- the UI logic (handlers) ------------------------------------------------------------------


class PaperUI:
    """Event handlers around one shared PaperAssistant. Each returns what the
    components show; none holds retrieval or answer logic."""

    def __init__(self, pa: PaperAssistant, workdir: Path | None = None):
        self.pa = pa
        self.lock = ReadWriteLock()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="paper-assistant-ui-"))

    # chat --------------------------------------------------------------------------------------
    @staticmethod
    def filters(year_from: Any = None, year_to: Any = None, category: Any = None, author: Any = None,
                has_code: Any = None, include_unknown: Any = None) -> dict[str, Any]:
        """The filter widgets as api filters; empty widgets are left out."""
        out: dict[str, Any] = {}
        for name, value in (("year_from", year_from), ("year_to", year_to)):
            if value not in (None, "", 0):
                try:
                    out[name] = int(float(value))
                except (TypeError, ValueError):
                    raise QueryError(f"{name.replace('_', ' ')} must be a year, e.g. 2022 (got {value!r})")
        if isinstance(category, str) and category.strip():
            out["category"] = category.strip()
        if isinstance(author, str) and author.strip():
            out["author"] = author.strip()
        if has_code:
            out["has_code"] = True
        if include_unknown and out:
            out["include_unknown"] = True
        return out

    def respond(self, message: str, chat: list | None, answers: list[Answer] | None, year_from: Any = None,
                year_to: Any = None, category: Any = None, author: Any = None, has_code: Any = None,
                include_unknown: Any = None):
        """Chat handler (a generator): yields (chat messages, textbox value, answers)."""
        chat = list(chat or [])
        answers = list(answers or [])
        message = (message or "").strip() if isinstance(message, str) else ""
        if not message:
            yield chat, "", answers
            return
        chat.append({"role": "user", "content": message})

        def show(content: str) -> list:  # a new list per step: earlier yields stay as they were
            return chat + [{"role": "assistant", "content": content}]

        yield show(THINKING), "", answers
        try:
            filters = self.filters(year_from, year_to, category, author, has_code, include_unknown)
            if not self.lock.try_read():
                yield show(notice("info", "The library is being updated with new papers; your question runs "
                                          "as soon as that is done.")), "", answers
                self.lock.acquire_read()
            try:
                stream = self.pa.chat(message, history=answers, filters=filters or None, stream=True)
                text = ""
                for delta in stream:
                    text += delta
                    yield show(render_partial(text, draft=self.pa.llm is not None)), "", answers
                answer = stream.result()
            finally:
                self.lock.release_read()
        except Exception as exc:  # shown in the chat, never as a traceback
            if not isinstance(exc, friendly_errors()):
                log.exception("answering %r failed", message)
            yield show(render_error(exc)), "", answers
            return
        yield show(render_answer(answer, filters)), "", answers + [answer]

    # compare -----------------------------------------------------------------------------------
    def compare(self, *boxes: str):
        """Compare handler: returns (table markdown, sources/notices, markdown file, csv file)."""
        methods = []
        for box in boxes:
            for part in (box or "").split(","):
                if part.strip():
                    methods.append(part.strip())
        hidden = gr.DownloadButton(visible=False)
        try:  # too few, too many or repeated methods: compare.parse_methods says so (QueryError)
            with self.lock.reading():
                comparison = self.pa.compare(methods)
        except Exception as exc:
            if not isinstance(exc, friendly_errors()):
                log.exception("comparing %r failed", methods)
            return render_error(exc, "the comparison"), "", hidden, hidden
        table = comparison.markdown(sources=False)
        titles = {s.n: s.paper.title for s in comparison.sources}
        details = [notice("warn", esc(n)) for n in comparison.notices]
        cards = "".join(source_card(s.n, s.paper) for s in comparison.sources)
        if cards:
            details.append(f'<details class="pa-sources" open><summary>Sources</summary>{cards}</details>')
        details.append(f'<div class="pa-foot">compared by: {esc(comparison.backend)}</div>')
        md_path, csv_path = self._write_comparison(comparison)
        return (mark_citations(table, titles), "\n\n".join(details),
                gr.DownloadButton(value=str(md_path), visible=True),
                gr.DownloadButton(value=str(csv_path), visible=True))

    def _write_comparison(self, comparison) -> tuple[Path, Path]:
        folder = self.workdir / "compare" / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        name = "comparison-" + "-vs-".join(slug(m) for m in comparison.methods)[:80]
        md_path = folder / f"{name}.md"
        lines = [f"# Comparison: {' vs '.join(comparison.methods)}", "", comparison.markdown()]
        links = [f"[{s.n}] {s.paper.url}" for s in comparison.sources if _safe_url(s.paper.url)]
        if links:
            lines += ["", "Links:", *links]
        if comparison.notices:
            lines += ["", "Notes:", *(f"- {n}" for n in comparison.notices)]
        md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        csv_path = folder / f"{name}.csv"
        with csv_path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerows(comparison.csv_rows())
            writer.writerow([])
            writer.writerow(["source", "title", "authors", "year", "url"])
            for s in comparison.sources:
                p = s.paper
                writer.writerow([f"[{s.n}]", p.title, "; ".join(p.authors), p.year or "", p.url or ""])
        return md_path, csv_path

    # corpus ------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self.lock.reading():
            return self.pa.stats()

    def header(self, stats: dict[str, Any] | None = None) -> str:
        stats = stats or self.stats()
        return (f'<div class="pa-status"><b>{stats["papers"]:,} papers</b> indexed · '
                f'{esc(backend_label(self.pa.backend_info()))}</div>')

    def stats_markdown(self, stats: dict[str, Any]) -> str:
        years = stats["years"]
        span = f"{min(years)}–{max(years)}" if years else "none"
        lines = [f"**{stats['papers']:,} papers** in {len(stats['sources'])} source file(s), "
                 f"{stats['chunks']:,} searchable passages.",
                 "",
                 f"- Years: {span} ({stats['papers'] - stats['no_year']:,} papers have a year, "
                 f"{stats['no_year']:,} do not)",
                 "- Categories: " + (", ".join(f"{c} ({n})" for c, n in stats["categories"].items()) or "none"),
                 f"- With code: {stats['with_code']:,}",
                 "", "| Source file | Papers |", "|---|---:|"]
        lines += [f"| {esc(name)} | {count:,} |" for name, count in stats["sources"].items()]
        return "\n".join(lines)

    @staticmethod
    def year_frame(stats: dict[str, Any]):
        import pandas as pd

        return pd.DataFrame({"year": [str(y) for y in stats["years"]], "papers": list(stats["years"].values())})

    @staticmethod
    def category_frame(stats: dict[str, Any]):
        import pandas as pd

        return pd.DataFrame({"category": list(stats["categories"]), "papers": list(stats["categories"].values())})

    @staticmethod
    def year_choices(stats: dict[str, Any]) -> list[tuple[str, str]]:
        return [("Any", "")] + [(str(y), str(y)) for y in stats["years"]]

    @staticmethod
    def category_choices(stats: dict[str, Any]) -> list[tuple[str, str]]:
        return [("Any category", "")] + [(f"{c} ({n})", c) for c, n in stats["categories"].items()]

    def paper_rows(self, query: str | None = None):
        import pandas as pd

        needle = " ".join((query or "").lower().split())
        with self.lock.reading():
            papers = self.pa.papers
        matched = [p for p in papers if needle in " ".join(p.title.lower().split())] if needle else list(papers)
        matched.sort(key=lambda p: (-(p.year or 0), p.title.lower()))
        rows = [[p.title, str(p.year or ""), format_authors(p.authors, p.authors_et_al, most=4), p.category or ""]
                for p in matched[:MAX_LISTED_PAPERS]]
        frame = pd.DataFrame(rows, columns=["Title", "Year", "Authors", "Category"])
        shown = f"first {MAX_LISTED_PAPERS} of " if len(matched) > MAX_LISTED_PAPERS else ""
        what = f"matching “{esc(query.strip())}”" if needle else "in the index"
        return frame, f"Showing {shown}{len(matched):,} paper(s) {what}."

    def refresh(self, query: str | None = None):
        """Everything that depends on the index contents, for the Refresh button and after an upload."""
        stats = self.stats()
        frame, count = self.paper_rows(query)
        return (self.header(stats), self.stats_markdown(stats), self.year_frame(stats), self.category_frame(stats),
                frame, count, gr.Dropdown(choices=self.category_choices(stats)),
                gr.Dropdown(choices=self.year_choices(stats)), gr.Dropdown(choices=self.year_choices(stats)))

    def _keep_upload(self, path: Path) -> Path:
        """Copy an upload next to the index (the temp copy may vanish): a folder per
        content hash, so the same file uploaded twice changes nothing."""
        digest = hashlib.sha1(path.read_bytes()).hexdigest()[:12]
        settings = self.pa.settings
        target = settings.index_dir / "uploads" / settings.index_name / digest / path.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return target

    def ingest(self, files: Any, query: str | None = None, progress: gr.Progress = gr.Progress()):
        """Upload handler: index the files, then report per file and refresh the counts."""
        paths = [Path(f) for f in (files if isinstance(files, list) else [files]) if f]
        if not paths:
            return (notice("info", "Choose one or more files first (" + ", ".join(UPLOAD_TYPES) + ")."),
                    *self.refresh(query))
        report: list[str] = []
        try:
            kept = [self._keep_upload(p) for p in paths]
            progress(0, desc="Waiting for running questions to finish")
            with self.lock.writing(timeout=WRITE_WAIT_SECONDS) as got:
                if not got:
                    return (notice("warn", "The assistant is busy answering; try the upload again in a minute."),
                            *self.refresh(query))
                result, update = self.pa.ingest(
                    kept, progress=lambda items: progress.tqdm(list(items), desc="Reading files", unit="file"),
                    embed_progress=lambda done, total: progress((done, total), desc="Embedding passages",
                                                                unit="characters"))
        except Exception as exc:
            if not isinstance(exc, friendly_errors()):
                log.exception("ingesting %s failed", paths)
            return render_error(exc, "the upload"), *self.refresh(query)
        if result.papers:
            report.append(notice("ok", f"<b>{update.added} new paper(s)</b>, {update.updated} updated, "
                                       f"{update.unchanged} unchanged: the index now holds "
                                       f"<b>{update.total:,} papers</b>."))
        else:
            report.append(notice("error", "<b>No usable paper</b> was found in the upload; the index is unchanged."))
        report.append("| File | Format | Papers | Skipped |\n|---|---|---:|---:|")
        problems: list[str] = []
        for file in result.files:
            name = Path(file.file).name
            report[-1] += f"\n| {esc(name)} | {esc(file.format or '—')} | {file.records} | {len(file.skipped)} |"
            if file.error:
                problems.append(f"- **{esc(name)}**: not ingested: {esc(file.error)}")
            listed = [("skipped", p) for p in file.skipped] + [("warning", p) for p in file.warnings]
            for kind, p in listed[:MAX_PROBLEMS]:
                problems.append(f"- {kind}: {esc(replace(p, file=name))}")
            if len(listed) > MAX_PROBLEMS:
                problems.append(f"- … and {len(listed) - MAX_PROBLEMS} more in {esc(name)}")
        problems += [f"- {esc(Path(str(e)).name)}: could not be opened" for e in result.errors]
        if problems:
            report.append("**Problems**\n\n" + "\n".join(problems))
        return "\n\n".join(report), *self.refresh(query)

    # settings ----------------------------------------------------------------------------------
    def backend_markdown(self) -> str:
        info = self.pa.backend_info()
        stats = self.stats()
        embedding = stats.get("embedding") or {}
        index = {"index": stats["index"], "vector store": stats.get("vector_store") or "embedded",
                 "embedding model": embedding.get("model", "?") if isinstance(embedding, dict) else embedding}
        return (f"**Answers:** {esc(backend_label(info))}\n\n{kv_list(info)}\n\n**Index**\n\n{kv_list(index)}\n\n"
                "Configure an LLM with `OPENAI_BASE_URL` / `OPENAI_API_KEY` and `PAPERS_LLM_MODEL` "
                "(see the README); keys are never shown here.")

    def health(self) -> str:
        try:
            result = self.pa.health()
        except Exception as exc:  # health() should not raise; never show a traceback if it does
            log.exception("health check failed")
            return render_error(exc)
        ok = bool(result.get("ok"))
        detail = result.get("detail") or ""
        shown = {k: v for k, v in result.items() if k not in ("ok", "detail")}
        head = notice("ok" if ok else "error",
                      f"<b>{'Backend OK' if ok else 'Backend not reachable'}</b>" + (f": {esc(detail)}" if detail else ""))
        return head + "\n\n" + kv_list(shown)


# --- layout -----------------------------------------------------------------------------------


class PaperBlocks(gr.Blocks):
    """gr.Blocks that launches with the assistant's stylesheet and theme by default
    (Gradio 6 takes css/theme in launch(), and tests call plain demo.launch())."""

    def launch(self, *args, **kwargs):
        kwargs.setdefault("css", CSS)
        kwargs.setdefault("theme", gr.themes.Default(primary_hue="indigo", neutral_hue="slate"))
        kwargs.setdefault("share", False)
        kwargs.setdefault("footer_links", ["gradio", "settings"])
        return super().launch(*args, **kwargs)


def build_app(pa: PaperAssistant, concurrency: int = 4) -> gr.Blocks:
    """The whole UI around one (shared) PaperAssistant."""
    ui = PaperUI(pa)
    stats = pa.stats()
    years = stats["years"]

    with PaperBlocks(title=TITLE, analytics_enabled=False) as demo:
        demo.paper_ui = ui  # for tests and embedding
        with gr.Column(elem_classes="pa-header"):
            gr.Markdown(f"# {TITLE}\n{TAGLINE}")
            header = gr.HTML(ui.header(stats), elem_id="pa-status")

        with gr.Tabs():
            # --- Chat -----------------------------------------------------------------------
            with gr.Tab("Chat", id="chat"):
                answers = gr.State([])
                with gr.Row(equal_height=False):
                    with gr.Column(scale=4):
                        chatbot = gr.Chatbot(
                            label="Conversation", elem_id="chatbot", height=600, layout="panel",
                            buttons=["copy"], feedback_options=None,
                            placeholder="**Ask about the indexed papers.** Answers quote the abstracts and cite "
                                        "them as [1], [2] …; follow-up questions use the conversation.")
                        with gr.Row():
                            msg = gr.Textbox(show_label=False, placeholder="Ask a question about the papers…",
                                             elem_id="question", scale=6, autofocus=True, max_lines=4)
                            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                        gr.Examples(examples=[[q] for q in EXAMPLES], inputs=[msg], label="Try a question")
                    with gr.Column(scale=1, min_width=240):
                        gr.Markdown("### Filters")
                        with gr.Row():
                            year_from = gr.Dropdown(ui.year_choices(stats), value="", label="From year",
                                                    elem_id="year-from", min_width=100)
                            year_to = gr.Dropdown(ui.year_choices(stats), value="", label="To year",
                                                  elem_id="year-to", min_width=100)
                        category = gr.Dropdown(ui.category_choices(stats), value="", label="Category",
                                               elem_id="category")
                        author = gr.Textbox(label="Author contains", placeholder="e.g. Wang", elem_id="author")
                        has_code = gr.Checkbox(label="Only papers with code", value=False, elem_id="has-code")
                        include_unknown = gr.Checkbox(label=INCLUDE_UNKNOWN_LABEL, value=False,
                                                      elem_id="include-unknown")
                        gr.Markdown(
                            f"<small>Filters leave out papers that lack the filtered field (unless "
                            f"“{INCLUDE_UNKNOWN_LABEL}” is ticked), and the answer says how many: "
                            f"{stats['papers'] - stats['no_year']:,} of {stats['papers']:,} have a year"
                            + (f" ({min(years)}–{max(years)})" if years else "") + ".</small>")
                        clear = gr.Button("New conversation", variant="secondary", elem_id="clear")
                chat_inputs = [msg, chatbot, answers, year_from, year_to, category, author, has_code, include_unknown]
                gr.on([msg.submit, send.click], ui.respond, chat_inputs, [chatbot, msg, answers],
                      api_name="chat", show_progress="minimal")
                clear.click(lambda: ([], "", []), None, [chatbot, msg, answers], api_visibility="private")
                chatbot.clear(lambda: [], None, [answers], api_visibility="private")

            # --- Compare --------------------------------------------------------------------
            with gr.Tab("Compare", id="compare"):
                gr.Markdown("Compare 2–4 methods side by side: problem, approach, key results and limitations, "
                            "every cell quoted from an abstract and cited.")
                with gr.Row():
                    boxes = [gr.Textbox(label=f"Method {i + 1}" + ("" if i < 2 else " (optional)"),
                                        placeholder=["e.g. ADAHESSIAN", "e.g. M-FAC", "", ""][i],
                                        elem_id=f"method-{i + 1}") for i in range(METHOD_BOXES)]
                gr.Examples(examples=[["ADAHESSIAN", "M-FAC", "", ""]], inputs=boxes, label="Example")
                with gr.Row():
                    compare_btn = gr.Button("Compare", variant="primary", elem_id="compare-btn")
                    download_md = gr.DownloadButton("Download Markdown", visible=False, elem_id="download-md")
                    download_csv = gr.DownloadButton("Download CSV", visible=False, elem_id="download-csv")
                table = gr.Markdown(elem_id="compare-table")
                compare_notes = gr.Markdown(elem_id="compare-notes")
                compare_btn.click(ui.compare, boxes, [table, compare_notes, download_md, download_csv],
                                  api_name="compare")

            # --- Corpus ---------------------------------------------------------------------
            with gr.Tab("Corpus", id="corpus"):
                with gr.Row():
                    with gr.Column(scale=2):
                        stats_md = gr.Markdown(ui.stats_markdown(stats), elem_id="corpus-stats")
                        refresh_btn = gr.Button("Refresh", elem_id="refresh", size="sm")
                    with gr.Column(scale=3):
                        year_plot = gr.BarPlot(ui.year_frame(stats), x="year", y="papers", title="Papers per year",
                                               height=220, sort="x", y_lim=[0, None], elem_id="year-plot")
                        cat_plot = gr.BarPlot(ui.category_frame(stats), x="category", y="papers",
                                              title="Papers per category", height=220, sort="-y", y_lim=[0, None],
                                              elem_id="category-plot")
                gr.Markdown("### Papers")
                paper_query = gr.Textbox(show_label=False, placeholder="Filter by title…", elem_id="paper-query")
                frame, count = ui.paper_rows()
                paper_count = gr.Markdown(count, elem_id="paper-count")
                paper_table = gr.Dataframe(frame, interactive=False, wrap=True, max_height=420,
                                           column_widths=["55%", "8%", "27%", "10%"], elem_id="paper-table")
                gr.Markdown("### Add papers\nUpload listings or exports: " + ", ".join(UPLOAD_TYPES) +
                            " (title + abstract, optional authors, year, url). Papers already indexed are merged.")
                upload = gr.File(label="Files to add", file_count="multiple", file_types=UPLOAD_TYPES,
                                 elem_id="upload")
                ingest_btn = gr.Button("Add to index", variant="primary", elem_id="ingest")
                ingest_report = gr.Markdown(elem_id="ingest-report")

                refreshed = [header, stats_md, year_plot, cat_plot, paper_table, paper_count, category, year_from, year_to]
                paper_query.change(ui.paper_rows, paper_query, [paper_table, paper_count], api_visibility="private",
                                   show_progress="hidden")
                refresh_btn.click(ui.refresh, paper_query, refreshed, api_visibility="private")
                ingest_btn.click(ui.ingest, [upload, paper_query], [ingest_report, *refreshed],
                                 api_name="ingest", concurrency_limit=1)

            # --- Settings -------------------------------------------------------------------
            with gr.Tab("Settings", id="settings"):
                backend_md = gr.Markdown(ui.backend_markdown(), elem_id="backend-info")
                check_btn = gr.Button("Check backend", elem_id="check")
                health_md = gr.Markdown(elem_id="health")
                check_btn.click(ui.health, None, health_md, api_visibility="private")
                check_btn.click(ui.backend_markdown, None, backend_md, api_visibility="private")

    demo.queue(default_concurrency_limit=concurrency)
    return demo


# --- serving ----------------------------------------------------------------------------------


def serve(pa: PaperAssistant, host: str = "127.0.0.1", port: int = 7860, open_browser: bool = False) -> None:
    """Serve the UI for an opened assistant until interrupted (`papers serve` opens it,
    building the index on the first run)."""
    try:  # warm up (model, vector store, BM25) so the first question is not the slow one
        pa.search("masked image modeling", k=1)
    except Exception:  # an empty or broken index is reported in the UI, not here
        pass
    print(f"{len(pa.papers):,} papers indexed; {backend_label(pa.backend_info())}.", file=sys.stderr, flush=True)
    demo = build_app(pa)
    _, url, _ = demo.launch(server_name=host, server_port=port, share=False, show_error=False,
                            inbrowser=open_browser, quiet=True, prevent_thread_lock=True)
    print(f"Paper assistant running at {url} (local only; Ctrl+C to stop)", file=sys.stderr, flush=True)
    demo.block_thread()

"""The web UI's event handlers (`PaperUI`): each takes the widgets' values,
calls `PaperAssistant` and returns what the components show, rendered by
`assistant.ui.render`. No retrieval, answer, storage or locking logic lives
here: the assistant takes its own read/write lock (a question waits for an
upload and the other way round) and keeps uploaded files (`add_files`)."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

import gradio as gr

from assistant import export
from assistant.answer.compare import MAX_METHODS
from assistant.api import PaperAssistant
from assistant.errors import IndexBusy, QueryError
from assistant.records import Answer
from assistant.ui import render
from assistant.ui.render import UPLOAD_TYPES, friendly_errors, notice, render_error

log = logging.getLogger(__name__)

MAX_LISTED_PAPERS = 200  # rows shown in the corpus paper list
WRITE_WAIT_SECONDS = 300  # how long an upload waits for running questions to finish
REFRESHED = 14  # values `refresh` returns (the components that follow the index)
KEEP_FILES_SECONDS = 86400  # downloads (compare tables, conversations) are kept a day


class PaperUI:
    """Event handlers around one shared PaperAssistant. Each returns what the
    components show; none holds retrieval or answer logic."""

    def __init__(self, pa: PaperAssistant, workdir: Path | None = None, write_wait: float = WRITE_WAIT_SECONDS):
        """`write_wait`: seconds an upload waits for running questions before it reports "busy"."""
        self.pa = pa
        self.write_wait = write_wait
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="paper-assistant-ui-"))

    # chat --------------------------------------------------------------------------------------
    @staticmethod
    def filters(
        year_from: Any = None,
        year_to: Any = None,
        category: Any = None,
        author: Any = None,
        has_code: Any = None,
        include_unknown: Any = None,
    ) -> dict[str, Any]:
        """The filter widgets as api filters; empty widgets are left out."""
        out: dict[str, Any] = {}
        for name, value in (("year_from", year_from), ("year_to", year_to)):
            if value not in (None, "", 0):
                try:
                    out[name] = int(float(value))
                except (TypeError, ValueError):
                    raise QueryError(f"{name.replace('_', ' ')} must be a year, e.g. 2022 (got {value!r})") from None
        if isinstance(category, str) and category.strip():
            out["category"] = category.strip()
        if isinstance(author, str) and author.strip():
            out["author"] = author.strip()
        if has_code:
            out["has_code"] = True
        if include_unknown and out:
            out["include_unknown"] = True
        return out

    def respond(self, message: str, chat: list | None, answers: list[Answer] | None, *filter_values: Any, **named: Any):
        """Chat handler (a generator): yields (chat messages, textbox value, answers). The
        filter widgets' values follow, as `filters` takes them."""
        chat = list(chat or [])
        answers = list(answers or [])
        message = (message or "").strip() if isinstance(message, str) else ""
        if not message:
            yield chat, "", answers
            return
        chat.append({"role": "user", "content": render.render_user(message)})

        def show(content: str) -> list:  # a new list per step: earlier yields stay as they were
            return chat + [{"role": "assistant", "content": content}]

        yield show(render.THINKING), "", answers
        try:
            filters = self.filters(*filter_values, **named)
            if self.pa.lock.busy:  # pa.chat waits for the upload: say why
                yield (
                    show(
                        notice(
                            "info",
                            "The library is being updated with new papers; your question runs as soon as that is done.",
                        )
                    ),
                    "",
                    answers,
                )
            # The stream holds the index's read lock until it is consumed or closed: closing the
            # iteration in `finally` frees it at once when the session goes away mid-answer.
            stream = self.pa.chat(message, history=answers, filters=filters or None, stream=True)
            assert not isinstance(stream, Answer)  # stream=True returns an AnswerStream
            deltas = iter(stream)
            try:
                text = ""
                for delta in deltas:
                    text += delta
                    yield show(render.render_partial(text, draft=self.pa.llm is not None)), "", answers
            finally:
                deltas.close()
            answer = stream.result()
            shown = render.render_answer(answer, filters)
        except Exception as exc:  # shown in the chat, never as a traceback
            if not isinstance(exc, friendly_errors()):
                log.exception("answering %r failed", message)
            yield show(render_error(exc)), "", answers
            return
        yield show(shown), "", answers + [answer]

    # compare -----------------------------------------------------------------------------------
    def compare(self, *boxes: str):
        """Compare handler: (table, notes, markdown file, csv file, the methods compared,
        then per column a dropdown of the papers it may be built from, and the button
        that rebuilds the table with the papers picked)."""
        methods = [part.strip() for box in boxes for part in (box or "").split(",") if part.strip()]
        return self._compare(methods, None)

    def compare_chosen(self, methods: list[str] | None, *picks: str):
        """Rebuild the last comparison with the paper picked for each column."""
        methods = list(methods or [])
        chosen = {m: [pick] for m, pick in zip(methods, picks) if pick}
        return self._compare(methods, chosen)

    def _compare(self, methods: list[str], chosen: dict[str, list[str]] | None):
        hidden = gr.DownloadButton(visible=False)
        no_picks = [gr.Dropdown(visible=False, choices=[], value=None) for _ in range(MAX_METHODS)]
        try:  # too few, too many or repeated methods: compare.parse_methods says so (QueryError)
            comparison = self.pa.compare(methods, chosen=chosen)
            table, notes = render.comparison_views(comparison)
            md_path, csv_path = self._write_comparison(comparison)
        except Exception as exc:
            if not isinstance(exc, friendly_errors()):
                log.exception("comparing %r failed", methods)
            return (
                render_error(exc, "build the comparison"),
                "",
                hidden,
                hidden,
                methods,
                *no_picks,
                gr.Button(visible=False),
            )
        picks = []
        choices_of = {m: render.pick_choices(comparison, m) for m in comparison.methods}
        for i in range(MAX_METHODS):
            if i < len(comparison.methods):
                method = comparison.methods[i]
                choices = choices_of[method]
                current = choices[0][1] if choices else None
                picks.append(
                    gr.Dropdown(
                        choices=choices,
                        value=current,
                        label=f"Paper for {method}",
                        visible=len(choices) > 1,
                        interactive=True,
                    )
                )
            else:
                picks.append(gr.Dropdown(visible=False, choices=[], value=None))
        return (
            table,
            notes,
            gr.DownloadButton(value=str(md_path), visible=True),
            gr.DownloadButton(value=str(csv_path), visible=True),
            comparison.methods,
            *picks,
            gr.Button(visible=any(len(c) > 1 for c in choices_of.values())),
        )

    def _write_comparison(self, comparison) -> tuple[Path, Path]:
        folder = self._folder("compare")
        name = render.comparison_file_name(comparison)
        md_path = folder / f"{name}.md"
        md_path.write_text(export.comparison_markdown(comparison), encoding="utf-8")
        csv_path = folder / f"{name}.csv"
        csv_path.write_text(export.comparison_csv(comparison), encoding="utf-8", newline="")
        return md_path, csv_path

    def _folder(self, kind: str) -> Path:
        """A new folder for one download; those of `kind` older than KEEP_FILES_SECONDS go."""
        parent = self.workdir / kind
        cutoff = time.time() - KEEP_FILES_SECONDS
        for old in parent.glob("*") if parent.is_dir() else []:
            with suppress(OSError):
                if old.stat().st_mtime < cutoff:
                    shutil.rmtree(old)
        folder = parent / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # exports -----------------------------------------------------------------------------------
    def exports(self, answers: list[Answer] | None):
        """The chat's downloads after a turn: the conversation as Markdown with one numbered
        reference list, and the cited papers as BibTeX and as RIS (`assistant.export`)."""
        answers = list(answers or [])
        hidden = tuple(gr.DownloadButton(visible=False) for _ in range(3))
        if not answers:
            return hidden
        try:
            folder = self._folder("chat")
            md_path = folder / "conversation.md"
            md_path.write_text(export.conversation_markdown(answers), encoding="utf-8")
            cited = export.cited_papers(answers)
            bib_path = folder / "cited-papers.bib"
            bib_path.write_text(export.bibtex(cited), encoding="utf-8")
            ris_path = folder / "cited-papers.ris"
            ris_path.write_text(export.ris(cited), encoding="utf-8")
        except Exception:  # the answer is shown; only its downloads are missing (see the server log)
            log.exception("writing the conversation's downloads failed")
            return hidden
        return (
            gr.DownloadButton(value=str(md_path), visible=True),
            gr.DownloadButton(value=str(bib_path), visible=bool(cited)),
            gr.DownloadButton(value=str(ris_path), visible=bool(cited)),
        )

    # corpus ------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return self.pa.stats()

    def header(self, stats: dict[str, Any] | None = None) -> str:
        return render.header_html(stats or self.stats(), self.pa.backend_info())

    def paper_rows(self, query: str | None = None):
        """The paper list searched over titles, authors and abstracts: (frame, "Showing ..."
        line, the listed papers' ids, for opening a selected row)."""
        papers, matched = self.pa.find_papers(query if isinstance(query, str) else "", MAX_LISTED_PAPERS)
        frame, count = render.paper_table(papers, matched, query)
        return frame, count, [p.id for p in papers]

    def open_paper(self, ids: list[str] | None, evt: gr.SelectData):
        """A selected row of the paper list: the paper's card with its whole abstract."""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        ids = list(ids or [])
        if not isinstance(row, int) or not 0 <= row < len(ids):
            return ""
        try:
            return render.paper_view(self.pa.paper(ids[row]))
        except Exception as exc:  # e.g. the paper left the index since the list was drawn
            return render_error(exc, "open that paper")

    def match_count(self, *filter_values: Any, **named: Any) -> str:
        """The live "N of M papers match" line under the filters (their values as `filters` takes them)."""
        try:
            filters = self.filters(*filter_values, **named)
            return render.match_line(self.pa.count_matching(filters))
        except Exception as exc:
            if not isinstance(exc, friendly_errors()):
                log.exception("counting the papers the filters keep failed")
            return render_error(exc, "count the papers these filters keep")

    def refresh(self, query: str | None = None, *filter_values: Any):
        """Everything that depends on the index contents, read now: for a page load, the
        Refresh button, an upload, and a change made by another session (`poll`). The
        first value is the index version (`PaperAssistant.version`) the page now shows."""
        stats = self.stats()
        frame, count, ids = self.paper_rows(query)
        years = render.year_choices(stats)
        return (
            self.pa.version,
            self.header(stats),
            render.stats_html(stats),
            gr.BarPlot(render.year_frame(stats), title=render.year_plot_title(stats)),
            render.category_frame(stats),
            frame,
            count,
            ids,
            gr.Dropdown(choices=render.category_choices(stats)),
            gr.Dropdown(choices=years),
            gr.Dropdown(choices=years),
            render.filter_note(stats),
            self.match_count(*filter_values),
            self.backend_html(stats),
        )

    def poll(self, shown: str | None, query: str | None = None, *filter_values: Any):
        """The page's timer: refresh when the index changed since the page last drew it
        (in any session), else leave every component as it is."""
        if shown == self.pa.version:
            return tuple(gr.skip() for _ in range(REFRESHED))
        return self.refresh(query, *filter_values)

    def ingest(
        self,
        files: Any,
        query: str | None = None,
        year_from: Any = None,
        year_to: Any = None,
        category: Any = None,
        author: Any = None,
        has_code: Any = None,
        include_unknown: Any = None,
        progress: gr.Progress = gr.Progress(),
    ):
        """Upload handler: index the files, then report per file and refresh what follows
        the index (`refresh`; the query and filters redraw the list and the match count)."""
        filter_values = (year_from, year_to, category, author, has_code, include_unknown)
        paths = [Path(f) for f in (files if isinstance(files, list) else [files]) if f]
        if not paths:
            return (
                notice("info", "Choose one or more files first (" + ", ".join(UPLOAD_TYPES) + ")."),
                *self.refresh(query, *filter_values),
            )
        try:
            progress(0, desc="Waiting for running questions to finish")
            result, update = self.pa.add_files(
                paths,
                wait=self.write_wait,
                progress=lambda items: progress.tqdm(list(items), desc="Reading files", unit="file"),
                embed_progress=lambda done, total: progress(
                    (done, total), desc="Embedding passages", unit="characters"
                ),
            )
        except IndexBusy:
            return (
                notice("warn", "The assistant is busy answering; try the upload again in a minute."),
                *self.refresh(query, *filter_values),
            )
        except Exception as exc:
            if not isinstance(exc, friendly_errors()):
                log.exception("ingesting %s failed", paths)
            return render_error(exc, "add these files"), *self.refresh(query, *filter_values)
        return render.ingest_report(result, update), *self.refresh(query, *filter_values)

    # settings ----------------------------------------------------------------------------------
    def backend_html(self, stats: dict[str, Any] | None = None) -> str:
        return render.backend_html(self.pa.backend_info(), stats or self.stats())

    def health(self) -> str:
        try:
            result = self.pa.health()
        except Exception as exc:  # health() should not raise; never show a traceback if it does
            log.exception("health check failed")
            return render_error(exc)
        return render.health_html(result)

    # examples ----------------------------------------------------------------------------------
    @staticmethod
    def example(evt: gr.SelectData) -> str:
        """A chosen example question (the chat's example chips): put in the box, then asked."""
        value = evt.value
        return value.get("text", "") if isinstance(value, dict) else str(value or "")

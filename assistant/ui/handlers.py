"""The web UI's event handlers (`PaperUI`): each takes the widgets' values,
calls `PaperAssistant` and returns what the components show, rendered by
`assistant.ui.render`. No retrieval, answer, storage or locking logic lives
here: the assistant takes its own read/write lock (a question waits for an
upload and the other way round) and keeps uploaded files (`add_files`)."""

from __future__ import annotations

import csv
import logging
import tempfile
import uuid
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.api import PaperAssistant
from assistant.errors import IndexBusy, QueryError
from assistant.records import Answer
from assistant.ui import render
from assistant.ui.render import UPLOAD_TYPES, friendly_errors, notice, render_error

log = logging.getLogger(__name__)

MAX_LISTED_PAPERS = 200  # rows shown in the corpus paper list
WRITE_WAIT_SECONDS = 300  # how long an upload waits for running questions to finish


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

    def respond(
        self,
        message: str,
        chat: list | None,
        answers: list[Answer] | None,
        year_from: Any = None,
        year_to: Any = None,
        category: Any = None,
        author: Any = None,
        has_code: Any = None,
        include_unknown: Any = None,
    ):
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

        yield show(render.THINKING), "", answers
        try:
            filters = self.filters(year_from, year_to, category, author, has_code, include_unknown)
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
        except Exception as exc:  # shown in the chat, never as a traceback
            if not isinstance(exc, friendly_errors()):
                log.exception("answering %r failed", message)
            yield show(render_error(exc)), "", answers
            return
        yield show(render.render_answer(answer, filters)), "", answers + [answer]

    # compare -----------------------------------------------------------------------------------
    def compare(self, *boxes: str):
        """Compare handler: returns (table markdown, sources/notices, markdown file, csv file)."""
        methods = [part.strip() for box in boxes for part in (box or "").split(",") if part.strip()]
        hidden = gr.DownloadButton(visible=False)
        try:  # too few, too many or repeated methods: compare.parse_methods says so (QueryError)
            comparison = self.pa.compare(methods)
        except Exception as exc:
            if not isinstance(exc, friendly_errors()):
                log.exception("comparing %r failed", methods)
            return render_error(exc, "the comparison"), "", hidden, hidden
        table, notes = render.comparison_views(comparison)
        md_path, csv_path = self._write_comparison(comparison)
        return (
            table,
            notes,
            gr.DownloadButton(value=str(md_path), visible=True),
            gr.DownloadButton(value=str(csv_path), visible=True),
        )

    def _write_comparison(self, comparison) -> tuple[Path, Path]:
        folder = self.workdir / "compare" / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        name = render.comparison_file_name(comparison)
        md_path = folder / f"{name}.md"
        md_path.write_text(render.comparison_markdown_file(comparison), encoding="utf-8")
        csv_path = folder / f"{name}.csv"
        with csv_path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(render.comparison_csv_rows(comparison))
        return md_path, csv_path

    # corpus ------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return self.pa.stats()

    def header(self, stats: dict[str, Any] | None = None) -> str:
        return render.header_html(stats or self.stats(), self.pa.backend_info())

    def paper_rows(self, query: str | None = None):
        """The paper list filtered by title: (frame, "Showing ... paper(s)" line)."""
        return render.paper_table(self.pa.papers, query, MAX_LISTED_PAPERS)

    def refresh(self, query: str | None = None):
        """Everything that depends on the index contents, for the Refresh button and after an upload."""
        stats = self.stats()
        frame, count = self.paper_rows(query)
        years = render.year_choices(stats)
        return (
            self.header(stats),
            render.stats_markdown(stats),
            render.year_frame(stats),
            render.category_frame(stats),
            frame,
            count,
            gr.Dropdown(choices=render.category_choices(stats)),
            gr.Dropdown(choices=years),
            gr.Dropdown(choices=years),
        )

    def ingest(self, files: Any, query: str | None = None, progress: gr.Progress = gr.Progress()):
        """Upload handler: index the files, then report per file and refresh the counts."""
        paths = [Path(f) for f in (files if isinstance(files, list) else [files]) if f]
        if not paths:
            return (
                notice("info", "Choose one or more files first (" + ", ".join(UPLOAD_TYPES) + ")."),
                *self.refresh(query),
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
                *self.refresh(query),
            )
        except Exception as exc:
            if not isinstance(exc, friendly_errors()):
                log.exception("ingesting %s failed", paths)
            return render_error(exc, "the upload"), *self.refresh(query)
        return render.ingest_report(result, update), *self.refresh(query)

    # settings ----------------------------------------------------------------------------------
    def backend_markdown(self) -> str:
        return render.backend_markdown(self.pa.backend_info(), self.stats())

    def health(self) -> str:
        try:
            result = self.pa.health()
        except Exception as exc:  # health() should not raise; never show a traceback if it does
            log.exception("health check failed")
            return render_error(exc)
        return render.health_markdown(result)

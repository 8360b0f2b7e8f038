"""The web UI's layout: the Chat, Compare, Corpus and Settings tabs wired to
the `PaperUI` handlers (`build_app`), and `serve`, which runs it.

The chat tab is gr.Blocks, not gr.ChatInterface: each turn also updates a
gr.State of the Answer records that follow-ups are resolved against, which
ChatInterface's retry/undo/edit would leave out of step with the messages.

Messages are HTML the renderer builds with every text escaped (`render`), shown
with Markdown rendering off, so an abstract or a question is never read as
markup. What the page does with them (citation links, Copy, folding the filters
on a phone) is `page.js`; the styles are `page.css`.

What depends on the index (counts, charts, the paper list, filter choices) is
read when a page loads, after an upload, and whenever the index version
(`PaperAssistant.version`) differs from the one the page drew (a timer asks every
`POLL_SECONDS`), so a change made in one session reaches every other."""

from __future__ import annotations

import sys
from importlib.resources import files

import gradio as gr

from assistant.answer.compare import MAX_METHODS
from assistant.api import PaperAssistant
from assistant.ui import render
from assistant.ui.handlers import PaperUI
from assistant.ui.render import EXAMPLES, INCLUDE_UNKNOWN_LABEL, TAGLINE, TITLE, UPLOAD_TYPES

POLL_SECONDS = 5.0  # how often a page asks whether the index changed
SYSTEM_FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]


def page_asset(name: str) -> str:
    """page.css or page.js, read from the installed package."""
    return files("assistant.ui").joinpath(name).read_text(encoding="utf-8")


class PaperBlocks(gr.Blocks):
    """gr.Blocks that launches with the assistant's stylesheet, page script and theme by
    default (Gradio 6 takes css/js/theme in launch(), and tests call plain demo.launch()).
    The theme uses the system's fonts, so a page loads nothing from another host; the
    footer shows no settings drawer and no API page link unless `show_api`."""

    show_api = False

    def launch(self, *args, **kwargs):
        kwargs.setdefault("css", page_asset("page.css"))
        kwargs.setdefault("js", page_asset("page.js"))
        kwargs.setdefault(
            "theme",
            gr.themes.Default(primary_hue="indigo", neutral_hue="slate", font=SYSTEM_FONTS, font_mono=MONO_FONTS),
        )
        kwargs.setdefault("share", False)
        kwargs.setdefault("footer_links", ["api", "gradio"] if self.show_api else ["gradio"])
        return super().launch(*args, **kwargs)


def build_app(pa: PaperAssistant, concurrency: int = 4, show_api: bool = False) -> gr.Blocks:
    """The whole UI around one (shared) PaperAssistant."""
    ui = PaperUI(pa)
    stats = pa.stats()

    # Gradio's cache (uploads, downloads) is swept hourly of files older than a day.
    with PaperBlocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 86400)) as demo:
        demo.show_api = show_api
        demo.paper_ui = ui  # for tests and embedding
        shown = gr.State(pa.version)  # the index version (generation@built_at) this page shows
        with gr.Column(elem_classes="pa-header"):
            gr.Markdown(f"# {TITLE}\n{TAGLINE}")
            header = gr.HTML(ui.header(stats), elem_id="pa-status")

        with gr.Tabs():
            # --- Chat -----------------------------------------------------------------------
            with gr.Tab("Chat", id="chat"):
                answers = gr.State([])
                with gr.Row(equal_height=False, elem_id="pa-chat-row"):
                    with gr.Column(scale=4, elem_id="pa-chat-main"):
                        chatbot = gr.Chatbot(
                            show_label=False,
                            elem_id="chatbot",
                            height=600,
                            layout="panel",
                            buttons=[],  # each answer has its own Copy (Markdown with references)
                            render_markdown=False,  # messages are escaped HTML (render.py)
                            latex_delimiters=[],  # and "$$x$$" in an abstract is text, not typeset maths
                            feedback_options=None,
                            placeholder="Ask about the indexed papers. Answers quote the abstracts and cite "
                            "them as [1], [2] …; follow-up questions use the conversation.",
                            examples=[{"text": q} for q in EXAMPLES],
                        )
                        with gr.Row(elem_id="pa-ask-row"):
                            msg = gr.Textbox(
                                show_label=False,
                                placeholder="Ask a question about the papers…",
                                elem_id="question",
                                scale=6,
                                autofocus=True,
                                max_lines=4,
                            )
                            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                        with gr.Row():
                            download_chat = gr.DownloadButton(
                                "Conversation (.md)", visible=False, size="sm", elem_id="download-chat"
                            )
                            download_bib = gr.DownloadButton(
                                "Cited papers (.bib)", visible=False, size="sm", elem_id="download-bib"
                            )
                            download_ris = gr.DownloadButton(
                                "Cited papers (.ris)", visible=False, size="sm", elem_id="download-ris"
                            )
                            clear = gr.Button("New conversation", variant="secondary", size="sm", elem_id="clear")
                    with gr.Column(scale=1, min_width=240, elem_id="pa-sidebar"):
                        with gr.Accordion("Filters", open=True, elem_id="pa-filters"):
                            with gr.Row():
                                year_from = gr.Dropdown(
                                    render.year_choices(stats),
                                    value="",
                                    label="From year",
                                    elem_id="year-from",
                                    min_width=100,
                                )
                                year_to = gr.Dropdown(
                                    render.year_choices(stats),
                                    value="",
                                    label="To year",
                                    elem_id="year-to",
                                    min_width=100,
                                )
                            category = gr.Dropdown(
                                render.category_choices(stats), value="", label="Category", elem_id="category"
                            )
                            author = gr.Textbox(label="Author contains", placeholder="e.g. Wang", elem_id="author")
                            has_code = gr.Checkbox(label="Only papers with code", value=False, elem_id="has-code")
                            include_unknown = gr.Checkbox(
                                label=INCLUDE_UNKNOWN_LABEL, value=False, elem_id="include-unknown"
                            )
                            match = gr.HTML(ui.match_count(), elem_id="filter-match")
                            note = gr.HTML(render.filter_note(stats), elem_id="filter-note")
                filters = [year_from, year_to, category, author, has_code, include_unknown]
                downloads = [download_chat, download_bib, download_ris]  # the chat's, after each turn
                chat_inputs = [msg, chatbot, answers, *filters]
                asked = gr.on(
                    [msg.submit, send.click],
                    ui.respond,
                    chat_inputs,
                    [chatbot, msg, answers],
                    api_name="chat",
                    show_progress="minimal",
                )
                asked.then(ui.exports, answers, downloads, api_visibility="private")
                picked = chatbot.example_select(
                    ui.example, None, msg, api_visibility="private", show_progress="hidden"
                ).then(ui.respond, chat_inputs, [chatbot, msg, answers], api_visibility="private")
                picked.then(ui.exports, answers, downloads, api_visibility="private")
                clear.click(lambda: ([], "", []), None, [chatbot, msg, answers], api_visibility="private").then(
                    ui.exports, answers, downloads, api_visibility="private"
                )
                chatbot.clear(lambda: [], None, [answers], api_visibility="private")
                gr.on(
                    [
                        year_from.change,
                        year_to.change,
                        category.change,
                        author.change,
                        has_code.change,
                        include_unknown.change,
                    ],
                    ui.match_count,
                    filters,
                    match,
                    api_visibility="private",
                    show_progress="hidden",
                )

            # --- Compare --------------------------------------------------------------------
            with gr.Tab("Compare", id="compare"):
                gr.Markdown(
                    f"Compare 2–{MAX_METHODS} methods side by side: problem, approach, key results and "
                    "limitations, every cell quoted from an abstract and cited. Each column names the "
                    "paper it was built from; pick another below the table when a name fits several."
                )
                with gr.Row():
                    boxes = [
                        gr.Textbox(
                            label=f"Method {i + 1}" + ("" if i < 2 else " (optional)"),
                            placeholder=["e.g. ADAHESSIAN", "e.g. M-FAC"][i] if i < 2 else "",
                            elem_id=f"method-{i + 1}",
                            min_width=150,
                        )
                        for i in range(MAX_METHODS)
                    ]
                with gr.Row():
                    compare_btn = gr.Button("Compare", variant="primary", elem_id="compare-btn")
                    example_btn = gr.Button("Try an example", elem_id="compare-example")
                    download_md = gr.DownloadButton("Download Markdown", visible=False, elem_id="download-md")
                    download_csv = gr.DownloadButton("Download CSV", visible=False, elem_id="download-csv")
                table = gr.HTML(elem_id="compare-table")
                compared = gr.State([])  # the methods of the table shown
                with gr.Row():
                    picks = [
                        gr.Dropdown(visible=False, elem_id=f"pick-{i + 1}", min_width=200) for i in range(MAX_METHODS)
                    ]
                rebuild = gr.Button("Rebuild with these papers", visible=False, elem_id="compare-rebuild")
                compare_notes = gr.HTML(elem_id="compare-notes")
                compare_outputs = [table, compare_notes, download_md, download_csv, compared, *picks, rebuild]
                compare_btn.click(ui.compare, boxes, compare_outputs, api_name="compare")
                example_btn.click(
                    lambda: ("ADAHESSIAN", "M-FAC", *[""] * (MAX_METHODS - 2)),
                    None,
                    boxes,
                    api_visibility="private",
                    show_progress="hidden",
                ).then(ui.compare, boxes, compare_outputs, api_visibility="private")
                rebuild.click(ui.compare_chosen, [compared, *picks], compare_outputs, api_visibility="private")

            # --- Corpus ---------------------------------------------------------------------
            with gr.Tab("Corpus", id="corpus"):
                with gr.Row():
                    with gr.Column(scale=2):
                        stats_html = gr.HTML(render.stats_html(stats), elem_id="corpus-stats")
                        refresh_btn = gr.Button("Refresh", elem_id="refresh", size="sm")
                    with gr.Column(scale=3):
                        year_plot = gr.BarPlot(
                            render.year_frame(stats),
                            x="year",
                            y="papers",
                            title=render.year_plot_title(stats),
                            height=220,
                            sort="x",
                            y_lim=[0, None],
                            elem_id="year-plot",
                        )
                        cat_plot = gr.BarPlot(
                            render.category_frame(stats),
                            x="category",
                            y="papers",
                            title="Papers per category",
                            height=220,
                            sort="-y",
                            y_lim=[0, None],
                            elem_id="category-plot",
                        )
                gr.Markdown("### Papers")
                paper_query = gr.Textbox(
                    show_label=False,
                    placeholder="Search titles, authors and abstracts…",
                    elem_id="paper-query",
                )
                frame, count, ids = ui.paper_rows()
                listed = gr.State(ids)  # the ids of the rows shown, for opening one
                paper_count = gr.HTML(count, elem_id="paper-count")
                paper_table = gr.Dataframe(
                    frame,
                    interactive=False,
                    wrap=True,
                    max_height=420,
                    column_widths=["55%", "8%", "27%", "10%"],
                    elem_id="paper-table",
                )
                paper_view = gr.HTML(elem_id="paper-view")
                gr.Markdown(
                    "### Add papers\nUpload saved listings, reference-manager exports (BibTeX, RIS, CSL-JSON), "
                    "arXiv, OpenAlex or Semantic Scholar API pages, JSON/CSV tables, or paper PDFs: "
                    + ", ".join(UPLOAD_TYPES)
                    + ". A paper already indexed (same DOI, arXiv id or title) is merged; "
                    "every file chosen is listed in the report, with the reason when it is not used."
                )
                upload = gr.File(label="Files to add", file_count="multiple", elem_id="upload")
                ingest_btn = gr.Button("Add to index", variant="primary", elem_id="ingest")
                ingest_report = gr.HTML(elem_id="ingest-report")

            # --- Settings -------------------------------------------------------------------
            with gr.Tab("Settings", id="settings"):
                backend = gr.HTML(ui.backend_html(), elem_id="backend-info")
                check_btn = gr.Button("Check backend", elem_id="check")
                health = gr.HTML(elem_id="health")
                check_btn.click(ui.health, None, health, api_visibility="private")
                check_btn.click(ui.backend_html, None, backend, api_visibility="private")

        # --- what follows the index (order: PaperUI.refresh) ---------------------------------
        refreshed = [
            shown,
            header,
            stats_html,
            year_plot,
            cat_plot,
            paper_table,
            paper_count,
            listed,
            category,
            year_from,
            year_to,
            note,
            match,
            backend,
        ]
        demo.load(ui.refresh, [paper_query, *filters], refreshed, api_visibility="private", show_progress="hidden")
        gr.Timer(POLL_SECONDS).tick(
            ui.poll,
            [shown, paper_query, *filters],
            refreshed,
            concurrency_limit=None,
            api_visibility="private",
            show_progress="hidden",
        )
        refresh_btn.click(ui.refresh, [paper_query, *filters], refreshed, api_visibility="private")
        paper_query.change(
            ui.paper_rows,
            paper_query,
            [paper_table, paper_count, listed],
            api_visibility="private",
            show_progress="hidden",
        )
        paper_table.select(ui.open_paper, listed, paper_view, api_visibility="private", show_progress="hidden")
        upload.change(
            lambda: "", None, ingest_report, api_visibility="private", show_progress="hidden"
        )  # a new choice clears the old report
        ingest_btn.click(
            ui.ingest,
            [upload, paper_query, *filters],
            [ingest_report, *refreshed],
            api_name="ingest",
            concurrency_limit=1,
        )

    demo.queue(default_concurrency_limit=concurrency)
    return demo


def serve(
    pa: PaperAssistant, host: str = "127.0.0.1", port: int = 7860, open_browser: bool = False, show_api: bool = False
) -> None:
    """Serve the UI for an opened assistant until interrupted (`papers serve` opens it,
    building the index on the first run). `show_api`: link Gradio's API page in the footer."""
    try:  # warm up (model, vector store, BM25) so the first question is not the slow one
        pa.search("masked image modeling", k=1)
    except Exception:  # an empty or broken index is reported in the UI, not here
        pass
    print(f"{len(pa.papers):,} papers indexed; {render.backend_label(pa.backend_info())}.", file=sys.stderr, flush=True)
    demo = build_app(pa, show_api=show_api)
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        show_error=False,
        inbrowser=open_browser,
        quiet=True,
        prevent_thread_lock=True,
    )
    print(f"Paper assistant running at {url} (local only; Ctrl+C to stop)", file=sys.stderr, flush=True)
    demo.block_thread()

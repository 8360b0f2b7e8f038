"""The web UI's layout: the Chat, Compare, Corpus and Settings tabs wired to
the `PaperUI` handlers (`build_app`), and `serve`, which runs it.

The chat tab is gr.Blocks, not gr.ChatInterface: each turn also updates a
gr.State of the Answer records that follow-ups are resolved against, which
ChatInterface's retry/undo/edit would leave out of step with the messages."""

from __future__ import annotations

import sys

import gradio as gr

from assistant.api import PaperAssistant
from assistant.ui import render
from assistant.ui.handlers import PaperUI
from assistant.ui.render import CSS, EXAMPLES, INCLUDE_UNKNOWN_LABEL, TAGLINE, TITLE, UPLOAD_TYPES

METHOD_BOXES = 4  # method fields on the compare tab (each may hold several, comma-separated)


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
                            label="Conversation",
                            elem_id="chatbot",
                            height=600,
                            layout="panel",
                            buttons=["copy"],
                            feedback_options=None,
                            placeholder="**Ask about the indexed papers.** Answers quote the abstracts and cite "
                            "them as [1], [2] …; follow-up questions use the conversation.",
                        )
                        with gr.Row():
                            msg = gr.Textbox(
                                show_label=False,
                                placeholder="Ask a question about the papers…",
                                elem_id="question",
                                scale=6,
                                autofocus=True,
                                max_lines=4,
                            )
                            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                        gr.Examples(examples=[[q] for q in EXAMPLES], inputs=[msg], label="Try a question")
                    with gr.Column(scale=1, min_width=240):
                        gr.Markdown("### Filters")
                        with gr.Row():
                            year_from = gr.Dropdown(
                                render.year_choices(stats),
                                value="",
                                label="From year",
                                elem_id="year-from",
                                min_width=100,
                            )
                            year_to = gr.Dropdown(
                                render.year_choices(stats), value="", label="To year", elem_id="year-to", min_width=100
                            )
                        category = gr.Dropdown(
                            render.category_choices(stats), value="", label="Category", elem_id="category"
                        )
                        author = gr.Textbox(label="Author contains", placeholder="e.g. Wang", elem_id="author")
                        has_code = gr.Checkbox(label="Only papers with code", value=False, elem_id="has-code")
                        include_unknown = gr.Checkbox(
                            label=INCLUDE_UNKNOWN_LABEL, value=False, elem_id="include-unknown"
                        )
                        gr.Markdown(render.filter_note(stats))
                        clear = gr.Button("New conversation", variant="secondary", elem_id="clear")
                chat_inputs = [msg, chatbot, answers, year_from, year_to, category, author, has_code, include_unknown]
                gr.on(
                    [msg.submit, send.click],
                    ui.respond,
                    chat_inputs,
                    [chatbot, msg, answers],
                    api_name="chat",
                    show_progress="minimal",
                )
                clear.click(lambda: ([], "", []), None, [chatbot, msg, answers], api_visibility="private")
                chatbot.clear(lambda: [], None, [answers], api_visibility="private")

            # --- Compare --------------------------------------------------------------------
            with gr.Tab("Compare", id="compare"):
                gr.Markdown(
                    "Compare 2–4 methods side by side: problem, approach, key results and limitations, "
                    "every cell quoted from an abstract and cited."
                )
                with gr.Row():
                    boxes = [
                        gr.Textbox(
                            label=f"Method {i + 1}" + ("" if i < 2 else " (optional)"),
                            placeholder=["e.g. ADAHESSIAN", "e.g. M-FAC", "", ""][i],
                            elem_id=f"method-{i + 1}",
                        )
                        for i in range(METHOD_BOXES)
                    ]
                gr.Examples(examples=[["ADAHESSIAN", "M-FAC", "", ""]], inputs=boxes, label="Example")
                with gr.Row():
                    compare_btn = gr.Button("Compare", variant="primary", elem_id="compare-btn")
                    download_md = gr.DownloadButton("Download Markdown", visible=False, elem_id="download-md")
                    download_csv = gr.DownloadButton("Download CSV", visible=False, elem_id="download-csv")
                table = gr.Markdown(elem_id="compare-table")
                compare_notes = gr.Markdown(elem_id="compare-notes")
                compare_btn.click(
                    ui.compare, boxes, [table, compare_notes, download_md, download_csv], api_name="compare"
                )

            # --- Corpus ---------------------------------------------------------------------
            with gr.Tab("Corpus", id="corpus"):
                with gr.Row():
                    with gr.Column(scale=2):
                        stats_md = gr.Markdown(render.stats_markdown(stats), elem_id="corpus-stats")
                        refresh_btn = gr.Button("Refresh", elem_id="refresh", size="sm")
                    with gr.Column(scale=3):
                        year_plot = gr.BarPlot(
                            render.year_frame(stats),
                            x="year",
                            y="papers",
                            title="Papers per year",
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
                paper_query = gr.Textbox(show_label=False, placeholder="Filter by title…", elem_id="paper-query")
                frame, count = ui.paper_rows()
                paper_count = gr.Markdown(count, elem_id="paper-count")
                paper_table = gr.Dataframe(
                    frame,
                    interactive=False,
                    wrap=True,
                    max_height=420,
                    column_widths=["55%", "8%", "27%", "10%"],
                    elem_id="paper-table",
                )
                gr.Markdown(
                    "### Add papers\nUpload listings or exports: "
                    + ", ".join(UPLOAD_TYPES)
                    + " (title + abstract, optional authors, year, url). Papers already indexed are merged."
                )
                upload = gr.File(label="Files to add", file_count="multiple", file_types=UPLOAD_TYPES, elem_id="upload")
                ingest_btn = gr.Button("Add to index", variant="primary", elem_id="ingest")
                ingest_report = gr.Markdown(elem_id="ingest-report")

                refreshed = [
                    header,
                    stats_md,
                    year_plot,
                    cat_plot,
                    paper_table,
                    paper_count,
                    category,
                    year_from,
                    year_to,
                ]
                paper_query.change(
                    ui.paper_rows,
                    paper_query,
                    [paper_table, paper_count],
                    api_visibility="private",
                    show_progress="hidden",
                )
                refresh_btn.click(ui.refresh, paper_query, refreshed, api_visibility="private")
                ingest_btn.click(
                    ui.ingest,
                    [upload, paper_query],
                    [ingest_report, *refreshed],
                    api_name="ingest",
                    concurrency_limit=1,
                )

            # --- Settings -------------------------------------------------------------------
            with gr.Tab("Settings", id="settings"):
                backend_md = gr.Markdown(ui.backend_markdown(), elem_id="backend-info")
                check_btn = gr.Button("Check backend", elem_id="check")
                health_md = gr.Markdown(elem_id="health")
                check_btn.click(ui.health, None, health_md, api_visibility="private")
                check_btn.click(ui.backend_markdown, None, backend_md, api_visibility="private")

    demo.queue(default_concurrency_limit=concurrency)
    return demo


def serve(pa: PaperAssistant, host: str = "127.0.0.1", port: int = 7860, open_browser: bool = False) -> None:
    """Serve the UI for an opened assistant until interrupted (`papers serve` opens it,
    building the index on the first run)."""
    try:  # warm up (model, vector store, BM25) so the first question is not the slow one
        pa.search("masked image modeling", k=1)
    except Exception:  # an empty or broken index is reported in the UI, not here
        pass
    print(f"{len(pa.papers):,} papers indexed; {render.backend_label(pa.backend_info())}.", file=sys.stderr, flush=True)
    demo = build_app(pa)
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

"""The web UI (assistant/ui/): a fast test of the handlers, then browser tests
that drive the real Gradio app with Playwright and the Debian chromium
(/usr/bin/chromium; `apt-get install -y chromium`). Screenshots of each state
go to test-output/screenshots/."""

from __future__ import annotations

import csv
import io
import re
import threading
from pathlib import Path

import pytest
from browser_kit import ask as _ask
from browser_kit import open_page as _open
from browser_kit import serving
from browser_kit import shot as _shot
from browser_kit import wait_answers as _wait_answers

# gradio 6.31's queue calls pandas options that pandas 3 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

HPM_QUESTION = "What is hard patches mining in masked image modeling?"
HPM_TITLE = "Hard Patches Mining for Masked Image Modeling"
HESSIAN_QUESTION = "Which paper proposes an adaptive second order optimizer that estimates the Hessian diagonal?"
WORLD_CUP = "Who won the 2026 football world cup?"


# --- fast: the handlers, no browser -----------------------------------------------------------


def test_build_app_and_chat_handler(full_index):
    from assistant.ui import build_app

    demo = build_app(full_index)
    ui = demo.paper_ui

    steps = list(ui.respond(HPM_QUESTION, [], []))
    assert len(steps) >= 2  # the question shows at once, the answer follows
    chat, box, answers = steps[-1]
    assert box == "" and [m["role"] for m in chat] == ["user", "assistant"]
    final = chat[-1]["content"]
    assert "[1]" in final and 'class="pa-sources"' in final and HPM_TITLE in final
    assert 'class="pa-quote"' in final and "Traceback" not in final
    assert len(answers) == 1 and answers[0].citations and not answers[0].abstained
    quote = answers[0].citations[0].quote
    assert quote and quote[:40] in final

    # A follow-up is answered with the earlier Answer objects as history.
    chat, _, answers = list(ui.respond("What does it predict?", chat, answers))[-1]
    assert len(answers) == 2 and len(chat) == 4 and 'class="pa-foot"' in chat[-1]["content"]

    # Bad input and bad filters are friendly messages, never tracebacks.
    chat, _, answers = list(ui.respond(HPM_QUESTION, [], [], year_from="2024", year_to="2020"))[-1]
    assert "pa-notice-error" in chat[-1]["content"] and "year range is empty" in chat[-1]["content"]
    assert answers == []
    chat, _, _ = list(ui.respond("   ", [], []))[-1]
    assert chat == []

    # Compare: cited table, and the two download files on disk.
    table, notes, md, csv_file, methods, *picks, rebuild = ui.compare("ADAHESSIAN", "M-FAC", "", "")
    assert "ADAHESSIAN" in table and "M-FAC" in table and "[1]" in table and "[2]" in table
    assert methods == ["ADAHESSIAN", "M-FAC"] and len(picks) == 6  # a paper picker per possible column
    md_text = Path(md.value["path"]).read_text(encoding="utf-8")
    assert md_text.startswith("# Comparison: ADAHESSIAN vs M-FAC") and "[2]" in md_text
    csv_text = Path(csv_file.value["path"]).read_text(encoding="utf-8")
    assert next(csv.reader(io.StringIO(csv_text))) == ["row", "ADAHESSIAN", "M-FAC"]
    assert "pa-notice-error" in ui.compare("ADAHESSIAN", "", "", "")[0]
    assert "at least two methods" in ui.compare("ADAHESSIAN", "", "", "")[0]

    # Corpus: counts, the paper list filter, and the refresh outputs.
    version, header, stats_html, *_ = ui.refresh()
    assert f"{len(full_index.papers):,} papers" in header and "Source file" in stats_html
    assert version == full_index.version
    frame, count, ids = ui.paper_rows("hard patches")
    assert HPM_TITLE in list(frame["Title"]) and "matching" in count and len(ids) == len(frame)


def test_chat_handler_with_llm_streams_and_warns_on_fallback(full_index, llm_server):
    from llm_server import llm_settings

    from assistant.api import PaperAssistant
    from assistant.llm import ChatLLM
    from assistant.ui.handlers import PaperUI

    # One model call per answer (no evidence scoring, no quote step: tests/test_answer_llm.py covers
    # those), so the scripted replies below are the answer's.
    settings = llm_settings(llm_server, index_dir=full_index.settings.index_dir, llm_max_attempts=1,
                            llm_evidence=False, llm_quotes=False)
    ui = PaperUI(PaperAssistant(settings, index=full_index.index, llm=ChatLLM(settings)))

    llm_server.plan(chunks=["Hard Patches Mining ", "predicts patch-wise losses ", "to decide where to mask [1]."])
    steps = list(ui.respond(HPM_QUESTION, [], []))
    partial = [chat[-1]["content"] for chat, _, _ in steps[1:-1]]
    assert len(partial) >= 3 and "pa-thinking" in partial[-1]  # streamed, the searching note until the end
    assert any("Hard Patches Mining" in p and "to decide where" not in p for p in partial)
    assert all("pa-draft-label" in p for p in partial if "Hard Patches" in p)  # the model's text: a draft
    chat, _, answers = steps[-1]
    assert answers[0].backend == "llm:test-model" and "answer was not used" not in chat[-1]["content"]
    assert "pa-sources" in chat[-1]["content"] and "predicts patch-wise losses" in chat[-1]["content"]

    llm_server.plan(status=500)  # the LLM fails: the extractive answer, with a clear notice
    chat, _, answers = list(ui.respond(HPM_QUESTION, [], []))[-1]
    assert answers[0].fallback and "fallback" in answers[0].backend
    assert "pa-notice-warn" in chat[-1]["content"] and "answer was not used" in chat[-1]["content"]

    settings_md = ui.backend_html() + ui.health()
    assert "test-model" in settings_md and "test-key" not in settings_md


def test_render_escapes_and_redacts():
    from assistant.ui.render import kv_list, mark_citations, redact

    assert mark_citations("a [1] and [2].", {1: 'T<"x">'}).count('class="pa-cite"') == 2
    assert '<a class="pa-cite" href="#a1-src-2">[2]' in mark_citations("a [2].", aid="a1")  # links to card 2
    assert mark_citations("adjacent [1][2].", {1: "A", 2: "B"}).count('class="pa-cite"') == 2
    assert "pa-cite" not in mark_citations("[1](http://x) [2][ref] [3]: def")
    assert "&lt;" in mark_citations("[1]", {1: "<b>"}) and "[link](http://x)" in mark_citations("[link](http://x)")
    assert "“the quote”" in mark_citations("[1]", {1: "T"}, {1: ["the quote"]})  # the tip shows the quote
    assert "pa-cite" not in mark_citations(r"an escaped \[1\] is text")
    # The library's marker (answer.text.MARKER) includes a grouped one; its tooltip names each paper.
    grouped = mark_citations("both [1, 2].", {1: "A", 2: "B"})
    assert grouped.count('class="pa-cite"') == 1 and ">[1, 2]<" in grouped and "[1] A · [2] B" in grouped
    assert "secret" not in redact("http://user:secret@host/v1") and "sk-abcd***" == redact("sk-abcdefghijklmnop")
    assert "hunter2" not in kv_list({"api_key": "hunter2", "model": "m"})


def test_render_shows_what_a_filter_left_out_and_the_include_box():
    from assistant.records import Answer
    from assistant.ui.handlers import PaperUI
    from assistant.ui.render import INCLUDE_UNKNOWN_LABEL, render_answer

    html_out = render_answer(Answer("q", "a [1].", filter_excluded={"year": 537, "category": 1}),
                             {"year_from": 2016, "category": "<CV>"})
    assert "The year filter left out 537 papers with no year" in html_out
    assert "The category filter left out 1 paper with no category" in html_out
    assert html_out.count('class="pa-notice pa-notice-info"') == 2 and INCLUDE_UNKNOWN_LABEL in html_out
    assert "&lt;CV&gt;" in html_out and "<CV>" not in html_out  # filter text is escaped
    assert "left out" not in render_answer(Answer("q", "a [1]."))
    assert PaperUI.filters(year_from="2016", include_unknown=True) == {"year_from": 2016, "include_unknown": True}
    assert PaperUI.filters(include_unknown=True) == {}  # no filter: nothing to include


def test_fallback_notice_follows_the_answers_fallback_field():
    from assistant.records import Answer
    from assistant.ui.render import render_answer

    shown = render_answer(Answer("q", "a [1].", backend="extractive (LLM fallback)", fallback="the model failed"))
    assert "pa-notice-warn" in shown and "answer was not used" in shown
    # The notice reads the field, not the backend's wording.
    assert "answer was not used" not in render_answer(Answer("q", "a [1].", backend="extractive (LLM fallback)"))
    assert "answer was not used" in render_answer(Answer("q", "a [1].", backend="other", fallback="rejected"))


def test_source_cards_and_paper_list_use_the_library_author_list():
    from assistant.records import Paper, author_list
    from assistant.ui.render import paper_table, source_card

    names = [f"Author {i}" for i in range(8)]
    paper = Paper(title="T <x>", abstract="A.", authors=names, year=2024, url="javascript:alert(1)")
    card = source_card(3, paper, quotes=["q <b>"])
    assert author_list(names, most=6) in card and "Author 6" not in card and "et al." in card
    assert "T &lt;x&gt;" in card and "javascript:" not in card and "q &lt;b&gt;" in card  # no unsafe link, escaped
    assert 'href="https://scholar.google.com/scholar?q=T+%3Cx%3E"' in card  # no usable URL: a search by title
    frame, count = paper_table([paper], 1, "t <x>")
    assert list(frame["Authors"]) == [author_list(names, most=4)] and "1 paper(s)" in count and "&lt;x&gt;" in count


def test_ingest_report_lists_files_and_problems():
    from assistant.api import LibraryUpdate
    from assistant.ingest import IngestResult
    from assistant.records import FileReport, Problem
    from assistant.ui.render import ingest_report

    files = [FileReport(file="/tmp/a/good.jsonl", format="jsonl", skipped=[Problem("/tmp/a/good.jsonl", 3, "no abstract")]),
             FileReport(file="/tmp/a/<bad>.bin", format=None, error="binary file")]
    result = IngestResult(files=files, papers=[])
    out = ingest_report(result, None)
    assert "No usable paper" in out and "<td>good.jsonl</td><td>jsonl</td>" in out
    assert "&lt;bad&gt;.bin" in out and "not ingested: binary file" in out and "skipped: good.jsonl" in out
    result.papers = ["p"]  # only counted
    out = ingest_report(result, LibraryUpdate(added=2, updated=0, unchanged=5, removed=0, total=7))
    assert "2 new paper(s)" in out and "<b>7 papers</b>" in out


def test_ingest_report_says_how_many_records_merged_and_by_which_key(tmp_path, write_jsonl):
    from assistant.api import LibraryUpdate
    from assistant.ingest import ingest_paths
    from assistant.ui.render import ingest_report

    first = write_jsonl(tmp_path / "a.jsonl", [{"title": "Graph nets", "abstract": "Graphs."}])
    second = write_jsonl(tmp_path / "b.jsonl", [{"title": "graph nets.", "abstract": "Graphs!"},
                                                 {"title": "Other", "abstract": "Other."}])
    out = ingest_report(ingest_paths([first, second]), LibraryUpdate(2, 0, 0, 0, 2))
    assert "<th>Merged</th>" in out
    assert '<td>b.jsonl</td><td>jsonl</td><td class="pa-num">2</td><td>1 (1 by title)</td>' in out


def test_upload_and_chat_handlers_wait_for_each_other(tmp_path, make_assistant, sample_rows, write_jsonl):
    """The handlers rely on the library's lock: an upload that may not wait says the assistant is
    busy; a question asked while an upload waits says why it waits, then runs after it."""
    from assistant.ui import handlers

    pa = make_assistant(tmp_path / "idx", abstain_threshold=0.3)
    pa.ingest([write_jsonl(tmp_path / "five.jsonl", sample_rows[:5])])
    ui = handlers.PaperUI(pa)
    question = f"What does the paper {sample_rows[0]['title']} propose?"

    class Progress:  # gr.Progress outside a Gradio event
        def __call__(self, *args, **kwargs):
            pass

        def tqdm(self, items, **kwargs):
            return items

    stream = pa.ask(question, stream=True)  # a question being answered holds the index
    report, *_ = handlers.PaperUI(pa, write_wait=0).ingest([str(write_jsonl(tmp_path / "up" / "a.jsonl", [sample_rows[5]]))], progress=Progress())
    assert "busy answering" in report and not pa.uploads_dir.exists()

    uploaded = threading.Event()
    upload = threading.Thread(target=lambda: (pa.add_files([tmp_path / "up" / "a.jsonl"]), uploaded.set()),
                              daemon=True)
    upload.start()
    with pa.lock._cond:  # notified when the upload starts waiting
        assert pa.lock._cond.wait_for(lambda: pa.lock.busy, 60)
    steps = ui.respond(question, [], [])
    next(steps)  # the question and "Searching…" show at once
    chat, _, _ = next(steps)
    assert "being updated with new papers" in chat[-1]["content"]
    rest, answered = [], threading.Event()
    threading.Thread(target=lambda: (rest.extend(steps), answered.set()), daemon=True).start()
    assert not uploaded.is_set()
    stream.result()  # the first question ends: the upload runs, then the waiting question
    assert uploaded.wait(60) and answered.wait(60)
    chat, _, answers = rest[-1]
    assert len(answers) == 1 and 'class="pa-foot"' in chat[-1]["content"] and len(pa.papers) == 6

    # A refused file next to a good one: reported, and only the good one kept.
    empty = tmp_path / "up" / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    report, *_ = handlers.PaperUI(pa, write_wait=60).ingest([str(write_jsonl(tmp_path / "up" / "b.jsonl", [sample_rows[6]])), str(empty)],
                           progress=Progress())
    assert "1 new paper(s)" in report and "<b>empty.jsonl</b>: not ingested: empty file" in report
    assert sorted(p.name for p in pa.uploads_dir.rglob("*.jsonl")) == ["a.jsonl", "b.jsonl"]


# --- browser (Playwright + Debian chromium; helpers in tests/browser_kit.py) ---------------------


@pytest.fixture(scope="module")
def small_app(browser, tmp_path_factory, make_assistant, sample_rows, write_jsonl):
    """A separate 5-paper index and its own app, for the upload test."""
    from assistant.ui import build_app

    root = tmp_path_factory.mktemp("ui-upload")
    pa = make_assistant(root / "idx")
    pa.ingest([write_jsonl(root / "five.jsonl", sample_rows[:5])])
    assert len(pa.papers) == 5
    with serving(build_app(pa)) as url:
        yield url, pa


@pytest.fixture
def page(browser, full_app):
    page = _open(browser, full_app)
    yield page
    page.context.close()


@pytest.mark.slow
def test_chat_answer_cites_sources(page, full_index):
    from playwright.sync_api import expect

    expect(page.locator("#pa-status")).to_contain_text(f"{len(full_index.papers):,} papers")
    _ask(page, HPM_QUESTION)
    answer = page.locator('#chatbot [data-testid="bot"]').last
    expect(answer).to_contain_text("[1]")
    expect(answer.locator(".pa-notice-abstain")).to_have_count(0)
    card = answer.locator(".pa-card.pa-src-1")
    expect(card).to_be_visible()
    expect(card.locator(".pa-card-title")).to_contain_text(HPM_TITLE)
    quote = card.locator(".pa-quote").first.inner_text().strip("“” \n")
    abstract = next(p.abstract for p in full_index.papers if p.title == HPM_TITLE)
    assert len(quote) > 30 and " ".join(quote.split()) in " ".join(abstract.split())
    _shot(page, "chat-answer-hard-patches-mining")


@pytest.mark.slow
def test_chat_abstains_on_unanswerable_question(page):
    from playwright.sync_api import expect

    _ask(page, WORLD_CUP)
    answer = page.locator('#chatbot [data-testid="bot"]').last
    expect(answer.locator(".pa-notice-abstain")).to_contain_text("Not answered")
    expect(answer).to_contain_text("do not answer")
    expect(answer.locator(".pa-cite")).to_have_count(0)
    _shot(page, "chat-abstains-world-cup")


@pytest.mark.slow
def test_compare_table_and_downloads(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Compare").click()
    page.locator("#method-1 textarea, #method-1 input").first.fill("ADAHESSIAN")
    page.locator("#method-2 textarea, #method-2 input").first.fill("M-FAC")
    page.locator("#compare-btn").click()
    table = page.locator("#compare-table table")
    expect(table).to_be_visible()
    for text in ("ADAHESSIAN", "M-FAC", "Approach", "[1]", "[2]"):
        expect(table).to_contain_text(text)
    expect(page.locator("#compare-notes .pa-card")).to_have_count(2)
    _shot(page, "compare-adahessian-vs-m-fac")

    files = {}
    for button in ("#download-md", "#download-csv"):
        with page.expect_download() as info:
            page.locator(button).click()
        download = info.value
        files[Path(download.suggested_filename).suffix] = Path(download.path()).read_text(encoding="utf-8")
    assert "| **Approach** |" in files[".md"] and "ADAHESSIAN" in files[".md"] and "[2]" in files[".md"]
    rows = list(csv.reader(io.StringIO(files[".csv"])))
    assert rows[0] == ["row", "ADAHESSIAN", "M-FAC"] and any("[1]" in cell for row in rows for cell in row)


@pytest.mark.slow
def test_settings_show_backend_without_secrets(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Settings").click()
    expect(page.locator("#backend-info")).to_contain_text("extractive")
    page.locator("#check").click()
    expect(page.locator("#health .pa-notice-ok")).to_contain_text("Backend OK")
    content = page.content()
    assert "Traceback" not in content and not re.search(r"\bsk-[A-Za-z0-9]{8,}", content)
    _shot(page, "settings-backend-check")


@pytest.mark.slow
def test_upload_adds_papers(browser, small_app, tmp_path, write_jsonl):
    from playwright.sync_api import expect

    url, pa = small_app
    page = _open(browser, url)
    try:
        page.get_by_role("tab", name="Corpus").click()
        expect(page.locator("#corpus-stats")).to_contain_text("5 papers")
        _shot(page, "corpus-before-upload")
        rows = [
            {"title": "Tidal Flow Forecasting with Sparse Gaussian Processes",
             "abstract": "We forecast tidal flows in estuaries with sparse Gaussian processes. "
                         "The model is trained on ten years of gauge readings and beats harmonic analysis.",
             "authors": ["Ada Lovelace", "Alan Turing"], "year": 2025},
            {"title": "Counting Bees in Hive Videos with Point Supervision",
             "abstract": "We count honey bees at hive entrances from video using only point labels. "
                         "A density-map network trained on 400 annotated frames reaches 95% counting accuracy.",
             "authors": ["Grace Hopper"], "year": 2024},
            {"title": "A title with no abstract"},
        ]
        upload = write_jsonl(tmp_path / "new-papers.jsonl", rows)
        page.locator("#upload input[type=file]").set_input_files(str(upload))
        expect(page.locator("#upload")).to_contain_text("new-papers.jsonl")
        page.locator("#ingest").click()
        report = page.locator("#ingest-report")
        expect(report).to_contain_text("2 new paper(s)")
        expect(report).to_contain_text("7 papers")
        expect(report).to_contain_text("skipped")  # the row without an abstract, with its line
        expect(page.locator("#pa-status")).to_contain_text("7 papers")
        expect(page.locator("#corpus-stats")).to_contain_text("7 papers")
        assert len(pa.papers) == 7
        kept = list(pa.uploads_dir.rglob("new-papers.jsonl"))  # the upload outlives Gradio's temp copy
        assert len(kept) == 1 and {s.file for p in pa.papers for s in p.sources} & {str(kept[0])}
        page.locator("#paper-query textarea, #paper-query input").first.fill("hive videos")
        expect(page.locator("#paper-table")).to_contain_text("Counting Bees in Hive Videos")
        expect(page.locator("#paper-count")).to_contain_text("1 paper")
        _shot(page, "corpus-after-upload")
    finally:
        page.context.close()


@pytest.mark.slow
def test_two_sessions_at_once(browser, full_app):
    pages = [_open(browser, full_app), _open(browser, full_app)]
    try:
        questions = [HPM_QUESTION, HESSIAN_QUESTION]
        for p, question in zip(pages, questions):
            p.locator("#question textarea").fill(question)
        for p in pages:
            p.locator("#question textarea").press("Enter")
        for p in pages:
            _wait_answers(p, 1)  # both answered, within the wait's own bound (no wall-clock assertion)
        first = pages[0].locator('#chatbot [data-testid="bot"]').last.inner_text()
        second = pages[1].locator('#chatbot [data-testid="bot"]').last.inner_text()
        assert HPM_TITLE in first and "ADAHESSIAN" not in first
        assert "ADAHESSIAN" in second and HPM_TITLE not in second
        for p, name in zip(pages, ("concurrent-session-1-hpm", "concurrent-session-2-adahessian")):
            assert p.locator('#chatbot [data-testid="user"]').count() == 1  # each session sees only its own turn
            _shot(p, name)
    finally:
        for p in pages:
            p.context.close()


def test_a_model_draft_is_labelled_and_escaped():
    from assistant.ui.render import render_partial

    html_out = render_partial('<img src=x onerror=alert(1)> echoed <source n="7"> [1]', draft=True)
    assert "pa-draft-label" in html_out and "not yet checked" in html_out
    assert "<img" not in html_out and "&lt;img" in html_out and "&lt;source" in html_out
    assert '<a class="pa-cite">[1]</a>' in html_out
    assert "pa-draft-label" not in render_partial("**Extractive** answer [1]")
    inert = render_partial("see ![x](http://evil.example/p.png) and [here](http://evil.example) [2]", draft=True)
    assert "![x](http://evil.example/p.png)" in inert and "[here](http://evil.example)" in inert  # text, not markup
    assert "<img" not in inert and "href=" not in inert and '<a class="pa-cite">[2]</a>' in inert


def test_handlers_follow_the_index_version_count_matches_and_export(tmp_path, make_assistant, sample_rows,
                                                                     write_jsonl):
    """Fast (FAKE embedder, no browser): the page timer's handler skips while the index is
    unchanged and redraws after any change; the filters' live count; the chat's downloads."""
    import gradio as gr

    from assistant.ingest import ingest_paths
    from assistant.ui.handlers import REFRESHED, PaperUI

    pa = make_assistant(tmp_path / "idx", abstain_threshold=0.05)
    pa.ingest([write_jsonl(tmp_path / "five.jsonl", sample_rows[:5])])
    ui = PaperUI(pa, workdir=tmp_path / "ui")
    drawn = ui.refresh()
    assert len(drawn) == REFRESHED and drawn[0] == pa.version
    assert all(x == gr.skip() for x in ui.poll(drawn[0]))  # nothing changed: nothing redrawn
    pa.ingest([write_jsonl(tmp_path / "more.jsonl", sample_rows[5:7])])
    redrawn = ui.poll(drawn[0])
    assert redrawn[0] == pa.version != drawn[0] and "7 papers" in redrawn[1]

    year = sample_rows[0]["year"]
    expected = pa.count_matching({"year_from": year})["matching"]
    assert f"{expected} of 7 papers match" in ui.match_count(year_from=str(year))
    assert "pa-notice-error" in ui.match_count(year_from="2024", year_to="2020")  # an empty range says so

    md_button, bib_button, ris_button = ui.exports([])
    assert not md_button.visible and not bib_button.visible and not ris_button.visible
    question = f"What does the paper {sample_rows[0]['title']} propose?"
    chat, _, answers = list(ui.respond(question, [], []))[-1]
    assert answers and answers[0].citations, chat[-1]["content"][:300]
    md_button, bib_button, ris_button = ui.exports(answers)
    text = Path(md_button.value["path"]).read_text(encoding="utf-8")
    assert question in text and "## References" in text and not re.search(r"</?[a-zA-Z][^>]*>", text)
    cited = {p.title for p in ingest_paths([bib_button.value["path"]]).papers}
    assert sample_rows[0]["title"] in cited
    assert Path(ris_button.value["path"]).name == "cited-papers.ris"
    assert {p.title for p in ingest_paths([ris_button.value["path"]]).papers} == cited  # the same papers

    frame, _, ids = ui.paper_rows(sample_rows[1]["authors"][0].split()[-1])
    assert sample_rows[1]["title"] in list(frame["Title"])
    row = list(frame["Title"]).index(sample_rows[1]["title"])
    view = ui.open_paper(ids, gr.SelectData(None, {"index": [row, 0], "value": "", "selected": True}))
    assert sample_rows[1]["abstract"][:50] in view and "Read from" in view

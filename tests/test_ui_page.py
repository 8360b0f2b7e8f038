"""The web UI as people use it, in a real browser (Debian's chromium through Playwright;
helpers in tests/browser_kit.py): what one session changes reaches every page, text
from papers and users stays text and loads nothing from another host, citation
markers open their cards, Copy gives Markdown, the layout works on a phone and in
dark mode, and 20 sessions answer at once. Screenshots go to test-output/screenshots/.

Apps over the whole bundled corpus use the real model (`full_index`); the apps that
are uploaded to use small indexes on the FAKE embedder (tests/fake_embedder.py),
which no test here asks to rank."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_kit import PHONE, Page, answered, ask, serving, shot, wait_answers

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

MASK_QUESTION = "How do masked autoencoders choose which patches to mask?"  # cites [1] and [3] (or more)
WORLD_CUP = "Who won the 2026 football world cup?"
HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")

# An abstract and a question carrying markup: every piece must show as typed.
TIDAL_TITLE = "Tidal Flow Forecasting with Sparse Gaussian Processes <b>bold?</b>"
TIDAL_ABSTRACT = (
    "We forecast tidal flows in estuaries with sparse Gaussian processes <img src=x onerror=window.__pwned=1>. "
    "The model is trained on ten years of gauge readings ![pixel](http://evil.example/pixel.png) and beats "
    "harmonic analysis <script>window.__pwned=2</script> on every station."
)
FILE_NAME = "<img src=z onerror=window.__pwned=7> rows"  # an uploaded file's name
TIDAL_QUESTION = (
    "How are tidal flows in estuaries forecast? <img src=y onerror=window.__pwned=3> "
    "<script>window.__pwned=4</script> ![q](http://evil.example/q.png)"
)


@pytest.fixture(scope="module")
def library(browser, tmp_path_factory, make_assistant, sample_rows, write_jsonl):
    """A 5-paper library (FAKE embedder) with its own app, uploaded to by the tests below."""
    from assistant.ui import build_app

    root = tmp_path_factory.mktemp("ui-page")
    pa = make_assistant(root / "idx", abstain_threshold=0.05)
    pa.ingest([write_jsonl(root / "five.jsonl", sample_rows[:5])])
    with serving(build_app(pa)) as url:
        yield url, pa


@pytest.fixture
def pages(browser):
    """open(url, **Page options) -> Page; every page is closed after the test."""
    opened: list[Page] = []

    def open_(url: str, **kwargs) -> Page:
        opened.append(Page(browser, url, **kwargs))
        return opened[-1]

    yield open_
    for p in opened:
        p.close()


def _new_rows() -> list[dict]:
    return [
        {"title": "Counting Bees in Hive Videos with Point Supervision",
         "abstract": "We count honey bees at hive entrances from video using only point labels. "
                     "A density-map network trained on 400 annotated frames reaches 95% counting accuracy.",
         "authors": ["Grace Hopper"], "year": 2031, "category": "q-bio.PE"},
        {"title": "Forecasting Glacier Melt with Physics-Informed Networks",
         "abstract": "We forecast glacier melt with physics-informed neural networks. "
                     "Trained on forty glaciers, the model halves the error of degree-day models.",
         "authors": ["Ada Lovelace"], "year": 2030, "category": "q-bio.PE"},
    ]


def _upload(page, *paths: Path) -> None:
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Corpus").click()
    page.locator("#upload input[type=file]").set_input_files([str(p) for p in paths])
    for p in paths:  # Gradio shows a chosen file's stem and suffix in separate elements
        expect(page.locator("#upload")).to_contain_text(p.stem)
    page.locator("#ingest").click()


def _options(page, dropdown: str) -> list[str]:
    """The choices a Gradio dropdown offers (opened, read, closed again)."""
    page.locator(f"{dropdown} input").click()
    options = page.locator("[role=option]")
    options.first.wait_for()
    texts = options.all_inner_texts()
    page.keyboard.press("Escape")
    return [t.strip() for t in texts]


# --- state that follows the index --------------------------------------------------------------


def test_an_upload_in_one_page_reaches_every_other_page(pages, library, tmp_path, write_jsonl):
    from playwright.sync_api import expect

    url, pa = library
    before = len(pa.papers)
    a, b = pages(url), pages(url)
    for p in (a.page, b.page):
        expect(p.locator("#pa-status")).to_contain_text(f"{before} papers")
    assert "q-bio.PE" not in " ".join(_options(b.page, "#category"))

    _upload(a.page, write_jsonl(tmp_path / "two-more.jsonl", _new_rows()))
    expect(a.page.locator("#ingest-report")).to_contain_text("2 new paper(s)")
    after = before + 2
    assert len(pa.papers) == after

    # The other page follows without a reload (its timer sees the new index version) ...
    expect(b.page.locator("#pa-status")).to_contain_text(f"{after} papers")
    b.page.get_by_role("tab", name="Corpus").click()
    expect(b.page.locator("#corpus-stats")).to_contain_text(f"{after} papers")
    expect(b.page.locator("#paper-count")).to_contain_text(f"{after} paper(s)")
    b.page.get_by_role("tab", name="Chat").click()
    expect(b.page.locator("#filter-note")).to_contain_text(f"of {after} have a year")
    expect(b.page.locator("#filter-match")).to_contain_text(f"{after} of {after} papers match")
    assert any("q-bio.PE" in o for o in _options(b.page, "#category"))
    assert "2031" in _options(b.page, "#year-to")
    # ... and so does the uploading page's own sidebar, and a page opened now.
    expect(a.page.locator("#filter-note")).to_contain_text(f"of {after} have a year")
    c = pages(url)
    expect(c.page.locator("#pa-status")).to_contain_text(f"{after} papers")
    expect(c.page.locator("#filter-match")).to_contain_text(f"{after} of {after} papers match")


def test_the_upload_report_lists_every_chosen_file_and_keeps_only_what_is_used(
    pages, library, tmp_path, write_jsonl
):
    from playwright.sync_api import expect

    url, pa = library
    page = pages(url).page
    good = write_jsonl(tmp_path / "one-more.jsonl", [{
        "title": "Sorting Parcels with Reinforcement Learning in Small Depots",
        "abstract": "We sort parcels in small depots with a reinforcement learning policy. "
                    "It cuts sorting time by a third against the rule-based baseline.", "year": 2029}])
    binary = tmp_path / "scan.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")

    _upload(page, good, binary, empty)
    report = page.locator("#ingest-report")
    expect(report).to_contain_text("1 new paper(s)")
    for name in ("one-more.jsonl", "scan.bin", "empty.jsonl"):
        expect(report).to_contain_text(name)
    expect(report.locator("li")).to_have_count(2)  # the two refused files, each with its reason
    kept = sorted(p.name for p in pa.uploads_dir.rglob("*") if p.is_file())
    assert "scan.bin" not in kept and "empty.jsonl" not in kept and "one-more.jsonl" in kept

    # Choosing new files clears the old report; known papers are said to be known.
    page.locator("#upload button[aria-label='Clear']").first.click()
    expect(report).to_be_empty()
    _upload(page, good)
    expect(report).to_contain_text("Already indexed")
    expect(report).to_contain_text("nothing changed")


# --- text stays text ---------------------------------------------------------------------------


def test_markup_in_an_abstract_and_a_question_shows_as_text_and_loads_nothing(
    browser, pages, tmp_path_factory, make_assistant, sample_rows, write_jsonl
):
    from playwright.sync_api import expect

    from assistant.ui import build_app

    root = tmp_path_factory.mktemp("ui-inject")
    pa = make_assistant(root / "idx", abstain_threshold=0.05)
    rows = [*sample_rows[:4], {"title": TIDAL_TITLE, "abstract": TIDAL_ABSTRACT, "authors": ["<i>Eve</i>"],
                               "year": 2024, "url": "javascript:alert(1)", "category": "<u>Q</u>"}]
    pa.ingest([write_jsonl(root / f"{FILE_NAME}.jsonl", rows)])  # a file name with markup too
    with serving(build_app(pa)) as url:
        view = pages(url)
        page = view.page
        ask(page, TIDAL_QUESTION)
        chat = page.locator("#chatbot")
        expect(chat).to_contain_text("<img src=y onerror=window.__pwned=3>")  # the question, as typed
        expect(chat).to_contain_text("![q](http://evil.example/q.png)")
        expect(chat).to_contain_text("<b>bold?</b>")  # the title, as indexed
        answer = chat.locator(".pa-answer").last
        answer.locator(".pa-card:has-text('Tidal Flow') .pa-abstract summary").first.click()  # the abstract
        expect(answer).to_contain_text("<img src=x onerror=window.__pwned=1>")
        expect(answer).to_contain_text("<script>window.__pwned=2</script>")
        expect(answer).to_contain_text("![pixel](http://evil.example/pixel.png)")

        ask(page, "What is $$x^2$$ in **tidal** flows?")
        assert chat.locator(".katex, math, strong").count() == 0  # no typeset maths, no Markdown
        expect(chat.locator(".pa-user").last).to_have_text("What is $$x^2$$ in **tidal** flows?")

        page.get_by_role("tab", name="Corpus").click()  # counts, the paper list and the opened paper
        expect(page.locator("#corpus-stats")).to_contain_text(f"{FILE_NAME}.jsonl")
        expect(page.locator("#corpus-stats")).to_contain_text("<u>Q</u>")
        page.locator("#paper-query textarea").fill("![s](http://evil.example/s.png) <img src=w onerror=window.__pwned=8>")
        expect(page.locator("#paper-count")).to_contain_text("![s](http://evil.example/s.png)")
        page.locator("#paper-query textarea").fill("tidal")
        expect(page.locator("#paper-count")).to_contain_text("1 paper(s)")
        page.locator("#paper-table [data-testid=cell-0-0]").click()
        expect(page.locator("#paper-view")).to_contain_text("<script>window.__pwned=2</script>")
        expect(page.locator("#paper-view")).to_contain_text("<i>Eve</i>")
        shot(page, "injected-markup-as-text")

        expect(page.locator("#paper-view")).to_contain_text(f"{FILE_NAME}.jsonl")
        assert page.locator("#chatbot img, #paper-view img, #paper-count img, #corpus-stats img").count() == 0
        assert page.locator("b:text-is('bold?'), i:text-is('Eve'), u:text-is('Q')").count() == 0
        assert page.locator("#chatbot script, #paper-view script").count() == 0
        assert page.evaluate("window.__pwned") is None
        assert page.locator("a[href^='javascript']").count() == 0
        assert view.foreign_requests() == []  # no image, font or tracker from another host


# --- citations you can use ---------------------------------------------------------------------


def test_a_marker_scrolls_to_its_card_and_shows_its_quote(pages, full_app, full_index):
    from playwright.sync_api import expect

    page = pages(full_app, viewport={"width": 1400, "height": 560}).page  # the chat box is taller than this
    ask(page, MASK_QUESTION)
    answer = page.locator("#chatbot .pa-answer").last
    markers = answer.locator("a.pa-cite")
    numbers = [int(re.sub(r"\D", "", t.split(",")[0]) or 0) for t in markers.all_inner_texts()]
    n = max(numbers)
    assert n >= 2, numbers
    card = answer.locator(f".pa-card.pa-src-{n}")

    page.locator("#chatbot [role=log]").evaluate("e => e.scrollTo(0, 0)")  # the chat's scroll box, to the top
    page.evaluate("window.scrollTo(0, 0)")
    expect(card).not_to_be_in_viewport()  # below the fold until the marker is clicked
    marker = markers.nth(numbers.index(n))
    marker.hover()  # the tip: the paper and its quote
    tip = marker.locator(".pa-tip")
    expect(tip).to_be_visible()
    quote = card.locator(".pa-quote").first.inner_text().strip("“” \n")
    assert quote[:40] in tip.inner_text()

    assert marker.evaluate(CONTRAST) >= 4.5  # the small marker is readable (WCAG AA)
    marker.click()
    expect(card).to_have_class(re.compile(r"\bpa-hl\b"))
    expect(card).to_be_in_viewport()
    shot(page, "marker-scrolled-to-its-card")

    # The card opens the whole abstract with the quoted span marked, and the paper.
    card.locator(".pa-abstract summary").click()
    expect(card.locator(".pa-abstract mark").first).to_contain_text(quote[:40])
    expect(card.locator(".pa-abstract")).to_contain_text("Read from")
    link = card.locator(".pa-card-title a")
    assert (link.get_attribute("href") or "").startswith("https://")


def test_copy_gives_markdown_with_a_reference_list(pages, full_app):
    page = pages(full_app, clipboard=True).page
    ask(page, MASK_QUESTION)
    answer = page.locator("#chatbot .pa-answer").last
    answer.locator(".pa-copy").click()
    page.wait_for_function("navigator.clipboard.readText().then(t => t.startsWith('# '))")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert not HTML_TAG.search(copied), copied[:400]
    assert copied.startswith(f"# {MASK_QUESTION}") and "## References" in copied
    assert re.search(r"^\[1\] ", copied, re.M) and re.search(r"^> ", copied, re.M)


def test_the_conversation_and_its_papers_download_as_markdown_bibtex_and_ris(pages, full_app, tmp_path):
    from assistant.ingest import ingest_paths

    page = pages(full_app).page
    ask(page, MASK_QUESTION)
    ask(page, "Which paper proposes an adaptive second order optimizer that estimates the Hessian diagonal?")
    files = {}
    for button in ("#download-chat", "#download-bib", "#download-ris"):
        with page.expect_download() as info:
            page.locator(button).click()
        target = tmp_path / info.value.suggested_filename
        info.value.save_as(target)
        files[target.suffix] = target
    text = files[".md"].read_text(encoding="utf-8")
    assert MASK_QUESTION in text and "ADAHESSIAN" in text and "## References" in text
    assert not HTML_TAG.search(text)
    titles = {p.title for p in ingest_paths([files[".bib"]]).papers}
    assert any("ADAHESSIAN" in t for t in titles) and len(titles) >= 2
    assert {p.title for p in ingest_paths([files[".ris"]]).papers} == titles


def test_an_example_question_is_asked_when_chosen(pages, full_app):
    from playwright.sync_api import expect

    page = pages(full_app).page
    page.locator("#chatbot").get_by_text(WORLD_CUP).click()
    wait_answers(page, 1)
    expect(page.locator("#chatbot .pa-notice-abstain")).to_contain_text("Not answered")


# --- filters and compare ------------------------------------------------------------------------


def test_the_filters_say_how_many_papers_match(pages, full_app, full_index):
    from playwright.sync_api import expect

    page = pages(full_app).page
    total = len(full_index.papers)
    match = page.locator("#filter-match")
    expect(match).to_contain_text(f"{total} of {total} papers match")
    page.locator("#year-from input").click()
    page.get_by_role("option", name="2023", exact=True).click()
    counts = full_index.count_matching({"year_from": 2023})
    expect(match).to_contain_text(f"{counts['matching']} of {total} papers match")
    expect(match).to_contain_text(f"{counts['excluded']['year']} papers with no year")
    page.locator("#include-unknown input").check()
    counts = full_index.count_matching({"year_from": 2023, "include_unknown": True})
    expect(match).to_contain_text(f"{counts['matching']} of {total} papers match")


def test_compare_names_each_columns_paper_and_lets_the_reader_pick_another(pages, full_app):
    from playwright.sync_api import expect

    page = pages(full_app).page
    page.get_by_role("tab", name="Compare").click()
    page.locator("#method-1 textarea").fill("MAE")
    page.locator("#method-2 textarea").fill("M-FAC")
    page.locator("#compare-btn").click()
    head = page.locator("#compare-table thead th").nth(1)
    expect(head).to_contain_text("MAE")
    first = head.locator(".pa-col-paper").first.inner_text()
    assert re.match(r"\[\d+\] \S", first), first  # the paper behind the column
    expect(page.locator("#pick-1")).to_be_visible()
    page.locator("#pick-1 input").click()
    options = page.locator("[role=option]")
    expect(options.nth(1)).to_be_visible()  # another paper to pick
    other = options.nth(1).inner_text().strip()
    options.nth(1).click()
    page.locator("#compare-rebuild").click()
    expect(head.locator(".pa-col-paper").first).not_to_have_text(first)
    assert other.split(" (")[0][:30] in head.inner_text()
    expect(head.locator(".pa-col-method")).to_have_text("MAE")  # still the method's column
    shot(page, "compare-picked-another-paper")

    # The method limit is the library's, and a method no paper names is said in UI words.
    for i, name in enumerate(["MAE", "M-FAC", "ADAHESSIAN", "LoRA", "BERT", "ResNet"]):
        page.locator(f"#method-{i + 1} textarea").fill(name if i < 5 else "ResNet, ViT")
    page.locator("#compare-btn").click()
    expect(page.locator("#compare-table .pa-notice-error")).to_contain_text("at most 6 methods")
    for i in range(6):
        page.locator(f"#method-{i + 1} textarea").fill(["Zorblaxian", "Quuxinator"][i] if i < 2 else "")
    page.locator("#compare-btn").click()
    error = page.locator("#compare-table .pa-notice-error")
    expect(error).to_contain_text("no indexed abstract mentions")
    assert "papers search" not in error.inner_text() and "`" not in error.inner_text()


# --- layout ------------------------------------------------------------------------------------


def test_a_phone_gets_a_full_width_input_and_folded_filters(pages, full_app):
    from playwright.sync_api import expect

    page = pages(full_app, viewport=PHONE, touch=True).page
    content = page.locator("#pa-filters [data-testid=accordion-content]")
    expect(content).to_be_hidden()  # folded on a phone
    box = page.locator("#question textarea").bounding_box()
    chat = page.locator("#chatbot").bounding_box()
    assert box["width"] >= 0.9 * chat["width"], (box, chat)
    assert page.locator("#pa-filters").bounding_box()["y"] < chat["y"]  # the folded filters come first
    page.locator("#pa-filters button.label-wrap").click()
    expect(content).to_be_visible()
    shot(page, "phone-filters-open")
    page.locator("#pa-filters button.label-wrap").click()

    ask(page, MASK_QUESTION)  # a tap on a marker shows its quote; a second tap goes to the card
    answer = page.locator("#chatbot .pa-answer").last
    marker = answer.locator("a.pa-cite").last
    n = int(re.sub(r"\D", "", marker.inner_text().split(",")[0].split("]")[0]))
    marker.tap()
    expect(marker.locator(".pa-tip")).to_be_visible()
    expect(answer.locator(f".pa-src-{n}")).not_to_have_class(re.compile(r"\bpa-hl\b"))
    marker.tap()
    expect(answer.locator(f".pa-src-{n}")).to_have_class(re.compile(r"\bpa-hl\b"))
    expect(answer.locator(f".pa-src-{n}")).to_be_in_viewport()

    ask(page, "Compare ADAHESSIAN and M-FAC")
    labels = page.locator("#chatbot .pa-compare .pa-row-label")
    expect(labels.first).to_be_visible()
    widths = [labels.nth(i).bounding_box()["width"] for i in range(1, labels.count())]
    assert min(widths) >= 100, widths  # row labels are not squeezed letter by letter
    shot(page, "phone-compare-in-chat")


CONTRAST = """el => {
  const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                     return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  let bg = el;
  while (bg && getComputedStyle(bg).backgroundColor.replace(/\\s/g, '').match(/rgba\\(.*,0\\)$|transparent/)) bg = bg.parentElement;
  const a = lum(rgb(getComputedStyle(el).color)), b = lum(rgb(getComputedStyle(bg).backgroundColor));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_notices_meet_wcag_aa_contrast(pages, full_app, theme):
    page = pages(full_app, theme=theme).page
    dark = page.evaluate("document.body.classList.contains('dark') || "
                         "!!document.querySelector('.gradio-container.dark, .dark')")
    assert dark == (theme == "dark")
    ask(page, WORLD_CUP)
    notice = page.locator("#chatbot .pa-notice-abstain").last
    secondary = [page.locator("#pa-status"), page.locator("#chatbot .pa-foot").last]  # the small grey text too
    for part in (notice.locator("b").first, notice, *secondary):
        ratio = part.evaluate(CONTRAST)
        assert ratio >= 4.5, (theme, part, ratio)
    shot(page, f"abstain-notice-{theme}")


def test_no_gradio_settings_drawer_api_link_or_server_paths(pages, full_app, full_index, library):
    from assistant.ui import build_app

    page = pages(full_app).page
    footer = page.locator("footer").inner_text()
    assert "Settings" not in footer and "API" not in footer
    with serving(build_app(library[1], show_api=True)) as url:  # `papers serve --show-api`
        shown = pages(url).page.locator("footer").inner_text()
        assert "API" in shown and "Settings" not in shown
    page.get_by_role("tab", name="Settings").click()
    page.locator("#backend-info").wait_for()
    assert str(full_index.settings.index_dir) not in page.locator("#backend-info").inner_text()


def test_the_paper_list_searches_authors_and_abstracts_and_opens_a_paper(pages, full_app, full_index):
    from playwright.sync_api import expect

    page = pages(full_app).page
    page.get_by_role("tab", name="Corpus").click()
    query = page.locator("#paper-query textarea")
    paper = next(p for p in full_index.papers if p.authors and "mask" in p.abstract.lower())
    family = paper.authors[0].split()[-1]  # an author's family name and a word of the abstract
    query.fill(f"{family} mask")
    papers, matched = full_index.find_papers(f"{family} mask")
    assert paper in papers
    expect(page.locator("#paper-count")).to_contain_text(f"{matched} paper(s)")
    page.locator("#paper-table [data-testid=cell-0-0]").click()
    view = page.locator("#paper-view")
    expect(view).to_contain_text(papers[0].title)
    expect(view).to_contain_text(papers[0].abstract[:60])
    expect(view).to_contain_text("Read from")
    font = page.locator("#paper-table [data-testid=cell-0-0]").evaluate("e => getComputedStyle(e).fontFamily")
    assert "mono" not in font.lower()
    expect(page.locator("#year-plot")).to_contain_text("without, not shown")


# --- load ---------------------------------------------------------------------------------------


def test_twenty_sessions_at_once_all_answer(pages, full_app):
    questions = [MASK_QUESTION, "Which paper proposes an adaptive second order optimizer that estimates the Hessian "
                 "diagonal?"]
    views = [pages(full_app) for _ in range(20)]
    for i, v in enumerate(views):
        v.page.locator("#question textarea").fill(questions[i % 2])
    for v in views:
        v.page.locator("#question textarea").press("Enter")
    for i, v in enumerate(views):
        wait_answers(v.page, 1)
        assert v.page.locator("#chatbot .pa-notice-error").count() == 0
        text = v.page.locator("#chatbot .pa-answer").last.inner_text()
        assert ("ADAHESSIAN" in text) == (i % 2 == 1), text[:200]
        assert answered(v.page).count() == 1 and v.page.locator('#chatbot [data-testid="user"]').count() == 1

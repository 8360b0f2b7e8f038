"""`papers mcp` end to end: the command started as a new process by the `mcp` SDK's own
stdio client (`stdio_client` + `ClientSession`), as a desktop MCP client starts it.

The index is built here from two files of the bundled corpus with the FAKE embedder of
tests/fake_embedder.py; the `papers mcp` process reaches the same vectors through the test
server's /v1/embeddings (`fake_model_env`). What is checked is the protocol surface (tools,
schemas, resources, errors, a clean stdout), with exact values taken from the same index
through the Python API and the CLI. One test (slow) serves the whole bundled corpus
indexed with the real model and checks what it finds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import anyio
import pytest

from fake_embedder import fake_model_env

FILES = ["000_7b93b8b2ecf15c87.txt", "002_155326858a143be8.txt"]  # arXiv listing, paper search page
HPM = "Hard Patches Mining for Masked Image Modeling"
QUERY = "hard patches mining for masked image modeling"
QUESTION = "What is hard patches mining in masked image modeling?"
TOOLS = {"search_papers": ["query"], "ask": ["question"], "compare_methods": ["methods"], "get_paper": ["paper_id"]}
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}


@pytest.fixture(scope="module")
def lib(tmp_path_factory, make_assistant, corpus_dir):
    """Two bundled pages (252 papers) indexed with the FAKE embedder; a fixed abstention
    threshold (also given to the server) so both sides answer alike."""
    folder = tmp_path_factory.mktemp("mcp-sources")
    for name in FILES:
        shutil.copy(corpus_dir / name, folder / name)
    pa = make_assistant(tmp_path_factory.mktemp("mcp-index"), abstain_threshold=0.25)
    _, update = pa.ingest([folder])
    assert update.total == 252
    return pa


def server_env(llm_server, **extra) -> dict[str, str]:
    return {**fake_model_env(llm_server), **OFFLINE, "PAPERS_ABSTAIN_THRESHOLD": "0.25", **extra}


def serve(project_dir, tmp_path, index_dir, env: dict, script, timeout: float = 120):
    """Start `python -m assistant.cli mcp --index-dir INDEX_DIR` with the SDK's stdio client,
    run `await script(session)` and return (its result, the server's stderr). Fails if any
    line the server wrote on stdout was not a protocol message (the client reports those
    to `message_handler` as exceptions) or if its stderr holds a traceback."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    faults: list[Exception] = []

    async def on_message(message) -> None:
        if isinstance(message, Exception):
            faults.append(message)

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "assistant.cli", "mcp", "--index-dir", str(index_dir)],
        env=env,
        cwd=project_dir,
    )
    log = tmp_path / "mcp-stderr.log"

    async def main():
        with log.open("w", encoding="utf-8") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write, message_handler=on_message, read_timeout_seconds=timeout) as s:
                    await s.initialize()
                    return await script(s)

    out = anyio.run(main)
    stderr = log.read_text(encoding="utf-8")
    assert faults == [], f"not protocol on stdout: {faults}\n{stderr}"
    assert "Traceback" not in stderr, stderr
    return out, stderr


def test_tools_answer_as_the_library_does(lib, llm_server, project_dir, tmp_path):
    search = lib.search(QUERY, k=5)
    answer = lib.ask(QUESTION)
    table = lib.compare(["ADAHESSIAN", "M-FAC"])
    hpm = search.hits[0].paper
    assert hpm.title == HPM and not answer.abstained and answer.citations

    async def script(s):
        tools = (await s.list_tools()).tools
        calls = {
            "search": await s.call_tool("search_papers", {"query": QUERY, "k": 5}),
            "filtered": await s.call_tool("search_papers", {"query": QUERY, "filters": {"year_from": 2024}}),
            "kept": await s.call_tool("search_papers",
                                      {"query": QUERY, "filters": {"year_from": 2024, "include_unknown": True}}),
            "ask": await s.call_tool("ask", {"question": QUESTION}),
            "compare": await s.call_tool("compare_methods", {"methods": ["ADAHESSIAN", "M-FAC"]}),
            "aspects": await s.call_tool("compare_methods",
                                         {"methods": ["ADAHESSIAN", "M-FAC"], "aspects": ["approach", "Year"]}),
            "paper": await s.call_tool("get_paper", {"paper_id": hpm.id}),
        }
        return tools, calls

    (tools, calls), _ = serve(project_dir, tmp_path, lib.settings.index_dir, server_env(llm_server), script)

    # Tools: names, required parameters, a description for every parameter, an output schema.
    assert {t.name: t.input_schema.get("required", []) for t in tools} == TOOLS
    by_name = {t.name: t for t in tools}
    assert list(by_name["search_papers"].input_schema["properties"]) == ["query", "k", "filters"]
    assert list(by_name["compare_methods"].input_schema["properties"]) == ["methods", "aspects", "filters"]
    for tool in tools:
        assert tool.description and tool.output_schema and tool.annotations.read_only_hint is True
        for name, prop in tool.input_schema["properties"].items():
            assert prop.get("description"), (tool.name, name)
    filters = by_name["ask"].input_schema["$defs"]["PaperFilters"]["properties"]
    assert list(filters) == ["year_from", "year_to", "author", "category", "source", "has_code", "include_unknown"]
    assert all(f.get("description") for f in filters.values())
    assert by_name["search_papers"].input_schema["properties"]["k"]["maximum"] == 50
    for result in calls.values():
        assert result.is_error is False, result.content
        # The text block is the structured content as JSON (for clients that read text only).
        assert json.loads(result.content[0].text) == result.structured_content

    # search_papers: the library's ranking, with the best passage and where to read the paper.
    data = calls["search"].structured_content
    assert [h["paper_id"] for h in data["hits"]] == [h.paper_id for h in search.hits]
    first = data["hits"][0]
    assert (first["rank"], first["title"], first["uri"]) == (1, HPM, f"paper://{hpm.id}")
    assert first["score"] == round(search.hits[0].score, 6)
    best = search.hits[0].chunks[0].chunk
    assert first["best_chunk"] == {"text": best.text, "start": best.start, "end": best.end}
    assert hpm.abstract[best.start:best.end] == best.text
    from assistant.export import link

    assert first["link"] == link(hpm) and (first["doi"], first["arxiv_id"]) == (hpm.doi, hpm.arxiv_id)
    # A filter leaves out the papers lacking its field, counts them, and says how to keep them.
    filtered = calls["filtered"].structured_content
    no_year = sum(1 for p in lib.papers if p.year is None)
    assert filtered["filter_excluded"] == {"year": no_year}
    assert hpm.year is None and HPM not in [h["title"] for h in filtered["hits"]]
    assert any(n.endswith("set include_unknown in filters to include them.") for n in filtered["notices"])
    kept = calls["kept"].structured_content
    assert kept["filter_excluded"] == {} and kept["hits"][0]["title"] == HPM

    # ask: the library's answer, each citation quoting its paper's abstract at its span.
    data = calls["ask"].structured_content
    assert data["answer"] == answer.text and data["abstained"] is False and data["backend"] == "extractive"
    assert [(c["n"], c["paper_id"], c["quote"]) for c in data["citations"]] == [
        (c.n, c.paper_id, c.quote) for c in answer.citations]
    for c in data["citations"]:
        abstract = lib.paper(c["paper_id"]).abstract
        assert c["quote"] in abstract and abstract[c["start"]:c["end"]] == c["quote"]
    assert {s["n"] for s in data["sources"]} >= {c["n"] for c in data["citations"]}
    assert HPM in {c["title"] for c in data["citations"]}

    # compare_methods: the table's rows and cells, cited, and its Markdown rendering.
    data = calls["compare"].structured_content
    from assistant.export import comparison_markdown

    assert data["methods"] == ["ADAHESSIAN", "M-FAC"] and data["markdown"] == comparison_markdown(table)
    assert [r["row"] for r in data["rows"]] == table.rows
    for row in data["rows"]:
        assert [c["method"] for c in row["cells"]] == ["ADAHESSIAN", "M-FAC"]
        for cell in row["cells"]:
            assert cell["text"] == table.cells[row["row"]][cell["method"]].text
            for c in cell["citations"]:
                assert c["quote"] in lib.paper(c["paper_id"]).abstract
    approach = data["rows"][[r["row"] for r in data["rows"]].index("Approach")]["cells"][0]
    assert approach["citations"][0]["title"].startswith("ADAHESSIAN")
    aspects = calls["aspects"].structured_content
    assert [r["row"] for r in aspects["rows"]] == ["Approach", "Year"]
    assert "**Problem addressed**" not in aspects["markdown"] and "**Approach**" in aspects["markdown"]

    # get_paper: the record, as Paper.to_dict() gives it.
    data = calls["paper"].structured_content
    assert data == json.loads(json.dumps(hpm.to_dict())) and data["title"] == HPM


def test_user_errors_are_tool_errors_with_the_cli_message(lib, llm_server, project_dir, tmp_path, papers_main):
    index = ["--index-dir", lib.settings.index_dir]
    env = fake_model_env(llm_server)
    cli_empty = papers_main("ask", "  ", *index, env=env)
    cli_category = papers_main("search", QUERY, "--category", "ZZ", *index, env=env)
    cli_years = papers_main("search", QUERY, "--year-from", "2025", "--year-to", "2020", *index, env=env)
    cli_compare = papers_main("compare", "ADAHESSIAN", *index, env=env)
    assert {cli_empty.returncode, cli_category.returncode, cli_years.returncode, cli_compare.returncode} == {2}
    hpm_id = lib.search(QUERY, k=1).hits[0].paper_id

    async def script(s):
        return {
            "empty": await s.call_tool("ask", {"question": "  "}),
            "unknown": await s.call_tool("get_paper", {"paper_id": "0000000000000000"}),
            "category": await s.call_tool("search_papers", {"query": QUERY, "filters": {"category": "ZZ"}}),
            "years": await s.call_tool("search_papers",
                                       {"query": QUERY, "filters": {"year_from": 2025, "year_to": 2020}}),
            "one method": await s.call_tool("compare_methods", {"methods": ["ADAHESSIAN"]}),
            "aspect": await s.call_tool("compare_methods", {"methods": ["ADAHESSIAN", "M-FAC"], "aspects": ["Cost"]}),
            "bad filter": await s.call_tool("search_papers", {"query": QUERY, "filters": {"yearfrom": 2020}}),
            "after": await s.call_tool("get_paper", {"paper_id": hpm_id}),
        }

    calls, _ = serve(project_dir, tmp_path, lib.settings.index_dir, server_env(llm_server), script)
    text = {name: result.content[0].text for name, result in calls.items()}
    assert all(calls[name].is_error is True for name in calls if name != "after")
    # The very message the CLI prints after "error: ", and nothing else.
    assert f"error: {text['empty']}\n" == cli_empty.stderr
    assert text["empty"].startswith("empty question: ask something about the papers")
    assert f"error: {text['category']}\n" == cli_category.stderr
    assert text["category"].startswith("unknown category 'ZZ'; this index has: ")
    assert f"error: {text['years']}\n" == cli_years.stderr == "error: year range is empty: from 2025 to 2020\n"
    assert f"error: {text['one method']}\n" == cli_compare.stderr
    assert text["unknown"] == "no indexed paper has the id '0000000000000000'"
    assert text["aspect"] == ("unknown aspect 'Cost'; the table's rows are: Problem addressed, Approach, "
                              "Key claims / results, Limitations / assumptions, Year")
    # A filter the schema does not know is refused by the SDK's argument validation, naming it.
    assert "filters.yearfrom" in text["bad filter"] and "Extra inputs are not permitted" in text["bad filter"]
    # The server is still there after the errors.
    assert calls["after"].is_error is False and calls["after"].structured_content["title"] == HPM


def test_resources_serve_the_papers(lib, llm_server, project_dir, tmp_path):
    from mcp import MCPError

    hpm = lib.search(QUERY, k=1).hits[0].paper

    async def script(s):
        listed = (await s.list_resources()).resources
        templates = (await s.list_resource_templates()).resource_templates
        first = json.loads((await s.read_resource("papers://index")).contents[0].text)
        second = json.loads((await s.read_resource("papers://index?page=2")).contents[0].text)
        paper = (await s.read_resource(f"paper://{hpm.id}")).contents[0]
        errors = []
        for uri in ("paper://0000000000000000", "papers://index?page=3", "papers://index?page=x"):
            try:
                await s.read_resource(uri)
            except MCPError as exc:
                errors.append((exc.error.code, exc.error.message))
        return listed, templates, first, second, paper, errors

    (listed, templates, first, second, paper, errors), _ = serve(
        project_dir, tmp_path, lib.settings.index_dir, server_env(llm_server), script)

    assert [(r.uri, r.mime_type) for r in listed] == [("papers://index", "application/json")]
    assert [(t.uri_template, t.mime_type) for t in templates] == [
        ("paper://{paper_id}", "text/markdown"), ("papers://index{?page}", "application/json")]
    # The listing: 252 papers, 200 a page, newest first, each with its resource.
    papers, total = lib.find_papers("", limit=1000)
    assert (first["total"], first["pages"], first["page"], first["next"]) == (252, 2, 1, "papers://index?page=2")
    assert (second["page"], second["next"], len(first["papers"]), len(second["papers"])) == (2, None, 200, 52)
    assert [p["paper_id"] for p in first["papers"] + second["papers"]] == [p.id for p in papers]
    assert first["papers"][0]["uri"] == f"paper://{papers[0].id}" and first["papers"][0]["year"] == papers[0].year
    # One paper as Markdown: its title, id and abstract.
    assert paper.mime_type == "text/markdown" and paper.uri == f"paper://{hpm.id}"
    assert paper.text.startswith(f"# {HPM}\n\n- **Paper id:** {hpm.id}\n")
    assert "\n## Abstract\n\n" + hpm.abstract.strip()[:60] in paper.text
    assert errors == [
        (-32602, "no indexed paper has the id '0000000000000000'"),
        (-32602, "page 3 is past the last page (2) of the paper index"),
        (-32602, "page must be a whole number from 1 (got 'x')"),
    ]


def test_a_missing_index_is_built_with_progress_on_stderr_only(llm_server, project_dir, tmp_path, corpus_dir):
    """No index yet: the handshake is answered at once, the index is built from the corpus
    folder (here one bundled page) while the first call waits, and everything the build
    says goes to stderr (any stray line on stdout fails `serve`)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(corpus_dir / FILES[0], corpus / FILES[0])
    index_dir = tmp_path / "indexes"

    async def script(s):
        return await s.call_tool("search_papers", {"query": "chordless structure graph neural networks", "k": 1})

    result, stderr = serve(project_dir, tmp_path, index_dir, server_env(llm_server, PAPERS_CORPUS_DIR=str(corpus)),
                           script)
    assert result.is_error is False
    assert result.structured_content["hits"][0]["title"] == "Chordless Structure: A Pathway to Simple and Expressive GNNs"
    assert f"No index at {index_dir / 'default'} yet: building it from the bundled corpus ({corpus})" in stderr
    assert (index_dir / "default" / "manifest.json").is_file()


def test_an_ingest_by_another_process_is_served_without_a_restart(make_assistant, llm_server, project_dir,
                                                                  tmp_path, corpus_dir):
    """The server is running when an ingest in this process (the same FAKE embedder) commits
    a second page to its index: the next call opens the index again, so the new papers are
    found and read, ranked exactly as a fresh open of the index ranks them."""
    from assistant.ingest import ingest_paths

    first, second = tmp_path / "first", tmp_path / "second"
    for folder, name in ((first, FILES[0]), (second, FILES[1])):
        folder.mkdir()
        shutil.copy(corpus_dir / name, folder / name)
    pa = make_assistant(tmp_path / "index", abstain_threshold=0.25)
    pa.ingest([first])
    assert pa.generation == 1
    expected_before = pa.search(QUERY, k=5)
    hpm_id = next(p.id for p in ingest_paths([second]).papers if p.title == HPM)
    old_id = pa.papers[0].id

    async def script(s):
        calls = {
            "before": await s.call_tool("search_papers", {"query": QUERY, "k": 5}),
            "missing": await s.call_tool("get_paper", {"paper_id": hpm_id}),
        }
        _, update = await anyio.to_thread.run_sync(lambda: pa.ingest([second]))
        assert update.total == 252 and pa.generation == 2
        calls["paper"] = await s.call_tool("get_paper", {"paper_id": hpm_id})
        calls["search"] = await s.call_tool("search_papers", {"query": QUERY, "k": 5})
        calls["old"] = await s.call_tool("get_paper", {"paper_id": old_id})
        return calls

    calls, stderr = serve(project_dir, tmp_path, pa.settings.index_dir, server_env(llm_server), script)
    before = calls["before"].structured_content
    assert [h["paper_id"] for h in before["hits"]] == [h.paper_id for h in expected_before.hits]
    assert HPM not in [h["title"] for h in before["hits"]]
    assert calls["missing"].is_error is True
    assert calls["missing"].content[0].text == f"no indexed paper has the id {hpm_id!r}"
    # After the ingest: the new paper is read, and found as the index opened afresh finds it.
    assert calls["paper"].is_error is False
    assert calls["paper"].structured_content == json.loads(json.dumps(pa.paper(hpm_id).to_dict()))
    fresh = make_assistant(tmp_path / "index", abstain_threshold=0.25).search(QUERY, k=5)
    assert fresh.hits[0].paper_id == hpm_id
    hits = calls["search"].structured_content["hits"]
    assert [(h["paper_id"], h["score"]) for h in hits] == [(h.paper_id, round(h.score, 6)) for h in fresh.hits]
    assert calls["old"].structured_content["id"] == old_id
    assert stderr.count("reopened it") == 1
    assert "papers mcp: the index changed on disk (generation 2); reopened it\n" in stderr


class _Wrapped:
    """The real library with one method replaced (the fault under test): a stand-in handed
    to the server through its seam, `Library(open)`; nothing of the product is patched."""

    def __init__(self, pa, **methods):
        self._pa, self._methods = pa, methods

    def __getattr__(self, name):
        return self._methods.get(name) or getattr(self._pa, name)


def test_an_unexpected_error_is_a_tool_error_and_the_server_goes_on(lib, caplog):
    """In this process (the SDK's in-memory client): a crash inside a tool (injected here)
    is logged with its traceback; the client gets an isError result without the crash's
    text, and the next call is answered."""
    from mcp import Client

    from assistant.mcp_server import Library, build_server

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    hpm = lib.papers[0]

    async def main():
        async with Client(build_server(Library(lambda: _Wrapped(lib, search=boom)))) as client:
            return (await client.call_tool("search_papers", {"query": QUERY}),
                    await client.call_tool("get_paper", {"paper_id": hpm.id}))

    crashed, after = anyio.run(main)
    assert crashed.is_error is True and crashed.content[0].text == "Error executing tool search_papers"
    assert after.is_error is False and after.structured_content["id"] == hpm.id
    logged = [r.exc_info[1].__cause__ for r in caplog.records if r.exc_info]
    assert [(type(e), str(e)) for e in logged] == [(RuntimeError, "secret internals")]


def test_calls_run_one_at_a_time(lib):
    """The SDK runs each tool call in a worker thread; the library serves them one at a time."""
    import threading
    import time

    from mcp import Client

    from assistant.mcp_server import Library, build_server

    search, running, most = lib.search, [0], [0]
    guard = threading.Lock()

    def slow_search(*args, **kwargs):
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)
        try:
            return search(*args, **kwargs)
        finally:
            with guard:
                running[0] -= 1

    results = []

    async def main():
        async with Client(build_server(Library(lambda: _Wrapped(lib, search=slow_search)))) as client:
            async def call(query):
                results.append(await client.call_tool("search_papers", {"query": query, "k": 1}))

            async with anyio.create_task_group() as tg:
                for query in (QUERY, "second order optimizer hessian", "graph neural networks"):
                    tg.start_soon(call, query)

    anyio.run(main)
    assert len(results) == 3 and not any(r.is_error for r in results)
    assert most[0] == 1


def test_the_cli_does_not_import_the_sdk_until_mcp_runs(project_dir):
    code = "import sys, assistant.cli; assistant.cli.build_parser(); print('mcp' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=project_dir, capture_output=True, text=True, timeout=60)
    assert proc.stdout == "False\n", proc.stderr


def test_real_model_over_the_bundled_corpus(full_index, project_dir, tmp_path):
    """The whole bundled corpus indexed with the real model (slow: `full_index`), served
    as a user serves it (default settings, the local model)."""
    hpm = full_index.search(QUERY, k=1).hits[0].paper
    assert hpm.title == HPM

    async def script(s):
        return (await s.call_tool("search_papers", {"query": QUERY, "k": 3}),
                await s.call_tool("ask", {"question": QUESTION}),
                await s.call_tool("ask", {"question": "Who won the 2026 football world cup?"}),
                await s.call_tool("compare_methods", {"methods": ["ADAHESSIAN", "M-FAC"]}))

    (search, answer, off_topic, table), _ = serve(project_dir, tmp_path, full_index.settings.index_dir, dict(OFFLINE),
                                                  script)
    assert search.structured_content["hits"][0]["title"] == HPM
    data = answer.structured_content
    assert data["abstained"] is False and data["citations"]
    assert HPM in {c["title"] for c in data["citations"]}
    for c in data["citations"]:
        assert full_index.paper(c["paper_id"]).abstract[c["start"]:c["end"]] == c["quote"]
    assert off_topic.structured_content["abstained"] is True and off_topic.structured_content["citations"] == []
    assert table.structured_content["markdown"].startswith("# Comparison: ADAHESSIAN vs M-FAC\n")

"""`papers mcp`: the assistant served to Model Context Protocol clients (agents, desktop
apps) over stdio, with the official `mcp` SDK (`MCPServer`).

Tools: `search_papers`, `ask`, `compare_methods`, `get_paper`. Resources: `paper://{paper_id}`
(one paper as Markdown) and `papers://index` (every paper, a page of INDEX_PAGE at a time:
`papers://index?page=2` ...). A user error (an empty question, an unknown paper id, a bad
filter) is a tool result with `isError` and the message the CLI prints after "error: ";
anything else is logged on stderr with its traceback and the server goes on.

stdout carries the protocol only: the SDK points file descriptor 1 at stderr while it
serves, and the index is opened (or built from the bundled corpus) after that, in a
background thread, so a client's handshake is answered at once; tool calls wait for it.
Calls run one at a time (the SDK runs sync tools in worker threads; the assistant's
models and caches are not made for concurrent use). Each call first checks the index's
manifest: after a `papers ingest` by another process the index is opened again (same
models), so the new papers are served without a restart. The `mcp` package is imported only
when the command runs. Module name: `mcp_server`, so it never shadows the SDK. No
`from __future__ import annotations` here: the SDK reads the tools' annotations to build
their schemas, and those name types imported inside `build_server`."""

import argparse
import json
import sys
import threading
import traceback
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.answer.compare import MAX_METHODS, ROW_NAMES
from assistant.errors import QueryError, SettingsError, UserError
from assistant.records import Answer, Citation, Paper, Source, author_list

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from assistant.answer.compare import Comparison
    from assistant.api import PaperAssistant

INDEX_PAGE = 200  # papers per page of the papers://index resource
MAX_K = 50  # papers search_papers returns at most
SERVER_NAME = "papers"
T = TypeVar("T")


# --- inputs --------------------------------------------------------------------------------------


class PaperFilters(BaseModel):
    """Metadata filters, combined with AND. A paper that lacks a filtered field (no year,
    category, authors or code information) is left out unless include_unknown is true;
    results count such papers in filter_excluded."""

    model_config = ConfigDict(extra="forbid")

    year_from: int | None = Field(None, description="Only papers from this year on.")
    year_to: int | None = Field(None, description="Only papers up to this year.")
    author: str | None = Field(None, description="Only papers with an author whose name contains this text.")
    category: str | list[str] | None = Field(
        None, description='Only papers in this category, or in any of these (e.g. "LG", "CV").'
    )
    source: str | None = Field(None, description="Only papers read from a file whose name contains this text.")
    has_code: bool | None = Field(
        None, description="true: only papers marked as having code; false: only papers marked as without."
    )
    include_unknown: bool = Field(
        False,
        description="Also keep papers that lack a filtered field; by default they are left out and counted.",
    )

    def to_filters(self) -> dict[str, Any]:
        """What PaperAssistant.search/ask/compare take (unset fields left out)."""
        return self.model_dump(exclude_none=True, exclude_defaults=True)


# --- outputs -------------------------------------------------------------------------------------


class CitationOut(BaseModel):
    n: int = Field(description="The marker [n] in the text.")
    paper_id: str
    title: str
    authors: list[str]
    year: int | None
    quote: str = Field(description="The supporting sentence, verbatim from the paper's abstract.")
    start: int = Field(description="Character offset of the quote in the abstract.")
    end: int = Field(description="Character offset just past the quote in the abstract.")
    url: str | None

    @classmethod
    def of(cls, c: Citation) -> "CitationOut":
        return cls.model_validate(c.to_dict())  # (the fields not declared here are left out)


class SourceOut(BaseModel):
    n: int = Field(description="The number its citations use: [n].")
    paper_id: str
    title: str
    authors: list[str]
    year: int | None
    link: str = Field(description="Where to read it: its URL, else its DOI or arXiv page; empty when none is known.")
    uri: str = Field(description="The paper's MCP resource.")

    @classmethod
    def of(cls, src: Source) -> "SourceOut":
        p = src.paper
        return cls(n=src.n, paper_id=p.id, title=p.title, authors=p.authors, year=p.year, link=_link(p), uri=_uri(p))


class ChunkOut(BaseModel):
    text: str = Field(description="The passage of the abstract that matched best.")
    start: int = Field(description="Its character offset in the abstract.")
    end: int


class HitOut(BaseModel):
    rank: int
    paper_id: str
    title: str
    authors: list[str]
    year: int | None
    category: str | None
    has_code: bool
    score: float = Field(description="Fused retrieval score (higher is better; only comparable within one search).")
    url: str | None
    doi: str | None
    arxiv_id: str | None
    link: str = Field(description="Where to read it: its URL, else its DOI or arXiv page; empty when none is known.")
    uri: str = Field(description="The paper's MCP resource.")
    best_chunk: ChunkOut


class SearchOut(BaseModel):
    query: str
    hits: list[HitOut]
    notices: list[str]
    filter_excluded: dict[str, int] = Field(
        description="Per filtered field, how many papers were left out for lacking it."
    )


class CellOut(BaseModel):
    method: str
    text: str
    citations: list[CitationOut]


class RowOut(BaseModel):
    row: str
    cells: list[CellOut] = Field(description="One cell per method, in the order of `methods`.")


class CandidateOut(BaseModel):
    paper_id: str
    title: str


class CompareOut(BaseModel):
    methods: list[str]
    rows: list[RowOut]
    sources: list[SourceOut]
    papers: dict[str, list[int]] = Field(description="Per method, the numbers of the sources its column uses.")
    candidates: dict[str, list[CandidateOut]] = Field(
        description="Per method, other papers naming it (the table can be rebuilt with one of them)."
    )
    backend: str
    notices: list[str]
    markdown: str = Field(description="The table, its sources and notes as a Markdown document.")


class AskOut(BaseModel):
    question: str
    answer: str = Field(description="The answer; every sentence carries markers [n] of `citations`.")
    abstained: bool = Field(description="True when the abstracts do not answer: `sources` are the closest papers.")
    backend: str = Field(description='"extractive", "llm:<model>" or "extractive (LLM fallback)".')
    confidence: float
    citations: list[CitationOut]
    sources: list[SourceOut]
    notices: list[str]
    filter_excluded: dict[str, int] = Field(
        description="Per filtered field, how many papers were left out for lacking it."
    )
    comparison: CompareOut | None = Field(None, description="The table, when the question asked to compare methods.")


# --- conversions ---------------------------------------------------------------------------------


def _link(paper: Paper) -> str:
    from assistant.export import link

    return link(paper)


def _uri(paper: Paper) -> str:
    return f"paper://{paper.id}"


def _excluded_notes(filter_excluded: dict[str, int]) -> list[str]:
    from assistant.retrieve import excluded_lines

    return [f"{line}; set include_unknown in filters to include them." for line in excluded_lines(filter_excluded)]


def search_out(result: Any) -> SearchOut:
    hits = []
    for hit in result.hits:
        p, best = hit.paper, hit.chunks[0].chunk
        hits.append(
            HitOut(
                rank=hit.rank,
                paper_id=p.id,
                title=p.title,
                authors=p.authors,
                year=p.year,
                category=p.category,
                has_code=p.has_code,
                score=round(hit.score, 6),
                url=p.url,
                doi=p.doi,
                arxiv_id=p.arxiv_id,
                link=_link(p),
                uri=_uri(p),
                best_chunk=ChunkOut(text=best.text, start=best.start, end=best.end),
            )
        )
    notices = list(result.notices) + _excluded_notes(result.filter_excluded)
    return SearchOut(query=result.query, hits=hits, notices=notices, filter_excluded=result.filter_excluded)


def compare_out(table: "Comparison") -> CompareOut:
    from assistant.export import comparison_markdown

    return CompareOut(
        methods=table.methods,
        rows=[
            RowOut(
                row=row,
                cells=[
                    CellOut(
                        method=m,
                        text=table.cells[row][m].text,
                        citations=[CitationOut.of(c) for c in table.cells[row][m].citations],
                    )
                    for m in table.methods
                ],
            )
            for row in table.rows
        ],
        sources=[SourceOut.of(s) for s in table.sources],
        papers=table.papers,
        candidates={m: [CandidateOut(paper_id=p.id, title=p.title) for p in ps] for m, ps in table.candidates.items()},
        backend=table.backend,
        notices=table.notices,
        markdown=comparison_markdown(table),
    )


def ask_out(answer: Answer) -> AskOut:
    return AskOut(
        question=answer.question,
        answer=answer.text,
        abstained=answer.abstained,
        backend=answer.backend,
        confidence=round(answer.confidence, 4),
        citations=[CitationOut.of(c) for c in answer.citations],
        sources=[SourceOut.of(s) for s in answer.sources],
        notices=list(answer.notices) + _excluded_notes(answer.filter_excluded),
        filter_excluded=answer.filter_excluded,
        comparison=compare_out(answer.table) if answer.table is not None else None,
    )


def pick_rows(table: "Comparison", aspects: list[str] | None) -> "Comparison":
    """The table with only the rows named in `aspects` (case aside), in the table's order."""
    import dataclasses

    if not aspects:
        return table
    known = {r.casefold(): r for r in ROW_NAMES}
    bad = [a for a in aspects if a.casefold().strip() not in known]
    if bad:
        raise QueryError(f"unknown aspect {', '.join(map(repr, bad))}; the table's rows are: {', '.join(ROW_NAMES)}")
    wanted = {known[a.casefold().strip()] for a in aspects}
    return dataclasses.replace(table, rows=[r for r in table.rows if r in wanted])


def paper_markdown(paper: Paper) -> str:
    """One paper as Markdown: title, what is known about it, where it was read, its abstract.
    Text from the paper is escaped (`export.md_text`): nothing in it loads or runs."""
    from assistant.export import md_link, md_text, web_link

    def said(text: str) -> str:
        return md_text(" ".join(text.split()))

    facts = [("Paper id", paper.id)]
    if paper.authors:
        facts.append(("Authors", said(author_list(paper.authors, paper.authors_et_al))))
    for label, value in (
        ("Year", paper.year),
        ("Date", paper.date),
        ("Category", paper.category),
        ("Venue", paper.venue),
        ("DOI", paper.doi),
        ("arXiv", paper.arxiv_id),
        ("PubMed", paper.pmid),
    ):
        if value:
            facts.append((label, said(str(value))))
    if paper.affiliations:
        facts.append(("Affiliations", said("; ".join(paper.affiliations))))
    if where := _link(paper):
        facts.append(("Link", md_link(where) if web_link(where) else said(where)))
    if paper.has_code:
        facts.append(("Code", "yes"))
    if paper.sources:
        facts.append(("Read from", said("; ".join(str(s) for s in paper.sources))))
    lines = [f"# {said(paper.title)}", "", *(f"- **{k}:** {v}" for k, v in facts), "", "## Abstract", ""]
    lines.append(md_text(paper.abstract.strip()))
    return "\n".join(lines) + "\n"


def index_page(papers: list[Paper], total: int, page: int) -> dict[str, Any]:
    """A page of the papers://index listing (`papers`: that page's papers)."""
    pages = max(1, -(-total // INDEX_PAGE))
    return {
        "total": total,
        "page": page,
        "pages": pages,
        "page_size": INDEX_PAGE,
        "order": "newest first (papers with no year last), then by title",
        "next": f"papers://index?page={page + 1}" if page < pages else None,
        "papers": [
            {
                "paper_id": p.id,
                "title": p.title,
                "authors": author_list(p.authors, p.authors_et_al, most=3),
                "year": p.year,
                "uri": _uri(p),
            }
            for p in papers
        ],
    }


# --- the library ---------------------------------------------------------------------------------


def _user_message(exc: BaseException) -> str | None:
    """The message a user error shows (as the CLI prints it after "error: "), else None."""
    if isinstance(exc, SettingsError):
        return "; ".join(exc.problems)
    if isinstance(exc, (UserError, OSError)):
        return str(exc)
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        from assistant.settings import settings_error

        return "; ".join(settings_error(exc).problems)
    return None


class Library:
    """The assistant behind the server: opened once by `opener` in a background thread
    (`start`); `call` waits for it, then runs one call at a time. Before each call the
    index's manifest on disk is compared with the one the assistant read: when another
    process committed an ingest or a rebuild since, `reopener(old)` opens it again
    (default: `opener()`)."""

    def __init__(
        self,
        opener: Callable[[], "PaperAssistant"],
        reopener: Callable[["PaperAssistant"], "PaperAssistant"] | None = None,
    ) -> None:
        self._opener = opener
        self._reopener = reopener or (lambda _old: opener())
        self._ready = threading.Event()
        self._lock = threading.Lock()  # one call at a time
        self._starting = threading.Lock()
        self._started = False
        self._assistant: PaperAssistant | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        with self._starting:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._open, name="papers-mcp-open", daemon=True).start()

    def _open(self) -> None:
        try:
            self._assistant = self._opener()
        except Exception as exc:
            self._error = exc
            message = _user_message(exc)
            if message is None:
                traceback.print_exc(file=sys.stderr)
            else:
                print(f"error: {message}", file=sys.stderr, flush=True)
        finally:
            self._ready.set()

    def call(self, fn: Callable[["PaperAssistant"], T]) -> T:
        """`fn(assistant)` once the library is open, one call at a time, on the index as
        last committed. The error that kept it from opening is raised again by every call;
        an error reopening it is raised by this call (the next one tries again)."""
        self.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error.with_traceback(None)
        with self._lock:
            assert self._assistant is not None
            self._assistant = self._current(self._assistant)
            return fn(self._assistant)

    def _current(self, pa: "PaperAssistant") -> "PaperAssistant":
        """`pa`, or the library opened again when the manifest on disk is no longer the one
        `pa` read. A missing or unreadable manifest (a rebuild swapping its folder in) keeps `pa`."""
        generation = pa.index.changed_on_disk()
        if generation is None:
            return pa
        fresh = self._reopener(pa)
        print(
            f"papers mcp: the index changed on disk (generation {generation}); reopened it", file=sys.stderr, flush=True
        )
        return fresh


# --- the server ----------------------------------------------------------------------------------


def build_server(library: Library) -> "MCPServer":
    """The MCP server over `library`: its tools and resources."""
    from contextlib import asynccontextmanager

    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
    from mcp.types import CallToolResult, TextContent, ToolAnnotations

    from assistant.export import package_version

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[dict[str, Any]]:
        library.start()  # the handshake is answered while the index opens
        yield {}

    server: MCPServer = MCPServer(
        SERVER_NAME,
        title="Paper assistant",
        version=package_version(),
        instructions=(
            "A library of research-paper abstracts. search_papers finds papers; ask answers a question "
            "from the abstracts with citations [n] whose quotes are verbatim sentences of the abstracts "
            "(abstained=true: the abstracts do not answer; do not invent an answer then); compare_methods "
            "builds a cited side-by-side table of 2-6 methods; get_paper and the paper://{paper_id} "
            "resource give one paper's record. Paper ids come from the results of the other tools."
        ),
        lifespan=lifespan,
        log_level="WARNING",
    )
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    def result(fn: Callable[["PaperAssistant"], BaseModel | dict[str, Any]]) -> CallToolResult:
        """The tool's result: its output as structured content and as JSON text; a user
        error as an isError result with its message. Other exceptions reach the SDK (logged
        with their traceback; the client sees "Error executing tool <name>")."""
        try:
            out = library.call(fn)
        except Exception as exc:
            message = _user_message(exc)
            if message is None:
                raise
            return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)
        data = out.model_dump(mode="json") if isinstance(out, BaseModel) else out
        text = json.dumps(data, ensure_ascii=False, indent=2)
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)

    filters_field = Field(
        description="Optional metadata filters (year range, author, category, source file, has code).",
    )

    @server.tool(title="Search papers", annotations=read_only)
    def search_papers(
        query: Annotated[str, Field(description="What the papers should be about, in words.")],
        k: Annotated[int, Field(ge=1, le=MAX_K, description=f"How many papers to return (1-{MAX_K}).")] = 10,
        filters: Annotated[PaperFilters | None, filters_field] = None,
    ) -> Annotated[CallToolResult, SearchOut]:
        """Hybrid (dense + BM25) search over the indexed abstracts: the best-matching papers,
        ranked, each with its best-matching passage."""
        wanted = filters.to_filters() if filters else None
        return result(lambda pa: search_out(pa.search(query, k=k, filters=wanted)))

    @server.tool(title="Ask the papers", annotations=read_only)
    def ask(
        question: Annotated[str, Field(description="A question about the papers, in words.")],
        filters: Annotated[PaperFilters | None, filters_field] = None,
    ) -> Annotated[CallToolResult, AskOut]:
        """Answer a question from the indexed abstracts. Every sentence of the answer cites
        [n] a paper and the verbatim sentence of its abstract it rests on (quote, start/end
        offsets). When the abstracts do not answer, abstained is true and the sources are
        the closest papers."""
        wanted = filters.to_filters() if filters else None

        def run(pa: "PaperAssistant") -> AskOut:
            answer = pa.ask(question, filters=wanted)
            assert isinstance(answer, Answer)  # not streamed
            return ask_out(answer)

        return result(run)

    @server.tool(title="Compare methods", annotations=read_only)
    def compare_methods(
        methods: Annotated[
            list[str],
            Field(
                description=f"2 to {MAX_METHODS} method names as the abstracts write them "
                '(e.g. ["ADAHESSIAN", "M-FAC"]), or paper ids.'
            ),
        ],
        aspects: Annotated[
            list[str] | None,
            Field(description=f"Rows to return, among: {', '.join(ROW_NAMES)} (default: all)."),
        ] = None,
        filters: Annotated[PaperFilters | None, filters_field] = None,
    ) -> Annotated[CallToolResult, CompareOut]:
        """A side-by-side table of methods (problem addressed, approach, key claims/results,
        limitations/assumptions, year), every cell citing the abstract sentence it comes
        from; also as Markdown."""
        wanted = filters.to_filters() if filters else None

        def run(pa: "PaperAssistant") -> CompareOut:
            table = pa.compare(methods, filters=wanted)
            return compare_out(pick_rows(table, aspects))

        return result(run)

    @server.tool(title="Get a paper", annotations=read_only)
    def get_paper(
        paper_id: Annotated[str, Field(description="The paper's id, as the other tools give it.")],
    ) -> Annotated[CallToolResult, dict[str, Any]]:
        """One indexed paper's record: title, abstract, authors, year, category, identifiers
        (doi, arxiv_id, pmid), url, and the files it was read from."""
        return result(lambda pa: pa.paper(paper_id.strip()).to_dict())

    def resource(fn: Callable[["PaperAssistant"], str]) -> str:
        try:
            return library.call(fn)
        except QueryError as exc:
            raise ResourceNotFoundError(str(exc)) from None
        except Exception as exc:
            message = _user_message(exc)
            if message is None:
                raise
            raise ResourceError(message) from None

    @server.resource(
        "paper://{paper_id}",
        name="paper",
        title="Paper",
        description="One indexed paper as Markdown: title, authors, year, identifiers, link, sources, abstract.",
        mime_type="text/markdown",
    )
    def paper(paper_id: str) -> str:
        return resource(lambda pa: paper_markdown(pa.paper(paper_id)))

    def listing(page: str) -> str:
        number = int(page) if page.strip().isdigit() else 0
        if number < 1:
            raise ResourceNotFoundError(f"page must be a whole number from 1 (got {page!r})")

        def run(pa: "PaperAssistant") -> str:
            shown, total = pa.find_papers("", limit=number * INDEX_PAGE)
            pages = max(1, -(-total // INDEX_PAGE))
            if number > pages:
                raise QueryError(f"page {number} is past the last page ({pages}) of the paper index")
            return json.dumps(index_page(shown[(number - 1) * INDEX_PAGE :], total, number), ensure_ascii=False)

        return resource(run)

    index_text = (
        f"Every indexed paper (id, title, first authors, year, paper:// resource), {INDEX_PAGE} per page, "
        "newest first; `next` names the following page (papers://index?page=2 ...)."
    )

    @server.resource(
        "papers://index", name="paper-index", title="Paper index", description=index_text, mime_type="application/json"
    )
    def paper_index() -> str:
        return listing("1")

    @server.resource(
        "papers://index{?page}",
        name="paper-index-page",
        title="Paper index (a page)",
        description=index_text,
        mime_type="application/json",
    )
    def paper_index_page(page: str = "1") -> str:
        return listing(page)

    return server


# --- the command ---------------------------------------------------------------------------------

DESCRIPTION = f"""\
Serve the library to Model Context Protocol clients (Claude Desktop, IDE agents, any MCP
host) over stdio. Tools: search_papers, ask (cited answers), compare_methods (cited
tables), get_paper. Resources: paper://{{paper_id}} (one paper as Markdown) and
papers://index (every paper, {INDEX_PAGE} a page).

The client starts the command itself; give it the absolute path of `papers` (e.g.
/path/to/checkout/.venv/bin/papers) and the arguments ["mcp"], with PAPERS_INDEX_DIR
(and OPENAI_* for model-written answers) in its environment. stdout carries the protocol
only; progress and logs go to stderr. A missing index is built from the bundled corpus
on start, while the client waits for its first answer."""

EPILOG = """\
Claude Desktop (claude_desktop_config.json):
  {"mcpServers": {"papers": {"command": "/path/to/.venv/bin/papers", "args": ["mcp"],
                             "env": {"PAPERS_INDEX_DIR": "/path/to/indexes"}}}}"""


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `papers mcp` to the `papers` sub-commands (`common`: --index-dir/--index-name)."""
    parser = sub.add_parser(
        "mcp",
        parents=[common],
        help="serve search, cited answers and comparisons to MCP clients (agents) over stdio",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=cmd_mcp)


def cmd_mcp(args: argparse.Namespace) -> int:
    """Serve until the client closes stdin. A bad setting stops it before it serves."""
    from assistant import cli

    settings = cli._settings(args)  # SettingsError: `papers` prints it and exits 2
    library = Library(lambda: cli._open(args, settings=settings), lambda old: old.reopened())
    build_server(library).run("stdio")
    return 0

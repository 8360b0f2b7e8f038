"""`PaperAssistant`: the one facade the CLI, the UI and the evaluations use."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant import export
from assistant.answer.chat import condense, conversation, resolve
from assistant.answer.compare import Comparison, TableIntent, compare, methods_in_question, table_intent
from assistant.answer.engine import AnswerEngine, AnswerStream
from assistant.errors import IndexBusy
from assistant.index import Embedder, PaperIndex, UpdateStats
from assistant.index.store import IndexFolder, atomic_write_text
from assistant.ingest import IngestResult, expand_paths, ingest_paths, source_label
from assistant.ingest.merge import place_records
from assistant.llm import ChatLLM, Ledger, make_llm
from assistant.locking import HeldEvents, ReadWriteLock
from assistant.records import Answer, Paper
from assistant.retrieve import Filters, QueryError, SearchResult, search, validate_filters
from assistant.settings import Settings, load_settings

FileProgress = Callable[[Iterable[Path]], Iterable[Path]]
EmbedProgress = Callable[[int, int], None]


@dataclass
class LibraryUpdate:
    """What an ingest changed in the index."""

    added: int
    updated: int
    unchanged: int
    removed: int
    total: int
    index: UpdateStats | None = None
    # Seconds: "parse" (reading the files), "index" (`PaperIndex.update`, its stages in
    # `index.timings`), "calibrate" (the abstention thresholds, after a change).
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "index"}
        data["index"] = vars(self.index) if self.index else None
        return data


_CONTENT_FIELDS = [name for name in Paper.__dataclass_fields__ if name != "sources"]


def _content(paper: Paper) -> tuple:
    """What a paper says, without where it was read (for change detection)."""
    return tuple(getattr(paper, name) for name in _CONTENT_FIELDS)


def _changes(
    before: list[Paper], old_records: list[Paper], after: list[Paper], new_records: list[Paper]
) -> tuple[int, int, int]:
    """(added, updated, removed) papers. A paper is one indexed before when it keeps its id,
    or holds a record read before (same file, title and abstract) that was part of it: a
    paper whose id changed (a DOI became known) or that absorbed an indexed one counts as
    updated, not as one added and one removed. A record from another path counts by its
    title and abstract when they were one paper's. Records carry their paper's id."""
    old = {p.id: p for p in before}
    was_of = {(r.sources[0].file, r.title, r.abstract): r.id for r in old_records}
    # A record read from another path (a moved file) is known by its text, when that text
    # belonged to one paper only.
    texts: dict[tuple[str, str], set[str]] = {}
    for r in old_records:
        texts.setdefault((r.title, r.abstract), set()).add(r.id)
    was: dict[str, set[str]] = {}
    for r in new_records:
        prior = was_of.get((r.sources[0].file, r.title, r.abstract))
        if prior is None and len(by_text := texts.get((r.title, r.abstract), set())) == 1:
            prior = next(iter(by_text))
        if prior is not None:
            was.setdefault(r.id, set()).add(prior)
    added = updated = 0
    seen: set[str] = set()
    for paper in after:
        prior_ids = ({paper.id} & old.keys()) | was.get(paper.id, set())
        seen |= prior_ids
        if not prior_ids:
            added += 1
        elif prior_ids != {paper.id} or _content(paper) != _content(old[paper.id]):
            updated += 1
    return added, updated, len(old.keys() - seen)


def _write_files(folder: Path, files: dict[str, str]) -> list[Path]:
    """`files` ({name: text}) written atomically into `folder` (made when missing)."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a folder: name a folder to write the files into")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        atomic_write_text(folder / name, text)
        # Files to take away: readable as a file the user saved (the temp file was private).
        (folder / name).chmod(0o644)
        written.append(folder / name)
    return written


def _finish(result: Answer | AnswerStream, fn: Callable[[Answer], Any]) -> Answer | AnswerStream:
    """Apply `fn` to the answer: now, or when a stream completes."""
    if isinstance(result, Answer):
        fn(result)
    else:
        result.finishers.append(fn)
    return result


def _folded(text: str) -> str:
    """Text as the corpus list matches it: case-folded, whitespace collapsed."""
    return " ".join(text.casefold().split())


def _listed(papers: Iterable[Paper], query: str) -> list[Paper]:
    """The corpus list for `query`: the papers whose title, authors and abstract hold every
    word of it (as substrings, case aside), those whose title holds the whole query first,
    then those whose title holds every word, then the rest; newest first within each
    group (no year last), then by title. An empty query lists every paper that way."""
    needle = _folded(query)
    words = needle.split()

    def group(paper: Paper) -> int | None:
        title = _folded(paper.title)
        if needle in title:
            return 0
        text = " ".join([title, _folded(" ".join(paper.authors)), _folded(paper.abstract)])
        if not all(w in text for w in words):
            return None
        return 1 if all(w in title for w in words) else 2

    grouped = [(g, p) for p in papers if (g := group(p)) is not None]
    grouped.sort(key=lambda gp: (gp[0], -(gp[1].year or 0), gp[1].title.casefold()))
    return [p for _, p in grouped]


def _relay(stream: AnswerStream):
    """The stream's text, then its answer as the generator's return value (what AnswerStream wraps)."""
    yield from stream
    return stream.answer


class PaperAssistant:
    def __init__(
        self,
        settings: Settings | None = None,
        index: PaperIndex | None = None,
        llm: ChatLLM | None | bool = True,
        embedder: Embedder | None = None,
    ):
        """`llm`: True (default) builds the LLM from the settings when one is
        configured; None/False forces the extractive backend; or pass a ChatLLM.
        `embedder`: the embedding model to use instead of the one the settings name
        (tests and benchmarks pass one; it must match the index's `embed_model`).
        The settings are immutable and this assistant is their one owner: its index and
        answer engine are given the same object."""
        self.settings = settings or load_settings()  # a bad PAPERS_* value: SettingsError naming it
        self.index = index or PaperIndex(self.settings, embedder=embedder)
        self.llm = make_llm(self.settings) if llm is True else (llm or None)
        self.engine = AnswerEngine(self.index, self.settings, self.llm)
        # Questions read the index, ingests change it: the read methods below take the read side
        # (an answer stream holds it until it ends), `ingest`/`add_files` the write side. Two
        # assistants given the same PaperIndex do not share it: share one assistant instead.
        self.lock = ReadWriteLock()

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        build: bool = True,
        progress: FileProgress | None = None,
        embed_progress: EmbedProgress | None = None,
        llm: ChatLLM | None | bool = True,
        calibrate_progress: EmbedProgress | None = None,
        embedder: Embedder | None = None,
    ) -> PaperAssistant:
        """Open the configured index; build it from the bundled corpus if it is missing.
        `llm` and `embedder` as in the constructor (llm=False: extractive answers even with a key set)."""
        assistant = cls(settings, llm=llm, embedder=embedder)
        if build and not assistant.index.exists:
            assistant.ingest(
                [assistant.settings.corpus_dir],
                progress=progress,
                embed_progress=embed_progress,
                calibrate_progress=calibrate_progress,
            )
        return assistant

    @property
    def papers(self) -> list[Paper]:
        with self.lock.reading():
            return self.index.papers

    @property
    def generation(self) -> int:
        """The index's generation: 0 before anything is indexed, one more with every
        committed ingest or update (one that changes nothing keeps it), so a page can tell
        whether what it shows is stale. Read without the lock: a commit replaces the
        manifest whole."""
        return int((self.index.manifest or {}).get("generation", 0))

    @property
    def version(self) -> str:
        """What a page compares to know whether the library changed: the `generation` and
        the time its manifest was committed ("<generation>@<built_at>"). A rebuild starts
        again at generation 1, so the time tells it apart. No lock, no disk read."""
        return f"{self.generation}@{(self.index.manifest or {}).get('built_at', '')}"

    def paper(self, paper_id: str) -> Paper:
        """The indexed paper with this id; QueryError naming the id when there is none."""
        with self.lock.reading():
            found = self.index.paper_by_id.get(paper_id)
        if found is None:
            raise QueryError(f"no indexed paper has the id {paper_id!r}")
        return found

    def find_papers(self, query: str, limit: int = 200) -> tuple[list[Paper], int]:
        """The corpus list: papers whose title, authors and abstract hold every word of
        `query` (case and spacing aside), title matches first, newest first within them
        (`_listed`); an empty query lists them all, newest first. Returns (the first
        `limit`, how many matched)."""
        if not isinstance(query, str):
            raise QueryError(f"the paper list's search must be text, not {query!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise QueryError(f"limit must be a whole number, 0 or more (got {limit!r})")
        with self.lock.reading():
            matched = _listed(self.index.papers, query)
        return matched[:limit], len(matched)

    def count_matching(self, filters: Filters | dict[str, Any] | None) -> dict[str, Any]:
        """How many papers `filters` keeps: {"matching": n, "total": N, "excluded": {field:
        count}}, `excluded` being the papers left out only for lacking a filtered field
        (`Filters.excluded_for_lack`; empty with `include_unknown`). Bad filters raise the
        QueryError a search with them would."""
        with self.lock.reading():
            wanted = Filters.coerce(filters)
            validate_filters(self.index, wanted)
            papers = self.index.papers
            return {
                "matching": sum(1 for p in papers if wanted.allows(p)),
                "total": len(papers),
                "excluded": wanted.excluded_for_lack(papers),
            }

    def parse(
        self, paths: Iterable[str | Path], layout: str | None = None, progress: FileProgress | None = None
    ) -> IngestResult:
        """Parse files into papers without touching the index (a dry run)."""
        return ingest_paths(paths, layout=layout, progress=progress)

    def ingest(
        self,
        paths: Iterable[str | Path],
        layout: str | None = None,
        prune: bool = False,
        progress: FileProgress | None = None,
        embed_progress: EmbedProgress | None = None,
        calibrate_progress: EmbedProgress | None = None,
        wait: float | None = None,
    ) -> tuple[IngestResult, LibraryUpdate]:
        """Parse files and index their papers. A file read again replaces what
        was stored for it; other files are kept unless `prune` is set, which
        drops every source not named in this call. The index is updated only
        when something usable was found, and atomically. After a change, the
        library's abstention thresholds are recalibrated if it changed enough
        (`calibrate_progress(done, total)` reports the pseudo-questions).
        Holds the write side of `lock`: waits for running questions to finish, then
        questions wait for it; `wait`: give up after that many seconds with IndexBusy
        (None: wait as long as it takes)."""
        with self._writing(wait):
            return self._ingest(paths, layout, prune, progress, embed_progress, calibrate_progress)

    def add_files(
        self,
        paths: Iterable[str | Path],
        layout: str | None = None,
        progress: FileProgress | None = None,
        embed_progress: EmbedProgress | None = None,
        calibrate_progress: EmbedProgress | None = None,
        wait: float | None = None,
    ) -> tuple[IngestResult, LibraryUpdate]:
        """Index files that may not last (uploads, temporary files) from copies kept in
        `uploads_dir`, one folder per content hash: the index's sources outlive the
        originals, and the same file added twice changes nothing. Only copies the index
        uses are kept: a file that yields no paper (empty, binary, an unknown layout, no
        usable entry) is reported in the IngestResult as by `ingest`, and its copy removed;
        a path that is missing is reported in its `errors`. A folder adds the supported
        files in it. Holds the write side of `lock` from the first copy on; `wait` as in
        `ingest`."""
        with self._writing(wait):
            files, errors = expand_paths(paths)
            created: list[Path] = []
            try:
                kept = [self._keep_copy(path, created) for path in files]
                result, update = self._ingest(kept, layout, False, progress, embed_progress, calibrate_progress)
                result.errors[:0] = errors
                return result, update
            finally:  # also after a failure: whatever the index does not name goes
                used = {s.file for p in self.index.records for s in p.sources}
                for copy in created:
                    if source_label(copy) not in used:
                        copy.unlink(missing_ok=True)
                        with suppress(OSError):
                            copy.parent.rmdir()

    @property
    def uploads_dir(self) -> Path:
        """Where `add_files` keeps the files it indexed (beside the index)."""
        return self.settings.index_dir / "uploads" / self.settings.index_name

    def _keep_copy(self, path: Path, created: list[Path]) -> Path:
        """The copy of `path` in `uploads_dir` (made now, and added to `created`, if missing)."""
        digest = hashlib.sha1(path.read_bytes()).hexdigest()[:12]
        target = self.uploads_dir / digest / path.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            shutil.copyfile(path, partial)
            os.replace(partial, target)  # never a half-written file under the real name
            created.append(target)
        return target

    def _ingest(
        self,
        paths: Iterable[str | Path],
        layout: str | None,
        prune: bool,
        progress: FileProgress | None,
        embed_progress: EmbedProgress | None,
        calibrate_progress: EmbedProgress | None,
    ) -> tuple[IngestResult, LibraryUpdate]:
        """`ingest` itself; the caller holds the write side of the lock."""
        t = time.perf_counter()
        result = self.parse(paths, layout=layout, progress=progress)
        return self._index_parsed(result, prune, embed_progress, calibrate_progress, time.perf_counter() - t)

    def _index_parsed(
        self,
        result: IngestResult,
        prune: bool,
        embed_progress: EmbedProgress | None,
        calibrate_progress: EmbedProgress | None,
        parse_seconds: float,
    ) -> tuple[IngestResult, LibraryUpdate]:
        """Index the papers of a parsed `result`; the caller holds the write side of the lock."""
        timings = {"parse": parse_seconds}
        before, old_records = list(self.papers), list(self.index.records)
        stats = None
        if result.papers:
            fresh = {r.file: r.papers for r in result.files if r.papers}
            records = place_records(self.index.records, fresh, prune)
            t = time.perf_counter()
            stats = self.index.update(records, progress=embed_progress)
            timings["index"] = time.perf_counter() - t
            if stats.committed:
                # What merged, as the index merged it: also records of this batch that joined
                # papers already indexed (and old records that joined this batch's papers).
                result.set_merges(self.index.last_merges)
        if stats is not None and stats.committed and self.settings.abstain_threshold is None:
            t = time.perf_counter()
            self.engine.calibration(progress=calibrate_progress)  # recalibrated when the library changed enough
            timings["calibrate"] = time.perf_counter() - t
        added, updated, removed = _changes(before, old_records, self.papers, self.index.records)
        return result, LibraryUpdate(
            added, updated, len(self.papers) - added - updated, removed, len(self.papers), stats, timings
        )

    @classmethod
    def rebuild(
        cls,
        paths: Iterable[str | Path],
        settings: Settings | None = None,
        layout: str | None = None,
        progress: FileProgress | None = None,
        embed_progress: EmbedProgress | None = None,
        embedder: Embedder | None = None,
    ) -> tuple[PaperAssistant | None, IngestResult, LibraryUpdate | None]:
        """Build the index again from `paths` alone (e.g. after changing the
        embedding model), without opening the old one. The new index is built
        beside the old and swapped in at the end, so an interrupted rebuild
        leaves the old index in place. Returns (assistant, result, update);
        the assistant is None when the input held no usable paper."""
        settings = settings or load_settings()
        t = time.perf_counter()
        result = ingest_paths(paths, layout=layout, progress=progress)  # parsed once, indexed below
        parse_seconds = time.perf_counter() - t
        if not result.papers:
            return None, result, None
        staging = settings.model_copy(update={"index_name": f"{settings.index_name}.rebuild"})
        IndexFolder(staging.index_path).remove()
        built = cls(staging, embedder=embedder)
        with built._writing(None):
            result, update = built._index_parsed(result, False, embed_progress, None, parse_seconds)
        old = IndexFolder(settings.index_path)
        old_collection = (old.read_manifest_quietly() or {}).get("collection")
        IndexFolder(staging.index_path).swap_into(settings.index_path)
        if old_collection and settings.chroma_url and old_collection != (built.index.manifest or {}).get("collection"):
            built.index.vectors.drop_collection(old_collection)
        return cls(settings, embedder=embedder), result, update

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: Filters | dict[str, Any] | None = None,
        mmr: bool | None = None,
        settings: Settings | None = None,
    ) -> SearchResult:
        """Hybrid search; returns ranked paper hits with their matched chunks. `settings`: a
        variant of this assistant's settings for this one search (tuning and experiments pass
        `assistant.settings.model_copy(update=...)`; only fields read at search time matter)."""
        with self.lock.reading():
            return search(self.index, query, k=k, filters=filters, mmr=mmr, settings=settings)

    # --- answers ----------------------------------------------------------------
    def ask(
        self, question: str, filters: Filters | dict[str, Any] | None = None, stream: bool = False
    ) -> Answer | AnswerStream:
        """Answer a question from the indexed abstracts, with citations [n].
        A question that asks to compare methods ("compare A and B", "A vs B")
        gets the comparison table as its answer when each method clearly has a
        paper of its own (`compare.table_intent`); otherwise it is answered as
        any question, from the paper whose title covers them all when one does.
        `stream=True` returns an AnswerStream: iterate it for text as it comes,
        then read `.answer`.
        The index stays as it is (ingests wait) until the answer, or the stream, is done."""
        return self._read(self._ask, question, filters, stream)

    def _ask(self, question: str, filters: Filters | dict[str, Any] | None, stream: bool) -> Answer | AnswerStream:
        methods = methods_in_question(question) if isinstance(question, str) else None
        if methods:
            try:
                intent = table_intent(self.index, question, methods, filters)
            except QueryError:
                intent = TableIntent(None, [], [])  # e.g. bad filters: the engine says why
            table, restrict = intent.table, intent.papers
            if restrict:  # answered from the paper(s) whose title names every method: the title says so
                titles = "; ".join(f'"{self.index.paper_by_id[pid].title}"' for pid in restrict)
                standalone = f"{question} (about {titles})"
                result = self.engine.ask(standalone, filters=filters, stream=stream, restrict=restrict)
                return _finish(result, lambda answer: setattr(answer, "standalone_question", standalone))
            try:
                answer = self._comparison_answer(question, self._compare(table, filters=filters)) if table else None
            except QueryError:
                answer = None  # e.g. no paper names these: answer it as an ordinary question
            if answer is not None:
                return self._maybe_stream(answer, stream)
            if intent.unresolved:
                result = self.engine.ask(question, filters=filters, stream=stream)
                why = (
                    f"Not a comparison table: no indexed paper is clearly about "
                    f"{', '.join(repr(n) for n in intent.unresolved)}, so the question is answered as asked."
                )
                return _finish(result, lambda answer: answer.notices.insert(0, why))
        return self.engine.ask(question, filters=filters, stream=stream)

    def compare(
        self,
        methods: list[str],
        filters: Filters | dict[str, Any] | None = None,
        chosen: dict[str, list[str]] | None = None,
    ) -> Comparison:
        """A side-by-side table of 2 to `compare.MAX_METHODS` methods (names, or paper ids),
        every cell cited. `chosen`: {method: [paper id, ...]} to use those papers for that
        method's column instead of the ones found for its name (its label stays the name);
        `Comparison.candidates` lists the other papers naming each method."""
        return self._read(self._compare, methods, filters, chosen)

    def _compare(
        self,
        methods: list[str],
        filters: Filters | dict[str, Any] | None = None,
        chosen: dict[str, list[str]] | None = None,
    ) -> Comparison:
        return compare(self.index, self.engine.vectors, list(methods), llm=self.llm, filters=filters, chosen=chosen)

    def chat(
        self,
        message: str,
        history: Iterable[Any] | None = None,
        filters: Filters | dict[str, Any] | None = None,
        stream: bool = False,
    ) -> Answer | AnswerStream:
        """A conversational turn. `history`: earlier Answers, or chat messages
        ({"role", "content"} dicts or (user, assistant) pairs). Follow-ups are
        condensed into a standalone question by the LLM, or resolved against
        the papers of the conversation's answers without one (`answer.chat`).
        Takes the read side of the lock as `ask` does."""
        return self._read(self._chat, message, history, filters, stream)

    def _chat(
        self, message: str, history: Iterable[Any] | None, filters: Filters | dict[str, Any] | None, stream: bool
    ) -> Answer | AnswerStream:
        history = list(history or [])
        notices: list[str] = []
        question, restrict, asked = message, None, message
        ledger = Ledger(self.settings, self.llm.model if self.llm is not None else "")
        if history and isinstance(message, str) and message.strip():
            standalone = None
            resolved = resolve(message, conversation(history, self.index))
            # A comparison of papers the conversation named ("how does it compare to the first one?")
            # is a table with or without a model: the built-in resolver knows which papers they are.
            if self.llm is not None and not resolved.compare:
                standalone = condense(self.llm, self.settings, history, message, ledger, notices)
            if standalone:
                question = standalone
            else:
                if resolved.compare:
                    comparison = self._compare([p.id for p in resolved.papers], filters=filters)
                    answer = self._comparison_answer(message, comparison)
                    answer.standalone_question = resolved.question
                    answer.notices = notices + answer.notices
                    return self._maybe_stream(answer, stream)
                if resolved.papers:
                    question, restrict = resolved.question, [p.id for p in resolved.papers]
                    asked = resolved.asked  # scored on what is asked, not on "the second one"
        if restrict is None:
            result = self._ask(question, filters, stream)
        else:
            result = self.engine.ask(question, filters=filters, stream=stream, restrict=restrict, asked=asked)

        def finish(answer: Answer) -> None:
            answer.standalone_question = question if question != message else None
            answer.notices = notices + answer.notices
            if ledger.calls:  # the condense call is part of this answer's cost
                ledger.absorb(answer.usage)
                answer.usage = ledger.to_dict()

        return _finish(result, finish)

    def _read(self, call: Callable[..., Any], *args: Any) -> Any:
        """`call(*args)` under the read side of the lock. A returned AnswerStream keeps it
        until the stream is exhausted, closed or dropped: its text is computed as it is read."""
        hold = self.lock.acquire_read()
        assert hold is not None  # no timeout: it waited until the lock was free
        try:
            result = call(*args)
        except BaseException:
            hold.release()
            raise
        if isinstance(result, AnswerStream):
            return AnswerStream(HeldEvents(_relay(result), hold))
        hold.release()
        return result

    @contextmanager
    def _writing(self, wait: float | None):
        with self.lock.writing(timeout=wait) as got:
            if not got:
                raise IndexBusy(
                    f"the library is busy answering questions (waited {wait:g} s for them to "
                    f"finish); try again in a minute"
                )
            yield

    @staticmethod
    def _maybe_stream(answer: Answer, stream: bool) -> Answer | AnswerStream:
        if not stream:
            return answer

        def replay():
            yield answer.text
            return answer

        return AnswerStream(replay())

    def _comparison_answer(self, question: str, comparison: Comparison) -> Answer:
        return Answer(
            question,
            comparison.markdown(),
            comparison.citations,
            comparison.sources,
            backend=comparison.backend,
            confidence=1.0,
            notices=list(comparison.notices),
            timings=dict(comparison.timings),
            usage=dict(comparison.usage),
            table=comparison,
            fallback=comparison.fallback,
        )

    def reopened(self) -> PaperAssistant:
        """This library opened again from disk, with the same settings, embedding model and
        LLM (not loaded again): for a long-running process after another process changed the
        index (`self.index.changed_on_disk()`). This one's Chroma client is closed: embedded
        Chroma shares one store per folder in a process, and a store kept open does not see
        the vectors another process added."""
        fresh = PaperAssistant(self.settings, llm=self.llm, embedder=self.index.embedder)
        self.index.close()
        return fresh

    def save_answer(self, answer: Answer, folder: str | Path) -> list[Path]:
        """Write an answer's files into `folder` (made when missing; files of the same name
        replaced): answer.md, answer.json (with the settings, secrets left out, and this
        index's name, generation and version), references.bib, .ris and .json (CSL-JSON)
        of the papers it cites (`export.answer_bundle`). Each file is written atomically.
        Returns the paths written; a `folder` that is a file raises NotADirectoryError."""
        index = {"name": self.settings.index_name, "generation": self.generation, "version": self.version}
        bundle = export.answer_bundle(answer, self.settings, index, datetime.now().astimezone())
        return _write_files(Path(folder), bundle)

    def save_comparison(self, comparison: Comparison, folder: str | Path) -> list[Path]:
        """Write a comparison's files into `folder` as `save_answer` does: comparison.md,
        comparison.csv and the references of the papers in the table (`export.comparison_bundle`)."""
        return _write_files(Path(folder), export.comparison_bundle(comparison))

    def backend_info(self) -> dict[str, Any]:
        """Which answer backend is active (never shows a secret)."""
        if self.llm is None:
            return {"backend": "extractive", "detail": "grounded extractive answers (no LLM configured)"}
        return self.llm.describe()

    def health(self) -> dict[str, Any]:
        """Backend check for the UI: the LLM endpoint answers, or extractive mode."""
        if self.llm is None:
            return {"ok": True, **self.backend_info()}
        return {**self.llm.describe(), **self.llm.health()}

    def stats(self) -> dict:
        """Counts a researcher wants at a glance: papers per source file, year, category."""
        with self.lock.reading():
            return self._stats()

    def _stats(self) -> dict:
        per_source: Counter[str] = Counter()
        formats: dict[str, set[str]] = {}
        for p in self.papers:
            for name in {Path(s.file).name for s in p.sources}:
                per_source[name] += 1
            for s in p.sources:
                formats.setdefault(Path(s.file).name, set()).add(s.format)
        manifest = self.index.manifest or {}
        return {
            "index": str(self.settings.index_path),
            "papers": len(self.papers),
            "chunks": len(self.index.chunks),
            "embedding": manifest.get("embedding"),
            "vector_store": manifest.get("chroma"),
            "sources": dict(sorted(per_source.items())),
            "source_formats": {name: ", ".join(sorted(formats[name])) for name in sorted(per_source)},
            "years": dict(sorted(Counter(p.year for p in self.papers if p.year).items())),
            "no_year": sum(1 for p in self.papers if not p.year),
            "categories": dict(Counter(p.category for p in self.papers if p.category).most_common()),
            "with_code": sum(1 for p in self.papers if p.has_code),
            "abstention": self.abstention_info(),
        }

    def abstention_info(self) -> dict[str, Any]:
        """The abstention threshold in use and where it comes from (the setting, or the
        library's calibration with its figures)."""
        if self.settings.abstain_threshold is not None:
            t = self.settings.abstain_threshold
            return {"thresholds": {"lookup": t, "other": t}, "source": "setting PAPERS_ABSTAIN_THRESHOLD"}
        if not self.index.exists:
            return {"thresholds": None, "source": "no index yet"}
        cal = self.engine.calibration()
        return {
            **cal.to_dict(),
            "source": "calibrated on this library" if any(cal.calibrated.values()) else "default",
            "description": cal.describe(),
        }

"""Merge records that are the same paper (`assistant.identity` says which: same DOI,
arXiv or PubMed id, same id within a file, or same non-generic title without a
conflicting id), keeping the richest metadata and every source."""

from __future__ import annotations

import copy
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field

from assistant.identity import BY, GLOBAL, id_key, id_of, is_generic_title, merge_keys, normalize_title
from assistant.records import Paper


def _richer_authors(a: Paper, b: Paper) -> Paper:
    # A complete list beats a truncated one of the same length; more names beat fewer.
    return max((a, b), key=lambda p: (len(p.authors), not p.authors_et_al))


_MARKUP = re.compile(r"\\[a-zA-Z]+\s*\{")


def _better_abstract(current: str, other: str) -> bool:
    """Does `other` read better? The longer copy wins, except that a copy free
    of LaTeX markup (\\textit{...}) beats a marked-up one nearly as long."""
    in_other, in_current = len(_MARKUP.findall(other)), len(_MARKUP.findall(current))
    if in_other != in_current:
        fewer, more = (other, current) if in_other < in_current else (current, other)
        if len(fewer) >= 0.8 * len(more):
            return fewer is other
    return len(other) > len(current)


def merge_into(base: Paper, other: Paper) -> None:
    if _better_abstract(base.abstract, other.abstract):
        base.abstract = other.abstract
    richer = _richer_authors(base, other)
    base.authors, base.authors_et_al = list(richer.authors), richer.authors_et_al
    base.author_count = base.author_count or other.author_count
    if base.year is None:
        base.year = other.year
    # A full ISO date beats a year-less "--MM-DD".
    if other.date and (base.date is None or (base.date.startswith("--") and not other.date.startswith("--"))):
        base.date = other.date
    for name in ("category", "url", "venue", "external_id", "doi", "arxiv_id", "pmid"):
        if getattr(base, name) is None:
            setattr(base, name, getattr(other, name))
    base.affiliations += [a for a in other.affiliations if a not in base.affiliations]
    base.has_code = base.has_code or other.has_code
    base.sources += other.sources


@dataclass
class Merge:
    """A record that joined a paper read before it, and the key they share."""

    record: Paper
    into: Paper  # the merged paper
    by: str  # the kind of key: "doi", "arxiv", "pmid", "file", "title", "text" (identity.BY names them)


@dataclass
class Merged:
    """Merging a list of records: the papers, which paper each record became, what merged."""

    papers: list[Paper]
    ids: list[str]  # per record (in input order), the id of the paper it is part of
    merges: list[Merge] = field(default_factory=list)


class _Group:
    """Records merged so far into one paper; `parent` is set when another group absorbed it."""

    __slots__ = ("paper", "first", "files", "titles", "abstracts", "parent", "lists")

    def __init__(self, first: Paper, title: str) -> None:
        self.first = first  # the record that began it
        self.paper = _own_copy(first)
        self.files: dict[str, str] = {}  # file -> the id that file gives this paper
        self.titles: set[str] = {title}  # normalised
        self.abstracts: list[str] = [first.abstract]
        self.parent: _Group | None = None
        self.lists: list[_TitleList] = []  # the title lists it is in

    def kinds(self) -> set[str]:
        """The kinds of id it has: "doi", "arxiv", "pmid", and "file\x00<file>" per file."""
        paper, have = self.paper, {"file\x00" + file for file in self.files}
        if paper.doi:
            have.add("doi")
        if paper.arxiv_id:
            have.add("arxiv")
        if paper.pmid:
            have.add("pmid")
        return have

    def root(self) -> _Group:
        group = self
        while group.parent is not None:
            group = group.parent
        return group

    def conflicts(self, record: Paper, keys: list[tuple[str, str]]) -> bool:
        """Do this group and `record` carry different ids of one kind (so are two papers)?"""
        for kind, value in keys:
            if kind in GLOBAL:
                mine = getattr(self.paper, _FIELD[kind])
                if mine and mine != value:
                    return True
            elif kind == "file":
                file, own = value.split("\x00", 1)
                if self.files.get(file, own) != own:
                    return True
        return False

    def clashes(self, other: _Group) -> bool:
        """Do two groups carry different ids of one kind?"""
        for kind in GLOBAL:
            a, b = getattr(self.paper, _FIELD[kind]), getattr(other.paper, _FIELD[kind])
            if a and b and a != b:
                return True
        return any(self.files.get(file, own) != own for file, own in other.files.items())

    def same_text(self, record: Paper) -> bool:
        """Does `record` carry the title or the abstract of a record of this group?"""
        if not is_generic_title(record.title) and normalize_title(record.title) in self.titles:
            return True
        text = " ".join(record.abstract.split())
        return any(" ".join(a.split()) == text for a in self.abstracts)

    def add(self, record: Paper, keys: list[tuple[str, str]], title: str) -> None:
        for kind, value in keys:
            if kind == "file":
                file, own = value.split("\x00", 1)
                self.files.setdefault(file, own)
        self.titles.add(title)
        self.abstracts.append(record.abstract)

    def absorb(self, other: _Group) -> None:
        merge_into(self.paper, other.paper)
        for file, own in other.files.items():
            self.files.setdefault(file, own)
        self.titles |= other.titles
        self.abstracts += other.abstracts
        other.parent = self


class _TitleList:
    """The groups that share a title key, and how many of them have each kind of id: when
    all of them have a kind the record has too, none can take it (the record's id of that
    kind matched none of theirs), and the scan is skipped. (Thousands of records that share
    a title, each with its own DOI, cost one check each instead of a scan each.)"""

    __slots__ = ("groups", "having")

    def __init__(self) -> None:
        self.groups: dict[_Group, None] = {}
        self.having: Counter[str] = Counter()

    def add(self, group: _Group) -> None:
        if group not in self.groups:
            self.groups[group] = None
            self.having.update(group.kinds())
            group.lists.append(self)

    def closed_to(self, kinds: set[str]) -> bool:
        return any(self.having[kind] == len(self.groups) for kind in kinds)


_FIELD = {"doi": "doi", "arxiv": "arxiv_id", "pmid": "pmid"}
# The version of the merge rules; an index records the one it was built under, and an
# ingest under other rules merges its records again (assistant/index update). Title-only
# merging (before identity keys) had none.
IDENTITY_RULES = 3  # 3: file ids need a shared title or abstract; joins; DataCite DOIs


def merge_records(records: list[Paper]) -> Merged:
    """Group `records` into papers (first-seen order; each paper a copy, the records are
    left untouched) and give each paper its id: the hash of its best key, made unique.

    A record joins the paper of its strongest key already seen (DOI, arXiv id, PubMed id,
    its file's id, title) unless their ids conflict; an id the file gives joins only a
    paper with the record's title or abstract (a file that reuses a key for another paper
    keeps both). A record whose ids name two papers read before (a DOI one, an arXiv id the
    other) joins them into one, unless those conflict."""
    groups: list[_Group] = []
    by_id: dict[tuple[str, str], _Group] = {}  # global and file ids: one group each (follow `root`)
    by_title: dict[tuple[str, str], _TitleList] = {}  # titles (and generic title + abstract)
    member: list[_Group] = []
    joins: list[tuple[Paper, _Group, str]] = []  # (record, the group it joined, by which key)
    for record in records:
        keys = merge_keys(record)
        kind, value = keys[-1]  # the title key: ("title", normalised) or ("text", normalised + hash)
        title = value.split("\x00", 1)[0] if kind == "text" else value
        found: _Group | None = None
        by = ""
        for kind, value in keys:
            if kind in ("title", "text"):
                listed = by_title.get((kind, value))
                if listed is not None and not listed.closed_to(_kinds(keys)):
                    roots = dict.fromkeys(g.root() for g in listed.groups)
                    found = next((g for g in roots if not g.conflicts(record, keys)), None)
            elif (hit := by_id.get((kind, value))) is not None:
                hit = hit.root()
                usable = not hit.conflicts(record, keys) and (kind != "file" or hit.same_text(record))
                found = hit if usable else None
            if found is not None:
                by = kind
                break
        had: set[str] | None = None  # the kinds of id of a paper this record joins
        if found is None:
            found = _Group(record, title)
            groups.append(found)
        else:
            had = found.kinds()
            merge_into(found.paper, record)
            joins.append((record, found, by))
        found.add(record, keys, title)
        for kind, value in keys:
            if kind in ("title", "text"):
                continue
            other = by_id.setdefault((kind, value), found).root()
            if other is not found and kind in GLOBAL and not found.clashes(other):
                # This record's ids name two papers read before: they are one.
                found.absorb(other)
                joins.append((other.first, found, kind))  # (its other records joined it before: listed)
        if had is not None and (gained := found.kinds() - had):
            for listed in found.lists:
                listed.having.update(gained)
        for kind, value in keys:
            if kind in ("title", "text"):
                by_title.setdefault((kind, value), _TitleList()).add(found)
        member.append(found)
    taken: set[str] = set()
    for group in groups:
        if group.parent is None:
            group.paper.id = _unique_id(group.paper, taken)
    ids = [g.root().paper.id for g in member]
    # Each paper merged again from its records in input order: what `group_records` gives when
    # the index is opened, so the papers in memory and on disk are the same (a join merged
    # them in another order).
    papers = group_records([with_id(r, pid) for r, pid in zip(records, ids)])
    paper_of = {p.id: p for p in papers}
    merges = [Merge(record, paper_of[group.root().paper.id], by) for record, group, by in joins]
    return Merged(papers, ids, merges)


def _kinds(keys: list[tuple[str, str]]) -> set[str]:
    """The kinds of id among a record's keys, named as `_Group.kinds` names them."""
    return {
        kind if kind in GLOBAL else "file\x00" + value.split("\x00", 1)[0]
        for kind, value in keys
        if kind in GLOBAL or kind == "file"
    }


def _unique_id(paper: Paper, taken: set[str]) -> str:
    """The id of the paper's best key; when another paper has it (two papers of one
    title kept apart by their ids), the id of its next key."""
    kind, value = id_key(paper)
    title = value if kind == "title" else normalize_title(paper.title)
    choices = itertools.chain(
        [id_of(kind, value)],
        [id_of("file", title + "\x00" + paper.external_id.strip())] if paper.external_id else [],
        (id_of("text", f"{title}\x00{paper.abstract}\x00{n}") for n in itertools.count(1)),
    )
    chosen = next(c for c in choices if c not in taken)
    taken.add(chosen)
    return chosen


def by_key(merges: list[Merge]) -> str:
    """'2 by DOI, 1 by title': how many records each kind of key merged ('' for none)."""
    counts = Counter(m.by for m in merges).most_common()
    return ", ".join(f"{n} by {BY[kind]}" for kind, n in counts)


def merge_papers(papers: list[Paper]) -> tuple[list[Paper], int]:
    """Return (unique papers in first-seen order, number of records merged away)."""
    merged = merge_records(papers)
    return merged.papers, len(merged.merges)


def with_id(record: Paper, paper_id: str) -> Paper:
    """`record` carrying its paper's id (a copy when the id changes: records are shared)."""
    if record.id == paper_id:
        return record
    own = copy.copy(record)
    own.id = paper_id
    return own


def group_records(records: list[Paper]) -> list[Paper]:
    """The papers an index was built as: records that carry one id (as `merge_records`
    gave it when the index was built) are one paper. Loading an index this way shows it
    as it was built, whatever the identity rules of this version say."""
    by_id: dict[str, Paper] = {}
    for record in records:
        if record.id in by_id:
            merge_into(by_id[record.id], record)
        else:
            by_id[record.id] = _own_copy(record)
    return list(by_id.values())


def _own_copy(paper: Paper) -> Paper:
    """A copy whose lists are its own: merging must leave the inputs untouched.
    (`copy.copy`, not `dataclasses.replace`: no __init__ run for each of 40k papers.)"""
    own = copy.copy(paper)
    own.authors, own.affiliations, own.sources = list(paper.authors), list(paper.affiliations), list(paper.sources)
    return own


def place_records(current: list[Paper], fresh: dict[str, list[Paper]], prune: bool = False) -> list[Paper]:
    """The index's record list after reading the files of `fresh` ({source file: its records}):
    a file read again takes the place its records had (so re-reading an unchanged file leaves
    the list, and the index, exactly as it was), new files come last, and the records of
    files not read now are kept unless `prune`."""
    records: list[Paper] = []
    placed: set[str] = set()
    for paper in current:
        file = paper.sources[0].file
        if file in fresh:
            if file not in placed:
                records += fresh[file]
                placed.add(file)
        elif not prune:
            records.append(paper)
    return records + [p for file, papers in fresh.items() if file not in placed for p in papers]

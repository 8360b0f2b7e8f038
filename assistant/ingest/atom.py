"""arXiv API responses: the Atom feed that `export.arxiv.org/api/query` returns, saved
as .xml or .atom (other Atom feeds are read the same way, without the arXiv fields):

    <feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom" ...>
      <opensearch:totalResults>...</opensearch:totalResults>
      <entry>
        <id>http://arxiv.org/abs/2301.00001v2</id> <published>2023-01-02T18:00:00Z</published>
        <title>...</title> <summary>...</summary> <author><name>...</name></author>
        <arxiv:doi>...</arxiv:doi> <arxiv:journal_ref>...</arxiv:journal_ref>
        <arxiv:primary_category term="cs.LG"/> <link rel="alternate" href="..."/>
      </entry>
    </feed>

Read with the standard library's expat parser into xml.etree elements, recording the line
each entry starts on. Nothing is fetched: expat does not load external entities, and a
document that declares entities (<!ENTITY>, the way to blow up a parser's memory) is refused.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from xml.parsers import expat

from assistant.identity import normalize_arxiv
from assistant.ingest.base import Collector, preview, squash
from assistant.ingest.structured import date_from_text, identifiers

NAME = "arxiv-atom"

ATOM = "http://www.w3.org/2005/Atom"
ARXIV = "http://arxiv.org/schemas/atom"
A = "{" + ATOM + "}"
X = "{" + ARXIV + "}"


def detect(lines: list[str], suffix: str) -> float:
    head = "\n".join(lines[:40])[:8000]
    if "<feed" not in head or ATOM not in head:
        return 0.0
    return 1.2 if "arxiv" in head.lower() else 0.9


class _Refused(Exception):
    """The document declares entities: not read."""


def parse(lines: list[str], col: Collector) -> None:
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    builder = ET.TreeBuilder()
    opened: list[int] = []  # line of each open <entry>
    root: list[str] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        name = _qname(tag)
        if not root:
            root.append(name)
        builder.start(name, {_qname(k): v for k, v in attrs.items()})
        if name == A + "entry":
            opened.append(parser.CurrentLineNumber)

    def end(tag: str) -> None:
        element = builder.end(_qname(tag))
        if element.tag == A + "entry" and opened:
            _entry(col, opened.pop(), element)
            element.clear()  # read: free it

    def refuse(*_: Any) -> None:
        raise _Refused

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse("\n".join(lines), True)
    except expat.ExpatError as exc:
        read = " (the entries before it were read)" if col.report.papers or col.report.skipped else ""
        where = f"line {exc.lineno}, column {exc.offset + 1}"
        ended = exc.lineno >= len(lines) and exc.offset >= len(lines[-1].rstrip()) if lines else True
        what = "malformed XML, the file is cut short" if ended else "malformed XML"
        col.skip(exc.lineno, f"{what}: {expat.ErrorString(exc.code)} ({where}){read}")
        return
    except _Refused:
        col.skip(parser.CurrentLineNumber, "XML that declares entities (<!ENTITY ...>) is not read")
        return
    if root and root[0] != A + "feed":
        col.skip(1, f"not an Atom feed: the document is a <{_local(root[0])}> element, expected <feed>")


def _qname(tag: str) -> str:
    """expat's 'namespace}local' as ElementTree's '{namespace}local'."""
    return "{" + tag if "}" in tag else tag


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# XHTML elements that end a word where they start or stop: "<p>One.</p><p>Two.</p>" reads
# "One. Two.", not "One.Two."; inline ones (<b>, <i>, MathML) add nothing: "U<b>bold</b>" is "Ubold".
_BLOCKS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 header hr "
    "li main nav ol p pre section table tbody td tfoot th thead tr ul".split()
)


def _text(element: ET.Element | None) -> str:
    """All the text in `element` and its children, in order, whitespace squashed; a space
    where a block element (`_BLOCKS`) starts or ends."""
    if element is None:
        return ""
    out: list[str] = []
    todo: list[ET.Element | str] = [element]
    while todo:  # (a loop, not recursion: elements may be nested thousands deep)
        item = todo.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        gap = " " if item is not element and _local(item.tag) in _BLOCKS else ""
        out += [gap, item.text or ""]
        todo.append(gap)
        for child in reversed(item):
            todo += [child.tail or "", child]
    return squash("".join(out))


def _entry(col: Collector, line: int, entry: ET.Element) -> None:
    ident = _text(entry.find(A + "id"))
    title, abstract = _text(entry.find(A + "title")), _text(entry.find(A + "summary"))
    if "arxiv.org/api/errors" in ident:  # the API's way of saying the query was bad
        col.skip(line, f"arXiv API error entry: {preview(abstract or title)!r}")
        return
    meta: dict[str, Any] = {"authors": [], "affiliations": []}
    for author in entry.findall(A + "author"):
        if name := _text(author.find(A + "name")):
            meta["authors"].append(name)
        for affiliation in author.findall(X + "affiliation"):
            if (text := _text(affiliation)) and text not in meta["affiliations"]:
                meta["affiliations"].append(text)
    day, year = date_from_text(_text(entry.find(A + "published")) or _text(entry.find(A + "updated")))
    meta.update({k: v for k, v in (("date", day), ("year", year)) if v})
    links = {link.get("rel", "alternate"): link.get("href") for link in entry.findall(A + "link")}
    if url := links.get("alternate") or (ident if ident.startswith("http") else None):
        meta["url"] = url
    primary = entry.find(X + "primary_category")
    category = primary if primary is not None else entry.find(A + "category")
    if category is not None and category.get("term"):
        meta["category"] = category.get("term")
    if venue := _text(entry.find(X + "journal_ref")):
        meta["venue"] = venue
    dois = _text(entry.find(X + "doi")).split()  # (a few entries list two)
    meta.update(identifiers(col, line, doi=dois[0] if dois else None, labels={"doi": "<arxiv:doi>"}))
    if arxiv := normalize_arxiv(ident, bare=False):
        meta["arxiv_id"] = arxiv
    if ident:
        meta["external_id"] = ident.rsplit("/abs/", 1)[-1] if arxiv else ident
    col.add(line, title, abstract, **meta)

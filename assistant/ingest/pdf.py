"""Paper PDFs: the title and abstract (and the authors, arXiv id and DOI when
they are printed) read from the text layer of the first two pages with pypdf.

One PDF is one record; its `SourceRef.line` is the page the abstract was read
from (1 or 2). Text is placed by its position on the page, so a two-column
page (IEEE, ACM, ACL) is read column by column. The abstract is the text after
an "Abstract"/"Summary" heading (alone on its line or run in: "Abstract—",
"Abstract."), up to the next heading ("1 Introduction", "Keywords", "Index
Terms", ...), a blank gap or the end of its column. No OCR: a scanned PDF has
no text to read. The year comes only from an arXiv stamp
("arXiv:2301.01234v2 [cs.LG] 3 Jan 2023"), never from the file's dates. The DOI
comes from the file's /doi entry, else from where a paper prints its own: the top
of the first page above the abstract, or IEEE's "Digital Object Identifier" line.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from assistant.ingest.base import Collector, one_line, parse_month_date, squash
from assistant.records import FileReport

NAME = "pdf"
DESCRIPTION = "paper PDF (.pdf or %PDF-): title, abstract, arXiv id/DOI from the first 2 pages' text"
PAGES = 2  # how many pages are read
MAGIC = b"%PDF-"


def is_pdf(path: Path) -> bool:
    """A `.pdf` file, or any file whose bytes start with `%PDF-`."""
    return path.suffix.lower() == ".pdf" or has_magic(path)


def has_magic(path: Path) -> bool:
    """The file's bytes start with `%PDF-`."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def detect(lines: list[str], suffix: str) -> float:
    """Never chosen for text: `ingest_file` sends PDFs here before any text is detected."""
    return 0.0


def parse(lines: list[str], col: Collector) -> None:
    """Unused by `ingest_file` (it opens PDFs itself, and `--layout pdf` on a text file
    reports "not a PDF"); text given here directly is refused the same way."""
    col.skip(None, "not a PDF: the file does not start with '%PDF-'")


def ingest_pdf(path: Path, label: str) -> FileReport:
    """Read one PDF into a report: one paper, one skipped entry, or a file error."""
    col = Collector(file=label, format=NAME)
    try:
        data = path.read_bytes()
    except OSError as exc:
        col.report.error = f"cannot read ({exc.strerror or exc})"
        return col.report
    error = _not_pdf(data)
    if error:
        col.report.error = error
        return col.report
    try:
        with _quiet_pypdf():
            pages, meta, warnings = _read(data)
    except _Unusable as exc:
        col.report.error = str(exc)
        return col.report
    except Exception as exc:  # pypdf raises many kinds on damaged files; none may reach the user as a trace
        col.report.error = f"cannot read this PDF (damaged or truncated?): {one_line(exc)}"
        return col.report
    if not any(page.lines for page in pages):
        col.report.error = (
            f"no text on the first pages (a scanned PDF?): {_page_span(len(pages))} no text layer; "
            "OCR the file first (e.g. with ocrmypdf)"
        )
        return col.report
    for warning in warnings:
        col.warn(None, warning)
    _extract(pages, meta, col)
    return col.report


# --- reading pages ---------------------------------------------------------------------------


class _Unusable(Exception):
    """A PDF that opens but cannot be used (encrypted, no pages): its message is the reason."""


@dataclass
class _Chunk:
    x: float
    y: float
    size: float
    text: str


@dataclass
class _Line:
    page: int
    region: int  # 0: full width (header), 1: left column, 2: right column
    x: float
    y: float
    size: float
    parts: list[str]

    @property
    def text(self) -> str:
        return _join_parts(self.parts)


@dataclass
class _Page:
    number: int
    lines: list[_Line]
    plain: str  # pypdf's plain text (rotated text too: the arXiv stamp is vertical)
    height: float = 0.0


@dataclass
class _Meta:
    title: str = ""
    author: str = ""
    doi: str = ""


def _not_pdf(data: bytes) -> str | None:
    if not data.strip():
        return "empty file"
    if data.startswith(MAGIC):
        return None
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "not a PDF: it is an HTML page (a download that failed?)"
    return "not a PDF: the file does not start with '%PDF-'"


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs what it repairs in a damaged file ("incorrect startxref pointer"); the
    report says what matters, so those lines are not printed during the read."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _read(data: bytes) -> tuple[list[_Page], _Meta, list[str]]:
    """The first pages, the file's metadata, and warnings (a later page that cannot be read)."""
    from pypdf import PasswordType, PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")
        except Exception as exc:  # e.g. an AES file without the `cryptography` package
            raise _Unusable(f"encrypted PDF that cannot be decrypted here: {one_line(exc)}") from None
        if opened == PasswordType.NOT_DECRYPTED:
            raise _Unusable("encrypted PDF: it needs a password; save a copy without one and ingest that")
    if not len(reader.pages):
        raise _Unusable("the PDF has no pages")
    pages, warnings = [_read_page(reader.pages[0], 1)], []
    for number in range(2, min(PAGES, len(reader.pages)) + 1):
        try:
            pages.append(_read_page(reader.pages[number - 1], number))
        except Exception as exc:  # page 1 may still hold all that is needed
            warnings.append(f"page {number} could not be read: {one_line(exc)}")
            break
    meta = _Meta()
    try:
        info = reader.metadata
        if info is not None:
            entry = {key: str(info[key]) for key in ("/Title", "/Author", "/doi", "/DOI") if key in info}
            meta = _Meta(entry.get("/Title", ""), entry.get("/Author", ""), entry.get("/doi", entry.get("/DOI", "")))
    except Exception:  # damaged metadata is not worth losing the paper over
        pass
    return pages, meta, warnings


def _read_page(page, number: int) -> _Page:
    box = page.mediabox
    left, bottom, width = float(box.left), float(box.bottom), float(box.width)
    chunks: list[_Chunk] = []

    def visit(text, cm, tm, font_dict, font_size) -> None:
        if not text.strip():
            return
        a, b, c, d, e, f = _multiply(tm, cm)
        if a <= 0 or d <= 0 or abs(b) > 0.05 * a or abs(c) > 0.05 * d:
            return  # rotated or mirrored text (the arXiv stamp): read from the plain text only
        size = (font_size or 0) * (a * d - b * c) ** 0.5 or 10.0
        for i, part in enumerate(text.split("\n")):
            if part.strip():
                chunks.append(_Chunk(x=e - left, y=f - bottom - i * 1.2 * size, size=size, text=part))

    plain = page.extract_text(visitor_text=visit) or ""
    return _Page(number=number, lines=_order(chunks, width, number), plain=plain, height=float(box.height))


def _multiply(m: list[float], n: list[float]) -> tuple[float, float, float, float, float, float]:
    """m x n for PDF matrices [a b c d e f] (text matrix x current transformation matrix)."""
    a, b, c, d, e, f = (float(v) for v in m)
    p, q, r, s, t, u = (float(v) for v in n)
    return a * p + b * r, a * q + b * s, c * p + d * r, c * q + d * s, e * p + f * r + t, e * q + f * s + u


def _order(chunks: list[_Chunk], width: float, page: int) -> list[_Line]:
    """Lines in reading order: the full-width top of the page, then the left column, then
    the right one. A page is two-column when several lines start at one x near its middle."""
    near_middle = [ch.x for ch in chunks if 0.4 * width <= ch.x <= 0.65 * width]
    column_x = None
    if near_middle:
        best = max(near_middle, key=lambda x: sum(abs(x - other) <= 1.5 for other in near_middle))
        starts = [x for x in near_middle if abs(x - best) <= 1.5]
        if len(starts) >= 4 and sum(ch.x < 0.4 * width for ch in chunks) >= 4:
            column_x = min(starts)
    region: dict[int, int] = {}
    if column_x is not None:
        top = max(ch.y + 0.5 * ch.size for ch in chunks if abs(ch.x - column_x) <= 1.5)
        for i, ch in enumerate(chunks):
            region[i] = 0 if ch.y > top else 2 if ch.x >= column_x - 2 else 1
    lines: list[_Line] = []
    for r in (0, 1, 2):
        mine = sorted((ch for i, ch in enumerate(chunks) if region.get(i, 0) == r), key=lambda ch: (-ch.y, ch.x))
        groups: list[list[_Chunk]] = []
        for ch in mine:
            if groups and abs(groups[-1][0].y - ch.y) <= 0.45 * max(ch.size, groups[-1][0].size):
                groups[-1].append(ch)
            else:
                groups.append([ch])
        for group in groups:
            group.sort(key=lambda ch: ch.x)
            main = max(group, key=lambda ch: len(ch.text.strip()))
            parts = [_clean(ch.text) for ch in group]
            lines.append(_Line(page, r, group[0].x, main.y, main.size, [p for p in parts if p]))
    return [line for line in lines if line.parts]


_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
# A bitmap (Type 3) TeX font in T1 encoding gives its ligatures as raw codes 27-31.
_T1_LIGATURES = str.maketrans({"\x1b": "ff", "\x1c": "fi", "\x1d": "fl", "\x1e": "ffi", "\x1f": "ffl"})
# LaTeX's older fonts draw an accent before its letter: "M¨uller" is "Müller".
_SPACING_ACCENT = re.compile(r"([¨´ˆ˜¸ˇ˚])\s?([A-Za-z])")
_COMBINING = {"¨": "\u0308", "´": "\u0301", "ˆ": "\u0302", "˜": "\u0303", "¸": "\u0327", "ˇ": "\u030c", "˚": "\u030a"}


def _clean(text: str) -> str:
    text = text.translate(_LIGATURES).translate(_T1_LIGATURES).replace("\x00", "").rstrip()
    text = text[:-1].replace("\u00ad", "") + "-" if text.endswith("\u00ad") else text.replace("\u00ad", "")
    text = _SPACING_ACCENT.sub(lambda m: unicodedata.normalize("NFC", m[2] + _COMBINING[m[1]]), text)
    return squash(text)


def _join_parts(parts: list[str]) -> str:
    """The pieces of one line (split where the font changes), spaced as words."""
    out = ""
    for part in parts:
        if out and not out.endswith(("(", "[", "-", "—", "/")) and not part.startswith((",", ".", ";", ":", ")")):
            out += " "
        out += part
    return out


def _page_span(count: int) -> str:
    return "its only page has" if count == 1 else f"pages 1-{count} have"


# --- finding the parts of the paper ----------------------------------------------------------

_HEADING_WORDS = {"abstract", "summary"}
_RUN_IN = re.compile(r"(?:Abstract|ABSTRACT|Summary|SUMMARY)\s*(?:[.:—–]|--?)\s*(?P<rest>\S.*)")
_NUMBERED = re.compile(r"(?:\d+(?:\.\d+)*\.?|[IVX]+\.)\s+[A-Z][^.]*")
_STOP = re.compile(
    r"(?:Keywords?|KEYWORDS?|Key\s?words|KEY\s?WORDS|Index\s+Terms|INDEX\s+TERMS|CCS\s+(?:Concepts|CONCEPTS)"
    r"|ACM\s+Reference\s+Format|General\s+Terms|Categories\s+and\s+Subject\s+Descriptors|Mathematics\s+Subject"
    r"|MSC|PACS|JEL)(?:\s*\(?\d{4}\)?)?\s*(?:[:.—–-]|$)"  # "Keywords:", "KEYWORDS", not "Keyword spotting is"
)
_SECTION = {"introduction", "background", "contents", "table of contents", "preliminaries", "related work"}
# Compounds whose line-end hyphen is the word's own ("self-\nsupervised" is "self-supervised").
_KEEP_HYPHEN = {"self", "non", "cross", "well", "semi", "zero", "few", "multi", "high", "low", "large", "small"}
_FOOTNOTE_MARKS = "*∗†‡§¶⋆"

_STAMP = re.compile(
    r"arXiv:\s*(?P<id>\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?\s*"
    r"\[(?P<cat>[\w.-]+)\]\s*(?P<day>\d{1,2})\s*(?P<mon>[A-Z][a-z]{2})\s*(?P<year>(?:19|20)\d{2})"
)
_DOI = re.compile(r"(?:\bdoi:?\s*|doi\.org/|Digital Object Identifier:?\s*)(10\.\d{4,9}/[^\s\"<>]+)", re.I)
# IEEE's label for the paper's own DOI (printed in the first page's footnote; never a citation's).
_OWN_DOI = re.compile(r"Digital Object Identifier:?\s*(?:no\.\s*)?(10\.\d{4,9}/[^\s\"<>]+)", re.I)
# Data repositories: a DOI of theirs on a first page names a data set or code, not the paper.
_DATA_DOI_PREFIXES = ("10.5281/", "10.6084/", "10.5061/", "10.17632/", "10.7910/")


def _extract(pages: list[_Page], meta: _Meta, col: Collector) -> None:
    span = f"the first {len(pages)} pages" if len(pages) > 1 else "its only page"
    found = next(
        (
            (page, i, start)
            for page in pages
            for i, line in enumerate(page.lines)
            if (start := _abstract_start(line)) is not None
        ),
        None,
    )
    if found is None:
        col.skip(1, f"no abstract found on {span}: no 'Abstract' heading")
        return
    page, index, start = found
    abstract = _abstract(page.lines, index, start)
    if not abstract:
        col.skip(page.number, f"no abstract found on {span}: no text after the 'Abstract' heading")
        return
    # The title block: the lines above the heading (the first page's top when page 2 opens with it).
    head = page.lines[:index] if index or page.number == 1 else pages[0].lines[:12]
    title, title_end = _title(head, meta.title, body_size=_median(line.size for line in page.lines))
    fields: dict = {}
    stamp = _STAMP.search(pages[0].plain)
    if stamp:
        date, year = parse_month_date(f"{stamp['mon']} {stamp['day']}, {stamp['year']}")
        fields.update(arxiv_id=stamp["id"], year=year or int(stamp["year"]), date=date)
    doi = _doi(meta.doi, pages[0], page.lines[:index] if page.number == 1 else pages[0].lines)
    if doi:
        fields["doi"] = doi
    header = " ".join(line.text for line in head)
    authors = _meta_authors(meta.author, header) or _line_authors(head[title_end:])
    if authors:
        fields["authors"] = authors
    col.add(page.number, title, abstract, **fields)


def _abstract_start(line: _Line) -> str | None:
    """The abstract text that starts on this line ("" when the line is only the heading),
    or None when the line is not an abstract heading."""
    text = line.text
    bare = text.replace(" ", "").rstrip(":.—–-").lower()
    if bare in _HEADING_WORDS:
        return ""
    m = _RUN_IN.match(text)
    if m:
        return m["rest"]
    first = line.parts[0].rstrip(":.—–- ")
    if first in ("Abstract", "ABSTRACT") and len(line.parts) > 1:  # a bold heading run into the text
        return _join_parts(line.parts[1:])
    return None


def _is_heading(line: _Line) -> bool:
    text = line.text
    if _STOP.match(text) or _STOP.match(line.parts[0]):
        return True
    if text.rstrip(":.").lower() in _SECTION:
        return True
    return len(text) <= 60 and not text.rstrip().endswith(".") and bool(_NUMBERED.fullmatch(text))


def _abstract(lines: list[_Line], index: int, start: str) -> str:
    heading = lines[index]
    body = [start] if start else []
    previous = heading
    for line in lines[index + 1 :]:
        if _is_heading(line):
            break
        if line.region != previous.region:  # the next column: read on only mid-sentence
            if body and body[-1].rstrip().endswith((".", "!", "?")):
                break
        elif body and previous.y - line.y > 2.2 * max(previous.size, line.size):  # a blank gap
            break
        body.append(line.text)
        previous = line
    return _join_lines(body)


def _join_lines(lines: list[str]) -> str:
    """Lines joined into one paragraph; a word hyphenated at a line end is mended
    ("repre-" + "sentation"), but a compound keeps its hyphen ("self-" + "supervised")."""
    out = ""
    for line in (squash(x) for x in lines):
        if not line:
            continue
        if out.endswith(("-", "\u2010")) and len(out) > 1 and out[-2].isalnum():
            word = re.split(r"[\s/]", out)[-1][:-1]
            mend = line[0].islower() and "-" not in word and word.lower() not in _KEEP_HYPHEN
            out = out[:-1] + line if mend else out + line  # "Transformer-" + "XL" stays "Transformer-XL"
        elif out.endswith("—"):
            out += line
        else:
            out = f"{out} {line}" if out else line
    return out


def _median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


def _title(head: list[_Line], meta_title: str, body_size: float) -> tuple[str, int]:
    """The title and the index of the first line after it: the largest type at the top of
    the page (the first line when nothing is larger). The file's /Title is used when the
    page shows it (a template's leftover /Title does not)."""
    if not head:
        return _plausible(meta_title), 0
    biggest = max(line.size for line in head)
    start, end = 0, 1
    if biggest > body_size + 0.5:  # else nothing stands out from the page's text: the first line
        start = next(i for i, line in enumerate(head) if line.size >= biggest - 0.5)
        end = start + 1
        while end < min(len(head), start + 5) and abs(head[end].size - biggest) <= 0.5:
            end += 1
    title = _join_lines([line.text for line in head[start:end]]).rstrip(_FOOTNOTE_MARKS + " ")
    candidate = _plausible(meta_title)
    if candidate and _key(candidate) in _key(" ".join(line.text for line in head)):
        return candidate, end
    return title, end


def _plausible(title: str) -> str:
    title = squash(title)
    words = title.split()
    junk = re.search(r"\.(?:docx?|pdf|tex|dvi|ps)\b|^Microsoft Word|^untitled|^arXiv:", title, re.IGNORECASE)
    return title if 2 <= len(words) <= 60 and not junk else ""


def _key(text: str) -> str:
    return re.sub(r"\W+", "", text.translate(_LIGATURES).casefold())


_INITIALS = re.compile(r"(?:[^\W\d_]\.-?)+")
_NOT_NAME = {
    "university", "institute", "research", "lab", "labs", "laboratory", "college", "school", "department",
    "dept", "inc", "ltd", "corporation", "center", "centre", "ai", "deepmind", "google", "microsoft", "meta",
    "amazon", "group", "academy", "hospital", "foundation", "technology", "technologies", "science", "sciences",
    "anonymous", "author", "authors", "submission", "paper", "abstract",
}  # fmt: skip


def _name_word(word: str) -> bool:
    """A capitalised word or initials: "Müller", "Jean-Luc", "J.", "J.-P."."""
    if _INITIALS.fullmatch(word):
        return word[0].isupper()
    rest = word[1:]
    return word[0].isupper() and bool(rest) and all(ch.isalpha() or ch in "'’-" for ch in rest) and rest[-1].islower()


def _names(text: str) -> list[str]:
    """The names in "Ana Müller¹, Bo Chen and Li Wei", or [] when any piece is not a
    plain name (an affiliation, an e-mail, a name with particles)."""
    text = re.sub(rf"[\d{_FOOTNOTE_MARKS}]+", " ", text)
    parts = [squash(p) for p in re.split(r",|;|\band\b|&|·", text)]
    names = [p for p in parts if p]
    for name in names:
        words = name.split()
        if not 2 <= len(words) <= 3 or any(not _name_word(w) or w.lower() in _NOT_NAME for w in words):
            return []
    return names


def _line_authors(lines: list[_Line]) -> list[str]:
    authors: list[str] = []
    for line in lines:
        names = _names(line.text)
        if not names:
            break
        authors += names
    return authors


def _meta_authors(value: str, header: str) -> list[str]:
    """The file's /Author, when every name in it is printed at the top of the page."""
    names = [squash(p) for p in re.split(r",|;|\band\b", value)]
    names = [n for n in names if n]
    page = _key(header)
    if not names or any(len(n.split()) < 2 or _key(n) not in page for n in names):
        return []
    return names


def _doi(meta_doi: str, first: _Page, above: list[_Line]) -> str | None:
    """The paper's DOI: the file's own /doi entry, else the one DOI the first page prints as
    the paper's own: in the top half of the page above the abstract (a running header, the
    journal line of the title block), or labelled "Digital Object Identifier" (IEEE). A DOI
    elsewhere on the page (a cited work's, a "published as" footnote) is not read: a DOI
    merges papers whatever their titles say. None when several are printed, or only a data set's."""
    m = re.search(r"10\.\d{4,9}/\S+", meta_doi)
    if m:
        return m[0]
    top = " ".join(line.text for line in above if line.page == first.number and line.y >= first.height / 2)
    found = {d.rstrip(".,;:)]}").lower() for d in [*_DOI.findall(top), *_OWN_DOI.findall(first.plain)]}
    found = {d for d in found if not d.startswith(_DATA_DOI_PREFIXES)}
    return found.pop() if len(found) == 1 else None

"""How a paper is shown to a model: one `<source>` block per paper, used by every prompt
(answers, evidence scoring, quotes, comparisons). Paper text is data: any `<source>` tag
inside it is escaped, so a paper cannot open or close a source of its own."""

from __future__ import annotations

import html
import re

from assistant.records import Source, author_list


def neutralise(text: str) -> str:
    """`text` with any <source> / </source> tag escaped, so it cannot open or close a source."""
    return re.sub(r"</?\s*source", lambda m: html.escape(m.group(0)), text, flags=re.IGNORECASE)


def source_block(
    src: Source, abstract: str | None = None, quoted: list[str] | None = None, method: str | None = None
) -> str:
    """A source as the prompts show it: between <source n="k"> tags (with method="..." when
    a comparison names the method it stands for), any such tag inside neutralised; its
    abstract (or `abstract`), or only `quoted` sentences from it."""
    p, clean = src.paper, neutralise
    opening = f'<source n="{src.n}"' + (f' method="{method}"' if method else "") + ">"
    lines = [opening, f"Title: {clean(p.title)}"]
    if p.authors:
        lines.append(f"Authors: {clean(author_list(p.authors, p.authors_et_al))}")
    if p.year:
        lines.append(f"Year: {p.year}")
    if quoted is not None:
        lines += ["Quotes from the abstract:", *(f"- {clean(q)}" for q in quoted), "</source>"]
    else:
        lines += [f"Abstract: {clean(abstract if abstract is not None else p.abstract)}", "</source>"]
    return "\n".join(lines)

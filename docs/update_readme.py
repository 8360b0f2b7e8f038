"""Rewrite README.md's generated block of `papers --help` (`make docs`).

The block between `assistant.cli.README_HELP_BEGIN` and `README_HELP_END` is replaced by
`assistant.cli.help_markdown()`: `papers --help` and every sub-command's `--help`,
formatted 100 columns wide whatever the terminal. tests/test_cli_help.py fails while
the README's block differs from it. `--check` only says whether it is current (exit 1 if not).

    .venv/bin/python docs/update_readme.py [--check] [README]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from assistant.cli import README_HELP_BEGIN, README_HELP_END, help_markdown

README = Path(__file__).resolve().parent.parent / "README.md"


def spliced(readme: str) -> str:
    """`readme` with its generated block replaced by the current `help_markdown()`."""
    start, end = readme.find(README_HELP_BEGIN), readme.find(README_HELP_END)
    if start < 0 or end < start:
        raise SystemExit(f"README has no block between {README_HELP_BEGIN!r} and {README_HELP_END!r}")
    head = readme[: start + len(README_HELP_BEGIN)]
    return head + "\n" + help_markdown() + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("readme", nargs="?", type=Path, default=README)
    parser.add_argument("--check", action="store_true", help="exit 1 if the block is out of date; change nothing")
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    new = spliced(text)
    if new == text:
        print(f"{args.readme}: papers --help is current")
        return 0
    if args.check:
        print(f"{args.readme}: papers --help is out of date; run `make docs`", file=sys.stderr)
        return 1
    args.readme.write_text(new, encoding="utf-8")
    print(f"{args.readme}: papers --help rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One-off experiments behind figures in docs/evaluation.md and docs/benchmarks.md;
nothing here is used by the product."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def setup(module: str, doc: str | None, argv: Sequence[str] | None) -> tuple[argparse.Namespace, Any]:
    """Parse `--split` (default dev) and `--index-dir`, and open the assistant (extractive)
    on that index: the start every experiment over a golden split shares."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", default="dev", help="golden split (default: dev)")
    parser.add_argument("--index-dir", type=Path, help="index folder (default: the project's indexes/)")
    args = parser.parse_args(argv)

    from assistant.api import PaperAssistant
    from assistant.settings import Settings

    return args, PaperAssistant.open(Settings(**({"index_dir": args.index_dir} if args.index_dir else {})), llm=False)

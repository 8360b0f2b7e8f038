"""Start the paper assistant's web UI: `python app.py [--host H] [--port P]`.

Serves the chat, compare, corpus and settings tabs on http://127.0.0.1:7860
over the default index (PAPERS_* settings, see the README). The first run
builds the index from the bundled corpus (about a minute on 2 cores) and
says so on the console. Everything runs locally; nothing is shared publicly.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Same as `papers serve [--host H] [--port P]`: one code path, one place for errors."""
    from assistant.cli import main as papers  # importing assistant sets the offline environment (offline.py)

    return papers(["serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

"""`python -m evals ARGS` runs `papers eval ARGS` (the same parser, errors and exit codes),
without looking the command up among the installed entry points."""

from __future__ import annotations

import sys

from assistant.cli import main
from evals.command import register

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]], commands={"eval": register}))

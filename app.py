"""Entry point of the assistant: `python app.py [QUESTION]`.

The Gradio chat UI is not built yet; until it is, this answers one question
on the command line over the default index (built from the bundled corpus
on first use), exactly like `make run`."""

import sys

from assistant.cli import main

if __name__ == "__main__":
    question = " ".join(sys.argv[1:]) or "hard patches mining for masked image modeling"
    sys.exit(main(["search", question, "--k", "5"]))

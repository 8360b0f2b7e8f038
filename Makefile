# The two commands of the README:
#   make run    install everything, build the index if missing, start the chat UI
#   make test   install everything (incl. chromium for the browser tests), run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: install run ask browser test test-fast clean-index

install: $(VENV)/.installed

# torch==2.13.0 first: its CPU wheel is on every machine of this kind, and with it
# present nothing else pulls the multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[test]'
	touch $@

# The main job: the chat UI over the bundled corpus on http://127.0.0.1:7860
# (builds the index on the first run, about a minute on 2 cores). Ctrl-C stops it.
# `make ask QUESTION="..."` answers one question on the command line instead.
run: install
	$(PY) app.py

QUESTION ?= What is hard patches mining in masked image modeling?
ask: install
	$(VENV)/bin/papers ask "$(QUESTION)"

# Debian's chromium for the browser tests (Playwright drives it; `playwright install` is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends chromium; fi; }

test: install browser
	PAPERS_REQUIRE_BROWSER=1 $(PY) -m pytest -q -rs

# Everything but the server/browser tests (marked slow).
test-fast: install
	$(PY) -m pytest -q -m 'not slow'

clean-index:
	rm -rf indexes/default

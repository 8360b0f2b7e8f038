# The two commands of the README:
#   make run    install everything, build the index if missing, start the assistant
#   make test   install everything, run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: install run test test-fast clean-index

install: $(VENV)/.installed

# torch==2.13.0 first: its CPU wheel is on every machine of this kind, and with it
# present nothing else pulls the multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[test]'
	touch $@

# Until the chat UI lands: build the index if missing, show what it holds,
# and answer one demo question (with citations) on the command line.
QUESTION ?= What is hard patches mining in masked image modeling?
run: install
	$(VENV)/bin/papers status
	$(VENV)/bin/papers ask "$(QUESTION)"

test: install
	$(PY) -m pytest -q -rs

# Everything but the server/browser tests (marked slow).
test-fast: install
	$(PY) -m pytest -q -m 'not slow'

clean-index:
	rm -rf indexes/default

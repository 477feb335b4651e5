# Two entry points: `make run` (the whole job on the embedded default) and `make test`;
# `make docs` builds the documentation site into docs/_build/html.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# DVC stages call `urbansound`: put the virtual environment first on PATH.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test docs

# uv installs the packages in seconds where pip takes about a minute; where uv cannot be
# had, pip does the same install. uv compiles the bytecode at install, as pip does: Python
# may be told not to write it (PYTHONDONTWRITEBYTECODE), and would then compile every import
# of every stage.
$(PY):
	$(PYTHON) -m venv $(VENV)
	-$(PY) -m pip install -q uv
comma := ,
INSTALL = if [ -x $(VENV)/bin/uv ]; then $(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) $(1); \
	else $(PY) -m pip install -q $(1); fi

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

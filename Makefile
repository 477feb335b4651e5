# Two entry points: `make run` (the whole job on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

run: $(PY)
	$(PY) -m pip install -q -e .
	$(VENV)/bin/urbansound run

test: $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pytest -q

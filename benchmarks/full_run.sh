#!/usr/bin/env bash
# Full UrbanSound8K-size run (8732 generated clips), per-stage times and peak memory.
# Usage: bash benchmarks/full_run.sh [--clips N] [--work DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m pip install -q psutil >/dev/null
exec "$PY" benchmarks/full_run.py "$@"

#!/usr/bin/env bash
# Installs everything into .venv/ (Synapse, itchat-uos, the linters) and runs the whole test
# suite: ruff, mypy, pytest. Extra arguments go to pytest.
#
# pytest runs on PYTEST_WORKERS (default 2) pytest-xdist workers, each with its own session
# Synapse, simulators and temporary folders; a module stays on one worker (--dist loadfile) and
# modules are handed out in collection order (tests/conftest.py puts the slow ones first).
# PYTEST_WORKERS=0 runs everything in this one process.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
cd "$root"
py=.venv/bin/python
echo "== ruff"; $py -m ruff check . && $py -m ruff format --check .
echo "== mypy"; $py -m mypy
workers=${PYTEST_WORKERS:-2}
echo "== pytest ($workers workers)"
$py -m pytest -q -n "$workers" --dist loadfile --no-loadscope-reorder "$@"

#!/usr/bin/env bash
# Installs everything into .venv/ (Synapse, itchat-uos, the linters) and runs the whole test
# suite: ruff, mypy, pytest. Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
cd "$root"
py=.venv/bin/python
echo "== ruff"; $py -m ruff check . && $py -m ruff format --check .
echo "== mypy"; $py -m mypy
echo "== pytest"; $py -m pytest -q "$@"

#!/usr/bin/env bash
# Installs chatbridge into .venv/ and runs the main job: for now the WeChat simulator with a demo
# account, contacts and a group, on 127.0.0.1 until Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
cd "$root"
exec .venv/bin/python -m adapters.wechat.simulator --host 127.0.0.1 --port "${PORT:-8765}" --demo "$@"

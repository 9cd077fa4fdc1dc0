#!/usr/bin/env bash
# Installs chatbridge into .venv/ and runs the local demo of the whole bridge on 127.0.0.1:
# Synapse, the WeChat simulator (a demo account, contacts, a group) and the bridge; a scripted
# QR login and conversation whose transcript it prints; then the credentials for any Matrix
# client, until Ctrl-C. Arguments go to `python -m adapters.demo` (--help): --exit-after-script,
# --data-dir (default .demo), --synapse-port 8008, --bridge-port 29350, --simulator-port 8765
# (or DEMO_SYNAPSE_PORT, DEMO_BRIDGE_PORT, DEMO_SIMULATOR_PORT).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
cd "$root"
exec .venv/bin/python -m adapters.demo "$@"

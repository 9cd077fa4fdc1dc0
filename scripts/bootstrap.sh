#!/usr/bin/env bash
# Creates .venv/ in the repository root (when missing or stale) and installs chatbridge with its
# test extra into it. Sourced by test.sh and demo.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
stamp="$venv/.installed-$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if [ ! -f "$stamp" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e "$root[test]"
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi
# itchat 1.3.10 (the 2017 client that reads webwxnewloginpage's XML body) installs the same
# `itchat` module as itchat-uos, so it lives in its own target directory; the conformance test
# runs it in a subprocess with PYTHONPATH set to that directory.
itchat_old="$venv/itchat-1.3.10"
if [ ! -f "$itchat_old/itchat/__init__.py" ]; then
  "$venv/bin/python" -m pip install --quiet --target "$itchat_old" itchat==1.3.10
fi
# matrix-js-sdk (npm; the SDK Element is built on) for the real-client tests: installed into
# tests/jsclient/node_modules from its package-lock.json when Node is on the machine.
jsclient="$root/tests/jsclient"
if command -v npm >/dev/null && [ ! -f "$jsclient/node_modules/matrix-js-sdk/package.json" ]; then
  (cd "$jsclient" && npm ci --no-audit --no-fund --loglevel=error)
fi

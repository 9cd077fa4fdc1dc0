"""A one-command local demo of the whole bridge (``python -m bridge.demo``; scripts/demo.sh)."""

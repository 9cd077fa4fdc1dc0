"""A one-command local demo of the whole bridge (``python -m adapters.demo``; scripts/demo.sh)."""

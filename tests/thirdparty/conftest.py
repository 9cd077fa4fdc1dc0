"""Fixtures for third-party adapter tests: the session Synapse of ``tests/matrix/conftest.py``
(imported, so pytest registers its fixtures here as well)."""

from __future__ import annotations

from tests.matrix.conftest import appservice, bridge_setup, make_user, synapse

__all__ = ["appservice", "bridge_setup", "make_user", "synapse"]

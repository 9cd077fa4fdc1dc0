"""Suite-wide collection order: the tests marked ``slow`` run first.

``scripts/test.sh`` runs the suite on several pytest-xdist workers, one test module per
worker at a time (``--dist loadfile --no-loadscope-reorder``, so modules are handed out in
collection order). A module holding a long test that started last would leave the other
workers idle at the end; started first, it overlaps with everything else. In a serial run the
order only changes which tests come first (every test stands alone).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Moves the modules holding ``slow`` tests to the front (stable otherwise)."""
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_modules)

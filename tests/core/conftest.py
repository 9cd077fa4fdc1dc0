"""Fixtures of the core tests: a migrated SQLite store in a temporary directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.ids import LoginId, MatrixUserId
from bridge.store import Login, Store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "bridge.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    # NORMAL: a test has no power cut to survive, and fsync per commit costs seconds.
    s = await Store.open(db_path, synchronous="NORMAL")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def login(store: Store) -> Login:
    return await store.logins.create(
        MatrixUserId("@alice:localhost"), "wechat", login_id=LoginId("login-1")
    )

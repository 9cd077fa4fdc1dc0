"""The ``Store``: a database plus one repository per table, and transactions across them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from bridge.store.accounts import Clock, GhostRepo, LoginRepo, PortalRepo
from bridge.store.audit import AuditRepo
from bridge.store.db import Database, Executor, SqliteDatabase
from bridge.store.identities import IdentityRepo
from bridge.store.matrix_state import MatrixStateRepo
from bridge.store.messages import JournalRepo, MessageMapRepo, TransactionRepo
from bridge.store.migrate import migrate


class Repositories:
    """Every repository, bound to one executor (the database, or one open transaction)."""

    def __init__(self, db: Executor, clock: Clock) -> None:
        self.logins = LoginRepo(db, clock)
        self.identities = IdentityRepo(db, clock)
        self.audit = AuditRepo(db, clock)
        self.portals = PortalRepo(db, clock)
        self.ghosts = GhostRepo(db, clock)
        self.messages = MessageMapRepo(db, clock)
        self.journal = JournalRepo(db, clock)
        self.transactions = TransactionRepo(db, clock)
        self.matrix = MatrixStateRepo(db, clock)


class Store(Repositories):
    """The bridge's durable state. Use the repositories directly for single statements, or
    ``async with store.transaction() as tx:`` for several that must commit together (then
    use only ``tx.<repo>`` inside the block: the store itself waits for the block to end).

    All SQL lives in ``bridge/store/``; a PostgreSQL ``Database`` can replace SQLite without
    touching callers. ``clock`` returns unix seconds.
    """

    def __init__(self, db: Database, *, clock: Clock = time.time) -> None:
        super().__init__(db, clock)
        self.db = db
        self._clock = clock

    @classmethod
    async def open(
        cls, path: str | Path, *, synchronous: str = "FULL", clock: Clock = time.time
    ) -> Store:
        """Open the SQLite file at ``path`` (created if missing) and migrate it.

        Raises ``SchemaTooNew`` for a database of a newer chatbridge, ``StoreError`` when it
        cannot be opened or migrated.
        """
        db = await SqliteDatabase.open(path, synchronous=synchronous)
        try:
            await migrate(db)
        except BaseException:
            await db.close()
            raise
        return cls(db, clock=clock)

    def transaction(self) -> AbstractAsyncContextManager[Repositories]:
        """One transaction over every repository: all or nothing."""
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Repositories]:
        async with self.db.transaction() as tx:
            yield Repositories(tx, self._clock)

    async def close(self) -> None:
        """Close the database. Idempotent."""
        await self.db.close()

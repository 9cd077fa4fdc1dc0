"""The ``Store``: a database plus one repository per table, and transactions across them."""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from bridge.store.accounts import Clock, LoginRepo, PortalRepo
from bridge.store.audit import AuditRepo
from bridge.store.db import Database, Executor, SqliteDatabase
from bridge.store.identities import IdentityRepo
from bridge.store.matrix_state import MatrixStateRepo
from bridge.store.messages import JournalRepo, MessageMapRepo, TransactionRepo
from bridge.store.migrate import migrate
from bridge.store.replacements import ReplacementRepo
from bridge.store.spool import MediaSpool


class Repositories:
    """Every repository, bound to one executor (the database, or one open transaction)."""

    def __init__(self, db: Executor, clock: Clock) -> None:
        self.logins = LoginRepo(db, clock)
        self.identities = IdentityRepo(db, clock)
        self.audit = AuditRepo(db, clock)
        self.portals = PortalRepo(db, clock)
        self.messages = MessageMapRepo(db, clock)
        self.replacements = ReplacementRepo(db)
        self.journal = JournalRepo(db, clock)
        self.transactions = TransactionRepo(db, clock)
        self.matrix = MatrixStateRepo(db, clock)


class Store(Repositories):
    """The bridge's durable state. Use the repositories directly for single statements, or
    ``async with store.transaction() as tx:`` for several that must commit together (then
    use only ``tx.<repo>`` inside the block: the store itself waits for the block to end).

    All SQL lives in ``bridge/store/``; a PostgreSQL ``Database`` can replace SQLite without
    touching callers. ``clock`` returns unix seconds. ``media`` holds the files of journal
    entries waiting for delivery (in ``media_dir``; a new temporary folder if not given).
    """

    def __init__(
        self, db: Database, *, clock: Clock = time.time, media_dir: Path | None = None
    ) -> None:
        super().__init__(db, clock)
        self.db = db
        self._clock = clock
        self._tx_repos: tuple[Executor, Repositories] | None = None
        folder = media_dir or Path(tempfile.mkdtemp(prefix="chatbridge-media-"))
        self.media = MediaSpool(folder)

    @classmethod
    async def open(
        cls, path: str | Path, *, synchronous: str = "FULL", clock: Clock = time.time
    ) -> Store:
        """Open the SQLite file at ``path`` (created if missing) and migrate it. Files
        waiting for delivery are spooled to the folder ``<path>.media`` beside it.

        Raises ``SchemaTooNew`` for a database of a newer chatbridge, ``StoreError`` when it
        cannot be opened or migrated.
        """
        db = await SqliteDatabase.open(path, synchronous=synchronous)
        try:
            await migrate(db)
        except BaseException:
            await db.close()
            raise
        path = Path(path)
        return cls(db, clock=clock, media_dir=path.with_name(f"{path.name}.media"))

    def transaction(self) -> AbstractAsyncContextManager[Repositories]:
        """One transaction over every repository: all or nothing."""
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Repositories]:
        async with self.db.transaction() as tx:
            # A database hands out the same executor for each transaction: bind it once.
            if self._tx_repos is None or self._tx_repos[0] is not tx:
                self._tx_repos = (tx, Repositories(tx, self._clock))
            yield self._tx_repos[1]

    async def close(self) -> None:
        """Close the database. Idempotent."""
        await self.db.close()

"""The small database interface the repositories use, and its SQLite implementation."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from bridge.errors import StoreError
from bridge.secretfiles import create_secret_file

log = logging.getLogger(__name__)

#: A value bound to a query parameter.
Param = str | int | float | bytes | None
#: One result row: column name -> value.
Row = dict[str, Any]

# Queries are written with PostgreSQL's numbered ``$1`` placeholders; SQLite spells them ``?1``.
_PLACEHOLDER = re.compile(r"\$(\d+)")


class Executor(Protocol):
    """Runs SQL written with ``$1``-style placeholders. Raises ``StoreError`` on failure."""

    async def execute(self, sql: str, *params: Param) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    async def fetchone(self, sql: str, *params: Param) -> Row | None:
        """Run one query; returns its first row or ``None``."""
        ...

    async def fetchall(self, sql: str, *params: Param) -> list[Row]:
        """Run one query; returns every row."""
        ...

    async def execute_script(self, script: str) -> None:
        """Run several ``;``-terminated statements (a migration) without parameters."""
        ...


class Database(Executor, Protocol):
    """A database the store can use. ``dialect`` names the SQL flavour (``"sqlite"``).

    Outside ``transaction()`` every call is its own transaction. Inside, calls go to the
    executor it yields; calling the ``Database`` itself from inside waits for the transaction
    to end, so don't.
    """

    dialect: str

    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        ...

    async def close(self) -> None:
        """Close the connection. Idempotent."""
        ...


class _SqliteExecutor:
    """Executes on one aiosqlite connection; the caller holds the database lock."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *params: Param) -> int:
        try:
            cursor = await self._conn.execute(_PLACEHOLDER.sub(r"?\1", sql), params)
            count = cursor.rowcount
            await cursor.close()
        except sqlite3.Error as e:
            raise StoreError(f"database write failed: {e}") from e
        return count

    async def fetchone(self, sql: str, *params: Param) -> Row | None:
        rows = await self.fetchall(sql, *params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, *params: Param) -> list[Row]:
        try:
            cursor = await self._conn.execute(_PLACEHOLDER.sub(r"?\1", sql), params)
            names = [d[0] for d in cursor.description or ()]
            rows = await cursor.fetchall()
            await cursor.close()
        except sqlite3.Error as e:
            raise StoreError(f"database query failed: {e}") from e
        return [dict(zip(names, row, strict=True)) for row in rows]

    async def execute_script(self, script: str) -> None:
        # sqlite3's executescript() would COMMIT the open transaction first, so split the
        # script into statements ourselves (complete_statement understands quotes/triggers).
        for statement in split_statements(script):
            await self.execute(statement)


def split_statements(script: str) -> list[str]:
    """Split an SQL script into complete statements (comments and blank lines dropped)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise StoreError(f"incomplete SQL statement at the end of a script: {buffer[:60]!r}")
    return statements


class SqliteDatabase:
    """A SQLite file opened with WAL, foreign keys and full fsync on commit.

    One connection, serialised by an asyncio lock, so a transaction of one task never picks up
    another task's statements. ``synchronous`` is SQLite's ``PRAGMA synchronous`` level;
    ``FULL`` makes a committed journal entry survive a power cut, not only a crash.
    """

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._executor = _SqliteExecutor(conn)
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path, *, synchronous: str = "FULL") -> SqliteDatabase:
        """Open (creating if needed, mode 0600) the database file at ``path``. Raises
        ``StoreError``."""
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise StoreError(f"invalid SQLite synchronous level {synchronous!r}")
        try:
            if str(path) != ":memory:":
                # Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
                # database's mode, and the database holds tokens of the logins.
                create_secret_file(Path(path))
            # isolation_level=None: we issue BEGIN/COMMIT ourselves (see transaction()).
            conn = await aiosqlite.connect(str(path), isolation_level=None)
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot open database {path}: {e}") from e
        db = cls(conn)
        try:
            mode = await db.fetchone("PRAGMA journal_mode=WAL")
            if mode is None or str(next(iter(mode.values()))).lower() != "wal":
                log.warning("database %s is not in WAL mode (got %r)", path, mode)
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            await db.execute("PRAGMA busy_timeout=5000")
        except StoreError:
            await db.close()
            raise
        return db

    async def execute(self, sql: str, *params: Param) -> int:
        async with self._lock:
            return await self._executor.execute(sql, *params)

    async def fetchone(self, sql: str, *params: Param) -> Row | None:
        async with self._lock:
            return await self._executor.fetchone(sql, *params)

    async def fetchall(self, sql: str, *params: Param) -> list[Row]:
        async with self._lock:
            return await self._executor.fetchall(sql, *params)

    async def execute_script(self, script: str) -> None:
        async with self.transaction() as tx:
            await tx.execute_script(script)

    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Executor]:
        async with self._lock:
            # IMMEDIATE takes the write lock now, so two processes never deadlock upgrading.
            await self._executor.execute("BEGIN IMMEDIATE")
            try:
                yield self._executor
            except BaseException:
                try:
                    await self._executor.execute("ROLLBACK")
                except StoreError:
                    log.exception("rollback failed")
                raise
            try:
                await self._executor.execute("COMMIT")
            except StoreError:
                await self._conn.rollback()
                raise

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            await self._conn.close()

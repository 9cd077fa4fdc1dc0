"""The small database interface the repositories use, and its SQLite implementation."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bridge.errors import StoreError
from bridge.secretfiles import create_secret_file

log = logging.getLogger(__name__)

#: A value bound to a query parameter.
Param = str | int | float | bytes | None
#: One result row: column name -> value.
Row = dict[str, Any]

_T = TypeVar("_T")

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
    """Executes on one ``sqlite3`` connection; the caller holds the database lock.

    A statement that needs no disk write of its own — a ``SELECT``, ``BEGIN``, or any
    statement inside an open transaction, which only touches SQLite's page cache — runs at
    once on the calling (event loop) thread: microseconds, less than a hop to another
    thread costs. Anything that may wait for the disk — ``COMMIT`` (the fsync), a write
    outside a transaction (its own commit) — runs on the database's one worker thread.
    The connection's own busy timeout is 0, so nothing on the loop thread ever waits for
    another process's lock: a statement that finds the database locked is run again on
    the worker thread, which waits up to ``busy_timeout_s`` for the lock.
    """

    #: How long a statement waits for a lock another connection holds, in seconds.
    busy_timeout_s = 5.0

    def __init__(self, conn: sqlite3.Connection, worker: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._worker = worker

    def _inline(self, sql: str) -> bool:
        return self._conn.in_transaction or sql.lstrip()[:6].upper() in ("SELECT", "BEGIN ")

    async def _off_loop(self, call: Callable[[], _T]) -> _T:
        future = asyncio.get_running_loop().run_in_executor(self._worker, call)
        cancelled = False
        while not future.done():
            try:
                await asyncio.wait({future})
            except asyncio.CancelledError:
                # The statement runs on regardless: keep the connection (and the lock)
                # until it is done, then pass the cancellation on.
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError
        return future.result()

    async def _run(self, call: Callable[[], _T], sql: str) -> _T:
        if self._inline(sql):
            try:
                return call()
            except _Busy:
                pass  # another connection holds a lock: wait for it off the loop
        return await self._off_loop(partial(self._patiently, call))

    def _patiently(self, call: Callable[[], _T]) -> _T:
        """``call()``, retried while the database is locked, up to ``busy_timeout_s``
        (on the worker thread only). Raises ``StoreError``."""
        deadline = time.monotonic() + self.busy_timeout_s
        pause = 0.001
        while True:
            try:
                return call()
            except _Busy as e:
                if time.monotonic() >= deadline:
                    raise StoreError(f"database is locked: {e}") from e
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    def _execute(self, sql: str, params: tuple[Param, ...]) -> int:
        try:
            return self._conn.execute(_sqlite_sql(sql), params).rowcount
        except sqlite3.Error as e:
            if _is_busy(e):
                raise _Busy(str(e)) from e
            raise StoreError(f"database write failed: {e}") from e

    def _fetchall(self, sql: str, params: tuple[Param, ...]) -> list[Row]:
        try:
            cursor = self._conn.execute(_sqlite_sql(sql), params)
            names = [d[0] for d in cursor.description or ()]
            rows = cursor.fetchall()
        except sqlite3.Error as e:
            if _is_busy(e):
                raise _Busy(str(e)) from e
            raise StoreError(f"database query failed: {e}") from e
        return [dict(zip(names, row, strict=True)) for row in rows]

    async def execute(self, sql: str, *params: Param) -> int:
        return await self._run(partial(self._execute, sql, params), sql)

    async def fetchone(self, sql: str, *params: Param) -> Row | None:
        rows = await self.fetchall(sql, *params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, *params: Param) -> list[Row]:
        return await self._run(partial(self._fetchall, sql, params), sql)

    async def execute_script(self, script: str) -> None:
        # sqlite3's executescript() would COMMIT the open transaction first, so split the
        # script into statements ourselves (complete_statement understands quotes/triggers).
        for statement in split_statements(script):
            await self.execute(statement)

    async def commit(self) -> None:
        """``COMMIT`` on the worker thread (it waits for the disk). Raises ``StoreError``."""
        await self._off_loop(partial(self._patiently, partial(self._execute, "COMMIT", ())))

    def rollback(self) -> None:
        """``ROLLBACK`` if a transaction is open (no disk wait). Raises ``StoreError``."""
        if self._conn.in_transaction:
            self._execute("ROLLBACK", ())


class _Busy(StoreError):
    """The statement found the database locked by another connection (SQLITE_BUSY)."""


def _is_busy(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@functools.lru_cache(maxsize=512)
def _sqlite_sql(sql: str) -> str:
    """``sql`` with ``$1`` placeholders spelt as SQLite's ``?1``."""
    return _PLACEHOLDER.sub(r"?\1", sql)


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

    One ``sqlite3`` connection, serialised by an asyncio lock, so a transaction of one task
    never picks up another task's statements; what waits for the disk runs on one worker
    thread (see ``_SqliteExecutor``), the rest on the caller's thread, and Python's
    ``sqlite3`` keeps the prepared statements of recent SQL texts for reuse.
    ``synchronous`` is SQLite's ``PRAGMA synchronous`` level; ``FULL`` makes a committed
    journal entry survive a power cut, not only a crash.
    """

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, worker: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._worker = worker
        self._lock = asyncio.Lock()
        self._executor = _SqliteExecutor(conn, worker)
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path, *, synchronous: str = "FULL") -> SqliteDatabase:
        """Open (creating if needed, mode 0600) the database file at ``path``. Raises
        ``StoreError``."""
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise StoreError(f"invalid SQLite synchronous level {synchronous!r}")
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        loop = asyncio.get_running_loop()
        try:
            if str(path) != ":memory:":
                # Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
                # database's mode, and the database holds tokens of the logins.
                create_secret_file(Path(path))
            # isolation_level=None: we issue BEGIN/COMMIT ourselves (see transaction()).
            # check_same_thread=False: the lock makes sure one thread at a time uses it.
            conn = await loop.run_in_executor(
                worker,
                partial(
                    sqlite3.connect,
                    str(path),
                    isolation_level=None,
                    check_same_thread=False,
                    cached_statements=256,
                ),
            )
        except (sqlite3.Error, OSError) as e:
            worker.shutdown(wait=False)
            raise StoreError(f"cannot open database {path}: {e}") from e
        db = cls(conn, worker)
        try:
            mode = await db.fetchone("PRAGMA journal_mode=WAL")
            if mode is None or str(next(iter(mode.values()))).lower() != "wal":
                log.warning("database %s is not in WAL mode (got %r)", path, mode)
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            await db.execute("PRAGMA busy_timeout=0")  # waits happen off the loop
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
                    self._executor.rollback()
                except StoreError:
                    log.exception("rollback failed")
                raise
            try:
                await self._executor.commit()
            except StoreError:
                self._executor.rollback()
                raise

    async def set_trace(self, callback: Callable[[str], None] | None) -> None:
        """Call ``callback`` with the text of every statement SQLite runs (``None`` stops
        it): for benchmarks and debugging. Statements carry their values, so never log
        them where secrets could be."""
        async with self._lock:
            self._conn.set_trace_callback(callback)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            await asyncio.get_running_loop().run_in_executor(self._worker, self._conn.close)
        self._worker.shutdown(wait=False)

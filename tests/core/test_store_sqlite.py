"""The SQLite layer under load: a lock held by another connection is waited for off the event
loop, and a task cancelled in the middle of a transaction leaves the database usable."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from bridge.ids import TransactionId
from bridge.store import Store


async def _setup(store: Store) -> None:
    await store.db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")


async def test_a_write_lock_held_elsewhere_is_waited_for_without_blocking_the_loop(
    store: Store, db_path: Path
) -> None:
    await _setup(store)
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is writing
    try:
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        writing = asyncio.create_task(store.db.execute("INSERT INTO t (v) VALUES ('x')"))
        await asyncio.sleep(0.3)
        assert not writing.done()  # it waits for the lock ...
        assert len(ticks) >= 10  # ... while the event loop goes on
        other.execute("COMMIT")
        assert await asyncio.wait_for(writing, 5) == 1
        ticking.cancel()
        assert await store.db.fetchone("SELECT COUNT(*) AS n FROM t") == {"n": 1}
    finally:
        other.close()


async def test_tasks_cancelled_inside_transactions_leave_the_database_usable(
    store: Store,
) -> None:
    await _setup(store)

    async def writer(i: int) -> None:
        async with store.db.transaction() as tx:
            await tx.execute("INSERT INTO t (id, v) VALUES ($1, 'a')", i)
            await asyncio.sleep(0)
            await tx.execute("UPDATE t SET v = 'b' WHERE id = $1", i)

    tasks = [asyncio.create_task(writer(i)) for i in range(200)]
    for n, task in enumerate(tasks):
        if n % 3 == 0:
            await asyncio.sleep(0)
            task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(r is None or isinstance(r, asyncio.CancelledError) for r in results)

    rows = await store.db.fetchall("SELECT id, v FROM t ORDER BY id")
    assert {r["v"] for r in rows} <= {"b"}  # every transaction: all or nothing
    async with store.transaction() as tx:  # no transaction was left open
        await tx.transactions.add(TransactionId("after"))
    assert await store.transactions.seen(TransactionId("after"))

"""Per-message work of the relay and the cost of the store layer, with plain-sqlite3 baselines.

Run: ``.venv/bin/python benchmarks/relay_bench.py [--messages 500] [--chats 20]``.

The relay (``bridge.relay.Relay``) runs between two in-memory channels (``bridge.testing``)
over a real SQLite file opened as the service opens it (``Store.open``, ``synchronous=FULL``).
A WeChat-like side A (``stable_addresses=False``: identities are matched) sends ``--messages``
texts spread over ``--chats`` contacts whose portals already exist, one batch each; then the
portal owner answers as many texts from side B. For each direction it prints, per message:
SQL statements (every statement SQLite ran, from its trace callback), write transactions
(``BEGIN … COMMIT`` blocks plus write statements outside one), process CPU time (the relay,
the store, SQLite and the in-memory channels together) and the wall-clock drain rate.

Then the store layer's own cost: one primary-key ``SELECT`` and one transaction holding one
``INSERT`` through ``Store.db``, next to the same statements on a plain ``sqlite3``
connection to the same file, measured in this run (alternating, median of ``--repeats``
runs; wall-clock and process CPU microseconds per call — the transaction's wall time is
mostly the fsync of ``synchronous=FULL``, its CPU time the layer's own work).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.ids import LoginId, MatrixUserId
from bridge.model import Address, ChatKind, Profile
from bridge.relay import Relay
from bridge.store import Store
from bridge.testing.memory import MemoryChannel

OWNER = Address("@owner:localhost")
LOGIN = LoginId("bench")


class Counter:
    """Counts the statements SQLite runs and the write transactions among them."""

    def __init__(self) -> None:
        self.statements = 0
        self.transactions = 0
        self._open = False

    def __call__(self, sql: str) -> None:
        head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if head in {"COMMIT", "ROLLBACK", "END"}:
            self._open = False
            return  # the end of a block is not a statement of its own
        self.statements += 1
        if head == "BEGIN":
            self._open = True
            self.transactions += 1
        elif not self._open and head in {"INSERT", "UPDATE", "DELETE", "REPLACE"}:
            self.transactions += 1

    def snapshot(self) -> tuple[int, int]:
        return self.statements, self.transactions


async def set_trace(store: Store, callback: Callable[[str], None] | None) -> None:
    """Install ``callback`` as the trace callback of the store's SQLite connection."""
    db: Any = store.db
    if hasattr(db, "set_trace"):
        await db.set_trace(callback)
    else:  # the aiosqlite-based store layer
        await db._conn.set_trace_callback(callback)


async def settle(a: MemoryChannel, b: MemoryChannel, relay: Relay) -> None:
    while True:
        while a.pending or b.pending:  # noqa: ASYNC110 - the channel offers no event to wait on
            await asyncio.sleep(0.0005)
        await relay.drain()
        if not (a.pending or b.pending):
            return


def contacts(n: int) -> list[Profile]:
    return [
        Profile(Address(f"@u{i:04d}"), name=f"Contact {i}", nick_name=f"Contact {i}", city="X")
        for i in range(n)
    ]


async def direction(
    label: str,
    counter: Counter,
    a: MemoryChannel,
    b: MemoryChannel,
    relay: Relay,
    inject: Callable[[int], None],
    n: int,
) -> list[str]:
    before = counter.snapshot()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        inject(i)
    await settle(a, b, relay)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    after = counter.snapshot()
    return [
        label,
        f"{(after[0] - before[0]) / n:.1f}",
        f"{(after[1] - before[1]) / n:.2f}",
        f"{cpu / n * 1000:.2f}",
        f"{n / wall:.0f}",
    ]


async def relay_figures(path: Path, n: int, chats: int) -> list[list[str]]:
    store = await Store.open(path)
    await store.logins.create(MatrixUserId(str(OWNER)), "wechat", login_id=LOGIN)
    book = contacts(chats)
    a = MemoryChannel("wechat", stable_addresses=False, profiles=book)
    b = MemoryChannel("matrix")
    await a.start()
    await b.start()
    relay = Relay(store, LOGIN, a, b, owner=OWNER)
    await relay.start()
    a.scan(book)
    await settle(a, b, relay)
    for p in book:  # every chat gets its portal first: the steady state is measured
        a.inject(a.incoming_text(p.address, "hello"))
    await settle(a, b, relay)
    portals = [m.chat for m in b.messages()]

    counter = Counter()
    await set_trace(store, counter)
    rows = [
        await direction(
            "WeChat -> Matrix text",
            counter,
            a,
            b,
            relay,
            lambda i: a.inject(a.incoming_text(book[i % chats].address, f"a-to-b {i}")),
            n,
        ),
        await direction(
            "Matrix -> WeChat text",
            counter,
            a,
            b,
            relay,
            lambda i: b.inject(
                b.incoming_text(
                    portals[i % chats], f"b-to-a {i}", sender=OWNER, chat_kind=ChatKind.DIRECT
                )
            ),
            n,
        ),
    ]
    await set_trace(store, None)
    delivered = len(a.messages()), len(b.messages()) - chats
    assert delivered == (n, n), f"not every message was delivered: {delivered}"
    await relay.stop()
    await a.stop()
    await b.stop()
    await store.close()
    return rows


async def _timed(calls: int, body: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    """Wall and CPU seconds per call of ``calls`` awaited calls of ``body(i)``."""
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(calls):
        await body(i)
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


async def store_figures(path: Path, rounds: int, repeats: int) -> list[list[str]]:
    """Median over ``repeats`` alternating runs of ``rounds`` calls each, store then plain."""
    store = await Store.open(path)
    db = store.db
    await db.execute("CREATE TABLE IF NOT EXISTS bench (id INTEGER PRIMARY KEY, v TEXT)")
    await db.execute("INSERT OR REPLACE INTO bench (id, v) VALUES (1, 'x')")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")

    async def store_select(i: int) -> None:
        await db.fetchone("SELECT * FROM bench WHERE id = $1", 1)

    async def plain_select(i: int) -> None:
        conn.execute("SELECT * FROM bench WHERE id = ?", (1,)).fetchone()

    async def store_tx(i: int) -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO bench (v) VALUES ($1)", f"s{i}")

    async def plain_tx(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bench (v) VALUES (?)", (f"p{i}",))
        conn.execute("COMMIT")

    samples: dict[str, list[tuple[float, float]]] = {}
    for _ in range(repeats):
        for name, body, n in (
            ("store select", store_select, rounds),
            ("plain select", plain_select, rounds),
            ("store tx", store_tx, rounds // 10),
            ("plain tx", plain_tx, rounds // 10),
        ):
            samples.setdefault(name, []).append(await _timed(n, body))
    conn.close()
    await store.close()

    def cell(name: str) -> str:
        wall = statistics.median(s[0] for s in samples[name]) * 1e6
        cpu = statistics.median(s[1] for s in samples[name]) * 1e6
        return f"{wall:.1f} / {cpu:.1f}"

    return [
        ["SELECT by primary key", cell("store select"), cell("plain select")],
        ["transaction (1 INSERT)", cell("store tx"), cell("plain tx")],
    ]


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as folder:
        rows = await relay_figures(Path(folder) / "relay.db", args.messages, args.chats)
        store_rows = await store_figures(Path(folder) / "store.db", args.rounds, args.repeats)
    print(f"relay_bench: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version},")
    print(f"  {args.messages} messages per direction over {args.chats} chats, synchronous=FULL")
    print()
    header = ["per message", "statements", "write tx", "CPU ms", "msg/s"]
    print(table(header, rows))
    print()
    print(f"store layer: median of {args.repeats} alternating runs, µs per call, wall / CPU")
    print(table(["statement", "Store.db", "plain sqlite3"], store_rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500, help="texts per direction")
    parser.add_argument("--chats", type=int, default=20, help="contacts with a portal")
    parser.add_argument("--rounds", type=int, default=2000, help="store-layer selects per run")
    parser.add_argument("--repeats", type=int, default=5, help="store-layer runs (median)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

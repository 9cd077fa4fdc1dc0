"""A relay process between two SQLite-backed test channels, for the crash test.

Usage: ``python -m tests.core.relay_worker DIR [--die-after-sends N] [--die-in-ack K]
[--pace-ms MS]``. ``DIR/source.db`` holds the stream to relay (table ``events``) and the
acknowledged position (table ``cursor``), like WeChat's SyncKey; ``DIR/sink.db`` records what
the receiving side got (table ``received``), de-duplicating sends by the relay's delivery key
as a homeserver does by transaction id; ``DIR/bridge.db`` is the bridge's store. The process
exits 0 once everything is acknowledged and delivered. ``--die-after-sends N`` SIGKILLs it right
after the receiving side recorded its N-th new message (before the relay records delivery);
``--die-in-ack K`` at its K-th acknowledgement (after the journal commit, before the source
moves on); ``--pace-ms`` slows each send so that an outside kill lands mid-stream.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from bridge.channel import EventBatch
from bridge.ids import LoginId, MatrixUserId
from bridge.model import Address, Content, Message, Profile, RemoteId, SentMessage, Text
from bridge.relay import Relay, RetryPolicy, delivery_key
from bridge.store import EntryState, Store

BATCH = 7
LOGIN = LoginId("crash-login")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def create_source(path: Path, chats: int, per_chat: int) -> list[tuple[str, str]]:
    """Write a stream of ``chats * per_chat`` messages, chats interleaved; returns
    (chat, body) in stream order."""
    stream = [(f"chat{c}", f"chat{c} message {n}") for n in range(per_chat) for c in range(chats)]
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, chat TEXT, remote_id TEXT, body TEXT)"
        )
        conn.execute("CREATE TABLE cursor (pos INTEGER NOT NULL)")
        conn.execute("INSERT INTO cursor VALUES (0)")
        conn.executemany(
            "INSERT INTO events (seq, chat, remote_id, body) VALUES (?, ?, ?, ?)",
            [(i + 1, chat, f"src-{i + 1}", body) for i, (chat, body) in enumerate(stream)],
        )
    conn.close()
    return stream


class SourceChannel:
    """Side A: reads the stream in batches from its acknowledged position."""

    name = "source"
    stable_addresses = True

    def __init__(self, path: Path, die_in_ack: int | None) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._die_in_ack = die_in_ack
        self._acks = 0
        self.total = self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def cursor(self) -> int:
        return int(self._conn.execute("SELECT pos FROM cursor").fetchone()[0])

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def events(self) -> AsyncIterator[EventBatch]:
        position = self.cursor()
        while position < self.total:
            rows = self._conn.execute(
                "SELECT seq, chat, remote_id, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (position, BATCH),
            ).fetchall()
            position = rows[-1][0]
            events = tuple(
                Message(Address(chat), Address(chat), RemoteId(rid), Text(body), float(seq))
                for seq, chat, rid, body in rows
            )
            yield EventBatch(events, ack=self._acker(position))
        await asyncio.Event().wait()  # a live source never ends by itself

    def _acker(self, position: int) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            self._acks += 1
            if self._acks == self._die_in_ack:
                _die()
            self._conn.execute("UPDATE cursor SET pos = MAX(pos, ?)", (position,))

        return ack

    async def send(
        self, chat: Address, content: Content, *, sender: Profile | None = None
    ) -> SentMessage:
        raise AssertionError("nothing is sent to the source in this test")

    async def get_profile(self, address: Address) -> Profile:
        return Profile(address, name=address)


class SinkChannel:
    """Side B: records what it receives; de-duplicates sends by delivery key."""

    name = "sink"
    stable_addresses = True

    def __init__(self, path: Path, die_after_sends: int | None, pace_s: float) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS received (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " key TEXT UNIQUE, chat TEXT, body TEXT)"
        )
        self._die_after = die_after_sends
        self._pace_s = pace_s
        self._new = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def events(self) -> AsyncIterator[EventBatch]:
        await asyncio.Event().wait()
        yield EventBatch(())

    async def send(
        self, chat: Address, content: Content, *, sender: Profile | None = None
    ) -> SentMessage:
        if self._pace_s:
            await asyncio.sleep(self._pace_s)
        key = delivery_key.get()
        assert key is not None and isinstance(content, Text)
        cur = self._conn.execute(
            "INSERT INTO received (key, chat, body) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
            (key, chat, content.body),
        )
        if cur.rowcount:
            self._new += 1
            if self._new == self._die_after:
                _die()
        row = self._conn.execute("SELECT id FROM received WHERE key = ?", (key,)).fetchone()
        return SentMessage(RemoteId(f"sink-{row[0]}"))

    async def get_profile(self, address: Address) -> Profile:
        return Profile(address)

    async def ensure_portal(self, remote: Profile, *, owner: Address) -> Address:
        return Address(f"room-{remote.display_name}")


async def run(
    directory: Path, die_after_sends: int | None, die_in_ack: int | None, pace_s: float
) -> None:
    store = await Store.open(directory / "bridge.db")
    if await store.logins.get(LOGIN) is None:
        await store.logins.create(MatrixUserId("@owner:localhost"), "source", login_id=LOGIN)
    source = SourceChannel(directory / "source.db", die_in_ack)
    sink = SinkChannel(directory / "sink.db", die_after_sends, pace_s)
    relay = Relay(
        store,
        LOGIN,
        source,
        sink,
        owner=Address("@owner:localhost"),
        retry=RetryPolicy(attempts=3, first_delay_s=0.01),
    )
    await relay.start()
    try:
        while True:
            await relay.drain()
            pending = await store.journal.entries(LOGIN, EntryState.PENDING)
            if source.cursor() == source.total and not pending:
                break
            await asyncio.sleep(0.005)
    finally:
        await relay.stop()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--die-after-sends", type=int)
    parser.add_argument("--die-in-ack", type=int)
    parser.add_argument("--pace-ms", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(run(args.directory, args.die_after_sends, args.die_in_ack, args.pace_ms / 1000))
    sys.exit(0)


if __name__ == "__main__":
    main()

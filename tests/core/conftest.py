"""Fixtures of the core tests: a migrated SQLite store in a temporary directory, and a relay
between two in-memory channels over it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bridge.ids import LoginId, MatrixUserId
from bridge.model import Address, Notice, Profile, StateEvent, Text
from bridge.relay import Relay, RetryPolicy
from bridge.store import Login, Side, Store
from bridge.testing.memory import MemoryChannel


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


async def until(condition: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Wait until ``condition()`` is true (polled; fails the test after ``timeout_s``)."""
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.001)


class Rig:
    """A relay between two started in-memory channels over a real SQLite store.

    ``a`` plays WeChat (``stable_addresses`` as asked), ``b`` Matrix. ``settle()`` waits until
    both channels' batches are journaled and every delivery is done.
    """

    owner = Address("@alice:localhost")

    def __init__(self, store: Store, login: Login, a: MemoryChannel, b: MemoryChannel) -> None:
        self.store = store
        self.login = login
        self.a = a
        self.b = b
        self.states: list[tuple[Side, StateEvent]] = []
        self.relay = self._new_relay()

    def _new_relay(self) -> Relay:
        async def on_state(side: Side, state: StateEvent) -> None:
            self.states.append((side, state))

        return Relay(
            self.store,
            self.login.id,
            self.a,
            self.b,
            owner=self.owner,
            retry=RetryPolicy(attempts=3, first_delay_s=0.001, max_delay_s=0.01),
            on_state=on_state,
        )

    async def settle(self) -> None:
        async with asyncio.timeout(10):
            while True:
                await until(lambda: not (self.a.pending or self.b.pending))
                await self.relay.drain()
                if not (self.a.pending or self.b.pending):
                    return

    async def restart(self) -> None:
        """Stop relay and channels as a process exit would, then start them all again."""
        await self.relay.stop()
        await self.a.stop()
        await self.b.stop()
        await self.a.start()
        await self.b.start()
        self.relay = self._new_relay()
        await self.relay.start()

    async def portal_of(self, address: str) -> Address:
        """The side-B chat of the side-A chat at ``address`` (which must have a portal)."""
        ident = await self.store.identities.by_address(self.login.id, Address(address))
        assert ident is not None, f"no identity for {address}"
        portal = await self.store.portals.get(ident.id)
        assert portal is not None, f"no portal for {address}"
        return Address(portal.room)

    def notices(self, channel: MemoryChannel, chat: str | None = None) -> list[str]:
        return [
            s.content.text
            for s in channel.messages(None if chat is None else Address(chat))
            if isinstance(s.content, Notice)
        ]

    def texts(self, channel: MemoryChannel, chat: str | None = None) -> list[str]:
        return [
            s.content.body
            for s in channel.messages(None if chat is None else Address(chat))
            if isinstance(s.content, Text)
        ]


ALICE = Profile(Address("@u-alice"), name="Alice", nick_name="Alice", city="Paris")
BOB = Profile(Address("@u-bob"), name="Bob", nick_name="Bob", city="Oslo")


async def make_rig(
    store: Store,
    login: Login,
    *,
    a: MemoryChannel | None = None,
    b: MemoryChannel | None = None,
    stable: bool = True,
) -> Rig:
    a = a or MemoryChannel("wechat", stable_addresses=stable, profiles=(ALICE, BOB))
    b = b or MemoryChannel("matrix")
    await a.start()
    await b.start()
    rig = Rig(store, login, a, b)
    await rig.relay.start()
    return rig


@pytest.fixture
async def rig(store: Store, login: Login) -> AsyncIterator[Rig]:
    r = await make_rig(store, login)
    try:
        yield r
    finally:
        await r.relay.stop()
        await r.a.stop()
        await r.b.stop()

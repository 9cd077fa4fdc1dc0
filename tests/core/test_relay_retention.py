"""Retention applies while the relay runs: old delivered journal entries and old message-map
rows go, undelivered entries stay, and a reply to a forgotten message arrives unquoted."""

from __future__ import annotations

import asyncio

from bridge.config import RetentionConfig
from bridge.model import Address, Content, Profile, SentMessage
from bridge.relay import Relay, RetryPolicy
from bridge.store import EntryState, Login, Store
from bridge.testing.memory import MemoryChannel
from tests.core.conftest import ALICE, BOB, Rig, until

#: Short enough for a test: rows older than 0.3 s go, looked at every 0.05 s.
SHORT = RetentionConfig(journal_s=0.3, message_map_s=0.3, interval_s=0.05)


async def test_retention_prunes_while_running_and_keeps_undelivered_entries(
    store: Store, login: Login
) -> None:
    gate = asyncio.Event()

    class StuckForBob(MemoryChannel):
        async def send(
            self, chat: Address, content: Content, *, sender: Profile | None = None
        ) -> SentMessage:
            if sender is not None and sender.display_name == "Bob":
                await gate.wait()
            return await super().send(chat, content, sender=sender)

    a = MemoryChannel("wechat", stable_addresses=True, profiles=(ALICE, BOB))
    b = StuckForBob("matrix")
    await a.start()
    await b.start()
    rig = Rig(store, login, a, b)
    rig.relay = Relay(
        store,
        login.id,
        a,
        b,
        owner=Rig.owner,
        retry=RetryPolicy(attempts=3, first_delay_s=0.001, max_delay_s=0.01),
        retention=SHORT,
    )
    await rig.relay.start()
    try:
        first = a.incoming_text(ALICE.address, "remember me?")
        a.inject(first, a.incoming_text(BOB.address, "stuck"))
        await until(lambda: len(b.messages()) == 1)
        [bridged] = b.messages()
        assert await store.messages.by_event_id(login.id, bridged.remote_id) is not None

        # No restart: the relay's own periodic task prunes.
        async def pruned() -> bool:
            gone = await store.messages.by_event_id(login.id, bridged.remote_id) is None
            delivered = await store.journal.entries(login.id, EntryState.DELIVERED)
            return gone and not delivered

        async with asyncio.timeout(5):
            while not await pruned():  # noqa: ASYNC110 (polling the database)
                await asyncio.sleep(0.05)
        [stuck] = await store.journal.entries(login.id, EntryState.PENDING)
        await asyncio.sleep(0.5)  # several more rounds: the undelivered entry stays
        assert [e.id for e in await store.journal.entries(login.id, EntryState.PENDING)] == [
            stuck.id
        ]

        portal = await rig.portal_of(ALICE.address)
        b.inject(b.incoming_text(portal, "yes!", sender=Rig.owner, reply_to=bridged.remote_id))
        await until(lambda: bool(rig.texts(a)))
        [reply] = a.messages()
        assert "yes!" in str(reply.content)

        gate.set()
        await until(lambda: "stuck" in rig.texts(b))
    finally:
        await rig.relay.stop()
    assert rig.relay._pumps and all(t.done() for t in rig.relay._pumps)

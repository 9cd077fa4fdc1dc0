"""The relay between two in-memory channels: delivery, portals, order, ack, replay, echoes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bridge.model import (
    Address,
    ChatKind,
    Content,
    LoggedIn,
    Media,
    MediaKind,
    Message,
    Profile,
    QRCodeNeeded,
    RemoteId,
    SentMessage,
    Text,
)
from bridge.store import EntryState, Login, Origin, Side, Store
from bridge.testing.memory import MemoryChannel
from tests.core.conftest import ALICE, BOB, Rig, make_rig, until


async def test_a_message_reaches_a_new_portal_as_its_sender(rig: Rig) -> None:
    rig.a.inject(rig.a.incoming_text(ALICE.address, "hello from wechat"))
    await rig.settle()

    [sent] = rig.b.messages()
    assert sent.content == Text("hello from wechat")
    assert sent.chat == await rig.portal_of(ALICE.address)
    assert sent.sender is not None and sent.sender.display_name == "Alice"
    ident = await rig.store.identities.by_address(rig.login.id, ALICE.address)
    assert ident is not None and sent.sender.address == ident.id
    link = await rig.store.messages.by_event_id(rig.login.id, sent.remote_id)
    assert link is not None and link.origin is Origin.A and link.identity_id == ident.id


async def test_a_reply_in_the_portal_reaches_the_contact(rig: Rig) -> None:
    first = rig.a.incoming_text(ALICE.address, "how are you?")
    rig.a.inject(first)
    await rig.settle()
    portal = await rig.portal_of(ALICE.address)
    [bridged] = rig.b.messages()

    reply = rig.b.incoming_text(
        portal, "fine, thanks", sender=rig.owner, reply_to=bridged.remote_id
    )
    rig.b.inject(reply)
    await rig.settle()

    [answer] = rig.a.messages()
    assert (answer.chat, answer.content, answer.reply_to) == (
        ALICE.address,
        Text("fine, thanks"),
        first.remote_id,
    )
    # ... and a reply to the answer from WeChat points at the Matrix event.
    rig.a.inject(rig.a.incoming_text(ALICE.address, "good!", reply_to=answer.remote_id))
    await rig.settle()
    assert rig.b.messages()[-1].reply_to == reply.remote_id


async def test_chats_keep_their_order_while_a_stuck_chat_does_not_block_others(
    store: Store, login: Login
) -> None:
    gate = asyncio.Event()

    class StuckForAlice(MemoryChannel):
        async def send(
            self, chat: Address, content: Content, *, sender: Profile | None = None
        ) -> SentMessage:
            if sender is not None and sender.display_name == "Alice":
                await gate.wait()
            return await super().send(chat, content, sender=sender)

    rig = await make_rig(store, login, b=StuckForAlice("matrix"))
    try:
        for n in range(5):
            rig.a.inject(
                rig.a.incoming_text(ALICE.address, f"alice {n}"),
                rig.a.incoming_text(BOB.address, f"bob {n}"),
            )
        await until(lambda: len(rig.b.messages()) >= 5)
        assert rig.texts(rig.b) == [f"bob {n}" for n in range(5)]

        gate.set()
        await rig.settle()
        assert rig.texts(rig.b, await rig.portal_of(ALICE.address)) == [
            f"alice {n}" for n in range(5)
        ]
        assert len(rig.b.messages()) == 10
    finally:
        await rig.relay.stop()


async def test_batches_are_acked_only_after_their_journal_commit(
    db_path: Path, store: Store, login: Login
) -> None:
    seen_at_ack: list[list[str]] = []

    class Recording(MemoryChannel):
        async def _ack(self, number: int) -> None:
            # Another connection sees only what is committed.
            with sqlite3.connect(db_path) as conn:
                rows = conn.execute("SELECT dedup_key FROM journal ORDER BY id").fetchall()
            seen_at_ack.append([r[0] for r in rows])
            await super()._ack(number)

    a = Recording("wechat", profiles=(ALICE,))
    rig = await make_rig(store, login, a=a)
    try:
        m1, m2 = a.incoming_text(ALICE.address, "1"), a.incoming_text(ALICE.address, "2")
        a.inject(m1, m2)
        m3 = a.incoming_text(ALICE.address, "3")
        a.inject(m3)
        await rig.settle()
    finally:
        await rig.relay.stop()

    assert seen_at_ack == [
        [f"msg:{m1.remote_id}", f"msg:{m2.remote_id}"],
        [f"msg:{m1.remote_id}", f"msg:{m2.remote_id}", f"msg:{m3.remote_id}"],
    ]


async def test_a_redelivered_batch_is_not_relayed_twice(store: Store, login: Login) -> None:
    class AckLost(MemoryChannel):
        """The first ack never reaches the source (as if the process died right then)."""

        lost = False

        async def _ack(self, number: int) -> None:
            if not self.lost:
                self.lost = True
                raise ConnectionError("ack lost")
            await super()._ack(number)

    a = AckLost("wechat", profiles=(ALICE,))
    rig = await make_rig(store, login, a=a)
    try:
        a.inject(a.incoming_text(ALICE.address, "only once"))
        await until(lambda: rig.b.messages())
        assert a.pending  # the source still holds the batch ...
        await rig.restart()  # ... and sends it again
        await rig.settle()
        assert rig.texts(rig.b) == ["only once"]
        assert a.pending == ()
    finally:
        await rig.relay.stop()


async def test_restarting_with_undelivered_entries_delivers_each_once_in_order(
    store: Store, login: Login
) -> None:
    gate = asyncio.Event()

    class Blocked(MemoryChannel):
        async def send(
            self, chat: Address, content: Content, *, sender: Profile | None = None
        ) -> SentMessage:
            await gate.wait()
            return await super().send(chat, content, sender=sender)

    b = Blocked("matrix")
    rig = await make_rig(store, login, b=b)
    try:
        for n in range(4):
            rig.a.inject(rig.a.incoming_text(ALICE.address, f"m{n}"))
        await until(lambda: not rig.a.pending)
        pending = await store.journal.entries(login.id, EntryState.PENDING)
        assert len(pending) == 4 and b.messages() == []

        gate.set()
        await rig.restart()
        await rig.settle()
        assert rig.texts(b) == ["m0", "m1", "m2", "m3"]
        assert await store.journal.entries(login.id, EntryState.PENDING) == []
        # A third start finds nothing to do.
        await rig.restart()
        await rig.settle()
        assert len(b.messages()) == 4
    finally:
        await rig.relay.stop()


async def test_the_same_message_twice_in_a_batch_or_in_two_batches_arrives_once(rig: Rig) -> None:
    msg = rig.a.incoming_text(ALICE.address, "dup")
    rig.a.inject(msg, msg)
    await rig.settle()
    rig.a.inject(msg)  # WeChat redelivers after a crash of its own
    await rig.settle()
    assert rig.texts(rig.b) == ["dup"]


async def test_echoes_of_the_bridges_own_sends_are_not_relayed_back(rig: Rig) -> None:
    rig.a.inject(rig.a.incoming_text(ALICE.address, "ping"))
    await rig.settle()
    portal = await rig.portal_of(ALICE.address)
    [to_matrix] = rig.b.messages()
    rig.b.inject(rig.b.incoming_text(portal, "pong", sender=rig.owner))
    await rig.settle()
    [to_wechat] = rig.a.messages()

    # Both homeserver and WeChat echo what the bridge sent, with the ids the sends returned.
    rig.b.inject(Message(portal, Address("@ghost"), to_matrix.remote_id, to_matrix.content, 1.0))
    rig.a.inject(
        Message(
            ALICE.address,
            rig.a.account.address,
            to_wechat.remote_id,
            Text("pong"),
            2.0,
            from_self=True,
        )
    )
    await rig.settle()

    assert rig.texts(rig.a) == ["pong"]
    assert rig.texts(rig.b) == ["ping"]


async def test_messages_sent_from_the_phone_appear_as_the_owner(rig: Rig) -> None:
    rig.a.inject(
        rig.a.incoming_text(
            ALICE.address, "sent on my phone", sender=rig.a.account.address, from_self=True
        )
    )
    await rig.settle()
    [sent] = rig.b.messages()
    assert sent.sender is not None and sent.sender.is_self
    assert sent.sender.address == rig.owner


async def test_media_goes_through_send_media(rig: Rig) -> None:
    photo = Media(MediaKind.IMAGE, b"\x89PNG...", "image/png", "cat.png", width=4, height=3)
    rig.a.inject(Message(ALICE.address, ALICE.address, RemoteId("900"), photo, 5.0))
    await rig.settle()
    [sent] = rig.b.messages()
    assert sent.content == photo


async def test_a_message_in_a_room_that_is_no_portal_is_not_bridged(rig: Rig) -> None:
    rig.b.inject(rig.b.incoming_text(Address("!random"), "hi", sender=rig.owner))
    await rig.settle()
    assert rig.a.messages() == [] and rig.b.messages() == []
    [entry] = await rig.store.journal.entries(rig.login.id)
    assert (entry.state, entry.last_error) == (EntryState.FAILED, "not a portal")


async def test_state_events_are_passed_on_in_order(rig: Rig) -> None:
    await rig.a.login()
    rig.a.scan()
    await rig.settle()
    kinds = [(side, type(state)) for side, state in rig.states]
    assert kinds == [(Side.A, QRCodeNeeded), (Side.A, LoggedIn)]
    login = await rig.store.logins.get(rig.login.id)
    assert login is not None and login.state.value == "active"


async def test_stop_is_idempotent_and_leaves_undelivered_entries(rig: Rig) -> None:
    await rig.relay.stop()
    await rig.relay.stop()
    rig.a.inject(rig.a.incoming_text(ALICE.address, "while stopped"))
    await asyncio.sleep(0)
    assert rig.b.messages() == []
    assert rig.a.pending  # nobody journaled (nor acked) it


async def test_a_group_message_names_its_member(rig: Rig) -> None:
    group = Address("@@team")
    rig.a.add_profiles(Profile(group, ChatKind.GROUP, name="Team"))
    rig.a.inject(
        rig.a.incoming_text(group, "hi team", sender=BOB.address, chat_kind=ChatKind.GROUP)
    )
    await rig.settle()
    [sent] = rig.b.messages()
    assert sent.sender is not None and sent.sender.display_name == "Bob"
    assert sent.chat == await rig.portal_of(group)
    assert rig.b.portals  # the portal was made from the group's profile
    assert (await rig.b.get_profile(sent.chat)).name == "Team"

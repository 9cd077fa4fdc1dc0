"""A chat read on the phone (side A's ``ChatRead``) marks its portal read on side B."""

from __future__ import annotations

import time

from bridge.model import Address, ChatRead, RemoteId
from bridge.store import EntryState
from bridge.testing.memory import MarkedRead
from tests.core.conftest import ALICE, BOB, Rig


def read(chat: str, n: int) -> ChatRead:
    """The phone read ``chat`` (notification number ``n``)."""
    return ChatRead(Address(chat), RemoteId(f"read-{n}"), time.time())


async def test_a_read_lands_on_the_newest_event_after_the_messages_before_it(rig: Rig) -> None:
    first = rig.a.incoming_text(ALICE.address, "are you there?")
    second = rig.a.incoming_text(ALICE.address, "hello?")
    rig.a.inject(first, second, read(ALICE.address, 1))  # one batch: the read comes last
    await rig.settle()

    portal = await rig.portal_of(ALICE.address)
    newest = rig.b.messages(portal)[-1]
    marks = [s for s in rig.b.sent if isinstance(s, MarkedRead)]
    assert marks == [MarkedRead(portal, newest.remote_id)]
    assert rig.b.sent[-1] == marks[0]  # after both messages were posted

    # A redelivered notification is not carried twice; the owner's own reply counts too.
    answer = rig.b.incoming_text(portal, "yes!", sender=rig.owner)
    rig.b.inject(answer)
    await rig.settle()
    rig.a.inject(read(ALICE.address, 1), read(ALICE.address, 2))
    await rig.settle()
    marks = [s for s in rig.b.sent if isinstance(s, MarkedRead)]
    assert marks[1:] == [MarkedRead(portal, answer.remote_id)]


async def test_a_read_of_a_chat_without_a_portal_or_unknown_changes_nothing(rig: Rig) -> None:
    rig.a.inject(rig.a.incoming_text(ALICE.address, "hi"))
    await rig.settle()
    rig.a.add_profiles(BOB)
    rig.a.inject(read(BOB.address, 1), read("@unknown", 2))
    await rig.settle()

    assert not [s for s in rig.b.sent if isinstance(s, MarkedRead)]
    pending = await rig.store.journal.entries(rig.login.id, EntryState.PENDING)
    assert pending == []


async def test_a_read_up_to_a_message_lands_on_that_message(rig: Rig) -> None:
    first = rig.a.incoming_text(ALICE.address, "one")
    rig.a.inject(first, rig.a.incoming_text(ALICE.address, "two"))
    await rig.settle()
    portal = await rig.portal_of(ALICE.address)
    bridged = rig.b.messages(portal)[0]

    up_to = ChatRead(ALICE.address, RemoteId("read-9"), time.time(), up_to=first.remote_id)
    rig.a.inject(up_to)
    await rig.settle()

    assert [s for s in rig.b.sent if isinstance(s, MarkedRead)] == [
        MarkedRead(portal, bridged.remote_id)
    ]

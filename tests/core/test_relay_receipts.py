"""Read receipts, delivery reports and edits through the relay, over a real SQLite store:
a receipt marks the chat read on the other side once, delivery outcomes are reported back to
the sender's side, and an edit carried as recall + resend keeps standing for its original
after a restart."""

from __future__ import annotations

import time

import attrs

from bridge.errors import DeliveryFailed
from bridge.model import Address, ReadReceipt, RemoteId, Revocation, Text
from bridge.store import EntryState, Login, Side, Store
from bridge.testing.memory import MarkedRead, MemoryChannel
from tests.core.conftest import ALICE, BOB, Rig, make_rig
from tests.core.test_relay_message_actions import Keeping


class Reporting(MemoryChannel):
    """Side B that records the delivery reports the core gives it."""

    def __init__(self) -> None:
        super().__init__("matrix")
        self.reports: list[tuple[Address, RemoteId, str | None]] = []

    async def delivery_report(
        self, chat: Address, remote_id: RemoteId, *, error: str | None = None
    ) -> None:
        self.reports.append((chat, remote_id, error))


def _read(rig: Rig, chat: Address, remote_id: RemoteId) -> ReadReceipt:
    return ReadReceipt(chat, rig.owner, remote_id, time.time())


def _marks(channel: MemoryChannel) -> list[MarkedRead]:
    return [s for s in channel.sent if isinstance(s, MarkedRead)]


async def test_a_receipt_marks_the_chat_read_once_and_only_for_bridged_messages(
    store: Store, login: Login
) -> None:
    rig = await make_rig(store, login)
    first = rig.a.incoming_text(ALICE.address, "first")
    second = rig.a.incoming_text(ALICE.address, "second")
    from_bob = rig.a.incoming_text(BOB.address, "from bob")
    rig.a.inject(first, second, from_bob)
    await rig.settle()
    alice, bob = await rig.portal_of(ALICE.address), await rig.portal_of(BOB.address)
    on_b = {m.content.body: m.remote_id for m in rig.b.messages() if isinstance(m.content, Text)}

    rig.b.inject(
        _read(rig, alice, on_b["first"]),
        _read(rig, alice, on_b["second"]),  # only the last of a chat in a batch counts
        _read(rig, bob, on_b["second"]),  # names a message of another chat: dropped
        _read(rig, alice, RemoteId("$never-bridged")),
    )
    await rig.settle()
    rig.b.inject(_read(rig, alice, on_b["second"]), _read(rig, alice, on_b["first"]))
    await rig.settle()

    assert _marks(rig.a) == [MarkedRead(ALICE.address, second.remote_id)]
    entries = await store.journal.entries(login.id)
    assert not [e for e in entries if isinstance(e.event(), ReadReceipt)]  # never journaled


async def test_deliveries_and_failures_are_reported_to_the_senders_side(
    store: Store, login: Login
) -> None:
    rig = await make_rig(store, login, b=Reporting())
    rig.a.inject(rig.a.incoming_text(ALICE.address, "hi"))
    await rig.settle()
    portal = await rig.portal_of(ALICE.address)
    ok = rig.b.incoming_text(portal, "hello", sender=rig.owner)
    rig.b.inject(ok)
    await rig.settle()
    rig.a.fail_next(error=DeliveryFailed("refused by the network"))  # for good
    lost = rig.b.incoming_text(portal, "lost", sender=rig.owner)
    rig.b.inject(lost)
    await rig.settle()
    rig.b.inject(ok)  # a redelivery is no new delivery
    await rig.settle()

    assert isinstance(rig.b, Reporting)
    [delivered, failed] = rig.b.reports
    assert delivered == (portal, ok.remote_id, None)
    assert failed == (portal, lost.remote_id, "refused by the network")


async def test_an_edit_keeps_standing_for_its_original_after_a_restart(
    store: Store, login: Login
) -> None:
    a = Keeping()
    rig = await make_rig(store, login, a=a, stable=False)
    a.scan()
    a.inject(a.incoming_text(ALICE.address, "hi"))
    await rig.settle()
    portal = await rig.portal_of(ALICE.address)
    original = rig.b.incoming_text(portal, "see you at 5", sender=rig.owner)
    rig.b.inject(original)
    await rig.settle()
    edit1 = attrs.evolve(
        rig.b.incoming_text(portal, "see you at 6", sender=rig.owner), replaces=original.remote_id
    )
    rig.b.inject(edit1)
    await rig.settle()

    await rig.restart()
    edit2 = attrs.evolve(
        rig.b.incoming_text(portal, "see you at 7", sender=rig.owner), replaces=original.remote_id
    )
    rig.b.inject(edit2)
    await rig.settle()
    rig.b.inject(
        rig.b.incoming_text(portal, "ok?", sender=rig.owner, reply_to=original.remote_id),
        Revocation(portal, rig.owner, original.remote_id, time.time()),
    )
    await rig.settle()

    sent = {m.content.body: m.remote_id for m in a.messages() if isinstance(m.content, Text)}
    revoked = [m.remote_id for m in a.revoked]
    # Each edit recalls what stood for the original then; the redaction the latest edit's.
    assert revoked == [sent["see you at 5"], sent["see you at 6"], sent["see you at 7"]]
    [quoted] = a.quoted
    assert (quoted.remote_id, quoted.text) == (sent["see you at 7"], "see you at 7")
    failed = await store.journal.entries(login.id, EntryState.FAILED)
    assert not failed


async def test_an_edit_whose_recall_is_refused_is_sent_and_the_user_told(
    store: Store, login: Login
) -> None:
    rig = await make_rig(store, login)
    rig.a.inject(rig.a.incoming_text(ALICE.address, "hi"))
    await rig.settle()
    portal = await rig.portal_of(ALICE.address)
    original = rig.b.incoming_text(portal, "the tent is blue", sender=rig.owner)
    rig.b.inject(original)
    await rig.settle()
    rig.a.refuse_revokes("too late to recall")

    fixed = rig.b.incoming_text(portal, "the tent is green", sender=rig.owner)
    rig.b.inject(attrs.evolve(fixed, replaces=original.remote_id))
    await rig.settle()

    assert [m.content for m in rig.a.messages()][-1] == Text("the tent is green")
    notices = [str(m.content) for m in rig.b.messages(portal) if "Could not recall" in str(m)]
    assert len(notices) == 1 and "too late to recall" in notices[0]


async def test_a_replacement_row_follows_the_latest_edit_and_ages_out(
    store: Store, login: Login
) -> None:
    original = RemoteId("$original")
    await store.replacements.put(login.id, Side.B, original, RemoteId("$edit1"), 100.0)
    await store.replacements.put(login.id, Side.B, original, RemoteId("$edit2"), 200.0)

    assert await store.replacements.current(login.id, Side.B, original) == "$edit2"
    assert await store.replacements.current(login.id, Side.A, original) == original
    assert await store.replacements.prune(before=150.0) == 0
    assert await store.replacements.prune(before=250.0) == 1
    assert await store.replacements.get(login.id, Side.B, original) is None

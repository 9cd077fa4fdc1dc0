"""Revocations both ways, retries, and the notices that report what could not be done."""

from __future__ import annotations

from bridge.errors import DeliveryFailed, RateLimited
from bridge.model import Address, Media, MediaKind, Message, RemoteId, Revocation
from bridge.store import EntryState, Login, Store
from bridge.testing.memory import MemoryChannel
from tests.core.conftest import ALICE, BOB, Rig, make_rig


async def _bridge_one_each_way(rig: Rig) -> tuple[Message, Message, Address]:
    """Alice writes on WeChat, the owner answers on Matrix; returns both inbound messages."""
    from_wechat = rig.a.incoming_text(ALICE.address, "a typo")
    rig.a.inject(from_wechat)
    await rig.settle()
    portal = await rig.portal_of(ALICE.address)
    from_matrix = rig.b.incoming_text(portal, "oops wrong chat", sender=rig.owner)
    rig.b.inject(from_matrix)
    await rig.settle()
    return from_wechat, from_matrix, portal


async def test_a_recall_on_wechat_redacts_the_matrix_message(rig: Rig) -> None:
    from_wechat, _, portal = await _bridge_one_each_way(rig)
    [to_matrix] = rig.b.messages(portal)

    rig.a.inject(Revocation(ALICE.address, ALICE.address, from_wechat.remote_id, 3.0))
    await rig.settle()

    assert [(r.chat, r.remote_id) for r in rig.b.revocations()] == [(portal, to_matrix.remote_id)]
    assert rig.notices(rig.a) == [] and rig.notices(rig.b) == []


async def test_a_redaction_on_matrix_recalls_the_wechat_message(rig: Rig) -> None:
    _, from_matrix, portal = await _bridge_one_each_way(rig)
    [to_wechat] = rig.a.messages()

    rig.b.inject(Revocation(portal, rig.owner, from_matrix.remote_id, 4.0))
    await rig.settle()
    # WeChat tells every session about the recall, the bridge's own included: not an echo loop.
    rig.a.inject(Revocation(ALICE.address, rig.a.account.address, to_wechat.remote_id, 5.0))
    await rig.settle()

    assert [(r.chat, r.remote_id) for r in rig.a.revocations()] == [
        (ALICE.address, to_wechat.remote_id)
    ]
    assert rig.b.revocations() == []
    assert rig.notices(rig.a) == [] and rig.notices(rig.b) == []


async def test_a_refused_recall_is_explained_in_the_origin_chat(rig: Rig) -> None:
    _, from_matrix, portal = await _bridge_one_each_way(rig)
    rig.a.refuse_revokes("WeChat only recalls messages sent in the last 2 minutes")

    rig.b.inject(Revocation(portal, rig.owner, from_matrix.remote_id, 200.0))
    await rig.settle()

    assert rig.a.revocations() == []
    [notice] = rig.notices(rig.b, portal)
    assert "oops wrong chat" in notice
    assert "WeChat only recalls messages sent in the last 2 minutes" in notice
    assert "wechat" in notice


async def test_a_recall_of_something_never_bridged_does_nothing(rig: Rig) -> None:
    rig.a.inject(Revocation(ALICE.address, ALICE.address, RemoteId("never-seen"), 1.0))
    await rig.settle()
    assert rig.b.sent == [] and rig.a.sent == []


async def test_a_message_that_cannot_be_delivered_is_reported_to_its_origin(rig: Rig) -> None:
    _, _, portal = await _bridge_one_each_way(rig)
    rig.a.fail_next(1, DeliveryFailed("the file is larger than WeChat accepts"))
    rig.b.inject(
        Message(
            portal,
            rig.owner,
            RemoteId("$big"),
            Media(MediaKind.FILE, b"x" * 10, filename="backup.tar"),
            9.0,
        )
    )
    await rig.settle()

    [notice] = rig.notices(rig.b, portal)
    assert "[file: backup.tar]" in notice
    assert "the file is larger than WeChat accepts" in notice
    [entry] = [e for e in await rig.store.journal.entries(rig.login.id) if e.chat == portal][-1:]
    assert entry.state is EntryState.FAILED


async def test_transient_failures_are_retried_until_delivered_once(rig: Rig) -> None:
    rig.b.fail_next(2, RateLimited())
    rig.a.inject(rig.a.incoming_text(ALICE.address, "eventually"))
    await rig.settle()

    assert rig.texts(rig.b) == ["eventually"]
    assert rig.notices(rig.a) == []
    [entry] = await rig.store.journal.entries(rig.login.id)
    assert (entry.state, entry.attempts) == (EntryState.DELIVERED, 2)


async def test_giving_up_after_the_last_retry_tells_the_sender(rig: Rig) -> None:
    rig.b.fail_next(3, DeliveryFailed("homeserver unreachable", retryable=True))
    long_text = "a long message that certainly needs to be cut short in the notice " * 2
    rig.a.inject(rig.a.incoming_text(ALICE.address, long_text))
    await rig.settle()

    assert rig.texts(rig.b) == []
    [notice] = rig.notices(rig.a, ALICE.address)
    assert "homeserver unreachable" in notice and "matrix" in notice
    assert "“a long message that certainly needs to…”" in notice
    # The notice's own echo from WeChat is recognised as the bridge's.
    [sent] = rig.a.messages()
    rig.a.inject(
        Message(
            ALICE.address, rig.a.account.address, sent.remote_id, sent.content, 9.0, from_self=True
        )
    )
    await rig.settle()
    assert rig.b.messages() == []


async def test_content_the_target_cannot_carry_is_reported(store: Store, login: Login) -> None:
    b = MemoryChannel("matrix", unsupported=(Media,))
    rig = await make_rig(store, login, b=b)
    try:
        rig.a.inject(
            Message(
                ALICE.address,
                ALICE.address,
                RemoteId("77"),
                Media(MediaKind.VOICE, b"ogg", "audio/ogg"),
                1.0,
            ),
            rig.a.incoming_text(ALICE.address, "did you hear it?"),
        )
        await rig.settle()
        assert rig.texts(b) == ["did you hear it?"]
        [notice] = rig.notices(rig.a, ALICE.address)
        assert "[voice]" in notice and "cannot carry" in notice
    finally:
        await rig.relay.stop()


async def test_a_contact_missing_from_the_current_login_is_reported(rig: Rig) -> None:
    _, _, portal = await _bridge_one_each_way(rig)
    ident = await rig.store.identities.by_address(rig.login.id, ALICE.address)
    assert ident is not None
    await rig.store.identities.unbind_all(rig.login.id)  # as after a login without Alice

    rig.b.inject(rig.b.incoming_text(portal, "still there?", sender=rig.owner))
    await rig.settle()

    [notice] = rig.notices(rig.b, portal)
    assert "Alice is not in the contact list of the current wechat login" in notice
    assert "still there?" not in rig.texts(rig.a)


async def test_a_recall_from_another_chat_revokes_nothing(rig: Rig) -> None:
    from_wechat, from_matrix, portal = await _bridge_one_each_way(rig)
    rig.b.inject(rig.b.incoming_text(Address("!elsewhere:localhost"), "hi", sender=rig.owner))
    await rig.settle()

    # A forged recall naming Alice's message but arriving in another chat.
    rig.a.inject(Revocation(BOB.address, BOB.address, from_wechat.remote_id, 6.0))
    rig.b.inject(Revocation(Address("!elsewhere:localhost"), rig.owner, from_matrix.remote_id, 7.0))
    await rig.settle()

    assert rig.a.revocations() == [] and rig.b.revocations() == []
    assert [m.content for m in rig.b.messages(portal)] == [from_wechat.content]

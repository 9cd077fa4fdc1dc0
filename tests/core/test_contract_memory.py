"""The in-memory adapter's test controls, and the contract suite catching broken adapters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bridge.channel import EventBatch
from bridge.errors import (
    BridgeError,
    DeliveryFailed,
    NotLoggedIn,
    RateLimited,
    RevokeRefused,
    Unsupported,
)
from bridge.model import (
    Address,
    ChatKind,
    ContactBook,
    Content,
    Location,
    LoggedIn,
    LoggedOut,
    Profile,
    QRCodeNeeded,
    Quoted,
    RemoteId,
    SentMessage,
    Text,
)
from bridge.testing.contract import (
    Check,
    check_revoke,
    check_send_text,
    check_start_stop,
    check_unacked_redelivered,
)
from bridge.testing.harness import ContractViolation
from bridge.testing.memory import MarkedRead, MemoryChannel, Revoked, Sent
from bridge.testing.memory_harness import MemoryHarness

ALICE = Address("memory:alice")


async def next_batch(events: AsyncIterator[EventBatch]) -> EventBatch:
    async with asyncio.timeout(5):
        return await anext(events)


async def test_batches_injected_before_start_arrive_in_order_and_acks_are_recorded() -> None:
    channel = MemoryChannel()
    first = channel.inject(channel.incoming_text(ALICE, "one"))
    second = channel.inject(channel.incoming_text(ALICE, "two"), channel.incoming_text(ALICE, "3"))
    await channel.start()
    events = channel.events()
    a, b = await next_batch(events), await next_batch(events)
    assert [len(a.events), len(b.events)] == [1, 2]
    await b.ack()
    await b.ack()
    assert channel.acked == [second]
    assert channel.pending == (first,)
    await channel.stop()


async def test_unacked_batch_comes_again_after_restart_and_acked_one_does_not() -> None:
    channel = MemoryChannel()
    await channel.start()
    events = channel.events()
    acked = channel.inject(channel.incoming_text(ALICE, "acked"))
    await (await next_batch(events)).ack()
    channel.inject(channel.incoming_text(ALICE, "unacked"))
    await next_batch(events)
    await channel.stop()
    assert [b async for b in events] == []
    await channel.start()
    again = await next_batch(channel.events())
    assert [getattr(e, "content", None) for e in again.events] == [Text("unacked")]
    assert channel.acked == [acked]
    await channel.stop()


async def test_events_after_stop_end_at_once() -> None:
    channel = MemoryChannel()
    await channel.start()
    await channel.stop()
    await channel.stop()
    assert [b async for b in channel.events()] == []


async def test_sends_are_recorded_with_sender_and_reply() -> None:
    channel = MemoryChannel()
    await channel.start()
    ghost = Profile(Address("@wechat_bob:localhost"), name="Bob")
    one = (await channel.send(ALICE, Text("hi"), sender=ghost)).remote_id
    two = (await channel.send_reply(ALICE, Text("re"), Quoted(one, "hi"))).remote_id
    assert one != two
    assert channel.messages(ALICE) == [
        Sent(ALICE, Text("hi"), one, ghost),
        Sent(ALICE, Text("re"), two, None, reply_to=one),
    ]
    await channel.mark_read(ALICE, RemoteId("x"))
    assert channel.sent[2:] == [MarkedRead(ALICE, RemoteId("x"))]


async def test_injected_failures_hit_the_next_sends_only() -> None:
    channel = MemoryChannel()
    await channel.start()
    channel.fail_next(2, RateLimited())
    for _ in range(2):
        with pytest.raises(RateLimited):
            await channel.send(ALICE, Text("no"))
    await channel.send(ALICE, Text("yes"))
    assert [s.content for s in channel.messages()] == [Text("yes")]


async def test_unsupported_content_and_stopped_channel_refuse_to_send() -> None:
    channel = MemoryChannel(unsupported=(Location,))
    with pytest.raises(DeliveryFailed) as stopped:
        await channel.send(ALICE, Text("early"))
    assert stopped.value.retryable
    await channel.start()
    with pytest.raises(Unsupported):
        await channel.send(ALICE, Location(1.0, 2.0))


async def test_revoke_refusals() -> None:
    channel = MemoryChannel()
    await channel.start()
    sent = await channel.send(ALICE, Text("oops"))
    with pytest.raises(RevokeRefused):
        await channel.revoke(ALICE, SentMessage(RemoteId("never-sent")))
    channel.refuse_revokes("too late: WeChat allows 2 minutes")
    with pytest.raises(RevokeRefused, match="2 minutes"):
        await channel.revoke(ALICE, sent)
    channel.refuse_revokes(None)
    await channel.revoke(ALICE, sent)
    assert channel.revocations() == [Revoked(ALICE, sent.remote_id)]
    with pytest.raises(RevokeRefused):
        await channel.revoke(ALICE, sent)


async def test_login_scan_logout() -> None:
    channel = MemoryChannel(stable_addresses=False, logged_in=False)
    await channel.start()
    events = channel.events()
    with pytest.raises(NotLoggedIn):
        await channel.send(ALICE, Text("hi"))
    await channel.login()
    (qr,) = (await next_batch(events)).events
    assert isinstance(qr, QRCodeNeeded) and qr.png.startswith(b"\x89PNG")
    book = (Profile(Address("@abc"), nick_name="Alice"),)
    channel.scan(book)
    logged_in, contacts = (await next_batch(events)).events
    assert isinstance(logged_in, LoggedIn) and contacts == ContactBook(book)
    assert await channel.get_profile(Address("@abc")) == book[0]
    await channel.send(Address("@abc"), Text("hi"))
    await channel.logout()
    assert isinstance((await next_batch(events)).events[0], LoggedOut)
    with pytest.raises(NotLoggedIn):
        await channel.send(Address("@abc"), Text("hi"))


async def test_portals_and_profiles() -> None:
    channel = MemoryChannel()
    remote = Profile(Address("@@g"), ChatKind.GROUP, nick_name="Family")
    owner = Address("@me:localhost")
    portal = await channel.ensure_portal(remote, owner=owner)
    assert portal == await channel.ensure_portal(remote, owner=owner) == "memory:portal:@@g"
    assert (await channel.get_profile(portal)).name == "Family"
    with pytest.raises(BridgeError):
        await channel.get_profile(Address("nobody"))


# ---- the suite must fail adapters that break their promises -----------------------------------


class SelfAckingChannel(MemoryChannel):
    """Acks every batch as soon as it is delivered (the contract forbids it)."""

    async def events(self) -> AsyncIterator[EventBatch]:
        async for batch in super().events():
            await batch.ack()
            yield batch


class NeverEndingChannel(MemoryChannel):
    """``events()`` does not end on ``stop()``."""

    async def stop(self) -> None:
        self._running = False


class EmptyIdChannel(MemoryChannel):
    """``send`` returns an empty remote id."""

    async def send(
        self, chat: Address, content: Content, *, sender: Profile | None = None
    ) -> SentMessage:
        await super().send(chat, content, sender=sender)
        return SentMessage(RemoteId(""))


class SilentRevokeChannel(MemoryChannel):
    """``revoke`` returns without revoking anything."""

    async def revoke(self, chat: Address, message: SentMessage) -> None:
        return None


def harness_with(channel: MemoryChannel) -> MemoryHarness:
    harness = MemoryHarness()
    harness.timeout_s = 0.5
    harness.channel = channel
    return harness


@pytest.mark.parametrize(
    ("channel", "check", "promise"),
    [
        (SelfAckingChannel(), check_unacked_redelivered, "redelivery"),
        (NeverEndingChannel(), check_start_stop, "did not end"),
        (EmptyIdChannel(), check_send_text, "RemoteId"),
        (SilentRevokeChannel(), check_revoke, "revoked"),
    ],
    ids=["self-ack", "endless-events", "empty-id", "silent-revoke"],
)
async def test_suite_rejects_a_broken_adapter(
    channel: MemoryChannel, check: Check, promise: str
) -> None:
    harness = harness_with(channel)
    with pytest.raises(ContractViolation, match=promise):
        await check(harness)
    await channel.stop()

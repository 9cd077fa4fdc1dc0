"""The contract every ``Channel`` implementation must pass, as reusable async checks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from bridge.channel import (
    Channel,
    SupportsLogin,
    SupportsMedia,
    SupportsPortals,
    SupportsReceipts,
    SupportsReplies,
    SupportsRevoke,
)
from bridge.errors import BridgeError, NotLoggedIn
from bridge.model import (
    Address,
    ChatKind,
    Event,
    LoggedOut,
    Media,
    MediaKind,
    Message,
    Profile,
    Quoted,
    RemoteId,
    SentMessage,
    Text,
)
from bridge.testing.harness import (
    ContractHarness,
    ContractViolation,
    EventTap,
    NotApplicable,
    Observed,
    running,
)
from bridge.testing.memory import QR_PNG

Check = Callable[[ContractHarness], Coroutine[Any, Any, None]]


def _expect(condition: bool, promise: str) -> None:
    if not condition:
        raise ContractViolation(promise)


def _text_message(chat: Address, body: str) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        return (
            isinstance(event, Message)
            and event.chat == chat
            and isinstance(event.content, Text)
            and event.content.body == body
        )

    return match


def _unique(label: str) -> str:
    return f"contract {label} {uuid.uuid4().hex[:8]}"


async def _observed(h: ContractHarness, chat: Address, remote_id: RemoteId) -> Observed:
    for seen in await h.observe_sent(chat):
        if seen.remote_id == remote_id:
            return seen
    raise ContractViolation(f"the remote side did not observe message {remote_id} in {chat}")


# ---- the checks ------------------------------------------------------------------------------


async def check_is_channel(h: ContractHarness) -> None:
    """The object satisfies ``Channel`` at run time, with a name and ``stable_addresses``."""
    channel = h.channel
    _expect(isinstance(channel, Channel), "the adapter is an instance of Channel")
    _expect(isinstance(channel.name, str) and bool(channel.name), "name is a non-empty str")
    _expect(isinstance(channel.stable_addresses, bool), "stable_addresses is a bool")


async def check_start_stop(h: ContractHarness) -> None:
    """``stop()`` is idempotent and ends ``events()``; a fresh ``events()`` after it ends too."""
    async with running(h) as tap:
        await h.channel.stop()
        await h.channel.stop()
        await tap.wait_ended("events() did not end after stop()")
    after = EventTap(h.channel, h.timeout_s)
    try:
        await after.wait_ended("events() called after stop() did not end")
    finally:
        await after.close()


async def check_inbound_text(h: ContractHarness) -> None:
    """Inbound text arrives as a ``Message`` in an ``EventBatch`` with chat, sender, body."""
    body = _unique("inbound")
    async with running(h) as tap:
        await h.make_inbound_text(h.chat, body)
        event, _ = await tap.wait_for(_text_message(h.chat, body), "inbound text message")
    assert isinstance(event, Message)
    _expect(event.sender == h.peer, f"the sender is {h.peer!r}, got {event.sender!r}")
    _expect(bool(event.remote_id), "an inbound message has a non-empty remote id")
    _expect(event.timestamp > 0, "an inbound message has a timestamp")


async def check_unacked_redelivered(h: ContractHarness) -> None:
    """After a restart, an un-acked batch is delivered again and an acked one is not."""
    first, second = _unique("acked"), _unique("unacked")
    await h.channel.start()
    tap = EventTap(h.channel, h.timeout_s, ack=False)
    try:
        async with asyncio.timeout(h.timeout_s):
            await h.ready()
        await h.make_inbound_text(h.chat, first)
        _, index = await tap.wait_for(_text_message(h.chat, first), "the first inbound message")
        await tap.batches[index].ack()
        await h.make_inbound_text(h.chat, second)
        await tap.wait_for(_text_message(h.chat, second), "the second inbound message")
    finally:
        await tap.close()
    channel = await h.restart()
    if channel is None:
        await h.channel.stop()
        raise NotApplicable("the harness cannot restart this adapter")
    again = EventTap(channel, h.timeout_s)
    try:
        event, _ = await again.wait_for(
            lambda e: _text_message(h.chat, first)(e) or _text_message(h.chat, second)(e),
            "redelivery of the un-acked batch after a restart",
        )
        assert isinstance(event, Message) and isinstance(event.content, Text)
        _expect(event.content.body == second, "an acked batch is not delivered again")
    finally:
        await again.close()
        await channel.stop()


async def check_send_text(h: ContractHarness) -> None:
    """``send`` returns a ``SentMessage`` with a non-empty remote id, and the remote side
    sees the text."""
    body = _unique("outbound")
    async with running(h):
        sent = await h.channel.send(h.chat, Text(body))
        _expect(
            isinstance(sent, SentMessage) and bool(sent.remote_id),
            "send returns a SentMessage with its RemoteId",
        )
        seen = await _observed(h, h.chat, sent.remote_id)
    _expect(
        isinstance(seen.content, Text) and seen.content.body == body,
        f"the remote side sees the text {body!r}, got {seen.content!r}",
    )


async def check_get_profile(h: ContractHarness) -> None:
    """``get_profile`` answers for a known chat and raises ``BridgeError`` for an unknown one."""
    async with running(h):
        profile = await h.channel.get_profile(h.chat)
        _expect(isinstance(profile, Profile), "get_profile returns a Profile")
        _expect(profile.address == h.chat, "the profile's address is the one asked for")
        try:
            await h.channel.get_profile(Address(f"@contract-unknown-{uuid.uuid4().hex}"))
        except BridgeError:
            pass
        else:
            raise ContractViolation("get_profile of an unknown address raises BridgeError")


async def check_send_media(h: ContractHarness) -> None:
    """``send_media`` delivers the same bytes."""
    channel = h.channel
    if not isinstance(channel, SupportsMedia):
        raise NotApplicable("the adapter does not declare SupportsMedia")
    media = Media(MediaKind.IMAGE, QR_PNG, mimetype="image/png", filename="contract.png")
    async with running(h):
        sent = await channel.send_media(h.chat, media)
        seen = await _observed(h, h.chat, sent.remote_id)
    _expect(
        isinstance(seen.content, Media) and seen.content.data == media.data,
        "the remote side receives the media's bytes unchanged",
    )


async def check_revoke(h: ContractHarness) -> None:
    """``revoke`` of a message the channel sent (given back as ``send`` returned it) makes
    the remote side see it revoked."""
    channel = h.channel
    if not isinstance(channel, SupportsRevoke):
        raise NotApplicable("the adapter does not declare SupportsRevoke")
    async with running(h):
        sent = await h.channel.send(h.chat, Text(_unique("to revoke")))
        await channel.revoke(h.chat, sent)
        seen = await _observed(h, h.chat, sent.remote_id)
    _expect(seen.revoked, "the remote side sees the message revoked")


async def check_send_reply(h: ContractHarness) -> None:
    """``send_reply`` marks the message as a reply to the given one."""
    channel = h.channel
    if not isinstance(channel, SupportsReplies):
        raise NotApplicable("the adapter does not declare SupportsReplies")
    async with running(h):
        sent = await h.channel.send(h.chat, Text(_unique("original")))
        original = sent.remote_id
        body = _unique("reply")
        reply = await channel.send_reply(h.chat, Text(body), Quoted(original, sent.text))
        seen = await _observed(h, h.chat, reply.remote_id)
    _expect(seen.reply_to == original, f"the reply refers to {original}, got {seen.reply_to}")
    _expect(isinstance(seen.content, Text) and body in seen.content.body, "the reply's text")


async def check_portal(h: ContractHarness) -> None:
    """``ensure_portal`` is idempotent per remote address and distinct across addresses."""
    channel = h.channel
    if not isinstance(channel, SupportsPortals):
        raise NotApplicable("the adapter does not declare SupportsPortals")
    if h.owner is None:
        raise NotApplicable("the harness offers no portal owner")
    tag = uuid.uuid4().hex[:8]
    one = Profile(Address(f"contract-remote-{tag}-1"), ChatKind.DIRECT, name="Contract One")
    two = Profile(Address(f"contract-remote-{tag}-2"), ChatKind.GROUP, name="Contract Two")
    async with running(h):
        first = await channel.ensure_portal(one, owner=h.owner)
        again = await channel.ensure_portal(one, owner=h.owner)
        other = await channel.ensure_portal(two, owner=h.owner)
    _expect(bool(first), "ensure_portal returns an address")
    _expect(first == again, "ensure_portal is idempotent for the same remote address")
    _expect(first != other, "different remote chats get different portals")


async def check_receipts(h: ContractHarness) -> None:
    """``mark_read`` accepts a known chat and an inbound message."""
    channel = h.channel
    if not isinstance(channel, SupportsReceipts):
        raise NotApplicable("the adapter does not declare SupportsReceipts")
    body = _unique("to read")
    async with running(h) as tap:
        await h.make_inbound_text(h.chat, body)
        event, _ = await tap.wait_for(_text_message(h.chat, body), "inbound message")
        assert isinstance(event, Message)
        await channel.mark_read(h.chat, event.remote_id)


async def check_logout(h: ContractHarness) -> None:
    """``logout`` emits ``LoggedOut`` and sending afterwards raises ``NotLoggedIn``."""
    channel = h.channel
    if not isinstance(channel, SupportsLogin):
        raise NotApplicable("the adapter does not declare SupportsLogin")
    async with running(h) as tap:
        await channel.logout()
        await tap.wait_for(lambda e: isinstance(e, LoggedOut), "LoggedOut event")
        try:
            await h.channel.send(h.chat, Text(_unique("after logout")))
        except NotLoggedIn:
            pass
        else:
            raise ContractViolation("send after logout raises NotLoggedIn")


CHECKS: dict[str, Check] = {
    "is_channel": check_is_channel,
    "start_stop": check_start_stop,
    "inbound_text": check_inbound_text,
    "unacked_redelivered": check_unacked_redelivered,
    "send_text": check_send_text,
    "get_profile": check_get_profile,
    "send_media": check_send_media,
    "revoke": check_revoke,
    "send_reply": check_send_reply,
    "portal": check_portal,
    "receipts": check_receipts,
    "logout": check_logout,
}
"""Every check by name, in the order a new adapter usually gets them to pass."""

"""An in-memory ``Channel`` with every optional capability, for tests and as a reference adapter."""

from __future__ import annotations

import itertools
import struct
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence

import attrs

from bridge.channel import EventBatch
from bridge.errors import BridgeError, DeliveryFailed, NotLoggedIn, RevokeRefused, Unsupported
from bridge.model import (
    Address,
    ChatKind,
    ContactBook,
    Content,
    Event,
    LoggedIn,
    LoggedOut,
    Media,
    Message,
    Profile,
    QRCodeNeeded,
    Quoted,
    RemoteId,
    SentMessage,
    Text,
)
from bridge.redelivery import Redelivery

# ---- what the "remote side" observed --------------------------------------------------------


@attrs.frozen
class Sent:
    """A message sent through the channel by ``send``, ``send_media`` or ``send_reply``.

    ``sender`` is the profile the core passed (who the message is from on the other side).
    """

    chat: Address
    content: Content
    remote_id: RemoteId
    sender: Profile | None = None
    reply_to: RemoteId | None = None


@attrs.frozen
class Revoked:
    """A successful ``revoke`` of ``remote_id`` in ``chat``."""

    chat: Address
    remote_id: RemoteId


@attrs.frozen
class MarkedRead:
    """A ``mark_read`` call."""

    chat: Address
    remote_id: RemoteId


@attrs.frozen
class PortalUpdated:
    """An ``update_portal`` call: the portal ``chat`` now mirrors ``remote``."""

    chat: Address
    remote: Profile


Outbound = Sent | Revoked | MarkedRead | PortalUpdated


def _png_1x1() -> bytes:
    """A valid 1x1 white PNG (stands in for the QR code image)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


QR_PNG = _png_1x1()


class MemoryChannel:
    """A ``Channel`` whose remote side is this object: tests inject inbound events and read
    what was sent. Implements ``Channel`` and every ``Supports*`` capability of
    ``bridge/channel.py``.

    Inbound: ``inject(*events)`` queues one ``EventBatch``; ``events()`` yields it while the
    channel runs. ``acked`` lists the numbers of batches the core acknowledged, in ack order.
    An un-acked batch is delivered again after ``stop()`` + ``start()`` (a restart), as a real
    adapter redelivers what its source still holds.

    Outbound: ``sent`` records every send, reply, media, revoke, read and portal
    update call in order (``messages()`` filters the messages, ``portal_updates()`` the
    portal updates). Remote ids are ``"<name>:out:<n>"``.

    Failure injection: ``fail_next(n, error)`` makes the next ``n`` sends raise ``error``;
    ``refuse_revokes(reason)`` makes revokes raise ``RevokeRefused``; content types listed in
    ``unsupported`` raise ``Unsupported``. Sending while stopped raises a retryable
    ``DeliveryFailed``; while logged out, ``NotLoggedIn``.

    Avatars: ``avatars`` maps an address to the bytes ``avatar()`` serves (unknown ones raise
    ``BridgeError``); ``avatar_fetches`` lists the addresses asked for, in order.

    Only one consumer may iterate ``events()`` at a time.
    """

    def __init__(
        self,
        name: str = "memory",
        *,
        stable_addresses: bool = True,
        account: Profile | None = None,
        profiles: Iterable[Profile] = (),
        logged_in: bool = True,
        unsupported: tuple[type, ...] = (),
    ) -> None:
        self.name = name
        self.stable_addresses = stable_addresses
        self.account = account or Profile(
            address=Address(f"{name}:me"), name="Me", nick_name="Me", is_self=True
        )
        self.profiles: dict[Address, Profile] = {p.address: p for p in profiles}
        self.portals: dict[Address, Address] = {}
        #: Portals ``invite_owner`` invited to and ``delete_portal`` deleted, in order.
        self.invited: list[Address] = []
        self.deleted_portals: list[Address] = []
        #: How many logins ``cancel_login`` cancelled.
        self.cancelled_logins = 0
        self.sent: list[Outbound] = []
        self.acked: list[int] = []
        self.logged_in = logged_in
        self.unsupported = unsupported
        self._batches = Redelivery(ack=self._ack)
        self._out_ids = itertools.count(1)
        self._in_ids = itertools.count(1)
        self._logins = itertools.count(1)
        self._failures: list[DeliveryFailed] = []
        self._revoke_refusal: str | None = None
        self.avatars: dict[Address, bytes] = {}
        self.avatar_fetches: list[Address] = []

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._batches.running

    @property
    def pending(self) -> tuple[int, ...]:
        """Numbers of injected batches not acknowledged yet, oldest first."""
        return self._batches.pending

    async def start(self) -> None:
        """Begin delivering batches: every un-acked one, oldest first. Idempotent."""
        await self._batches.start()

    async def stop(self) -> None:
        """End ``events()``; un-acked batches stay pending for the next ``start()``.
        Idempotent; never raises."""
        await self._batches.stop()

    def events(self) -> AsyncIterator[EventBatch]:
        """Injected batches in order, each with an ``ack`` that records its number in
        ``acked``. Waits for ``start()`` if not started; ends after ``stop()``."""
        return self._batches.events()

    async def _ack(self, number: int) -> None:
        if self._batches.acknowledge(number):
            self.acked.append(number)

    # ---- test-side controls ------------------------------------------------------------------

    def inject(self, *events: Event) -> int:
        """Queue ``events`` as one inbound batch; returns its number (1, 2, ...)."""
        return self.inject_batch(events)

    def inject_batch(self, events: Iterable[Event]) -> int:
        """Queue ``events`` as one inbound batch; returns its number (1, 2, ...)."""
        return self._batches.add(events)

    def incoming_text(
        self,
        chat: Address,
        body: str,
        *,
        sender: Address | None = None,
        chat_kind: ChatKind = ChatKind.DIRECT,
        reply_to: RemoteId | None = None,
        from_self: bool = False,
    ) -> Message:
        """A ``Message`` as the remote side would produce it, with a fresh remote id
        ``"<name>:in:<n>"``; ``sender`` defaults to ``chat`` (a direct chat)."""
        return Message(
            chat=chat,
            sender=sender or chat,
            remote_id=RemoteId(f"{self.name}:in:{next(self._in_ids)}"),
            content=Text(body),
            timestamp=time.time(),
            chat_kind=chat_kind,
            reply_to=reply_to,
            from_self=from_self,
        )

    def fail_next(self, count: int = 1, error: DeliveryFailed | None = None) -> None:
        """Make the next ``count`` sends (any of send, send_media, send_reply) raise ``error``
        (default: a retryable ``DeliveryFailed``)."""
        failure = error or DeliveryFailed("injected delivery failure", retryable=True)
        self._failures.extend([failure] * count)

    def refuse_revokes(self, reason: str | None = "injected refusal") -> None:
        """Make every ``revoke`` raise ``RevokeRefused(reason)``; ``None`` accepts them again."""
        self._revoke_refusal = reason

    def add_profiles(self, *profiles: Profile) -> None:
        """Register (or replace) profiles answered by ``get_profile``."""
        for profile in profiles:
            self.profiles[profile.address] = profile

    def scan(self, book: Sequence[Profile] | None = None) -> None:
        """Complete a login as if the QR code was scanned: emits ``LoggedIn`` and the
        ``ContactBook``. ``book`` replaces the registered profiles first (a WeChat re-login
        gives every contact a new address)."""
        if book is not None:
            self.profiles = {p.address: p for p in book}
        self.logged_in = True
        self.inject(LoggedIn(self.account), ContactBook(tuple(self.profiles.values())))

    def messages(self, chat: Address | None = None) -> list[Sent]:
        """The messages sent so far (optionally only those to ``chat``), oldest first."""
        return [s for s in self.sent if isinstance(s, Sent) and chat in (None, s.chat)]

    def revocations(self) -> list[Revoked]:
        """The successful revokes so far, oldest first."""
        return [s for s in self.sent if isinstance(s, Revoked)]

    def portal_updates(self) -> list[PortalUpdated]:
        """The ``update_portal`` calls so far, oldest first."""
        return [s for s in self.sent if isinstance(s, PortalUpdated)]

    # ---- Channel and capabilities ------------------------------------------------------------

    def _check_can_send(self, content: Content) -> None:
        if not self._batches.running:
            raise DeliveryFailed(f"channel {self.name!r} is stopped", retryable=True)
        if not self.logged_in:
            raise NotLoggedIn(f"channel {self.name!r} is logged out; log in first")
        if isinstance(content, self.unsupported):
            raise Unsupported(f"{self.name} cannot carry {type(content).__name__} content")
        if self._failures:
            raise self._failures.pop(0)

    def _record(
        self,
        chat: Address,
        content: Content,
        sender: Profile | None,
        reply_to: RemoteId | None = None,
    ) -> SentMessage:
        self._check_can_send(content)
        remote_id = RemoteId(f"{self.name}:out:{next(self._out_ids)}")
        self.sent.append(Sent(chat, content, remote_id, sender, reply_to))
        return SentMessage(remote_id)

    async def send(
        self, chat: Address, content: Content, *, sender: Profile | None = None
    ) -> SentMessage:
        """Record ``content`` as sent to ``chat``; see the class doc for the errors."""
        return self._record(chat, content, sender)

    async def send_media(
        self, chat: Address, media: Media, *, sender: Profile | None = None
    ) -> SentMessage:
        """Record ``media`` as sent to ``chat``."""
        return self._record(chat, media, sender)

    async def send_reply(
        self,
        chat: Address,
        content: Content,
        reply_to: Quoted,
        *,
        sender: Profile | None = None,
    ) -> SentMessage:
        """Record ``content`` as sent to ``chat`` in reply to ``reply_to``."""
        return self._record(chat, content, sender, reply_to.remote_id)

    async def revoke(self, chat: Address, message: SentMessage) -> None:
        """Record the revocation of a message this channel sent.

        Raises ``RevokeRefused`` when refusals are injected, the message is unknown in
        ``chat``, or it was already revoked.
        """
        if self._revoke_refusal is not None:
            raise RevokeRefused(self._revoke_refusal)
        remote_id = message.remote_id
        if not any(s.chat == chat and s.remote_id == remote_id for s in self.messages()):
            raise RevokeRefused(f"no message {remote_id} was sent to {chat}")
        if Revoked(chat, remote_id) in self.sent:
            raise RevokeRefused(f"message {remote_id} is already revoked")
        self.sent.append(Revoked(chat, remote_id))

    async def get_profile(self, address: Address) -> Profile:
        """The registered profile of ``address`` (the account's own included).
        Raises ``BridgeError`` if it is unknown."""
        if address == self.account.address:
            return self.account
        try:
            return self.profiles[address]
        except KeyError:
            raise BridgeError(f"{self.name}: unknown address {address!r}") from None

    async def avatar(self, address: Address) -> bytes:
        """The bytes ``avatars`` holds for ``address`` (``SupportsAvatars``); the request is
        recorded in ``avatar_fetches``. Raises ``BridgeError`` for an unknown address."""
        self.avatar_fetches.append(address)
        try:
            return self.avatars[address]
        except KeyError:
            raise BridgeError(f"{self.name}: no avatar for {address!r}") from None

    async def ensure_portal(self, remote: Profile, *, owner: Address) -> Address:
        """The portal for ``remote``: ``"<name>:portal:<remote.address>"``, created (and its
        profile registered, named after ``remote.display_name``) on first call."""
        portal = self.portals.get(remote.address)
        if portal is None:
            portal = Address(f"{self.name}:portal:{remote.address}")
            self.portals[remote.address] = portal
            self.add_profiles(Profile(address=portal, kind=remote.kind, name=remote.display_name))
        return portal

    async def update_portal(self, chat: Address, remote: Profile) -> None:
        """Record the update; the portal's registered profile takes ``remote.display_name``.
        Raises ``BridgeError`` if ``chat`` is no portal of this channel."""
        if chat not in self.portals.values():
            raise BridgeError(f"{self.name}: {chat!r} is not a portal")
        self.sent.append(PortalUpdated(chat, remote))
        portal = self.profiles[chat]
        self.add_profiles(attrs.evolve(portal, name=remote.display_name))

    async def mark_read(self, chat: Address, remote_id: RemoteId) -> None:
        """Record the read marker."""
        self.sent.append(MarkedRead(chat, remote_id))

    async def login(self) -> None:
        """Emit a ``QRCodeNeeded``; the test completes the login with ``scan()``."""
        n = next(self._logins)
        self.inject(QRCodeNeeded(payload=f"{self.name}-login-{n}", png=QR_PNG))

    async def submit_login_input(self, value: str) -> None:
        """The memory network's logins ask for nothing to type: raises ``BridgeError``."""
        raise BridgeError(f"{self.name}: no login input is awaited")

    async def cancel_login(self) -> None:
        """Count the cancellation (``cancelled_logins``); the test decides what follows."""
        self.cancelled_logins += 1

    async def invite_owner(self, chat: Address) -> bool:
        """Record the invite (``invited``); always sent."""
        self.invited.append(chat)
        return True

    async def delete_portal(self, chat: Address, *, reason: str) -> None:
        """Forget the portal ``chat`` (``ensure_portal`` makes it anew) and record it in
        ``deleted_portals``."""
        self.portals = {k: v for k, v in self.portals.items() if v != chat}
        self.deleted_portals.append(chat)

    async def logout(self) -> None:
        """End the session: sends then raise ``NotLoggedIn``; emits ``LoggedOut``."""
        self.logged_in = False
        self.inject(LoggedOut("logged out from the bridge"))

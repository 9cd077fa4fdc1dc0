"""The ``Channel`` interface every adapter implements and its optional capabilities."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, runtime_checkable

import attrs

from bridge.model import Address, Content, Event, Media, Profile, Quoted, RemoteId, SentMessage

ENTRY_POINT_GROUP = "chatbridge.adapters"


async def _no_ack() -> None:
    return None


@attrs.frozen
class EventBatch:
    """Events an adapter received together, and how to acknowledge them at their source.

    The core calls ``ack()`` only after every event of the batch is committed to its journal;
    the adapter then tells its source it may forget them (WeChat: persist the new SyncKey;
    Matrix: answer the appservice transaction 200). An un-acked batch is delivered again after
    a restart, so the adapter must not ack by itself.
    """

    events: tuple[Event, ...]
    ack: Callable[[], Awaitable[None]] = _no_ack


def display_name(channel: object) -> str:
    """The name users read for ``channel``'s network ("WeChat"): its optional
    ``display_name`` attribute, else its registered ``name``."""
    shown = getattr(channel, "display_name", None)
    return shown if isinstance(shown, str) and shown else str(getattr(channel, "name", ""))


@runtime_checkable
class Channel(Protocol):
    """One remote protocol account, as the core sees it (the model: matterbridge's ``Bridger``).

    ``name`` is the adapter's registered name. ``stable_addresses`` is False when addresses
    change between login sessions (WeChat UserNames): the core then maps them to identities.
    """

    name: str
    stable_addresses: bool

    async def start(self) -> None:
        """Connect and begin producing events. Raises ``BridgeError`` when it cannot start."""

    async def stop(self) -> None:
        """Disconnect and end ``events()``. Idempotent; never raises."""

    def events(self) -> AsyncIterator[EventBatch]:
        """Inbound events in arrival order. Ends after ``stop()``."""
        ...

    async def send(
        self, chat: Address, content: Content, *, sender: Profile | None = None
    ) -> SentMessage:
        """Send ``content`` to ``chat``; returns the message's remote id and what a later
        revoke or reply needs (the core keeps it with the message map).

        ``sender`` is who the message is from on the other side of the bridge; a puppeting
        adapter (Matrix) posts as that person's ghost, others may ignore it.
        Raises ``DeliveryFailed`` (``RateLimited``, ``Unsupported``, ...) or ``NotLoggedIn``.
        """
        ...

    async def get_profile(self, address: Address) -> Profile:
        """The current profile of a user or chat. Raises ``BridgeError`` if it is unknown."""
        ...


@runtime_checkable
class SupportsMedia(Protocol):
    """Optional: send files (images, voice, video, files, stickers)."""

    async def send_media(
        self, chat: Address, media: Media, *, sender: Profile | None = None
    ) -> SentMessage:
        """Upload and send ``media``; returns what ``Channel.send`` does. Raises
        ``DeliveryFailed``."""
        ...


# ---- media fetched on delivery (issue 7: media off the receive loop) -------------------------


@runtime_checkable
class SupportsMediaFetch(Protocol):
    """Optional: the adapter's inbound files arrive as references, fetched when delivered.

    A ``Message`` whose content is a ``Media`` with ``ref`` set and empty ``data`` is
    journaled as is; the chat's own delivery queue then calls ``fetch_media``, so a large
    file delays its own chat only, never the receive loop or another chat.
    """

    async def fetch_media(self, media: Media) -> Media:
        """The file ``media.ref`` points to: a ``Media`` with ``data`` filled in (its
        mimetype and filename as the download shows them; ``ref`` cleared).

        ``ref`` is the adapter's own locator; a live session supplies whatever credential
        the download needs. Raises ``DeliveryFailed`` (``retryable`` for a transient
        failure; not retryable when the file is gone for good) or ``NotLoggedIn``.
        """
        ...


@runtime_checkable
class SupportsAvatars(Protocol):
    """Optional: fetch a contact's avatar through the live session. The core asks only for
    the few contacts whose avatar tells look-alikes apart (``bridge.identity_avatars``), never
    for a whole contact book: networks flag accounts that fetch thousands of icons."""

    async def avatar(self, address: Address) -> bytes:
        """The avatar image of the contact at ``address`` (of the current session), as the
        network serves it (WeChat: webwxgeticon, PROTOCOL.md §9). Raises ``NotLoggedIn``, or
        ``BridgeError`` when the contact is unknown or the image cannot be fetched."""
        ...


@runtime_checkable
class SupportsRevoke(Protocol):
    """Optional: recall / redact a message this adapter sent."""

    async def revoke(self, chat: Address, message: SentMessage) -> None:
        """Revoke ``message``, as its send returned it (kept by the core across restarts).
        Raises ``RevokeRefused`` with a user-facing reason."""


@runtime_checkable
class SupportsReplies(Protocol):
    """Optional: send a message as a reply to another one."""

    async def send_reply(
        self,
        chat: Address,
        content: Content,
        reply_to: Quoted,
        *,
        sender: Profile | None = None,
    ) -> SentMessage:
        """Like ``Channel.send`` with the message marked as a reply to ``reply_to`` (or,
        where the network cannot mark replies, quoting its text)."""
        ...


@runtime_checkable
class SupportsPortals(Protocol):
    """Optional: create the local chat (portal) that mirrors a chat of the other side."""

    async def ensure_portal(self, remote: Profile, *, owner: Address) -> Address:
        """Find or create the chat mirroring ``remote`` for the local user ``owner``.

        Returns its address. Idempotent for the same ``remote.address``; raises ``BridgeError``.
        """
        ...


@runtime_checkable
class SupportsPortalUpdates(Protocol):
    """Optional: keep a portal in step with the chat it mirrors when that chat is renamed."""

    async def update_portal(self, chat: Address, remote: Profile) -> None:
        """The chat mirrored by the portal ``chat`` now looks like ``remote`` (its
        ``address`` is the stable identity id, as for ``SupportsPortals.ensure_portal``).

        Shows ``remote.display_name`` as the portal's name and, for a person, as the name of
        whoever stands for them (a ghost); what already shows it is left alone, so a repeat
        changes nothing. Raises ``BridgeError``.
        """


@runtime_checkable
class SupportsReceipts(Protocol):
    """Optional: read receipts. The core calls ``mark_read`` when the other side reports a
    ``ReadReceipt`` of the owner on a bridged message (model: mautrix bridgev2's
    ``ReadReceiptHandlingNetworkAPI``)."""

    async def mark_read(self, chat: Address, remote_id: RemoteId) -> None:
        """Mark ``chat`` read up to the message ``remote_id`` (this adapter's id of it).
        Raises ``BridgeError``; the core logs it and goes on (a receipt is not retried)."""


@runtime_checkable
class SupportsDeliveryReports(Protocol):
    """Optional: hear how a message this adapter received fared on the other side, to show
    it to its sender (Matrix: a ``com.beeper.message_send_status`` event and the bot's read
    receipt, as mautrix bridges post them)."""

    async def delivery_report(
        self, chat: Address, remote_id: RemoteId, *, error: str | None = None
    ) -> None:
        """The message ``remote_id`` this adapter received in ``chat`` was delivered
        (``error`` is ``None``), or will never be (``error``: why, user-facing). Called once
        per outcome, after it is recorded. Never raises: failures are logged."""


@runtime_checkable
class SupportsLogin(Protocol):
    """Optional: interactive login and logout, driven by the bot for any network.

    A login is a sequence of steps the adapter emits as events of ``events()`` (model:
    mautrix bridgev2's login process): ``QRCodeNeeded`` (show a QR code and wait),
    ``ConfirmOnPhone`` (wait for the phone), ``InputNeeded`` (ask the user for a code or a
    password; the answer comes back through ``submit_login_input``), and finally
    ``LoggedIn`` (done) or ``LoggedOut`` (failed, with the reason). The bot renders each step
    in the user's management room.
    """

    async def login(self) -> None:
        """Start a login in the background (idempotent while one runs); its steps follow as
        events. Raises ``BridgeError`` if no login can be started."""

    async def submit_login_input(self, value: str) -> None:
        """The user's answer to the latest ``InputNeeded``; the next step follows as an
        event (another ``InputNeeded`` when the answer was wrong). Raises ``BridgeError``
        when no input is awaited. ``value`` may be a secret: never log it."""

    async def logout(self) -> None:
        """End the remote session; a ``LoggedOut`` event follows."""


@runtime_checkable
class SupportsContactBook(Protocol):
    """Optional: the addresses of the current session's contact book (contacts and groups,
    not every group member met in messages). Without it every known address counts."""

    @property
    def contact_addresses(self) -> frozenset[Address]:
        """The addresses of the contact book sent with the last ``LoggedIn``."""
        ...


@runtime_checkable
class SendsContactBookLater(Protocol):
    """Optional: the channel emits ``LoggedIn`` as soon as its session works and the
    ``ContactBook`` in a later batch, once fetched (a big account's book takes seconds).
    Without it the book comes in the batch of ``LoggedIn``."""

    async def contact_book_loaded(self) -> None:
        """Return once the consumer of ``events()`` acknowledged the batch of the
        ``ContactBook`` that followed the last ``LoggedIn``."""
        ...


@runtime_checkable
class LoginChannel(Channel, SupportsLogin, Protocol):
    """The remote side of one login: a ``Channel`` the bot can log in and out."""


@runtime_checkable
class SupportsLoginCancel(Protocol):
    """Optional: stop a login in progress (model: mautrix bridgev2's ``cancel`` of a login
    process). Without it the core ends a login in progress with ``SupportsLogin.logout``."""

    async def cancel_login(self) -> None:
        """Stop the login in progress: no further login step and no ``LoggedIn`` follow
        from it, and the QR code it showed is no longer polled (scanning it logs nothing
        in). Does nothing when no login runs; a session already logged in is left alone.
        Never raises."""


@runtime_checkable
class SupportsPortalInvite(Protocol):
    """Optional: bring the owner back into a portal they left (``start-chat`` opens an
    existing portal this way)."""

    async def invite_owner(self, chat: Address) -> bool:
        """Invite the login's owner to the portal ``chat`` unless they are in it or invited
        already; returns whether an invite was sent. Raises ``BridgeError``."""
        ...


@runtime_checkable
class SupportsPortalDeletion(Protocol):
    """Optional: clean up a portal the core forgot (model: mautrix bridgev2's
    ``delete-portal``: the portal is deleted and its room emptied)."""

    async def delete_portal(self, chat: Address, *, reason: str) -> None:
        """Empty the portal ``chat`` and leave it: people in it are removed (kicked with
        ``reason``), whoever stands for a remote person (ghosts) leaves, the bridge leaves
        last; whatever the adapter remembers about it is forgotten, so that the same
        remote chat gets a new portal from ``SupportsPortals.ensure_portal``. Members it
        cannot remove are logged and left. Raises ``BridgeError`` when the room cannot be
        read at all."""

"""``MatrixChannel``: one login's side B, posting as ghosts and receiving from the hub."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import attrs

from adapters.matrix import content as mx
from adapters.matrix import render, uploads
from adapters.matrix.api import AppserviceAPI
from adapters.matrix.batches import Batches
from adapters.matrix.errors import (
    AppserviceRejected,
    MatrixForbidden,
    MatrixNotFound,
    MatrixRequestError,
)
from adapters.matrix.fitting import fit_text, fits, split_message
from adapters.matrix.ghosts import Ghosts
from adapters.matrix.media import fetch as fetch_file
from adapters.matrix.portal_rooms import PortalRooms
from adapters.matrix.portals import Portals
from adapters.matrix.puppet import DoublePuppets
from adapters.matrix.receipts import DeliveryReports, StatusReason
from adapters.matrix.side import MatrixSide, txn_id
from adapters.matrix.types import EventId, RoomId, UserId
from bridge.errors import DeliveryFailed, RevokeRefused
from bridge.ids import LoginId
from bridge.model import (
    Address,
    Content,
    Media,
    Mention,
    Notice,
    Profile,
    Quoted,
    RemoteId,
    SentMessage,
    Text,
)
from bridge.relay.portals import PortalLookup

logger = logging.getLogger(__name__)

#: Prefix of what the account owner wrote from the phone, when it cannot be posted as him.
SELF_PREFIX = "You (from your phone): "


@attrs.frozen
class Author:
    """Who posts an event: the client, the ``as_user`` to pass to it (``None``: the bot or a
    logged-in puppet), a text ``prefix``, and whether the post is a double-puppeted one."""

    api: AppserviceAPI
    as_user: UserId | None
    prefix: str = ""
    puppet: bool = False


class MatrixChannel(Batches, PortalRooms):
    """The Matrix side (side B) of one login: ``owner``'s portals, ghosts and messages.

    Implements ``Channel``, ``SupportsMedia``, ``SupportsMediaFetch``, ``SupportsRevoke``,
    ``SupportsReplies``, ``SupportsPortals``, ``SupportsPortalUpdates``,
    ``SupportsPortalInvite``, ``SupportsPortalDeletion``, ``SupportsDeliveryReports`` and
    ``SupportsReceipts`` (the owner's read receipt through the double puppet). Addresses are
    room ids (chats) and Matrix user ids (users); a ``sender`` profile's address is a stable
    identity id (its ghost posts), or the owner's user id with ``is_self``. Built by
    ``MatrixHub.channel_for``.

    Outbound: a sender posts as its ghost; no sender and ``Notice``s post as the bot. What the
    owner wrote from the phone (``sender.is_self``) posts as the owner himself when
    ``double_puppet`` is configured (marked with ``render.DOUBLE_PUPPET_KEY`` so its echo is
    dropped), else as the bot prefixed ``SELF_PREFIX``. Each send's txnId derives from the
    relay's delivery key, so a re-delivery after a crash is not posted twice.

    Inbound: the hub hands over the owner's events of this login's portals per appservice
    transaction (``deliver``); ``events()`` yields them as ``EventBatch``es whose ``ack``
    lets the hub answer the transaction. Un-acked batches come again after ``stop()`` and
    ``start()``; after a process restart the homeserver repeats the transaction.
    """

    name = "matrix"
    display_name = "Matrix"
    stable_addresses = True

    def __init__(
        self,
        side: MatrixSide,
        ghosts: Ghosts,
        portals: Portals,
        puppets: DoublePuppets,
        *,
        login: LoginId,
        owner: UserId,
        portal_of: PortalLookup,
        reports: DeliveryReports | None = None,
    ) -> None:
        self.login = login
        self._reports = reports
        self.owner = owner
        self._portal_of = portal_of
        self._side = side
        self._ghosts = ghosts
        self._portals = portals
        self._puppets = puppets
        Batches.__init__(self)

    # ---- sending -----------------------------------------------------------------------------

    async def _author(self, sender: Profile | None, content: Content) -> Author:
        api = self._side.api
        if sender is None or isinstance(content, Notice):
            return Author(api, None)
        if not sender.is_self:
            return Author(api, await self._ghosts.ensure(sender))
        if self._puppets.enabled_for(self.owner):
            try:
                client, as_user = await self._puppets.client_for(self.owner)
            except (MatrixRequestError, AppserviceRejected) as exc:
                logger.warning(
                    "double puppeting %s failed, posting as the bot: %s", self.owner, exc
                )
            else:
                return Author(client, as_user, puppet=True)
        return Author(api, None, prefix=SELF_PREFIX)

    async def _post(
        self,
        room: RoomId,
        author: Author,
        content: Mapping[str, Any],
        *,
        event_type: str = "m.room.message",
        operation: str,
    ) -> EventId:
        txn = txn_id(operation)
        if author.api is self._side.api:
            return await self._ghosts.send(
                room, author.as_user, content, event_type=event_type, txn_id=txn
            )
        body = {**content, render.DOUBLE_PUPPET_KEY: "chatbridge"}
        try:
            try:
                return await author.api.send_message(
                    room, body, as_user=author.as_user, event_type=event_type, txn_id=txn
                )
            except MatrixForbidden:
                # The owner was invited to the portal but has not joined yet: join for him.
                await author.api.join(room, as_user=author.as_user)
                return await author.api.send_message(
                    room, body, as_user=author.as_user, event_type=event_type, txn_id=txn
                )
        except AppserviceRejected as exc:
            if not await self._puppets.failed(self.owner, exc):
                raise
            # The owner's token died (and is dropped): the retry posts as the next author.
            raise DeliveryFailed("the double puppet's token expired", retryable=True) from None

    async def send(
        self, chat: Address, content: Content, *, sender: Profile | None = None
    ) -> SentMessage:
        """Post ``content`` into the room ``chat``; returns the event id (of the first part
        when a text too long for one event is split, ``fitting.split_message``). Raises
        ``MatrixRequestError`` subclasses (``DeliveryFailed``), ``MatrixRateLimited``; a
        failure that retrying cannot mend is also told in the room (``_tell_failure``)."""
        if isinstance(content, Media):
            return await self.send_media(chat, content, sender=sender)
        room = RoomId(chat)
        async with self._failures_told(room, sender):
            author = await self._author(sender, content)
            mentions = self._pills(content.mentions) if isinstance(content, Text) else ()
            body = render.message_content(content, prefix=author.prefix, mentions=mentions)
            first, *rest = await self._fitted(body, author, room)
            event_id = await self._post(room, author, first, operation="send")
            await self._post_rest(room, author, rest, operation="send")
            return _sent(event_id)

    async def _fitted(
        self, body: dict[str, Any], author: Author, room: RoomId
    ) -> list[dict[str, Any]]:
        """``body`` as the contents to post: itself, or for a text too long for one event
        (``fitting.split_message``) its parts, or a text file (``uploads.long_text_file``),
        as ``appservice.long_text`` says."""
        parts = split_message(body)
        if len(parts) == 1 or self._side.config.appservice.long_text != "file":
            return parts
        text = str(body.get("body", ""))
        as_user = author.as_user if author.api is self._side.api else None
        return [
            await uploads.long_text_file(
                self._side.api, room, text, as_user=as_user, poster=author.api
            )
        ]

    async def _post_rest(
        self, room: RoomId, author: Author, parts: Sequence[Mapping[str, Any]], *, operation: str
    ) -> None:
        """Post the parts after the first of a split text, each with its own txnId."""
        for number, part in enumerate(parts, start=2):
            await self._post(room, author, part, operation=f"{operation}#{number}")

    @contextlib.asynccontextmanager
    async def _failures_told(
        self, room: RoomId, sender: Profile | None = None
    ) -> AsyncIterator[None]:
        """Post a notice as the bot in ``room`` when the block raises a failure that retrying
        will not mend, so the Matrix user learns a message is missing (the relay reports it
        on the WeChat side too); the exception goes on."""
        try:
            yield
        except MatrixRequestError as exc:
            if not exc.retryable:
                await self._tell_failure(room, sender, exc)
            raise

    async def _tell_failure(
        self, room: RoomId, sender: Profile | None, exc: MatrixRequestError
    ) -> None:
        who = fit_text(sender.display_name, max_chars=64) if sender is not None else "WeChat"
        reason = exc.message or exc.errcode or f"HTTP {exc.status}"
        text = f"⚠ A message from {who} could not be shown here: {reason}"
        try:
            await self._side.api.send_message(room, mx.text(text, notice=True))
        except MatrixRequestError as again:
            logger.warning("cannot tell %s about a failed message: %s", room, again)

    def _pills(self, mentions: Sequence[Mention]) -> tuple[render.Pill, ...]:
        """Matrix users for the users a text mentions: Matrix user ids stay, anything else is
        a stable identity id and becomes its ghost."""
        config = self._side.config
        return tuple(
            render.Pill(
                UserId(m.address)
                if m.address.startswith("@") and ":" in m.address
                else UserId(config.ghost_user_id(m.address)),
                m.text,
            )
            for m in mentions
        )

    async def send_media(
        self, chat: Address, media: Media, *, sender: Profile | None = None
    ) -> SentMessage:
        """Upload ``media`` (authenticated media repository) and post it; returns the event
        id. Raises ``MatrixTooLarge`` above the homeserver's upload limit."""
        room = RoomId(chat)
        async with self._failures_told(room, sender):
            author = await self._author(sender, media)
            event_type, body = await self._media_body(media, author, room)
            return _sent(
                await self._post(room, author, body, event_type=event_type, operation="send")
            )

    async def _media_body(
        self, media: Media, author: Author, room: RoomId
    ) -> tuple[str, dict[str, Any]]:
        """``media`` uploaded for ``room``, encrypted where ``author``'s event will be
        (``uploads.media_content``)."""
        return await uploads.media_content(
            self._side.api,
            room,
            media,
            as_user=author.as_user if author.api is self._side.api else None,
            poster=author.api,
            prefix=author.prefix,
        )

    async def fetch_media(self, media: Media) -> Media:
        """The file of a portal event this channel received (``SupportsMediaFetch``; the
        reference is ``adapters.matrix.media.FileRef``), downloaded now by the chat's queue
        and decrypted if it is an encrypted attachment. Raises ``DeliveryFailed``: retryable
        while the homeserver is unreachable or busy, else not (see ``media.fetch``)."""
        return await fetch_file(self._side.api, media)

    async def send_reply(
        self,
        chat: Address,
        content: Content,
        reply_to: Quoted,
        *,
        sender: Profile | None = None,
    ) -> SentMessage:
        """Like ``send``, marked as a reply to the event ``reply_to.remote_id`` (spec "Rich
        replies"); text replies carry the quoted fallback when the original can be read."""
        room, target = RoomId(chat), EventId(reply_to.remote_id)
        async with self._failures_told(room, sender):
            author = await self._author(sender, content)
            event_type = "m.room.message"
            rest: list[dict[str, Any]] = []
            if isinstance(content, Media):
                event_type, body = await self._media_body(content, author, room)
            else:
                body, *rest = await self._fitted(
                    render.message_content(content, prefix=author.prefix), author, room
                )
            original: dict[str, Any] | None = None
            try:
                original = await self._side.api.get_event(room, target)
            except MatrixRequestError as exc:
                logger.info("reply to %s without fallback: %s", target, exc)
            replied = render.reply_content(body, target, room=room, original=original)
            if not fits(replied):  # the quoted fallback of a long original: leave it out
                replied = render.reply_content(body, target, room=room)
            body = replied
            event_id = await self._post(
                room, author, body, event_type=event_type, operation="reply"
            )
            await self._post_rest(room, author, rest, operation="reply")
            return _sent(event_id)

    async def revoke(self, chat: Address, message: SentMessage) -> None:
        """Redact the event ``message.remote_id`` as whoever posted it (its ghost, the owner's
        double puppet), else as the bot. Raises ``RevokeRefused`` if it cannot be redacted."""
        room, event_id = RoomId(chat), EventId(message.remote_id)
        api = self._side.api
        txn = txn_id("revoke")
        try:
            sender = (await api.get_event(room, event_id)).get("sender")
        except MatrixNotFound:
            raise RevokeRefused("the Matrix message no longer exists") from None
        except MatrixForbidden:
            raise RevokeRefused("the bridge cannot see this Matrix room any more") from None
        try:
            if isinstance(sender, str) and self._side.config.is_ghost(sender):
                await api.redact(room, event_id, as_user=UserId(sender), txn_id=txn)
            elif sender == self.owner and self._puppets.enabled_for(self.owner):
                client, as_user = await self._puppets.client_for(self.owner)
                try:
                    await client.redact(room, event_id, as_user=as_user, txn_id=txn)
                except AppserviceRejected as exc:
                    if not await self._puppets.failed(self.owner, exc):
                        raise
                    # The owner's token died (and is dropped): the retry redacts as the bot.
                    raise DeliveryFailed(
                        "the double puppet's token expired", retryable=True
                    ) from None
            else:
                await api.redact(room, event_id, txn_id=txn)
        except MatrixForbidden as exc:
            raise RevokeRefused(f"Matrix refused the redaction: {exc.message}") from None

    async def mark_read(self, chat: Address, remote_id: RemoteId) -> None:
        """``SupportsReceipts``: the owner read the chat on the phone, up to the event
        ``remote_id`` of the room ``chat``: post the owner's ``m.read`` receipt there through
        the double puppet (``DoublePuppets.mark_read``). Without a double puppet nothing is
        posted (a receipt of the bot would say nothing about the owner). Raises
        ``MatrixRequestError`` subclasses when retrying may help; other refusals are logged."""
        try:
            posted = await self._puppets.mark_read(self.owner, RoomId(chat), EventId(remote_id))
        except (MatrixRequestError, AppserviceRejected) as exc:
            if isinstance(exc, MatrixRequestError) and exc.retryable:
                raise
            logger.warning("read receipt of %s in %s not posted: %s", self.owner, chat, exc)
            return
        if not posted:
            logger.debug("%s read %s on the phone; no double puppet, no receipt", self.owner, chat)

    async def delivery_report(
        self, chat: Address, remote_id: RemoteId, *, error: str | None = None
    ) -> None:
        """``SupportsDeliveryReports``: the owner's event ``remote_id`` in the room ``chat``
        was delivered (the bot's read receipt and a SUCCESS send status) or, with ``error``,
        never will be (a FAIL_PERMANENT status; the relay's notice says it in the room).
        See ``receipts.DeliveryReports``; never raises."""
        if self._reports is None:
            return
        room, event_id = RoomId(chat), EventId(remote_id)
        if error is None:
            await self._reports.delivered(room, event_id)
        else:
            await self._reports.failed(room, event_id, error, StatusReason.NETWORK_ERROR)


def _sent(event_id: EventId) -> SentMessage:
    """A posted event as the core keeps it (a redaction needs nothing but its id)."""
    return SentMessage(RemoteId(event_id))

"""``MatrixChannel``: one login's side B, posting as ghosts and receiving from the hub."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import attrs

from adapters.matrix import content as mx
from adapters.matrix import render
from adapters.matrix.api import AppserviceAPI
from adapters.matrix.errors import (
    AppserviceRejected,
    MatrixForbidden,
    MatrixNotFound,
    MatrixRequestError,
)
from adapters.matrix.fitting import fit_text, fits, split_message
from adapters.matrix.ghosts import Ghosts
from adapters.matrix.media import fetch as fetch_file
from adapters.matrix.portals import Portals
from adapters.matrix.puppet import DoublePuppets
from adapters.matrix.receipts import DeliveryReports, StatusReason
from adapters.matrix.side import MatrixSide, txn_id
from adapters.matrix.types import EventId, RoomId, UserId
from bridge.channel import EventBatch
from bridge.errors import BridgeError, DeliveryFailed, RevokeRefused
from bridge.ids import LoginId
from bridge.model import (
    Address,
    ChatKind,
    Content,
    Event,
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

#: How a text too long for one event is sent when ``appservice.long_text`` is ``file``.
LONG_TEXT_FILENAME = "message.txt"
LONG_TEXT_MIMETYPE = "text/plain; charset=utf-8"
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


@attrs.define
class _Pending:
    events: tuple[Event, ...]
    acked: asyncio.Future[None]


class MatrixChannel:
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
        self._pending: dict[int, _Pending] = {}
        self._numbers = itertools.count(1)
        self._queue: asyncio.Queue[int | None] = asyncio.Queue()
        self._running = False
        self._stopped = False

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin yielding batches, every un-acked one first. Idempotent."""
        if self._running:
            return
        while not self._queue.empty():
            self._queue.get_nowait()
        for number in self._pending:
            self._queue.put_nowait(number)
        self._running = True
        self._stopped = False

    async def stop(self) -> None:
        """End ``events()``; un-acked batches wait for the next ``start()``. Idempotent."""
        if not self._running:
            return
        self._running = False
        self._stopped = True
        self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[EventBatch]:
        """The owner's portal events, one batch per appservice transaction, in order."""
        if self._stopped and not self._running:
            return
        while True:
            number = await self._queue.get()
            if number is None:
                return
            pending = self._pending.get(number)
            if pending is not None:
                yield EventBatch(pending.events, ack=functools.partial(self._ack, number))

    async def _ack(self, number: int) -> None:
        pending = self._pending.pop(number, None)
        if pending is not None and not pending.acked.done():
            pending.acked.set_result(None)

    # ---- from the hub ------------------------------------------------------------------------

    def deliver(self, events: Iterable[Event]) -> tuple[int, asyncio.Future[None]]:
        """Queue ``events`` as one batch; returns its number and a future done when the batch
        is acked (the hub then answers the transaction)."""
        number = next(self._numbers)
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[number] = _Pending(tuple(events), acked)
        if self._running:
            self._queue.put_nowait(number)
        return number, acked

    def abandon(self, number: int | None = None, reason: str = "abandoned") -> None:
        """Forget batch ``number`` (``None``: every one), failing its future: the hub gave
        up waiting and the homeserver will repeat the transaction."""
        numbers = list(self._pending) if number is None else [number]
        for n in numbers:
            pending = self._pending.pop(n, None)
            if pending is not None and not pending.acked.done():
                pending.acked.set_exception(BridgeError(f"batch not acknowledged: {reason}"))

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
            first, *rest = await self._fitted(body, author)
            event_id = await self._post(room, author, first, operation="send")
            await self._post_rest(room, author, rest, operation="send")
            return _sent(event_id)

    async def _fitted(self, body: dict[str, Any], author: Author) -> list[dict[str, Any]]:
        """``body`` as the contents to post: itself, or for a text too long for one event
        (``fitting.split_message``) its parts, or a text file, as ``appservice.long_text``
        says."""
        parts = split_message(body)
        if len(parts) == 1 or self._side.config.appservice.long_text != "file":
            return parts
        text = str(body.get("body", ""))
        data = text.encode()
        url = await self._side.api.upload(
            data,
            mimetype=LONG_TEXT_MIMETYPE,
            filename=LONG_TEXT_FILENAME,
            as_user=author.as_user if author.api is self._side.api else None,
        )
        caption = fit_text(text.split("\n", 1)[0], max_chars=200)
        file = mx.media(
            mx.MediaMsgType.FILE,
            url,
            filename=LONG_TEXT_FILENAME,
            mimetype=LONG_TEXT_MIMETYPE,
            size=len(data),
            caption=caption,
        )
        return [file]

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
            event_type, body = await self._media_body(media, author)
            return _sent(
                await self._post(room, author, body, event_type=event_type, operation="send")
            )

    async def _media_body(self, media: Media, author: Author) -> tuple[str, dict[str, Any]]:
        url = await self._side.api.upload(
            media.data,
            mimetype=media.mimetype,
            filename=render.media_filename(media),
            as_user=author.as_user if author.api is self._side.api else None,
        )
        return render.media_content(media, url, prefix=author.prefix)

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
                event_type, body = await self._media_body(content, author)
            else:
                body, *rest = await self._fitted(
                    render.message_content(content, prefix=author.prefix), author
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

    # ---- look-ups ----------------------------------------------------------------------------

    async def get_profile(self, address: Address) -> Profile:
        """A room's name and kind (``!room``) or a user's display name and avatar
        (``@user``). Raises ``BridgeError`` for anything else or an unknown one."""
        api = self._side.api
        if address.startswith("@"):
            user = UserId(address)
            data = await api.get_profile(user)
            name = data.get("displayname")
            avatar = data.get("avatar_url")
            return Profile(
                address,
                name=name if isinstance(name, str) else "",
                avatar_url=avatar if isinstance(avatar, str) else "",
                is_self=user == self.owner,
            )
        if not address.startswith("!"):
            raise BridgeError(f"{address!r} is neither a Matrix room nor a user id")
        room = RoomId(address)
        portal = await self._portal_of(room)
        kind = ChatKind.GROUP if portal is None else portal.kind
        try:
            state = await api.get_state(room, "m.room.name")
        except MatrixNotFound:
            state = {}
        name = state.get("name")
        return Profile(address, kind=kind, name=name if isinstance(name, str) else "")

    async def ensure_portal(self, remote: Profile, *, owner: Address) -> Address:
        """The portal room of ``remote`` (``remote.address`` = stable identity id), created
        on first call with ``owner`` invited; see ``Portals``."""
        return Address(await self._portals.ensure(remote, UserId(owner)))

    async def invite_owner(self, chat: Address) -> bool:
        """Invite the owner to the portal ``chat`` as the bot unless their membership is
        ``join`` or ``invite`` already (spec "m.room.member", "POST /rooms/{roomId}/invite");
        returns whether an invite was sent. Raises ``MatrixRequestError`` subclasses."""
        room, api = RoomId(chat), self._side.api
        try:
            member = await api.get_state(room, "m.room.member", state_key=self.owner)
        except MatrixNotFound:
            member = {}
        if member.get("membership") in ("join", "invite"):
            return False
        await api.invite(room, self.owner)
        return True

    async def delete_portal(self, chat: Address, *, reason: str) -> None:
        """Empty the portal ``chat`` and leave it (as mautrix bridges clean up a deleted
        portal's room): every joined member who is neither the bot nor a ghost is kicked
        with ``reason``, the owner too (a pending invite is withdrawn), ghosts leave, the
        bot leaves last; ``Portals`` forgets the room. A member that cannot be removed is
        logged and stays (the owner of a contact's portal has the bot's power level, so
        only leaves by themselves). Raises ``MatrixRequestError`` subclasses when the
        members cannot be read."""
        room, api, config = RoomId(chat), self._side.api, self._side.config
        self._portals.forget(room)
        members = {m.user_id for m in await api.get_members(room)} | {self.owner}
        for user in sorted(members - {self._side.bot}):
            try:
                if config.is_ghost(user):
                    await api.leave(room, as_user=user)
                else:
                    await api.kick(room, user, reason)
            except MatrixForbidden as exc:
                # E.g. the owner of a contact's portal: trusted_private_chat made them the
                # bot's equal in power, and only someone above may kick.
                logger.info("deleting portal %s: %s may not be removed: %s", room, user, exc)
            except MatrixRequestError as exc:
                logger.warning("deleting portal %s: %s stays: %s", room, user, exc)
        await api.leave(room)
        logger.info("portal %s deleted", room)

    async def update_portal(self, chat: Address, remote: Profile) -> None:
        """``remote`` (``remote.address`` = stable identity id) was renamed: a person's ghost
        takes the new display name (``Config.ghost_displayname``; spec "PUT
        /profile/{userId}/displayname") and the room ``chat`` the new ``m.room.name`` (spec
        "m.room.name"); either is left alone if it shows the name already. Raises
        ``MatrixRequestError`` subclasses."""
        if remote.kind is ChatKind.DIRECT:
            await self._ghosts.ensure(remote)
        await self._portals.rename(RoomId(chat), remote)


def _sent(event_id: EventId) -> SentMessage:
    """A posted event as the core keeps it (a redaction needs nothing but its id)."""
    return SentMessage(RemoteId(event_id))

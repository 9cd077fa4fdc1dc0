"""Delivering one journal entry to the other side, recording the result atomically."""

from __future__ import annotations

import asyncio
import logging

import attrs

from bridge.channel import (
    Channel,
    SupportsMedia,
    SupportsPortals,
    SupportsPortalUpdates,
    SupportsReplies,
    SupportsRevoke,
)
from bridge.errors import AmbiguousIdentity, BridgeError, DeliveryFailed, Unsupported
from bridge.ids import EventId, LoginId, RoomId
from bridge.model import (
    Address,
    Content,
    IdentityId,
    Media,
    Message,
    Profile,
    ProfileUpdate,
    RemoteId,
    Revocation,
    Text,
)
from bridge.relay import media
from bridge.relay.identities import is_bare
from bridge.relay.ingest import room_key
from bridge.relay.retry import delivery_key
from bridge.store import JournalEntry, MessageLink, Origin, Side, Store, StoredIdentity

log = logging.getLogger(__name__)


class Deliverer:
    """Carries journal entries of one login from their source side to the other.

    ``a`` is the remote network (WeChat), ``b`` the side with the portals (Matrix); ``owner``
    is the local user's address on side B (the Matrix user id), owner of new portals.
    """

    def __init__(
        self, store: Store, login: LoginId, a: Channel, b: Channel, *, owner: Address
    ) -> None:
        self.store = store
        self.login = login
        self.a = a
        self.b = b
        self.owner = owner
        # Held by a notice from its send until its message-map row exists, and by the check
        # for echoes in the same chat: a notice's echo can race in from the other pump.
        self._notice_locks: dict[tuple[Side, Address], asyncio.Lock] = {}
        self._notices_in_flight = 0
        self._notices_done = 0

    def _notice_lock(self, side: Side, chat: Address) -> asyncio.Lock:
        return self._notice_locks.setdefault((side, chat), asyncio.Lock())

    def notice_mark(self) -> int | None:
        """A mark to take before reading an entry with ``JournalRepo.next_pending`` and to
        pass to ``deliver``: while no notice was sent in between, the entry's ``mapped``
        flag is still the truth and the message map need not be asked again."""
        return None if self._notices_in_flight else self._notices_done

    async def _seen(self, entry: JournalEntry, remote_id: RemoteId, mark: int | None) -> bool:
        if entry.mapped:
            return True
        if mark is not None and mark == self._notices_done and not self._notices_in_flight:
            return False  # mapped was read after every notice that could be its origin
        async with self._notice_lock(entry.source, entry.chat):
            found = await self.store.messages.by_side(self.login, entry.source, remote_id)
        return found is not None

    def channel(self, side: Side) -> Channel:
        """The channel of ``side``."""
        return self.a if side is Side.A else self.b

    async def deliver(self, entry: JournalEntry, *, mark: int | None = None) -> None:
        """Deliver ``entry`` and mark it delivered (with its message-map row, atomically).
        ``mark`` is the ``notice_mark()`` taken before the entry was read, if it was read by
        ``next_pending``.

        Raises ``DeliveryFailed`` (retryable or not), ``CodecError`` for a corrupt payload, or
        whatever the target channel raised.
        """
        event = entry.event()
        token = delivery_key.set(f"{self.login}:{entry.id}")
        try:
            match event:
                case Message() if entry.source is Side.A:
                    await self._a_to_b(entry, event, mark)
                case Message():
                    await self._b_to_a(entry, event, mark)
                case Revocation():
                    await self._revoke(entry, event)
                case ProfileUpdate() if entry.source is Side.A:
                    await self._update_portal(entry, event)
                case _:
                    await self.store.journal.mark_delivered(entry.id)
        finally:
            delivery_key.reset(token)

    # ---- messages ----------------------------------------------------------------------------

    async def _a_to_b(self, entry: JournalEntry, msg: Message, mark: int | None) -> None:
        if await self._seen(entry, msg.remote_id, mark):
            await self.store.journal.mark_delivered(entry.id)  # echo of our send, or replayed
            return
        chat = await self.store.identities.get(IdentityId(entry.chat_key))
        if chat is None:
            raise DeliveryFailed("the chat is unknown to the bridge")
        room = await self._portal(chat)
        if msg.from_self:
            sender = await self._self_profile(msg.sender)
        else:
            sender_id = IdentityId(entry.sender_key or chat.id)
            ident = chat if sender_id == chat.id else await self.store.identities.get(sender_id)
            sender = await self.b_profile(ident or chat)
        reply_to = None
        if msg.reply_to is not None:
            link = await self.store.messages.by_remote_id(self.login, msg.reply_to)
            reply_to = link.id_on(Side.B) if link else None
        content = await self._b_mentions(await media.resolve(self.store, self.a, entry, msg))
        sent = await _send(self.b, room, content, sender, reply_to)
        async with self.store.transaction() as tx:
            await tx.journal.mark_delivered(entry.id)
            await tx.messages.add(
                self.login,
                origin=Origin.A,
                sender=sender.address,
                remote_id=msg.remote_id,
                event_id=EventId(sent),
                identity_id=chat.id,
                room=RoomId(room),
                timestamp=msg.timestamp,
            )
        if isinstance(msg.content, Media):
            await media.release(self.store, entry)

    async def _b_to_a(self, entry: JournalEntry, msg: Message, mark: int | None) -> None:
        if await self._seen(entry, msg.remote_id, mark):
            await self.store.journal.mark_delivered(entry.id)
            return
        identity_id = await self._portal_identity(entry)
        if identity_id is None:
            log.warning("message %s in %s: not a portal, not bridged", msg.remote_id, entry.chat)
            await self.store.journal.mark_failed(entry.id, "not a portal")
            return
        ident = await self.store.identities.get(identity_id)
        address = self.current_address(ident)
        reply_to = None
        if msg.reply_to is not None:
            link = await self.store.messages.by_event_id(self.login, EventId(msg.reply_to))
            reply_to = link.id_on(Side.A) if link else None
        content = await media.resolve(self.store, self.b, entry, msg)
        sent = await _send(self.a, address, content, Profile(msg.sender), reply_to)
        async with self.store.transaction() as tx:
            await tx.journal.mark_delivered(entry.id)
            await tx.messages.add(
                self.login,
                origin=Origin.B,
                sender=msg.sender,
                remote_id=sent,
                event_id=EventId(msg.remote_id),
                identity_id=identity_id,
                room=RoomId(entry.chat),
                timestamp=msg.timestamp,
            )
        if isinstance(msg.content, Media):
            await media.release(self.store, entry)

    async def _portal_identity(self, entry: JournalEntry) -> IdentityId | None:
        """The identity whose portal the side-B ``entry`` came from: its queue, which the
        ingest named after the portal it found (``ingest.room_key`` when it found none;
        then the room may have become a portal since)."""
        if entry.chat_key != room_key(entry.chat):
            return IdentityId(entry.chat_key)
        portal = await self.store.portals.by_room(RoomId(entry.chat))
        return None if portal is None else portal.identity_id

    async def _b_mentions(self, content: Content) -> Content:
        """``content`` with side-A mentions as side B knows them: the account itself becomes
        the owner, a contact its stable identity id (its ghost); unknown ones are dropped."""
        if not isinstance(content, Text) or not content.mentions:
            return content
        mentioned: list[Address] = []
        for address in content.mentions:
            ident = await self.store.identities.by_address(self.login, address)
            if ident is not None and not ident.ambiguous:
                mentioned.append(Address(ident.id))
                continue
            try:
                if (await self.a.get_profile(address)).is_self:
                    mentioned.append(self.owner)
            except BridgeError:
                pass
        return attrs.evolve(content, mentions=tuple(mentioned))

    def current_address(self, ident: StoredIdentity | None) -> Address:
        """Side A's address of ``ident`` now. Raises a non-retryable ``DeliveryFailed``
        (``AmbiguousIdentity`` when the user has to resolve it first)."""
        if ident is None:
            raise DeliveryFailed("this room's contact is unknown to the bridge")
        if ident.ambiguous:
            names = tuple(p.display_name for p in ident.candidates)
            raise AmbiguousIdentity(ident.id, names)
        if ident.address is None:
            raise DeliveryFailed(
                f"{ident.profile.display_name} is not in the contact list of the current "
                f"{self.a.name} login"
            )
        return ident.address

    async def _portal(self, chat: StoredIdentity) -> Address:
        portal = await self.store.portals.get(chat.id)
        if portal is not None:
            return Address(portal.room)
        if not isinstance(self.b, SupportsPortals):
            raise Unsupported(f"{self.b.name} cannot create a chat for {chat.profile.display_name}")
        room = await self.b.ensure_portal(await self.b_profile(chat), owner=self.owner)
        await self.store.portals.set(chat.id, RoomId(room))
        return room

    async def b_profile(self, ident: StoredIdentity) -> Profile:
        """``ident``'s profile as side B sees it: its address is the stable identity id, so
        ghosts and portals survive side A's address changes. A bare profile is completed
        from side A first (and stored)."""
        profile = ident.profile
        if is_bare(profile) and ident.address is not None:
            try:
                fetched = await self.a.get_profile(ident.address)
            except BridgeError as e:
                log.info("no profile for identity %s: %s", ident.id, e)
            else:
                profile = attrs.evolve(fetched, kind=profile.kind)
                await self.store.identities.update_profile(ident.id, profile)
        return attrs.evolve(profile, address=Address(ident.id))

    async def _self_profile(self, address: Address) -> Profile:
        try:
            profile = await self.a.get_profile(address)
        except BridgeError:
            profile = Profile(address, is_self=True)
        # On side B the account's owner is the local user.
        return attrs.evolve(profile, address=self.owner, is_self=True)

    # ---- renames -----------------------------------------------------------------------------

    async def _update_portal(self, entry: JournalEntry, update: ProfileUpdate) -> None:
        """A side-A chat with a portal was renamed (``update.profile.address`` is its identity
        id; see ``Ingestor._journal_renames``): side B's portal follows, if it can."""
        portal = await self.store.portals.get(IdentityId(entry.chat_key))
        if portal is not None and isinstance(self.b, SupportsPortalUpdates):
            await self.b.update_portal(Address(portal.room), update.profile)
        await self.store.journal.mark_delivered(entry.id)

    # ---- revocations -------------------------------------------------------------------------

    async def _revoke(self, entry: JournalEntry, rev: Revocation) -> None:
        link = await self.store.messages.by_side(self.login, entry.source, rev.remote_id)
        target = entry.source.other
        target_id = link.id_on(target) if link else None
        if link is None or link.revoked or target_id is None:
            # Never bridged, or the echo of a revocation the bridge carried out itself.
            await self.store.journal.mark_delivered(entry.id)
            return
        if not _same_chat(entry, link):
            # Message ids are unique per network, so this is a forged or corrupt recall: a
            # chat may only revoke its own messages.
            log.warning("entry %d revokes a message of another chat; ignored", entry.id)
            await self.store.journal.mark_delivered(entry.id)
            return
        channel = self.channel(target)
        if not isinstance(channel, SupportsRevoke):
            raise Unsupported(f"{channel.name} cannot recall messages")
        await channel.revoke(await self._chat_of(link, target), target_id)
        async with self.store.transaction() as tx:
            await tx.messages.mark_revoked(link.id)
            await tx.journal.mark_delivered(entry.id)

    async def _chat_of(self, link: MessageLink, side: Side) -> Address:
        if side is Side.B:
            if link.room is None:
                raise DeliveryFailed("the message's room is unknown")
            return Address(link.room)
        ident = (
            None if link.identity_id is None else await self.store.identities.get(link.identity_id)
        )
        return self.current_address(ident)

    # ---- notices -----------------------------------------------------------------------------

    async def origin_content(self, entry: JournalEntry) -> Content | None:
        """The content a failed entry is about (for quoting it), if still known."""
        event = entry.event()
        if isinstance(event, Message):
            return event.content
        if not isinstance(event, Revocation):
            return None
        link = await self.store.messages.by_side(self.login, entry.source, event.remote_id)
        if link is None or link.origin is Origin.BRIDGE:
            return None
        origin = Side.A if link.origin is Origin.A else Side.B
        found = await self.store.journal.find(self.login, origin, f"msg:{link.id_on(origin)}")
        original = None if found is None else found.event()
        return original.content if isinstance(original, Message) else None

    async def origin_chat(self, entry: JournalEntry) -> Address | None:
        """Where a notice about ``entry`` goes: its chat on its source side, now."""
        if entry.source is Side.B:
            return entry.chat
        ident = await self.store.identities.get(IdentityId(entry.chat_key))
        if ident is None:
            return entry.chat
        return ident.address

    async def notify(self, side: Side, chat: Address, content: Content) -> None:
        """Send a notice of the bridge into ``chat`` on ``side`` and remember it as the
        bridge's own, so its echo is not relayed. Failures are logged, not raised."""
        channel = self.channel(side)
        self._notices_in_flight += 1
        try:
            async with self._notice_lock(side, chat):
                sent = await channel.send(chat, content)
                remote_id, event_id = (sent, None) if side is Side.A else (None, EventId(sent))
                await self.store.messages.add(
                    self.login,
                    origin=Origin.BRIDGE,
                    sender="bridge",
                    remote_id=remote_id,
                    event_id=event_id,
                    room=RoomId(chat) if side is Side.B else None,
                )
        except Exception:
            log.exception("could not send a notice to %s on %s", chat, channel.name)
        finally:
            self._notices_in_flight -= 1
            self._notices_done += 1


async def _send(
    channel: Channel,
    chat: Address,
    content: Content,
    sender: Profile,
    reply_to: RemoteId | None,
) -> RemoteId:
    if isinstance(content, Media):
        if not isinstance(channel, SupportsMedia):
            raise Unsupported(f"{channel.name} cannot carry {content.kind.value} files")
        return await channel.send_media(chat, content, sender=sender)
    if reply_to is not None and isinstance(channel, SupportsReplies):
        return await channel.send_reply(chat, content, reply_to, sender=sender)
    return await channel.send(chat, content, sender=sender)


def _same_chat(entry: JournalEntry, link: MessageLink) -> bool:
    """Whether the revocation ``entry`` comes from the chat the message ``link`` is in."""
    if entry.source is Side.B:
        return link.room is not None and str(link.room) == entry.chat
    return link.identity_id is not None and link.identity_id == entry.chat_key

"""Delivering one journal entry to the other side, recording the result atomically."""

from __future__ import annotations

import logging

import attrs

from bridge.channel import (
    Channel,
    SupportsMedia,
    SupportsPortals,
    SupportsPortalUpdates,
    SupportsReceipts,
    SupportsReplies,
    SupportsRevoke,
    display_name,
)
from bridge.errors import (
    AmbiguousIdentity,
    BridgeError,
    DeliveryFailed,
    RevokeRefused,
    Unsupported,
)
from bridge.ids import EventId, LoginId, RoomId
from bridge.model import (
    Address,
    ChatRead,
    Content,
    IdentityId,
    Media,
    Message,
    Profile,
    ProfileUpdate,
    Quoted,
    RemoteId,
    Revocation,
    SentMessage,
    Text,
    identity_address,
)
from bridge.relay import keys, media
from bridge.relay.identities import is_bare
from bridge.relay.notices import not_revoked
from bridge.relay.notify import Notifier
from bridge.relay.portals import PortalDirectory
from bridge.relay.references import References, as_sent
from bridge.relay.retry import delivery_key
from bridge.store import (
    JournalEntry,
    MessageLink,
    Origin,
    Repositories,
    Side,
    Store,
    StoredIdentity,
)

log = logging.getLogger(__name__)


class Deliverer:
    """Carries journal entries of one login from their source side to the other.

    ``a`` is the remote network (WeChat), ``b`` the side with the portals (Matrix); ``owner``
    is the local user's address on side B (the Matrix user id), owner of new portals, which
    ``portals`` records. ``notifier`` sends the bridge's notices (an edit whose recall was
    refused) and tells echoes of them, and of the bridge's sends, from new messages.
    """

    def __init__(
        self,
        store: Store,
        login: LoginId,
        a: Channel,
        b: Channel,
        *,
        owner: Address,
        portals: PortalDirectory,
        notifier: Notifier,
    ) -> None:
        self.store = store
        self.login = login
        self.a = a
        self.b = b
        self.owner = owner
        self.portals = portals
        self.notifier = notifier
        self._refs = References(store, login, a, owner=owner)

    def channel(self, side: Side) -> Channel:
        """The channel of ``side``."""
        return self.a if side is Side.A else self.b

    async def deliver(self, entry: JournalEntry, *, mark: int | None = None) -> bool:
        """Deliver ``entry`` and mark it delivered (with its message-map row, atomically).
        ``mark`` is the ``Notifier.notice_mark()`` taken before the entry was read, if it was
        read by ``next_pending``.

        Returns True when a message was sent now (not a replay, an echo or anything else).
        Raises ``DeliveryFailed`` (retryable or not), ``CodecError`` for a corrupt payload, or
        whatever the target channel raised.
        """
        event = entry.event()
        token = delivery_key.set(f"{self.login}:{entry.id}")
        try:
            match event:
                case Message() if entry.source is Side.A:
                    return await self._a_to_b(entry, event, mark)
                case Message():
                    return await self._b_to_a(entry, event, mark)
                case Revocation():
                    await self._revoke(entry, event)
                case ChatRead() if entry.source is Side.A:
                    await self._chat_read(entry, event)
                case ProfileUpdate() if entry.source is Side.A:
                    await self._update_portal(entry, event)
                case _:
                    await self.store.journal.mark_delivered(entry.id)
        finally:
            delivery_key.reset(token)
        return False

    # ---- messages ----------------------------------------------------------------------------

    async def _a_to_b(self, entry: JournalEntry, msg: Message, mark: int | None) -> bool:
        if await self.notifier.seen(entry, msg.remote_id, mark):
            await self.store.journal.mark_delivered(entry.id)  # echo of our send, or replayed
            return False
        chat = await self.store.identities.get(IdentityId(entry.chat_key))
        if chat is None:
            raise DeliveryFailed("the chat is unknown to the bridge")
        room, _ = await self.ensure_portal(chat)
        if msg.from_self:
            sender = await self._self_profile(msg.sender)
        else:
            sender_id = IdentityId(entry.sender_key or chat.id)
            ident = chat if sender_id == chat.id else await self.store.identities.get(sender_id)
            sender = await self.b_profile(ident or chat)
        reply_to = None
        if msg.reply_to is not None:
            link = await self._refs.link(Side.A, msg.reply_to)
            reply_to = None if link is None else await self._refs.quoted(link, Side.B)
        resolved = await media.resolve(self.store, self.a, entry, msg)
        content = await self._refs.mentions_on_b(resolved)
        sent = await _send(self.b, Address(room), content, sender, reply_to)
        async with self.store.transaction() as tx:
            await tx.journal.mark_delivered(entry.id)
            await tx.messages.add(
                self.login,
                origin=Origin.A,
                sender=sender.address,
                remote_id=msg.remote_id,
                event_id=EventId(sent.remote_id),
                identity_id=chat.id,
                room=room,
                timestamp=msg.timestamp,
                sent=sent,
                quote_text=msg.content.body if isinstance(msg.content, Text) else None,
            )
            await _record_replacement(tx, self.login, Side.A, msg, sent)
        if isinstance(msg.content, Media):
            await media.release(self.store, entry)
        return True

    async def _b_to_a(self, entry: JournalEntry, msg: Message, mark: int | None) -> bool:
        if await self.notifier.seen(entry, msg.remote_id, mark):
            await self.store.journal.mark_delivered(entry.id)
            return False
        identity = keys.identity_of(entry.chat_key)
        if identity is None:
            log.warning("message %s in %s: not a portal, not bridged", msg.remote_id, entry.chat)
            await self.store.journal.mark_failed(entry.id, "not a portal")
            return False
        ident = await self.store.identities.get(identity)
        address = self.current_address(ident)
        reply_to = None
        if msg.reply_to is not None:
            link = await self._refs.link(Side.B, msg.reply_to)
            reply_to = None if link is None else await self._refs.quoted(link, Side.A)
        # A file of the user's that Matrix cannot provide fails the entry: the user is told.
        resolved = await media.resolve(self.store, self.b, entry, msg, notice_if_gone=False)
        content = await self._refs.mentions_on_a(resolved)
        if msg.replaces is not None:
            await self._recall_replaced(entry, msg.replaces)
        sent = await _send(self.a, address, content, Profile(msg.sender), reply_to)
        async with self.store.transaction() as tx:
            await tx.journal.mark_delivered(entry.id)
            await tx.messages.add(
                self.login,
                origin=Origin.B,
                sender=msg.sender,
                remote_id=sent.remote_id,
                event_id=EventId(msg.remote_id),
                identity_id=identity,
                room=RoomId(entry.chat),
                timestamp=msg.timestamp,
                sent=sent,
            )
            await _record_replacement(tx, self.login, Side.B, msg, sent)
        if isinstance(msg.content, Media):
            await media.release(self.store, entry)
        return True

    async def _recall_replaced(self, entry: JournalEntry, original: RemoteId) -> None:
        """Before the new message of an edit (``Message.replaces``): recall what stands for
        the edited message ``original`` on the other side (its own message, or an earlier
        edit's), so the contact sees only the corrected one. Recorded at once, so a retry of
        the entry does not recall twice. A refusal (too old) is told in the edit's chat and
        the new message goes all the same."""
        target = entry.source.other
        link = await self._refs.link(entry.source, original)
        target_id = None if link is None else link.id_on(target)
        channel = self.channel(target)
        if link is None or link.revoked or target_id is None or not _same_chat(entry, link):
            return
        if not isinstance(channel, SupportsRevoke):
            return
        try:
            await channel.revoke(await self.chat_of(link, target), as_sent(link, target, target_id))
        except RevokeRefused as e:
            shown = Text(link.quote_text) if link.quote_text else None
            notice = not_revoked(shown, display_name(channel), e.reason)
            await self.notifier.notify(entry.source, entry.chat, notice)
            return
        await self.store.messages.mark_revoked(link.id)

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

    async def ensure_portal(self, ident: StoredIdentity) -> tuple[RoomId, bool]:
        """The portal room of ``ident``, created on side B (``SupportsPortals``) and recorded
        if it has none; and whether it was created now. Raises ``Unsupported`` when side B
        cannot create chats, else what side B raised."""
        b = self.b

        async def create() -> Address:
            if not isinstance(b, SupportsPortals):
                raise Unsupported(f"{b.name} cannot create a chat for {ident.profile.display_name}")
            return await b.ensure_portal(await self.b_profile(ident), owner=self.owner)

        return await self.portals.ensure(ident.id, create)

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
                profile = attrs.evolve(fetched, kind=profile.kind, member_of=profile.member_of)
                await self.store.identities.update_profile(ident.id, profile)
        return attrs.evolve(profile, address=identity_address(ident.id))

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
        room = await self.portals.room_of(IdentityId(entry.chat_key))
        if room is not None and isinstance(self.b, SupportsPortalUpdates):
            await self.b.update_portal(Address(room), update.profile)
        await self.store.journal.mark_delivered(entry.id)

    # ---- reads -------------------------------------------------------------------------------

    async def _chat_read(self, entry: JournalEntry, read: ChatRead) -> None:
        """The owner read a side-A chat on the phone: side B marks its portal read
        (``SupportsReceipts``) up to ``read.up_to``'s event when given and bridged, else up to
        the newest event bridged into it. No portal, nothing bridged, or a side B without
        receipts: nothing to do."""
        room = await self.portals.room_of(IdentityId(entry.chat_key))
        b = self.b
        if room is not None and isinstance(b, SupportsReceipts):
            if read.up_to is not None:
                link = await self.store.messages.by_remote_id(self.login, read.up_to)
                event_id = None if link is None else link.event_id
            else:
                event_id = await self.store.messages.newest_event(self.login, room)
            if event_id is not None:
                await b.mark_read(Address(room), RemoteId(event_id))
        await self.store.journal.mark_delivered(entry.id)

    # ---- revocations -------------------------------------------------------------------------

    async def _revoke(self, entry: JournalEntry, rev: Revocation) -> None:
        # An edited message is recalled as the edit's message that stands for it.
        link = await self._refs.link(entry.source, rev.remote_id)
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
        await channel.revoke(await self.chat_of(link, target), as_sent(link, target, target_id))
        async with self.store.transaction() as tx:
            await tx.messages.mark_revoked(link.id)
            await tx.journal.mark_delivered(entry.id)

    async def chat_of(self, link: MessageLink, side: Side) -> Address:
        """The chat of the message ``link`` on ``side``, now: its room on side B, its
        identity's current address on side A. Raises ``DeliveryFailed``."""
        if side is Side.B:
            if link.room is None:
                raise DeliveryFailed("the message's room is unknown")
            return Address(link.room)
        ident = (
            None if link.identity_id is None else await self.store.identities.get(link.identity_id)
        )
        return self.current_address(ident)


async def _send(
    channel: Channel,
    chat: Address,
    content: Content,
    sender: Profile,
    reply_to: Quoted | None,
) -> SentMessage:
    if isinstance(content, Media):
        if not isinstance(channel, SupportsMedia):
            raise Unsupported(f"{channel.name} cannot carry {content.kind.value} files")
        return await channel.send_media(chat, content, sender=sender)
    if reply_to is not None and isinstance(channel, SupportsReplies):
        return await channel.send_reply(chat, content, reply_to, sender=sender)
    return await channel.send(chat, content, sender=sender)


async def _record_replacement(
    tx: Repositories, login: LoginId, source: Side, msg: Message, sent: SentMessage
) -> None:
    """An edit carried as recall + resend (``msg.replaces``): its message now stands for
    the original's, for later revocations, replies and edits (schema 7)."""
    if msg.replaces is not None:
        await tx.replacements.put(login, source, msg.replaces, msg.remote_id, sent.timestamp)


def _same_chat(entry: JournalEntry, link: MessageLink) -> bool:
    """Whether the revocation ``entry`` comes from the chat the message ``link`` is in."""
    if entry.source is Side.B:
        return link.room is not None and str(link.room) == entry.chat
    return link.identity_id is not None and link.identity_id == entry.chat_key

"""Turning an inbound ``EventBatch`` into journal entries, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import attrs

from bridge.ids import LoginId, RoomId
from bridge.model import (
    Address,
    ChatRead,
    ContactBook,
    Event,
    IdentityId,
    LoggedIn,
    LoggedOut,
    Message,
    Profile,
    ProfileUpdate,
    ReadReceipt,
    Revocation,
    StateEvent,
    identity_address,
)
from bridge.relay import identities, matching_book, matching_profile
from bridge.relay.avatars import AvatarFetcher
from bridge.relay.keys import QueueKey, dedup_key, identity_key, room_key
from bridge.relay.notices import HeldChat, held, held_chat_notice
from bridge.relay.portals import PortalDirectory
from bridge.store import EntryState, LoginState, Repositories, Side, Store, StoredIdentity

log = logging.getLogger(__name__)


#: Profile updates per transaction when ``Ingestor.prepare`` applies a long run of them.
PROFILE_CHUNK = 50


@attrs.frozen
class Prepared:
    """What ``Ingestor.prepare`` did before a batch's transaction: side-A contact books
    matched (by position in the batch), and the first ``applied`` events (profile updates)
    applied in transactions of their own, waking ``keys``."""

    books: Mapping[int, matching_book.PreparedBook] = attrs.field(factory=dict)
    applied: int = 0
    keys: frozenset[QueueKey] = frozenset()
    #: Display names by identity (``IdentityRepo.display_names``) read before a book of
    #: ``books`` was partly written ahead (``matching_book.store_ahead``), by position.
    names: Mapping[int, Mapping[IdentityId, str]] = attrs.field(factory=dict)


@attrs.frozen
class Ingested:
    """What committing a batch produced: queues with new entries, notices for portals about
    held messages (side-B room, text), the same for the management room (``held``), the
    state events to pass on and the read receipts to relay (never journaled), in order."""

    keys: frozenset[QueueKey] = frozenset()
    notices: tuple[tuple[RoomId, str], ...] = ()
    states: tuple[StateEvent, ...] = ()
    receipts: tuple[ReadReceipt, ...] = ()
    #: One notice per newly held chat for the user's management room (``notices.held_chat``,
    #: with the candidates whose avatars to show); ``notices`` has the short form of each
    #: for the portals involved.
    held: tuple[HeldChat, ...] = ()


def _names(idents: Sequence[StoredIdentity]) -> dict[IdentityId, str]:
    """Display names of the unambiguous ``idents``, by identity id."""
    return {i.id: i.profile.display_name for i in idents if not i.ambiguous}


class Ingestor:
    """Journals the events of one login's batches; see ``ingest``.

    ``a_stable`` is side A's ``stable_addresses``: when False, contact books and profiles
    go through identity matching (``relay.matching_book``, ``relay.matching_profile``), with
    the avatars ``avatars`` fetches where look-alikes remain. ``a_name`` names side A in
    notices.
    """

    def __init__(
        self,
        login: LoginId,
        portals: PortalDirectory,
        *,
        a_stable: bool,
        a_name: str,
        avatars: AvatarFetcher | None = None,
    ) -> None:
        self._login = login
        self._portals = portals
        self._a_stable = a_stable
        self._a_name = a_name
        self._avatars = avatars

    async def prepare(self, store: Store, side: Side, events: Sequence[Event]) -> Prepared:
        """Before the transaction of ``ingest``: match side A's contact books outside it
        (``prepare_book``), so that the transaction only writes, and write most of a big new
        session's book ahead in short transactions (``matching_book.store_ahead``); and apply a
        long leading run
        of side-A profile updates (a login's real-id leaks: hundreds) in transactions of
        ``PROFILE_CHUNK`` each, so that no transaction holds the database for long. Profile
        updates are idempotent: if the batch is redelivered they are applied again."""
        if side is not Side.A:
            return Prepared()
        books = {}
        names = {}
        if not self._a_stable:
            for n, event in enumerate(events):
                if isinstance(event, ContactBook):
                    book = await matching_book.prepare_book(
                        store, self._login, event.profiles, event.members, fetcher=self._avatars
                    )
                    if book.result is not None:
                        names[n] = await store.identities.display_names(
                            self._login, with_portal=True
                        )
                        book = await matching_book.store_ahead(
                            store, self._login, book, event.profiles
                        )
                    books[n] = book
        leading = 0
        while leading < len(events) and isinstance(events[leading], ProfileUpdate):
            leading += 1
        if leading <= PROFILE_CHUNK:
            return Prepared(books, names=names)
        keys: set[QueueKey] = set()
        for start in range(0, leading, PROFILE_CHUNK):
            async with store.transaction() as tx:
                for event in events[start : min(start + PROFILE_CHUNK, leading)]:
                    assert isinstance(event, ProfileUpdate)
                    keys |= await self._profile_update(tx, event.profile)
        return Prepared(books, leading, frozenset(keys), names)

    async def ingest(
        self,
        tx: Repositories,
        side: Side,
        events: Sequence[Event],
        prepared: Prepared | None = None,
    ) -> Ingested:
        """Journal ``events`` from ``side`` inside transaction ``tx``.

        Messages and revocations become journal entries, skipped when their remote id was
        journaled or bridged before (a redelivery, or the echo of the bridge's own send).
        Side-A contact books and profile updates update identities at once, so the messages
        after them in the stream are keyed by the new bindings (``prepared``: what
        ``prepare`` did for these ``events``); an identity with a portal whose display name
        they change gets a ``ProfileUpdate`` entry in its chat's queue (see
        ``_journal_renames``). Raises ``StoreError``.
        """
        prepared = prepared or Prepared()
        keys: set[QueueKey] = set(prepared.keys)
        notices: list[tuple[RoomId, str]] = []
        held_chats: list[HeldChat] = []
        states: list[StateEvent] = []
        receipts: list[ReadReceipt] = []
        for n, event in enumerate(events):
            if n < prepared.applied:
                continue
            match event:
                case Message() | Revocation():
                    await self._journal(tx, side, event, keys, notices, held_chats)
                case ChatRead() if side is Side.A:
                    await self._journal_read(tx, event, keys)
                case ChatRead():
                    log.debug("ignored a read from side %s", side.value)
                case ReadReceipt():
                    receipts.append(event)
                case ContactBook(profiles=profiles, members=members) if side is Side.A:
                    if n in prepared.names:
                        names = dict(prepared.names[n])
                    else:
                        names = await tx.identities.display_names(self._login, with_portal=True)
                    if self._a_stable:
                        await identities.apply_stable_book(tx, self._login, profiles)
                    elif await matching_book.apply_matched_book(
                        tx, self._login, profiles, prepared.books.get(n), members
                    ):
                        keys.update(await identities.release_held(tx, self._login))
                    names_now = await tx.identities.display_names(self._login, with_portal=True)
                    renamed = [i for i, n in names_now.items() if names.get(i, n) != n]
                    now = [i for i in [await tx.identities.get(i) for i in renamed] if i]
                    keys.update(await self._journal_renames(tx, names, now))
                case ProfileUpdate(profile=profile) if side is Side.A:
                    keys.update(await self._profile_update(tx, profile))
                case ContactBook() | ProfileUpdate():
                    log.debug("ignored %s from side %s", type(event).__name__, side.value)
                case LoggedIn(account=account):
                    if side is Side.A:
                        state, real = LoginState.ACTIVE, account.real_id or None
                        await tx.logins.set_state(self._login, state, account=real)
                    states.append(event)
                case LoggedOut():
                    if side is Side.A:
                        await tx.logins.set_state(self._login, LoginState.LOGGED_OUT)
                    states.append(event)
                case _:
                    states.append(event)
        return Ingested(
            frozenset(keys),
            tuple(notices),
            tuple(states),
            receipts=tuple(receipts),
            held=tuple(held_chats),
        )

    async def _profile_update(self, tx: Repositories, profile: Profile) -> set[QueueKey]:
        """A side-A contact appeared or changed; returns the queues woken."""
        keys: set[QueueKey] = set()
        bound = await tx.identities.by_address(self._login, profile.address)
        names = _names([] if bound is None else [bound])
        if self._a_stable:
            await identities.apply_profile(tx, self._login, profile)
        elif await matching_profile.apply_matched_profile(tx, self._login, profile):
            keys.update(await identities.release_held(tx, self._login))
        after = None if bound is None else await tx.identities.get(bound.id)
        now = [] if after is None else [after]
        keys.update(await self._journal_renames(tx, names, now))
        return keys

    async def _journal_renames(
        self, tx: Repositories, before: Mapping[IdentityId, str], now: Sequence[StoredIdentity]
    ) -> set[QueueKey]:
        """Journal a ``ProfileUpdate`` (its address: the identity id) in the queue of each
        identity of ``now`` whose display name differs from the one in ``before`` (identity
        id -> display name) and that has a portal, so the portal is renamed after the chat's
        earlier messages. Returns the queues that got one."""
        keys: set[QueueKey] = set()
        for ident in now:
            old = before.get(ident.id)
            if old is None or ident.ambiguous or ident.profile.display_name == old:
                continue
            if await tx.portals.get(ident.id) is None:
                continue
            stable = identity_address(ident.id)
            update = ProfileUpdate(attrs.evolve(ident.profile, address=stable))
            key = identity_key(ident.id)
            chat = ident.address or stable
            await tx.journal.append(self._login, Side.A, chat, update, chat_key=key)
            log.info("identity %s was renamed; its portal follows", ident.id)
            keys.add(key)
        return keys

    async def _journal(
        self,
        tx: Repositories,
        side: Side,
        event: Message | Revocation,
        keys: set[QueueKey],
        notices: list[tuple[RoomId, str]],
        held_chats: list[HeldChat],
    ) -> None:
        if isinstance(event, Message) and await tx.messages.by_side(
            self._login, side, event.remote_id
        ):
            log.debug("skipped message %s from side %s: bridged before", event.remote_id, side)
            return
        sender_key: str | None = None
        state = EntryState.PENDING
        if side is Side.B:
            # A cache hit after the side-B adapter asked for this event's room.
            portal = await self._portals.by_room(RoomId(event.chat), tx)
            chat_key = room_key(event.chat) if portal is None else identity_key(portal.identity)
        else:
            placement = await identities.place_event(tx, self._login, event)
            chat_key, sender_key = placement.chat_key, placement.sender_key
            if placement.held:
                state = EntryState.HELD
        entry_id = await tx.journal.append(
            self._login,
            side,
            event.chat,
            event,
            chat_key=chat_key,
            sender_key=sender_key,
            dedup_key=dedup_key(event),
            state=state,
        )
        if entry_id is None:
            log.debug("skipped %s from side %s: journaled before", dedup_key(event), side)
        elif state is EntryState.PENDING:
            keys.add(chat_key)
        elif isinstance(event, Message):
            notices.extend(await self._held_notices(tx, event, held_chats))

    async def _journal_read(self, tx: Repositories, event: ChatRead, keys: set[QueueKey]) -> None:
        """Journal side A's ``ChatRead`` in its chat's queue, after the messages before it,
        so the read lands on the newest of them. A chat without an identity (never bridged)
        or an ambiguous one has no portal to mark read: skipped."""
        ident = await tx.identities.by_address(self._login, event.chat)
        if ident is None or ident.ambiguous:
            log.debug("read of a chat the bridge cannot place; not carried")
            return
        key = identity_key(ident.id)
        chat, dedup = event.chat, dedup_key(event)
        if await tx.journal.append(self._login, Side.A, chat, event, chat_key=key, dedup_key=dedup):
            keys.add(key)

    async def _held_notices(
        self, tx: Repositories, event: Message, held_chats: list[HeldChat]
    ) -> list[tuple[RoomId, str]]:
        # One notice per chat while it is held, not one per message.
        held_here = [
            e
            for e in await tx.journal.entries(self._login, EntryState.HELD)
            if e.chat == event.chat
        ]
        if len(held_here) > 1:
            return []
        result: list[tuple[RoomId, str]] = []
        claimants: list[IdentityId] = []
        for address in dict.fromkeys([event.chat, event.sender]):
            claimants.extend(await tx.identities.claimants(self._login, address))
        chats: list[str] = []
        candidates: dict[Address, Profile] = {}
        for identity_id in dict.fromkeys(claimants):
            await self._notice_for(tx, identity_id, event, result)
            ident = await tx.identities.get(identity_id)
            if ident is None:
                continue
            portal = await tx.portals.get(identity_id)
            room = f" ({portal.room})" if portal is not None else ""
            chats.append(f"{ident.profile.display_name}{room}")
            candidates.update((p.address, p) for p in ident.candidates)
        if chats:
            sender = candidates.get(event.sender)
            name = sender.display_name if sender is not None else "a member of a group"
            held_chats.append(
                held_chat_notice(name, chats, list(candidates.values()), self._a_name)
            )
        return result

    async def _notice_for(
        self,
        tx: Repositories,
        identity_id: IdentityId,
        event: Message,
        out: list[tuple[RoomId, str]],
    ) -> None:
        portal = await tx.portals.get(identity_id)
        ident = await tx.identities.get(identity_id)
        if portal is None or ident is None:
            return
        names = [p.display_name for p in ident.candidates]
        sender = next(
            (p.display_name for p in ident.candidates if p.address == event.sender), "a contact"
        )
        out.append((portal.room, held(sender, names, self._a_name).text))

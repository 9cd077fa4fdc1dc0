"""Side-A addresses to stable identities: look-up, stable contact books, held entries."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs

from bridge.ids import LoginId
from bridge.model import Address, ChatKind, IdentityId, Message, Profile, Revocation
from bridge.relay.keys import QueueKey, held_key, identity_key
from bridge.store import EntryState, Repositories, StoredIdentity
from bridge.store.codec import CodecError

log = logging.getLogger(__name__)


@attrs.frozen
class Placement:
    """Where a side-A event goes: queue ``chat_key`` (a chat identity id) and the sender's
    identity, or ``held`` because an address is ambiguous (``claimants`` are the identities
    it could be, ``address`` the ambiguous one)."""

    chat_key: QueueKey
    sender_key: str | None = None
    held: bool = False
    address: Address | None = None
    claimants: tuple[IdentityId, ...] = ()


async def place(
    tx: Repositories,
    login: LoginId,
    chat: Address,
    sender: Address,
    *,
    kind: ChatKind,
    with_sender: bool,
) -> Placement:
    """Find (or create) the identities of ``chat`` and, if ``with_sender``, of ``sender``.

    An address no identity is bound to gets a new identity with a bare profile (filled in at
    delivery). An address an ambiguous identity could be yields a held placement.
    """
    addresses = [chat] + ([sender] if with_sender and sender != chat else [])
    for address in addresses:
        claimants = await tx.identities.claimants(login, address)
        if claimants:
            return Placement(held_key(chat), None, True, address, tuple(claimants))
    chat_ident = await _bound_or_new(tx, login, chat, kind)
    sender_key: str | None = None
    if with_sender:
        sender_key = chat_ident.id
        if sender != chat:
            # A sender no contact's identity is bound to is a group member who is not a
            # contact: its identity belongs to this group (``bridge.identity_members``).
            group = chat_ident.id if kind is ChatKind.GROUP else None
            sender_key = (await _bound_or_new(tx, login, sender, ChatKind.DIRECT, group)).id
    return Placement(identity_key(chat_ident.id), sender_key)


async def place_event(tx: Repositories, login: LoginId, event: Message | Revocation) -> Placement:
    """``place`` for a side-A message (with its sender unless it is the account's own) or
    revocation (its chat only)."""
    if isinstance(event, Message):
        return await place(
            tx,
            login,
            event.chat,
            event.sender,
            kind=event.chat_kind,
            with_sender=not event.from_self,
        )
    return await place(tx, login, event.chat, event.sender, kind=ChatKind.DIRECT, with_sender=False)


async def _expired(tx: Repositories, login: LoginId, event: Message | Revocation) -> bool:
    for address in dict.fromkeys([event.chat, event.sender]):
        if await tx.identities.claimants(login, address):
            return False
        if await tx.identities.by_address(login, address) is not None:
            return False
    return True


async def _bound_or_new(
    tx: Repositories,
    login: LoginId,
    address: Address,
    kind: ChatKind,
    member_of: IdentityId | None = None,
) -> StoredIdentity:
    found = await tx.identities.by_address(login, address)
    if found is not None:
        return found
    bare = Profile(address, kind=kind, member_of=member_of or IdentityId(""))
    return await tx.identities.create(login, bare, address=address)


def is_bare(profile: Profile) -> bool:
    """True for a profile that holds nothing but its address, kind and group
    (``member_of``)."""
    return profile == Profile(profile.address, kind=profile.kind, member_of=profile.member_of)


async def apply_profile(tx: Repositories, login: LoginId, profile: Profile) -> None:
    """A contact of a channel with stable addresses appeared or changed: refresh the profile
    of the identity of its address, or make one. (Unstable channels: ``relay.matching_profile``.)"""
    if profile.is_self:
        return
    found = await tx.identities.by_address(login, profile.address)
    if found is None:
        await tx.identities.create(login, profile, address=profile.address)
    else:
        await tx.identities.update_profile(found.id, profile)


async def apply_stable_book(tx: Repositories, login: LoginId, book: Sequence[Profile]) -> None:
    """A contact book of a channel with stable addresses: one identity per address."""
    for profile in book:
        await apply_profile(tx, login, profile)


async def release_held(tx: Repositories, login: LoginId) -> set[QueueKey]:
    """Move held entries whose addresses are no longer ambiguous back into their queues (in
    their original order); returns the queues that got entries.

    An entry whose address nothing claims or binds any more came from an earlier login
    session (its UserName expired, PROTOCOL.md §11): it stays held rather than open a chat
    for a dead address."""
    woken: set[QueueKey] = set()
    for entry in await tx.journal.entries(login, EntryState.HELD):
        try:
            event = entry.event()
        except CodecError:
            log.exception("journal entry %d is corrupt", entry.id)
            await tx.journal.mark_failed(entry.id, "corrupt journal entry")
            continue
        if not isinstance(event, Message | Revocation):
            continue
        if await _expired(tx, login, event):
            continue
        placement = await place_event(tx, login, event)
        if not placement.held:
            await tx.journal.release(entry.id, placement.chat_key, placement.sender_key)
            woken.add(placement.chat_key)
    return woken

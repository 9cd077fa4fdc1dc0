"""Held entries across login sessions: what waits under an expired address is carried over to
the contact of the new session that provably is the same account (PROTOCOL.md §11)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs

from bridge.identity_avatars import same_account
from bridge.ids import LoginId
from bridge.model import Address, Message, Profile, Revocation
from bridge.relay.keys import held_key
from bridge.store import EntryState, Repositories, StoredIdentity
from bridge.store.codec import CodecError

log = logging.getLogger(__name__)


async def carry_over_held(
    tx: Repositories,
    login: LoginId,
    before: Sequence[StoredIdentity],
    book: Sequence[Profile],
) -> bool:
    """Give the held entries of the last session the addresses of this one, where they can
    be proven: ``before`` are the identities as they were before this session's contact book
    was stored (their candidates are the last session's contacts, as shown then), ``book``
    is this session's contact book (with the avatar hashes fetched for it).

    A held message's chat or sender that was a candidate, and that exactly one contact of
    ``book`` shares a real id, Alias or unshared avatar hash with, without a conflicting
    field (``identity_avatars.same_account``), takes that contact's address: the entry stays
    held, now under an address the user can resolve, and is released with it in order. One
    that nothing proves stays where it is, held: never dropped, never given to a look-alike.
    Returns True when an entry was carried over."""
    old = {c.address: c for i in before for c in i.candidates}
    if not old:
        return False
    fingerprints = [i.profile for i in before]
    moved = 0
    for entry in await tx.journal.entries(login, EntryState.HELD):
        try:
            event = entry.event()
        except CodecError:
            continue  # release_held marks it failed
        if not isinstance(event, Message | Revocation):
            continue
        now: dict[Address, Address] = {}
        for address in {event.chat, event.sender} & old.keys():
            found = same_account(old[address], book, fingerprints)
            if found is not None:
                now[address] = found.address
        if not now:
            continue
        moved_event = attrs.evolve(
            event, chat=now.get(event.chat, event.chat), sender=now.get(event.sender, event.sender)
        )
        await tx.journal.readdress(entry.id, moved_event, held_key(moved_event.chat))
        moved += 1
    if moved:
        log.info("%d held entries of the last session carried over to this one", moved)
    return moved > 0

"""Matching a login's contact book against the identities of its login (PROTOCOL.md §11):
prepared outside the transaction, stored ahead in short transactions, applied, audited; a
resumed session's book applied contact by contact."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs

from bridge import identity as matcher
from bridge.ids import LoginId
from bridge.model import Address, GroupMember, IdentityId, Profile
from bridge.relay.avatars import AvatarFetcher, rematch, with_hashes
from bridge.relay.held import carry_over_held
from bridge.relay.matching import apply_result, as_identity, new_id
from bridge.relay.matching_profile import apply_matched_profile, contradicts
from bridge.store import Repositories, Store, StoredIdentity
from bridge.store.audit import Decision
from bridge.store.codec import encode

log = logging.getLogger(__name__)


@attrs.frozen
class PreparedBook:
    """A contact book matched outside the transaction that stores it (``prepare_book``):
    the identities as read at identity ``generation``, and the match (None when the book
    comes from a resumed session, which is applied contact by contact)."""

    generation: int
    stored: tuple[StoredIdentity, ...]
    result: matcher.MatchResult | None
    encoded: Mapping[IdentityId, str] = attrs.field(factory=dict)
    members: Mapping[Address, Profile] = attrs.field(factory=dict)
    #: Avatar hashes fetched for the match, by address (``relay.avatars``).
    avatars: Mapping[Address, str] = attrs.field(factory=dict)
    #: ``store_ahead`` wrote its new identities, fingerprints and bindings already.
    written: bool = False


_Write = Callable[[Repositories, list[Any]], Awaitable[None]]

#: Identities per transaction of ``store_ahead``: a few dozen milliseconds each.
BOOK_CHUNK = 400


async def store_ahead(
    store: Store, login: LoginId, prepared: PreparedBook, book: Sequence[Profile]
) -> PreparedBook:
    """Store a new session's match (``prepared``, of ``book``) before the transaction of its
    batch, in transactions of ``BOOK_CHUNK`` identities, so that no transaction holds the
    database for long (a 5,000-contact book otherwise takes one of a second or more, and
    every Matrix transaction waits behind it): the new identities (unbound), the changed
    fingerprints, the bindings to this session's addresses, which nobody else holds
    (UserNames are new at every login, PROTOCOL.md §11), the ambiguities, then the bindings
    of the last session that the match did not renew are dropped, and the audit recorded.

    In between, an identity is bound either to its last session's address or to its new
    one, and the channel sends nothing until the book's batch is taken in
    (``SendsContactBookLater``); no message of the new session is taken in before its book.
    A resumed session's book (no ``result``), or one whose identities changed since
    ``prepare_book`` read them, is left as it is (to the batch's transaction)."""
    result = prepared.result
    if result is None or await store.identities.generation() != prepared.generation:
        return prepared  # changed since the match: the batch's transaction matches again
    contacts = with_hashes([p for p in book if not p.is_self], prepared.avatars)
    profiles = {**prepared.members, **{p.address: p for p in contacts}}
    renewed = set(result.bound.values())
    held = [i for i in result.updated if i.ambiguous]
    stale = {i.id for i in prepared.stored if i.address is not None}
    stale |= {i.id for i in result.updated}
    stale -= renewed | {i.id for i in held}
    # Each step's items are listed only when its turn comes, not all of them at once.
    steps: list[tuple[_Write, Callable[[], list[Any]]]] = [
        (lambda tx, c: tx.identities.create_many(login, c, encoded),
         lambda: [(i.id, i.fingerprint) for i in result.created]),
        (lambda tx, c: tx.identities.update_profiles(c, encoded),
         lambda: [(i.id, i.fingerprint) for i in result.updated]),
        (lambda tx, c: tx.identities.bind_many(login, c),
         lambda: [(identity_id, address) for address, identity_id in result.bound.items()]),
        (lambda tx, c: tx.identities.mark_ambiguous_many(c),
         lambda: [(i.id, [profiles[a] for a in i.candidates if a in profiles]) for i in held]),
        (lambda tx, c: tx.identities.bind_many(login, c),
         lambda: [(i, None) for i in sorted(stale)]),
        (lambda tx, c: tx.audit.record(login, c),
         lambda: _decisions(prepared.stored, result, profiles)),
    ]  # fmt: skip
    encoded: Mapping[IdentityId, str] = {}
    for n, (write, listing) in enumerate(steps):
        items = listing()
        for start in range(0, len(items), BOOK_CHUNK):
            chunk = items[start : start + BOOK_CHUNK]
            if n < 2:  # fingerprints: encoded a chunk at a time, in a worker thread
                encoded = await asyncio.to_thread(_encode, chunk)
            async with store.transaction() as tx:
                await write(tx, chunk)
        del items
    return attrs.evolve(prepared, written=True)


def _encode(fingerprints: Sequence[tuple[IdentityId, Profile]]) -> dict[IdentityId, str]:
    """The stored form (``codec.encode``) of each fingerprint, by identity id."""
    return {identity_id: encode(profile) for identity_id, profile in fingerprints}


async def prepare_book(
    repos: Repositories,
    login: LoginId,
    book: Sequence[Profile],
    members: Sequence[GroupMember] = (),
    fetcher: AvatarFetcher | None = None,
    avatars: Mapping[Address, str] | None = None,
) -> PreparedBook:
    """Read the identities of ``login`` and match ``book`` (and the group ``members`` of a
    ``ContactBook``) against them, outside any transaction: reads take the database only
    briefly, and the match (CPU only) holds no lock, so the other side's transactions go on
    meanwhile. ``apply_matched_book`` stores the result if no identity changed since (else
    it matches again). Where look-alikes remain among the contacts, ``fetcher`` fetches the
    few avatars that can tell them apart and the contacts are matched again with them
    (``relay.avatars.rematch``) before the members are; ``avatars``: hashes fetched
    already."""
    generation = await repos.identities.generation()
    stored = tuple(await repos.identities.all(login))
    contacts = [p for p in book if not p.is_self]
    if is_resumed(stored, contacts):
        return PreparedBook(generation, stored, None)
    known = [as_identity(i) for i in stored]
    # CPU only (0.1-0.3 s for thousands of contacts): in a worker thread, so that the event
    # loop goes on serving the other side meanwhile.
    of_contacts = [i for i in known if not i.fingerprint.member_of]
    first = await asyncio.to_thread(matcher.match_book, of_contacts, contacts, new_id=new_id)
    hashes: dict[Address, str] = {}
    again = await rematch(of_contacts, contacts, first, fetcher, avatars or {}, new_id)
    if again is not None:
        first, hashes = again
    # The changed fingerprints are encoded when written (``store_ahead``: a chunk at a time),
    # not here: a first login of 5,000 friends creates 5,500, ~0.5 KB of JSON each (~3 MB).
    result, listed = await asyncio.to_thread(_with_members, first, known, contacts, members)
    return PreparedBook(generation, stored, result, members=listed, avatars=hashes)


def _with_members(
    contacts_result: matcher.MatchResult,
    known: Sequence[matcher.Identity],
    contacts: Sequence[Profile],
    members: Sequence[GroupMember] = (),
) -> tuple[matcher.MatchResult, dict[Address, Profile]]:
    """``contacts_result`` (the contacts matched against contacts' identities) completed with
    the members of the groups bound, matched against the identities of members who are not
    contacts (``match_members``), which never stand in for a contact. Returns the result and
    the member profiles the result names, by address."""
    of_members = [i for i in known if i.fingerprint.member_of]
    return matcher.with_members(contacts_result, of_members, contacts, members)


async def apply_matched_book(
    tx: Repositories,
    login: LoginId,
    book: Sequence[Profile],
    prepared: PreparedBook | None = None,
    members: Sequence[GroupMember] = (),
) -> bool:
    """A login session's contact book. A new session: every old address expires, then the
    book is matched against every identity of ``login`` (PROTOCOL.md §11), the ``members``
    of its groups against the identities of group members (``bridge.identity_members``),
    and the result stored. A resumed one (``is_resumed``) keeps its bindings: its contacts
    are applied as mid-session profiles. Returns True when that answered an ambiguity, or
    held entries of the last session were carried over to this one (``carry_over_held``):
    release held entries then.

    ``prepared`` (from ``prepare_book`` for this ``book`` and ``members``) is used when no
    identity changed since it was made, so the transaction only writes.
    """
    contacts = [p for p in book if not p.is_self]
    if prepared is not None and prepared.written and prepared.result is not None:
        result = prepared.result  # ``store_ahead`` stored it
        contacts = with_hashes(contacts, prepared.avatars)
    else:
        if prepared is None or prepared.generation != await tx.identities.generation():
            avatars = prepared.avatars if prepared is not None else None
            prepared = await prepare_book(tx, login, contacts, members, avatars=avatars)
        if prepared.result is None:
            return await _apply_resumed_book(tx, login, prepared.stored, contacts)
        result = prepared.result
        await tx.identities.unbind_all(login)
        contacts = with_hashes(contacts, prepared.avatars)
        by_address = {**prepared.members, **{p.address: p for p in contacts}}
        changed = [(i.id, i.fingerprint) for i in (*result.created, *result.updated)]
        encoded = prepared.encoded or await asyncio.to_thread(_encode, changed)
        await apply_result(tx, login, result, by_address, encoded)
        await tx.audit.record(login, _decisions(prepared.stored, result, by_address))
    carried = await carry_over_held(tx, login, prepared.stored, contacts)
    log.info(
        "contact book: %d contacts, %d new identities, %d ambiguities",
        len(contacts),
        len(result.created),
        len(result.ambiguous),
    )
    return carried


#: Evidence that identifies a contact: decisions resting on it are not audited.
IDENTIFIERS = frozenset({"the same real id", "the same Alias"})


def _decisions(
    stored: Sequence[StoredIdentity],
    result: matcher.MatchResult,
    profiles: Mapping[Address, Profile],
) -> list[Decision]:
    """The audit of a contact book's match: every chat held, and every chat bound on evidence
    weaker than an identifier whose name changed (a rename taken on trust)."""
    before = {i.id: i.profile for i in stored}
    decisions = []
    for ident in result.updated:
        if ident.ambiguous and ident.id in result.evidence:
            names = ", ".join(profiles[a].display_name for a in ident.candidates if a in profiles)
            why = result.evidence[ident.id]
            decisions.append(Decision(ident.id, "held", why, names, before.get(ident.id)))
    for address, ident_id in result.bound.items():
        evidence = result.evidence.get(ident_id)
        old, new = before.get(ident_id), profiles[address]
        if evidence is None or evidence in IDENTIFIERS or old is None:
            continue
        if (old.display_name, old.nick_name) != (new.display_name, new.nick_name):
            decisions.append(Decision(ident_id, "bound", evidence, new.display_name, old))
    return decisions


def is_resumed(stored: Sequence[StoredIdentity], book: Sequence[Profile]) -> bool:
    """Whether ``book`` comes from the session the bindings in ``stored`` were made in (the
    bridge restarted and resumed it). A person's or group's UserName is ``@`` plus random
    hex, new at every login (§11), so one still bound proves the same session; fixed names
    such as ``filehelper`` prove nothing."""
    bound = {i.address for i in stored if i.address is not None and i.address.startswith("@")}
    return any(p.address in bound for p in book)


async def _apply_resumed_book(
    tx: Repositories, login: LoginId, stored: Sequence[StoredIdentity], book: Sequence[Profile]
) -> bool:
    # Matching the book again as a new session would forget what only this session showed
    # (leaked real ids, group members' bindings) and make lookalikes ambiguous.
    by_address = {i.address: i for i in stored if i.address is not None}
    answered = False
    changed: list[tuple[IdentityId, Profile]] = []
    for profile in book:
        ident = by_address.get(profile.address)
        if ident is None or ident.kind is not profile.kind or contradicts(ident.profile, profile):
            answered |= await apply_matched_profile(tx, login, profile)
            continue
        fingerprint = matcher.update_fingerprint(as_identity(ident), profile).fingerprint
        if fingerprint != ident.profile:
            changed.append((ident.id, fingerprint))
    await tx.identities.update_profiles(changed)
    log.info("contact book of a resumed session: %d contacts", len(book))
    return answered

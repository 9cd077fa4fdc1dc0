"""Persisting the results of identity matching (``bridge/identity.py``) in the store."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from bridge import identity as matcher
from bridge.errors import BridgeError
from bridge.ids import LoginId
from bridge.model import Address, IdentityId, Profile
from bridge.store import Repositories, StoredIdentity
from bridge.store.accounts import new_identity_id

log = logging.getLogger(__name__)


def _new_id(_profile: Profile) -> IdentityId:
    return new_identity_id()


def as_identity(stored: StoredIdentity) -> matcher.Identity:
    """The matcher's view of a stored identity."""
    return matcher.Identity(
        stored.id,
        stored.kind,
        stored.profile,
        ambiguous=stored.ambiguous,
        candidates=tuple(p.address for p in stored.candidates),
    )


async def apply_result(
    tx: Repositories,
    login: LoginId,
    result: matcher.MatchResult,
    profiles: Mapping[Address, Profile],
) -> None:
    """Write ``result`` for ``login``: new identities, changed fingerprints and ambiguity,
    then the address bindings. ``profiles`` gives the profile of every address it names."""
    for ident in result.created:
        await tx.identities.create(login, ident.fingerprint, address=None, identity_id=ident.id)
    for ident in result.updated:
        await tx.identities.update_profile(ident.id, ident.fingerprint)
        if ident.ambiguous:
            cands = [profiles[a] for a in ident.candidates if a in profiles]
            await tx.identities.mark_ambiguous(ident.id, cands)
        elif ident.id not in result.bound.values():
            await tx.identities.bind(ident.id, None)
    for address, identity_id in result.bound.items():
        await tx.identities.bind(identity_id, address)


async def apply_matched_book(tx: Repositories, login: LoginId, book: Sequence[Profile]) -> bool:
    """A login session's contact book. A new session: every old address expires, then the
    book is matched against every identity of ``login`` (PROTOCOL.md §11) and the result
    stored. A resumed one (``is_resumed``) keeps its bindings: its contacts are applied as
    mid-session profiles. Returns True when that answered an ambiguity (release held entries).
    """
    contacts = [p for p in book if not p.is_self]
    stored = await tx.identities.all(login)
    if is_resumed(stored, contacts):
        return await _apply_resumed_book(tx, login, stored, contacts)
    known = [as_identity(i) for i in stored]
    result = matcher.match_book(known, contacts, new_id=_new_id)
    await tx.identities.unbind_all(login)
    await apply_result(tx, login, result, {p.address: p for p in contacts})
    log.info(
        "contact book: %d contacts, %d new identities, %d ambiguities",
        len(contacts),
        len(result.created),
        len(result.ambiguous),
    )
    return False


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
    for profile in book:
        ident = by_address.get(profile.address)
        if ident is None or ident.kind is not profile.kind:
            answered |= await apply_matched_profile(tx, login, profile)
            continue
        fingerprint = matcher.update_fingerprint(as_identity(ident), profile).fingerprint
        if fingerprint != ident.profile:
            await tx.identities.update_profile(ident.id, fingerprint)
    log.info("contact book of a resumed session: %d contacts", len(book))
    return answered


async def apply_matched_profile(tx: Repositories, login: LoginId, profile: Profile) -> bool:
    """A contact appeared or changed mid-session: refresh the fingerprint of the identity
    bound to its address, or match it against the unbound identities. Returns True when the
    profile may have settled an ambiguity (a ``firm_answer``, or its address was a candidate
    of one): held entries may be released now."""
    if profile.is_self:
        return False
    stored = await tx.identities.all(login)
    bound = next((i for i in stored if i.address == profile.address), None)
    if bound is not None:
        try:
            updated = matcher.update_fingerprint(as_identity(bound), profile)
        except ValueError as e:
            log.warning("profile update for identity %s ignored: %s", bound.id, e)
            return False
        await tx.identities.update_profile(bound.id, updated.fingerprint)
        return False
    profiles = {**_candidate_profiles(stored), profile.address: profile}
    answered = firm_answer(stored, profile)
    if answered is not None:
        result = matcher.resolve(
            [as_identity(i) for i in stored],
            answered.id,
            profile.address,
            list(profiles.values()),
            new_id=_new_id,
        )
        await apply_result(tx, login, result, profiles)
        log.info("identity %s: ambiguity answered by a real id or Alias", answered.id)
        return True
    # Held messages wait on addresses claimed by an ambiguity: if this one was, the match may
    # have settled it, and release_held re-checks every held entry.
    was_claimed = profile.address in _candidate_profiles(stored)
    unbound = [as_identity(i) for i in stored if i.address is None]
    # Contacts held in an ambiguity are part of the session too: a RemarkName one of them
    # holds must not look unique.
    held = [p for a, p in _candidate_profiles(stored).items() if a != profile.address]
    session = [i.profile for i in stored if i.address is not None] + held
    result = matcher.match_contact(profile, unbound, new_id=_new_id, session=session)
    await apply_result(tx, login, result, profiles)
    await _refresh_candidate(tx, login, profile)
    return was_claimed


async def _refresh_candidate(tx: Repositories, login: LoginId, profile: Profile) -> None:
    """Store ``profile`` as it is now wherever it is a candidate of an ambiguity: ``resolve``
    shows the candidates so that the user can tell them apart, e.g. by a RemarkName just
    given on the phone (a match that keeps the same candidates does not rewrite them)."""
    for ident in await tx.identities.all(login):
        stale = [c for c in ident.candidates if c.address == profile.address and c != profile]
        if ident.ambiguous and stale:
            fresh = [profile if c.address == profile.address else c for c in ident.candidates]
            await tx.identities.mark_ambiguous(ident.id, fresh)


def firm_answer(stored: Sequence[StoredIdentity], profile: Profile) -> StoredIdentity | None:
    """The ambiguous identity that ``profile``'s real id or Alias proves it is, or None.

    WeChat's contact lists carry no real ids; they leak only after the login (the status
    message listing recent chats, group payloads; PROTOCOL.md §11), so a re-login's contact
    book leaves namesakes ambiguous even when the bridge knew their real ids. A real id or
    Alias learnt later is the same proof as at a login: it answers the ambiguity when exactly
    one identity of ``profile``'s kind holds that key, without a conflicting one, and it is
    ambiguous with ``profile``'s address among its candidates.
    """

    def holds(fingerprint: Profile) -> bool:
        same_id = bool(profile.real_id) and fingerprint.real_id == profile.real_id
        same_alias = bool(profile.alias) and fingerprint.alias == profile.alias
        conflict = _differs(fingerprint.real_id, profile.real_id) or _differs(
            fingerprint.alias, profile.alias
        )
        return (same_id or same_alias) and not conflict

    holders = [i for i in stored if i.kind is profile.kind and holds(i.profile)]
    if len(holders) != 1:
        return None
    (holder,) = holders
    if not holder.ambiguous or profile.address not in {c.address for c in holder.candidates}:
        return None
    return holder


def _differs(a: str, b: str) -> bool:
    return bool(a) and bool(b) and a != b


async def resolve_identity(
    tx: Repositories, login: LoginId, identity_id: IdentityId, address: Address | None
) -> None:
    """The user's answer to an ambiguity (see ``bridge.identity.resolve``), stored.

    Raises ``BridgeError`` if ``identity_id`` is not an ambiguous identity of ``login`` or
    ``address`` is not one of its candidates.
    """
    stored = await tx.identities.all(login)
    profiles = _candidate_profiles(stored)
    try:
        result = matcher.resolve(
            [as_identity(i) for i in stored],
            identity_id,
            address,
            list(profiles.values()),
            new_id=_new_id,
        )
    except ValueError as e:
        raise BridgeError(f"cannot resolve {identity_id}: {e}") from e
    await apply_result(tx, login, result, profiles)


def _candidate_profiles(stored: Sequence[StoredIdentity]) -> dict[Address, Profile]:
    return {p.address: p for i in stored for p in i.candidates}

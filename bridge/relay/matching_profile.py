"""Matching a contact that appears or changes mid-session against the identities it may be,
by indexed look-ups around it, and the proof (a real id or Alias) that answers an ambiguity
(PROTOCOL.md §11)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bridge import identity as matcher
from bridge.ids import LoginId
from bridge.model import Profile
from bridge.relay.matching import apply_result, as_identity, candidate_profiles, new_id
from bridge.store import Repositories, StoredIdentity
from bridge.store.audit import Decision

log = logging.getLogger(__name__)


def contradicts(fingerprint: Profile, profile: Profile) -> bool:
    """True when an identifier of ``profile`` (real id, Alias) differs from the one the
    identity learnt: the contact at this address is someone else (PROTOCOL.md §11)."""
    return _differs(fingerprint.real_id, profile.real_id) or _differs(
        fingerprint.alias, profile.alias
    )


async def apply_matched_profile(tx: Repositories, login: LoginId, profile: Profile) -> bool:
    """A contact appeared or changed mid-session: refresh the fingerprint of the identity
    bound to its address, or match it against the unbound identities. Returns True when the
    profile may have settled an ambiguity (a ``firm_answer``, or its address was a candidate
    of one): held entries may be released now.

    Reads only what can bear on ``profile``: the identity bound to its address, the
    identities sharing its real id, Alias, RemarkName or topic, and the ambiguities it is a
    candidate of (indexed look-ups; see ``_neighbourhood``), so a login's hundreds of real-id
    updates cost milliseconds each whatever the size of the contact book. An identity bound
    to the address whose real id or Alias the update contradicts is unbound first: the
    identifier says the contact is someone else.
    """
    if profile.is_self:
        return False
    bound = await tx.identities.by_address(login, profile.address)
    if bound is not None:
        if contradicts(bound.profile, profile) and bound.kind is profile.kind:
            log.warning(
                "identity %s: a leaked identifier of its contact contradicts it; unbound",
                bound.id,
            )
            await tx.identities.bind(bound.id, None)
            evidence = "a real id or Alias that leaked contradicts it"
            decision = Decision(bound.id, "unbound", evidence, profile.display_name)
            await tx.audit.record(login, [decision])
        else:
            try:
                updated = matcher.update_fingerprint(as_identity(bound), profile)
            except ValueError as e:
                log.warning("profile update for identity %s ignored: %s", bound.id, e)
                return False
            if updated.fingerprint != bound.profile:
                await tx.identities.update_profile(bound.id, updated.fingerprint)
            return False
    pool, session = await _neighbourhood(tx, login, profile)
    profiles = {**candidate_profiles(pool), profile.address: profile}
    answered = firm_answer(pool, profile)
    if answered is not None:
        result = matcher.resolve(
            [as_identity(i) for i in pool],
            answered.id,
            profile.address,
            list(profiles.values()),
            new_id=new_id,
        )
        await apply_result(tx, login, result, profiles)
        log.info("identity %s: ambiguity answered by a real id or Alias", answered.id)
        return True
    # Held messages wait on addresses claimed by an ambiguity: if this one was, the match may
    # have settled it, and release_held re-checks every held entry.
    was_claimed = profile.address in candidate_profiles(pool)
    unbound = [as_identity(i) for i in pool if i.address is None]
    result = matcher.match_contact(profile, unbound, new_id=new_id, session=session)
    await apply_result(tx, login, result, profiles)
    await _refresh_candidate(tx, login, profile)
    return was_claimed


async def _neighbourhood(
    tx: Repositories, login: LoginId, profile: Profile
) -> tuple[list[StoredIdentity], list[Profile]]:
    """What matching ``profile`` mid-session needs, by indexed look-ups: the identities that
    share a key with it or claim its address, and the ambiguous ones claiming their
    candidates (``pool``); and the session's other contacts that hold those keys (bound
    identities' fingerprints, held candidates with its RemarkName), so that a key they hold
    is not taken as unique (``session``)."""
    topic = profile.nick_name or profile.name
    related = await tx.identities.related(
        login,
        profile.kind,
        real_ids=[profile.real_id],
        aliases=[profile.alias],
        remark_names=[profile.remark_name],
        topics=[topic],
    )
    # The identities of group members who are not contacts never stand in for a contact
    # (``bridge.identity_members``): a contact is not matched to them by its name.
    pool = {i.id: i for i in related if not i.profile.member_of}
    for ident in await tx.identities.claiming(login, [profile.address]):
        pool.setdefault(ident.id, ident)
    others = {c.address for i in pool.values() for c in i.candidates} - {profile.address}
    if others:
        for ident in await tx.identities.claiming(login, sorted(others)):
            pool.setdefault(ident.id, ident)
    unbound = [i for i in pool.values() if i.address is None]
    holders = await tx.identities.related(
        login,
        profile.kind,
        real_ids=sorted({i.profile.real_id for i in unbound} | {profile.real_id}),
        aliases=sorted({i.profile.alias for i in unbound} | {profile.alias}),
        remark_names=[profile.remark_name],
        bound=True,
    )
    session = [i.profile for i in holders if i.address != profile.address]
    session += [
        p
        for p in await tx.identities.held_with_remark(login, profile.remark_name)
        if p.address != profile.address
    ]
    return list(pool.values()), session


async def _refresh_candidate(tx: Repositories, login: LoginId, profile: Profile) -> None:
    """Store ``profile`` as it is now wherever it is a candidate of an ambiguity: ``resolve``
    shows the candidates so that the user can tell them apart, e.g. by a RemarkName just
    given on the phone (a match that keeps the same candidates does not rewrite them)."""
    for ident in await tx.identities.claiming(login, [profile.address]):
        stale = [c for c in ident.candidates if c.address == profile.address and c != profile]
        if stale:
            fresh = [profile if c.address == profile.address else c for c in ident.candidates]
            await tx.identities.mark_ambiguous(ident.id, fresh)


def firm_answer(stored: Sequence[StoredIdentity], profile: Profile) -> StoredIdentity | None:
    """The ambiguous identity that ``profile``'s real id or Alias proves it is, or None.

    WeChat's contact lists carry no real ids; they leak only after the login (the status
    message listing recent chats, group payloads; PROTOCOL.md §11), so a re-login's contact
    book leaves namesakes ambiguous even when the bridge knew their real ids. A real id or
    Alias learnt later is the same proof as at a login: it answers the ambiguity when exactly
    one identity of ``profile``'s kind in ``stored`` (which must hold every identity with
    that real id or Alias) holds that key, without a conflicting one, and it is ambiguous
    with ``profile``'s address among its candidates.
    """

    def holds(fingerprint: Profile) -> bool:
        same_id = bool(profile.real_id) and fingerprint.real_id == profile.real_id
        same_alias = bool(profile.alias) and fingerprint.alias == profile.alias
        return (same_id or same_alias) and not contradicts(fingerprint, profile)

    holders = [i for i in stored if i.kind is profile.kind and holds(i.profile)]
    if len(holders) != 1:
        return None
    (holder,) = holders
    if not holder.ambiguous or profile.address not in {c.address for c in holder.candidates}:
        return None
    return holder


def _differs(a: str, b: str) -> bool:
    return bool(a) and bool(b) and a != b

"""Avatar hashes as evidence of identity matching, fetched only where they decide (PROTOCOL.md
§9, §11).

An avatar is the same bytes for one account from login to login until its owner changes it
(``HeadImgUrl`` ``seq`` is its version), and two accounts rarely share one: a SHA-256 of the
bytes tells look-alikes apart that no field does. But fetching the icons of a whole contact
book at every login is how accounts get flagged, and the default avatar is one picture for
many accounts. So:

* only the contacts whose avatar can decide something are fetched (``avatars_wanted``): the
  candidates of an otherwise ambiguous match, and look-alikes of the book (same NickName, no
  Alias), whose hashes the next login needs to tell them apart; at most ``FETCH_LIMIT``;
* a hash is evidence only when one account shows it: a hash that two contacts of the book or
  two identities carry (the default avatar, or one picture used twice) says nothing
  (``shared_hashes``), and is not compared;
* two different hashes veto a pair at every rule (``identity_evidence.conflict``); an equal
  one leaves the pair standing while its look-alikes fall away, which settles the tie.

A contact who changes their avatar looks like someone else to a stored hash: among
look-alikes, which would be held without it, they get a chat of their own rather than
another's.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

import attrs

from bridge.identity import MIN_OVERLAP, Identity, MatchResult, NewId, match_book
from bridge.identity_evidence import conflict, topic
from bridge.model import Address, ChatKind, Profile

#: Most avatars fetched for one contact book (one login).
FETCH_LIMIT = 24
#: The evidence recorded for a chat bound once the avatar told look-alikes apart.
AVATAR_EVIDENCE = "the same name, and the avatar told the look-alikes apart"


def avatar_hash(data: bytes) -> str:
    """The SHA-256 of an avatar's bytes, lowercase hex (64 characters)."""
    return hashlib.sha256(data).hexdigest()


def avatars_wanted(
    known: Sequence[Identity],
    book: Sequence[Profile],
    first: MatchResult,
    *,
    limit: int = FETCH_LIMIT,
) -> tuple[Address, ...]:
    """The people of ``book`` whose avatar could decide something, most useful first, at most
    ``limit``: the candidates of each ambiguity of ``first`` (``book`` matched against
    ``known`` without avatars), then the look-alikes of the book: people sharing a NickName
    with another one and without an Alias, which the next login cannot tell apart without a
    hash. Groups are left out (their avatar is a collage of members' avatars, which changes
    with them); so are people whose hash is known already."""
    people = {p.address: p for p in book if p.kind is ChatKind.DIRECT and not p.is_self}
    wanted: dict[Address, None] = {}
    for ambiguity in first.ambiguous:
        wanted.update(dict.fromkeys(a for a in ambiguity.addresses if a in people))
    by_name: dict[str, list[Address]] = defaultdict(list)
    for profile in people.values():
        if topic(profile) and not profile.alias:
            by_name[topic(profile)].append(profile.address)
    for addresses in by_name.values():
        if len(addresses) > 1:
            wanted.update(dict.fromkeys(addresses))
    return tuple(a for a in wanted if not people[a].avatar_hash)[:limit]


def shared_hashes(fingerprints: Iterable[Profile], book: Iterable[Profile]) -> frozenset[str]:
    """Hashes that say nothing: carried by two contacts of ``book`` or by two identity
    ``fingerprints`` (the default avatar, or one picture used by several people)."""
    contacts = Counter(p.avatar_hash for p in book if p.avatar_hash)
    idents = Counter(p.avatar_hash for p in fingerprints if p.avatar_hash)
    return frozenset(h for h in contacts + idents if contacts[h] > 1 or idents[h] > 1)


def _blank(profile: Profile, shared: frozenset[str]) -> Profile:
    if profile.avatar_hash and profile.avatar_hash in shared:
        return attrs.evolve(profile, avatar_hash="")
    return profile


def match_book_with_avatars(
    known: Sequence[Identity],
    book: Sequence[Profile],
    first: MatchResult,
    hashes: Mapping[Address, str],
    *,
    new_id: NewId,
    min_overlap: float = MIN_OVERLAP,
) -> MatchResult:
    """``bridge.identity.match_book`` again, once ``hashes`` (address -> ``avatar_hash``, from
    the fetch of ``avatars_wanted``) are known; ``first`` is the match without them.

    Shared hashes (``shared_hashes``) are left out of the comparison but kept in what is
    stored, so that a default avatar stays known as one. A chat ``first`` held and this match
    binds is recorded with ``AVATAR_EVIDENCE``. Raises what ``match_book`` raises."""
    raw = [
        attrs.evolve(p, avatar_hash=hashes[p.address])
        if p.address in hashes and not p.avatar_hash
        else p
        for p in book
    ]
    shared = shared_hashes((i.fingerprint for i in known), raw)
    compared_known = [attrs.evolve(i, fingerprint=_blank(i.fingerprint, shared)) for i in known]
    result = match_book(
        compared_known, [_blank(p, shared) for p in raw], new_id=new_id, min_overlap=min_overlap
    )
    return _restore(result, known, raw, first)


def _restore(
    result: MatchResult, known: Sequence[Identity], book: Sequence[Profile], first: MatchResult
) -> MatchResult:
    """``result`` with the hashes left out of the comparison put back into fingerprints."""
    hash_of = {p.address: p.avatar_hash for p in book if p.avatar_hash}
    stored = {i.id: i.fingerprint.avatar_hash for i in known if i.fingerprint.avatar_hash}
    address_of = {ident: address for address, ident in result.bound.items()}

    def restored(ident: Identity) -> Identity:
        if ident.fingerprint.avatar_hash:
            return ident
        address = address_of.get(ident.id)
        value = (hash_of.get(address, "") if address else "") or stored.get(ident.id, "")
        if not value:
            return ident
        return attrs.evolve(ident, fingerprint=attrs.evolve(ident.fingerprint, avatar_hash=value))

    held_first = {i for a in first.ambiguous for i in a.identities}
    evidence = dict(result.evidence)
    for ident in result.bound.values():
        if ident in held_first and ident in evidence:
            evidence[ident] = AVATAR_EVIDENCE
    original = {i.id: i for i in known}
    updated = tuple(u for u in (restored(i) for i in result.updated) if original.get(u.id) != u)
    return attrs.evolve(
        result,
        created=tuple(restored(i) for i in result.created),
        updated=updated,
        evidence=evidence,
    )


def same_account(
    old: Profile, book: Sequence[Profile], fingerprints: Iterable[Profile] = ()
) -> Profile | None:
    """The contact of ``book`` that is provably the account ``old`` (a profile of an earlier
    login session) was, or None: the only one of its kind sharing its real id, Alias or
    avatar hash (a hash no other contact of ``book`` nor two identity ``fingerprints``
    carry), with no conflicting stable field. Used to carry what waits for ``old``'s expired
    address over to the new session."""
    shared = shared_hashes(fingerprints, book)

    def proves(p: Profile) -> bool:
        return (
            p.kind is old.kind
            and not conflict(old, p)
            and (
                (bool(old.real_id) and p.real_id == old.real_id)
                or (bool(old.alias) and p.alias == old.alias)
                or (
                    bool(old.avatar_hash)
                    and p.avatar_hash == old.avatar_hash
                    and old.avatar_hash not in shared
                )
            )
        )

    found = [p for p in book if proves(p)]
    return found[0] if len(found) == 1 else None


__all__ = [
    "AVATAR_EVIDENCE",
    "FETCH_LIMIT",
    "avatar_hash",
    "avatars_wanted",
    "match_book_with_avatars",
    "same_account",
    "shared_hashes",
]

"""Persisting the results of identity matching (``bridge/identity.py``) in the store: the
writes a ``MatchResult`` makes, shared by a login's contact book (``relay.matching_book``), a
contact seen mid-session (``relay.matching_profile``) and the user's decisions
(``relay.decisions``); PROTOCOL.md §11."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bridge import identity as matcher
from bridge.ids import LoginId
from bridge.model import Address, IdentityId, Profile
from bridge.store import Repositories, StoredIdentity
from bridge.store.accounts import new_identity_id


def new_id(_profile: Profile) -> IdentityId:
    """A fresh identity id for a new identity: the ``new_id`` the matcher takes
    (``bridge.identity``), whatever ``_profile`` it is for."""
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
    encoded: Mapping[IdentityId, str] | None = None,
) -> None:
    """Write ``result`` for ``login``: new identities, changed fingerprints and ambiguity,
    then the address bindings. ``profiles`` gives the profile of every address it names;
    ``encoded`` fingerprints already encoded, by identity id (``encode_result``). A whole
    contact book takes a handful of statements (``IdentityRepo.*_many``)."""
    created = [(i.id, i.fingerprint) for i in result.created]
    await tx.identities.create_many(login, created, encoded)
    updated = [(i.id, i.fingerprint) for i in result.updated]
    await tx.identities.update_profiles(updated, encoded)
    await tx.identities.mark_ambiguous_many(
        [
            (i.id, [profiles[a] for a in i.candidates if a in profiles])
            for i in result.updated
            if i.ambiguous
        ]
    )
    bound = set(result.bound.values())
    bindings: list[tuple[IdentityId, Address | None]] = [
        (i.id, None) for i in result.updated if not i.ambiguous and i.id not in bound
    ]
    bindings += [(identity_id, address) for address, identity_id in result.bound.items()]
    await tx.identities.bind_many(login, bindings)


def candidate_profiles(stored: Sequence[StoredIdentity]) -> dict[Address, Profile]:
    """The candidates of the ambiguities among ``stored``, by address."""
    return {p.address: p for i in stored for p in i.candidates}

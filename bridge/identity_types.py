"""Value types of identity matching: identities, ambiguities, match results (PROTOCOL.md §11)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs

from bridge.model import Address, ChatKind, IdentityId, Profile

#: Makes the id of a new identity for a contact no known identity matches.
NewId = Callable[[Profile], IdentityId]


@attrs.frozen
class Identity:
    """A contact or group as the bridge knows it for good; its UserName is only an alias.

    ``fingerprint`` is the last profile bound to it (its ``address`` belongs to the session it
    was seen in), with real id, Alias and members kept when a later profile lacks them.
    ``ambiguous``: more than one contact could be it, or its contact could be another
    identity's, so nothing is sent to it until the user resolves it (``resolve``); it stays
    ambiguous across logins until then, unless its real id or Alias binds it.
    ``candidates``: the current session's addresses it could be.
    """

    id: IdentityId
    kind: ChatKind
    fingerprint: Profile
    ambiguous: bool = False
    candidates: tuple[Address, ...] = ()

    @classmethod
    def from_profile(cls, id: IdentityId, profile: Profile) -> Identity:
        """A new identity whose fingerprint is ``profile``."""
        return cls(id, profile.kind, profile)


@attrs.frozen
class Ambiguity:
    """Contacts at ``addresses`` that could be any of ``identities``: none of them is bound.
    ``reason``: the evidence that paired them, for the user (empty when not known)."""

    identities: tuple[IdentityId, ...]
    addresses: tuple[Address, ...]
    reason: str = ""


@attrs.frozen
class MatchResult:
    """The outcome of a match.

    ``bound``: address -> identity for every contact that is safely known (matched or new).
    ``created``: identities made for contacts nothing matched. ``updated``: known identities
    that changed (new fingerprint, or ambiguity flag/candidates). ``ambiguous``: the contacts
    left unbound because they could be more than one identity or vice versa. ``evidence``:
    for each known identity bound or held by the match, the evidence that did it (e.g.
    "the same real id"), for the audit of identity decisions.
    """

    bound: Mapping[Address, IdentityId]
    created: tuple[Identity, ...] = ()
    updated: tuple[Identity, ...] = ()
    ambiguous: tuple[Ambiguity, ...] = ()
    evidence: Mapping[IdentityId, str] = attrs.field(factory=dict)

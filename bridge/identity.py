"""Stable identities of WeChat contacts and groups, matched after each login (PROTOCOL.md §11).

A WeChat UserName is new at every login, so after each one the contact book is matched
against the identities the bridge knows. What WeChat shows is weighed by what the sources
say it is worth (PROTOCOL.md §3.3, §11):

* **Identifiers** bind on their own and veto when they differ: the real id (``wxid_…``,
  ``gh_…``, ``NNN@chatroom``) from the payloads that leak it (51/code 4 ``<username>`` list,
  10002 ``<session>``, 37 ``fromusername``, 34/43 old XML, 49 ``<fromusername>``), and the
  Alias (微信号), unique when set. A real id learnt mid-session that contradicts the bound
  identity's unbinds it (``relay.matching_profile``).
* **Supporting evidence** proposes a pair but binds only when it is one-to-one and nothing
  conflicts: a RemarkName unique in the book and among the identities (set by the user, so
  it persists), the NickName of a contact, the topic of a group with a member-set overlap.
* **Evidence that never binds**, only holds: the same NickName with a changed RemarkName,
  the same ``AttrStatus`` (a bitfield stable per account but shared by many: only a value
  unique in the book and among the identities counts), overlapping member sets under a new
  topic. Such pairs become ambiguous: the user is asked.
* **Conflicts only**: Sex, Province, City, Signature and ``AttrStatus``. Two non-empty values
  that differ veto a pair at every rule, the RemarkName rule included; an empty one (0 for
  Sex and AttrStatus) says nothing. The avatar hash (SHA-256 of the icon bytes) is one too,
  but it is fetched only for look-alikes and the candidates of a held match, never for a
  whole book (that is how accounts get flagged), and a hash several accounts share (the
  default avatar) says nothing: ``bridge.identity_avatars``. ``KeyWord`` (3 characters of
  the real id) is a conflict only, and group ``DisplayName`` evidence only: both belong to
  group members, matched within their group by ``match_members``
  (``bridge.identity_members``).
* **Changes that move between people** are suspicious: a RemarkName or NickName/topic that
  left one identity and arrived at a contact bound to another, which the contact could also
  be, holds both identities (unless a real id or Alias bound them). A contact deleted while
  a look-alike is added in the same re-login is told apart only by a conflicting stable
  field (AttrStatus, in practice); when none differs, nothing WeChat sends can tell them
  apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from bridge.identity_evidence import fresh_id, group_ambiguities, merge
from bridge.identity_members import match_members, rosters_of, with_members
from bridge.identity_rules import Matcher
from bridge.identity_types import Ambiguity, Identity, MatchResult, NewId
from bridge.model import Address, IdentityId, Profile

__all__ = [
    "MIN_OVERLAP",
    "Ambiguity",
    "Identity",
    "MatchResult",
    "NewId",
    "match_book",
    "match_contact",
    "match_members",
    "resolve",
    "rosters_of",
    "update_fingerprint",
    "with_members",
]

#: Default least Jaccard overlap of two member sets for a group to be the same group.
MIN_OVERLAP = 0.5


def match_book(
    known: Sequence[Identity],
    book: Sequence[Profile],
    *,
    new_id: NewId,
    min_overlap: float = MIN_OVERLAP,
) -> MatchResult:
    """Match the contact book of a new login session against every known identity.

    Rules, strongest first (PROTOCOL.md §11); a rule binds a contact to an identity only when
    each is the other's single candidate: 1. the same real id (wxid, ``NNN@chatroom``);
    2. the same Alias; 3. the same RemarkName, unique in the book and among ``known``;
    4. contacts: the same NickName and no differing RemarkName; groups: the same topic
    (NickName, else name), no differing RemarkName and a member-set Jaccard overlap of at
    least ``min_overlap`` when both member sets are known. Rules 3 and 4 never pair a
    contact with an identity whose real id, Alias, Sex, Province, City, Signature or
    AttrStatus conflicts (two non-empty values that differ; an empty one never does).
    5. A RemarkName or NickName/topic that moved from one identity to a contact bound to
    another holds both (see the module docstring). 6. Held, never bound: the same NickName
    with another RemarkName, the same AttrStatus (non-zero, unique in the book and among
    ``known``), or (groups) enough member overlap under another topic, without a conflict.
    7. Anything else gets a new identity from ``new_id``.

    Never misdelivers: when several contacts could be one identity, or one contact several
    identities, none of them is bound and the identities become ambiguous. Runs in time
    linear in ``len(known) + len(book)`` plus the pairs inside each NickName/topic bucket.
    Duplicate addresses in ``book``: the last profile wins. Raises ``ValueError`` for
    duplicate identity ids in ``known`` or an id from ``new_id`` that is already taken.
    """
    return Matcher(known, book, (), min_overlap, mid_session=False).run(new_id)


def match_contact(
    profile: Profile,
    unbound: Sequence[Identity],
    *,
    new_id: NewId,
    session: Sequence[Profile] = (),
    min_overlap: float = MIN_OVERLAP,
) -> MatchResult:
    """Match one contact that appeared in the middle of a session (same rules as
    ``match_book``).

    ``unbound``: the identities not bound in this session (dormant and ambiguous ones).
    ``session``: the session's other contacts, so that a RemarkName or strong key they hold
    is not taken as unique. An ambiguous identity is never bound here; when ``profile`` could
    be it, ``profile`` joins its candidates.
    """
    return Matcher(unbound, (profile,), session, min_overlap, mid_session=True).run(new_id)


def update_fingerprint(identity: Identity, profile: Profile) -> Identity:
    """``identity`` after its bound contact changed in this session (rename, new remark,
    members): the fingerprint becomes ``profile``, keeping real id, Alias and members it lacks.

    Raises ``ValueError`` if ``identity`` is ambiguous (not bound) or of another kind.
    """
    if identity.ambiguous:
        raise ValueError(f"identity {identity.id} is ambiguous: resolve it before updating it")
    if profile.kind != identity.kind:
        raise ValueError(f"identity {identity.id} is {identity.kind.value}, not {profile.kind}")
    return attrs.evolve(identity, fingerprint=merge(identity.fingerprint, profile))


def resolve(
    known: Sequence[Identity],
    identity: IdentityId,
    chosen: Address | None,
    book: Sequence[Profile],
    *,
    new_id: NewId,
) -> MatchResult:
    """The user's answer to an ambiguity: ``identity`` is the contact at ``chosen``, or
    (``chosen`` None) none of its candidates.

    ``known``: every identity of the account; ``book``: the session's contacts. ``chosen`` is
    bound to ``identity`` and leaves the candidates of the other ambiguous identities (one
    left without candidates is no longer ambiguous). The identity's other candidates get new
    identities unless another ambiguous identity still claims them. Raises ``ValueError`` if
    ``identity`` is unknown or not ambiguous, or ``chosen`` is not one of its candidates or
    not in ``book``.
    """
    by_id = {i.id: i for i in known}
    profiles = {p.address: p for p in book}
    target = by_id.get(identity)
    if target is None or not target.ambiguous:
        raise ValueError(f"identity {identity} is not ambiguous")
    if chosen is not None and (chosen not in target.candidates or chosen not in profiles):
        raise ValueError(f"{chosen} is not a current candidate of identity {identity}")

    bound: dict[Address, IdentityId] = {}
    changed: dict[IdentityId, Identity] = {}
    if chosen is None:
        changed[identity] = attrs.evolve(target, ambiguous=False, candidates=())
    else:
        bound[chosen] = identity
        merged = merge(target.fingerprint, profiles[chosen])
        changed[identity] = Identity(identity, target.kind, merged)
        for other in known:
            if other.ambiguous and other.id != identity and chosen in other.candidates:
                rest = tuple(a for a in other.candidates if a != chosen)
                changed[other.id] = attrs.evolve(other, ambiguous=bool(rest), candidates=rest)

    still_claimed = {
        a for i in known if i.id not in changed and i.ambiguous for a in i.candidates
    } | {a for i in changed.values() if i.ambiguous for a in i.candidates}
    taken = set(by_id)
    created: list[Identity] = []
    for address in target.candidates:
        if address != chosen and address not in still_claimed and address in profiles:
            fresh = Identity.from_profile(
                fresh_id(new_id, profiles[address], taken), profiles[address]
            )
            created.append(fresh)
            bound[address] = fresh.id

    remaining = [i for i in changed.values() if i.ambiguous]
    ambiguous = group_ambiguities(remaining, [i for i in known if i.id not in changed])
    return MatchResult(bound, tuple(created), tuple(changed.values()), ambiguous)

"""Group members who are not contacts, matched within their group after a login (PROTOCOL.md
§3.4, §11).

A member who is not a contact of the account appears only in the member lists of groups
(webwxbatchgetcontact ``MemberList``) with a UserName new at every login, a NickName, a
``DisplayName`` (the name it gave itself in that group), an ``AttrStatus`` and a ``KeyWord``
(apparently the first 3 characters of its account id: a conflict when two differ, no
evidence when equal, as most start alike). Its identity belongs to the group it was first met
in (``Profile.member_of``): after a login it is matched only against the member list of that
group (the group itself matched first, by ``match_book``), with the rules of contacts:

* the same real id binds (and links members across groups: a member seen in several groups
  is one person only when an identifier says so; within one session the shared UserName
  is that identifier);
* the same ``DisplayName``, unique in the group's list and among its member identities, or
  else the same NickName, binds when nothing conflicts. A conflict on any non-empty stable
  field (real id, ``KeyWord``, ``AttrStatus``) vetoes. The ``DisplayName`` is the member's
  own choice, so a changed one is no conflict;
* a ``DisplayName`` or NickName that moved from one member to another in the re-login holds
  both; the same rare ``AttrStatus`` under another name holds; two look-alikes hold: the
  user is asked, nothing is guessed.

Held members' messages wait (the relay holds every message whose sender an ambiguous identity
claims, as for contacts) and the user is told in the management room. Holding is per member,
not per group: the group's other members are delivered as usual, so there is no need of a
neutral "unconfirmed member" sender, and no message is ever shown under a ghost it might not
be. Members who get no identity here get one (in that group) when they first write.

Limits: member lists are matched at a login only, for the groups ``match_book`` bound; the
members of a group held at the login, and a member who joined a group only while the bridge
was logged out and left its first group, get a new identity (and ghost) when they write.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

import attrs

from bridge.identity_evidence import (
    attr_status_key,
    conflict,
    group_ambiguities,
    group_name_key,
    topic,
)
from bridge.identity_rules import Matcher
from bridge.identity_types import Identity, MatchResult
from bridge.model import Address, ChatKind, GroupMember, IdentityId, Profile

#: The evidence of the AttrStatus rule, which only holds (``Matcher.run``'s wording).
ATTR_STATUS_ONLY = "the same AttrStatus under another name"


class MemberMatcher(Matcher):
    """The rules of ``match_members`` for the member list of one group."""

    move_fields = (group_name_key, topic)
    #: After ``run_members``: the identities held by the AttrStatus rule alone.
    attr_status_only: frozenset[IdentityId] = frozenset()

    def run_members(self) -> MatchResult:
        """Apply the member rules; members left free get no identity (``created`` and their
        ``bound`` entries are left out of the result)."""
        self.reason = "the same real id"
        self._stage(lambda p: p.real_id, lambda old, new: True, firm=True)
        self.firm = dict(self.binds)
        self._drop_identities_of_present_keys()
        unique = self._unique_group_names()
        self.reason = "the same name in the group, nothing against it"
        self._stage(
            lambda p: p.group_name if p.group_name in unique else "",
            lambda old, new: not conflict(old, new),
            firm=False,
        )
        self.reason = "the same name, nothing against it"
        self._stage(topic, lambda old, new: not conflict(old, new), firm=False)
        self.reason = "a name moved from another member of the group"
        self._hold_moves()
        single = self._unique_attr_statuses()
        self.reason = ATTR_STATUS_ONLY
        before = set(self.claims)
        self._stage(
            lambda p: attr_status_key(p) if p.attr_status in single else "",
            lambda old, new: not conflict(old, new),
            firm=False,
            hold=True,
        )
        self.attr_status_only = frozenset(self.claims.keys() - before)
        self.free_p = {}  # no identity for members left free: they get one when they write
        result = self._result(lambda p: IdentityId(f"\0new {p.address}"))
        return attrs.evolve(result, created=())

    def _settle(
        self,
        ids: list[IdentityId],
        addresses: list[Address],
        candidates: Mapping[IdentityId, tuple[Address, ...]],
        *,
        firm: bool,
        hold: bool = False,
    ) -> None:
        # The evidence that held a member, for the audit of identity decisions.
        super()._settle(ids, addresses, candidates, firm=firm, hold=hold)
        for ident in ids:
            if ident in self.claims:
                self.evidence.setdefault(ident, self.reason)

    def _unique_group_names(self) -> set[str]:
        listed = Counter(p.group_name for p in self.book.values())
        known = Counter(i.fingerprint.group_name for i in self.known.values())
        return {n for n, count in listed.items() if n and count == 1 and known[n] == 1}


def rosters_of(
    members: Iterable[GroupMember],
    groups: Mapping[Address, IdentityId],
    contacts: Iterable[Address],
) -> dict[IdentityId, list[Profile]]:
    """The member lists to match: for each group bound at ``groups`` (group address ->
    its identity), the members that are not ``contacts`` (those keep their contact's
    identity) nor the account itself. (Their ``member_of`` is left as the adapter sent it,
    empty: ``match_members`` keeps each identity's own.)"""
    skip = set(contacts)
    rosters: dict[IdentityId, dict[Address, Profile]] = defaultdict(dict)
    for member in members:
        group = groups.get(member.group)
        profile = member.profile
        if group is None or profile.is_self or profile.address in skip:
            continue
        rosters[group][profile.address] = profile
    return {g: list(listed.values()) for g, listed in rosters.items()}


def match_members(
    known: Sequence[Identity], rosters: Mapping[IdentityId, Sequence[Profile]]
) -> MatchResult:
    """Match the identities of group members who are not contacts (``known``: each with
    ``fingerprint.member_of``, none bound in this session) against this session's member
    lists (``rosters``: group identity id -> its members who are not contacts; see
    ``rosters_of``). Rules: the module docstring.

    Each group's list is matched against the identities of that group, plus those of other
    groups whose real id a member of the list shows. When the groups of one member disagree
    (bound to two identities, or bound in one group and held in another), all of them are
    held; a hold on AttrStatus alone gives way to a binding in another group (within one
    list it never reaches a bound member either). An identity keeps its ``member_of``.

    Returns ``bound`` (member address -> known identity), ``updated`` (merged fingerprints;
    ambiguity), ``ambiguous`` and ``evidence``; never ``created``: members no identity
    claims get one when they first write. Runs in time linear in the sizes of the lists of
    groups that have member identities.
    """
    by_group: dict[IdentityId, list[Identity]] = defaultdict(list)
    by_real_id: dict[str, list[Identity]] = defaultdict(list)
    for ident in known:
        by_group[ident.fingerprint.member_of].append(ident)
        if ident.fingerprint.real_id:
            by_real_id[ident.fingerprint.real_id].append(ident)
    binds: dict[IdentityId, set[Address]] = defaultdict(set)
    owners: dict[Address, set[IdentityId]] = defaultdict(set)
    held: dict[IdentityId, set[Address]] = defaultdict(set)
    weak: dict[IdentityId, set[Address]] = defaultdict(set)  # held on AttrStatus alone
    latest: dict[IdentityId, Identity] = {}
    evidence: dict[IdentityId, str] = {}
    for group, roster in rosters.items():
        pool = {i.id: i for i in by_group.get(group, ())}
        for profile in roster:
            pool.update((i.id, i) for i in by_real_id.get(profile.real_id, ()))
        if not pool:
            continue
        result = MemberMatcher(list(pool.values()), roster, (), 0.0, mid_session=False)
        outcome = result.run_members()
        changed = {i.id: i for i in outcome.updated}
        for ident in changed.values():
            if ident.id not in binds:  # the version of the run that bound it wins
                latest[ident.id] = ident
            if ident.ambiguous and ident.candidates:
                alone = ident.id in result.attr_status_only
                (weak if alone else held)[ident.id].update(ident.candidates)
        for address, ident_id in outcome.bound.items():
            binds[ident_id].add(address)
            owners[address].add(ident_id)
            latest[ident_id] = changed.get(ident_id, pool[ident_id])
        evidence.update(outcome.evidence)
    # An AttrStatus shared under another name (evidence that only ever holds) gives way to
    # a member bound in another of its groups, as within one list it never reaches a bound
    # member; any other claim holds the member everywhere.
    for ident_id, addresses in weak.items():
        if rest := {a for a in addresses if a not in owners}:
            held[ident_id].update(rest)
    claimed = {a for addresses in held.values() for a in addresses}
    bound: dict[Address, IdentityId] = {}
    for ident_id, addresses in binds.items():
        (address, *more) = sorted(addresses)
        alone = not more and owners[address] == {ident_id}
        if alone and ident_id not in held and address not in claimed:
            bound[address] = ident_id
        else:
            held[ident_id].update(addresses)
            evidence[ident_id] = "the groups of a member disagree on who it is"
    original = {i.id: i for i in known}
    updated: dict[IdentityId, Identity] = {}
    for ident_id, ident in latest.items():
        if ident_id in held:
            ident = attrs.evolve(
                original[ident_id], ambiguous=True, candidates=tuple(sorted(held[ident_id]))
            )
        elif ident_id in weak:  # its claim gave way: as if no rule had paired it
            ident = attrs.evolve(original[ident_id], candidates=())
        elif (group := original[ident_id].fingerprint.member_of) != ident.fingerprint.member_of:
            # A member's identity stays in the group it was first met in.
            ident = attrs.evolve(
                ident, fingerprint=attrs.evolve(ident.fingerprint, member_of=group)
            )
        if ident != original[ident_id]:
            updated[ident_id] = ident
    for ident_id in held.keys() - latest.keys():
        candidates = tuple(sorted(held[ident_id]))
        updated[ident_id] = attrs.evolve(original[ident_id], ambiguous=True, candidates=candidates)
    ambiguous = group_ambiguities([i for i in updated.values() if i.ambiguous], ())
    kept = {i: evidence.get(i, "") for i in {*bound.values(), *held}}
    return MatchResult(bound, (), tuple(updated.values()), ambiguous, kept)


def with_members(
    result: MatchResult,
    known: Sequence[Identity],
    book: Sequence[Profile],
    members: Sequence[GroupMember],
) -> tuple[MatchResult, dict[Address, Profile]]:
    """``result`` (``match_book`` of ``book``) with the members of its bound groups matched
    against ``known``, the identities of members who are not contacts (``match_members``;
    every contact of ``book`` keeps its contact's identity). Returns the combined result and
    the member profiles it names (bound or candidates), by address, with ``member_of`` set
    to a group they are listed in (what an identity made for one of them belongs to).

    Only the lists of groups that have member identities are read, and in other groups the
    members showing a real id one of ``known`` learnt: not every member of every group.
    """
    if not known or not members:
        return result, {}
    groups = {
        p.address: result.bound[p.address]
        for p in book
        if p.kind is ChatKind.GROUP and p.address in result.bound
    }
    wanted = {i.fingerprint.member_of for i in known}
    real_ids = {i.fingerprint.real_id for i in known} - {""}
    relevant = [
        m
        for m in members
        if groups.get(m.group) in wanted or (m.profile.real_id and m.profile.real_id in real_ids)
    ]
    rosters = rosters_of(relevant, groups, [p.address for p in book])
    found = match_members(known, rosters)
    named = {*found.bound, *(a for i in found.updated for a in i.candidates)}
    listed = {
        p.address: attrs.evolve(p, member_of=group)
        for group, roster in rosters.items()
        for p in roster
        if p.address in named
    }
    combined = MatchResult(
        {**result.bound, **found.bound},
        result.created,
        (*result.updated, *found.updated),
        (*result.ambiguous, *found.ambiguous),
        {**result.evidence, **found.evidence},
    )
    return combined, listed

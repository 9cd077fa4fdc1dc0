"""The indexed matching rules behind ``bridge.identity`` (PROTOCOL.md §11)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence

import attrs

from bridge.identity_evidence import (
    Fields,
    attr_status_key,
    avatar_key,
    conflict,
    differs,
    fields_of,
    fresh_id,
    group_ambiguities,
    merge,
    overlap,
    remark_key,
    topic,
)
from bridge.identity_types import Ambiguity, Identity, MatchResult, NewId
from bridge.model import Address, ChatKind, IdentityId, Profile

Key = Callable[[Profile], str]
Fits = Callable[[Profile, Profile], bool]


class Matcher:
    """One run of the rules of ``bridge.identity.match_book`` over ``known`` and ``book``."""

    #: The fields whose values ``_hold_moves`` follows from one identity to another: an
    #: avatar an identity showed, now on a contact a name bound to another identity, moved
    #: too (two friends swapped names; the avatar says who is who, so nothing is guessed).
    move_fields: tuple[Key, ...] = (remark_key, topic, avatar_key)

    def __init__(
        self,
        known: Sequence[Identity],
        book: Sequence[Profile],
        context: Sequence[Profile],
        min_overlap: float,
        *,
        mid_session: bool,
    ) -> None:
        self.original: dict[IdentityId, Identity] = {}
        for ident in known:
            if ident.id in self.original:
                raise ValueError(f"identity {ident.id} is listed twice")
            self.original[ident.id] = ident
        self.book = {p.address: p for p in book}
        self.known = dict(self.original)
        if mid_session:  # a contested contact that changed is matched afresh
            for ident in known:
                if ident.ambiguous and not self.book.keys().isdisjoint(ident.candidates):
                    rest = tuple(a for a in ident.candidates if a not in self.book)
                    self.known[ident.id] = attrs.evolve(ident, candidates=rest)
        self.context = [p for p in context if p.address not in self.book]
        self.min_overlap = min_overlap
        self.mid_session = mid_session
        self.free_k = dict(self.known)
        self.free_p = dict(self.book)
        self.binds: dict[Address, IdentityId] = {}
        self.claims: dict[IdentityId, tuple[Address, ...]] = {}
        self.firm: dict[Address, IdentityId] = {}  # binds by a real id or Alias
        self.reason = ""  # the evidence of the stage being run, for ``evidence``
        self.evidence: dict[IdentityId, str] = {}
        self.groups: list[Ambiguity] = []

    def run(self, new_id: NewId) -> MatchResult:
        """Apply the rules strongest first; contacts left free get identities from ``new_id``."""
        self.reason = "the same real id"
        self._stage(lambda p: p.real_id, lambda old, new: True, firm=True)
        self.reason = "the same Alias"
        self._stage(
            lambda p: p.alias, lambda old, new: not differs(old.real_id, new.real_id), firm=True
        )
        self.firm = dict(self.binds)
        self._drop_identities_of_present_keys()
        unique = self._unique_remarks()
        self.reason = "the same RemarkName, nothing against it"
        self._stage(
            lambda p: p.remark_name if p.remark_name in unique else "",
            lambda old, new: not conflict(old, new),
            firm=False,
        )
        self.reason = "the same name, nothing against it"
        self._stage(topic, self._weak_fits, firm=False)
        if not self.mid_session:
            self.reason = "a RemarkName or name moved from another chat"
            self._hold_moves()
        # Evidence that never binds on its own: the pairs it finds are held for the user.
        self.reason = "the same name, but another RemarkName"
        self._stage(topic, self._fits_but_remark, firm=False, hold=True)
        single = self._unique_attr_statuses()
        self.reason = "the same AttrStatus under another name"
        self._stage(
            lambda p: attr_status_key(p) if p.attr_status in single else "",
            lambda old, new: not conflict(old, new),
            firm=False,
            hold=True,
        )
        self.reason = "the same members under another topic"
        self._hold_member_overlaps()
        return self._result(new_id)

    def _weak_fits(self, old: Profile, new: Profile) -> bool:
        """Rule 4: no conflict, no differing RemarkName, and for groups enough overlap."""
        return not differs(old.remark_name, new.remark_name) and self._fits_but_remark(old, new)

    def _fits_but_remark(self, old: Profile, new: Profile) -> bool:
        if conflict(old, new):
            return False
        # A member list not fetched yet is no evidence either way.
        return (
            new.kind is ChatKind.DIRECT
            or not old.members
            or not new.members
            or (overlap(old.members, new.members) >= self.min_overlap)
        )

    def _stage(self, key: Key, fits: Fits, *, firm: bool, hold: bool = False) -> None:
        """Bucket free identities and contacts by ``(kind, key)``; settle each bucket.
        ``firm``: the key is a real id or Alias, which nobody else can hold. ``hold``: the
        key is only evidence: whatever it pairs is held (ambiguous), never bound."""
        # Keyed by "is a group" rather than the enum: bool hashing is far cheaper.
        index: dict[tuple[bool, str], list[Identity]] = defaultdict(list)
        for ident in self.free_k.values():
            if value := key(ident.fingerprint):
                index[(ident.kind is ChatKind.GROUP, value)].append(ident)
        buckets: dict[tuple[bool, str], list[Profile]] = defaultdict(list)
        for profile in self.free_p.values():
            value = key(profile)
            if value and (bucket := (profile.kind is ChatKind.GROUP, value)) in index:
                buckets[bucket].append(profile)
        for bucket, profiles in buckets.items():
            self._settle_bucket(index[bucket], profiles, fits, firm=firm, hold=hold)

    def _settle_bucket(
        self,
        identities: list[Identity],
        profiles: list[Profile],
        fits: Fits,
        *,
        firm: bool,
        hold: bool = False,
    ) -> None:
        """Split the candidate graph of one bucket into connected parts and settle each.

        Identities (and contacts) with the same fields form one class, checked once and
        sharing one candidates tuple: a bucket of n look-alikes costs O(n), not O(n²).
        """
        if len(identities) == 1 and len(profiles) == 1:  # by far the most common bucket
            ident, profile = identities[0], profiles[0]
            if fits(ident.fingerprint, profile):
                pair = {ident.id: (profile.address,)}
                self._settle([ident.id], [profile.address], pair, firm=firm, hold=hold)
            return
        ids_of: dict[Fields, list[IdentityId]] = defaultdict(list)
        old: dict[Fields, Profile] = {}
        for ident in identities:
            key = fields_of(ident.fingerprint)
            ids_of[key].append(ident.id)
            old.setdefault(key, ident.fingerprint)
        addresses_of: dict[Fields, list[Address]] = defaultdict(list)
        new: dict[Fields, Profile] = {}
        for profile in profiles:
            key = fields_of(profile)
            addresses_of[key].append(profile.address)
            new.setdefault(key, profile)
        edges_k: dict[Fields, list[Fields]] = defaultdict(list)
        edges_p: dict[Fields, list[Fields]] = defaultdict(list)
        for key_k, fingerprint in old.items():
            for key_p, profile in new.items():
                if fits(fingerprint, profile):
                    edges_k[key_k].append(key_p)
                    edges_p[key_p].append(key_k)
        seen_k: set[Fields] = set()
        seen_p: set[Fields] = set()
        for start in old:
            if start in seen_k or start not in edges_k:
                continue
            ids: list[IdentityId] = []
            addresses: list[Address] = []
            candidates: dict[IdentityId, tuple[Address, ...]] = {}
            stack = [start]
            seen_k.add(start)
            while stack:
                key_k = stack.pop()
                ids.extend(ids_of[key_k])
                shared = tuple(a for key_p in edges_k[key_k] for a in addresses_of[key_p])
                candidates.update(dict.fromkeys(ids_of[key_k], shared))
                for key_p in edges_k[key_k]:
                    if key_p not in seen_p:
                        seen_p.add(key_p)
                        addresses.extend(addresses_of[key_p])
                        for other in edges_p[key_p]:
                            if other not in seen_k:
                                seen_k.add(other)
                                stack.append(other)
            self._settle(ids, addresses, candidates, firm=firm, hold=hold)

    def _settle(
        self,
        ids: list[IdentityId],
        addresses: list[Address],
        candidates: Mapping[IdentityId, tuple[Address, ...]],
        *,
        firm: bool,
        hold: bool = False,
    ) -> None:
        """Bind a one-to-one part (unless ``hold``); otherwise make all of it ambiguous."""
        if firm and len(addresses) == 1 and len(ids) > 1:
            # Several identities share one real id or Alias: they are all this contact's, so
            # binding the one whose fingerprint still fits cannot misdeliver.
            profile = self.free_p[addresses[0]]
            fitting = [
                i
                for i in ids
                if topic(self.known[i].fingerprint) == topic(profile)
                and self._weak_fits(self.known[i].fingerprint, profile)
            ]
            if len(fitting) == 1 and self._bindable(fitting[0], firm):
                for i in ids:
                    del self.free_k[i]
                self._bind(fitting[0], addresses[0])
                return
        if not hold and len(ids) == 1 and len(addresses) == 1 and self._bindable(ids[0], firm):
            del self.free_k[ids[0]]
            self._bind(ids[0], addresses[0])
            return
        for i in ids:
            del self.free_k[i]
        self.claims.update(candidates)
        for address in addresses:
            del self.free_p[address]
        self.groups.append(Ambiguity(tuple(sorted(ids)), tuple(addresses)))

    def _hold_moves(self) -> None:
        """Rule 6: a RemarkName, NickName/topic or avatar hash that left one identity and
        arrived at a contact bound to another, which the contact could also be, makes both
        held.

        E.g. two friends' RemarkNames swapped, or a remark given to someone else while a
        look-alike kept the old one: the value proves nothing any more. The contacts that
        still carry an involved identity's old values (and could be it) join as candidates.
        Binds by a real id or Alias stay.
        """
        links: dict[IdentityId, set[IdentityId]] = defaultdict(set)
        bound_to = {ident: address for address, ident in self.binds.items()}
        for field in self.move_fields:
            owners: dict[tuple[bool, str], list[IdentityId]] = defaultdict(list)
            for known in self.known.values():
                if value := field(known.fingerprint):
                    owners[(known.kind is ChatKind.GROUP, value)].append(known.id)
            for address, ident in self.binds.items():
                new = self.book[address]
                value = field(new)
                if address in self.firm or not value:
                    continue
                if field(self.known[ident].fingerprint) == value:
                    continue
                for other in owners.get((new.kind is ChatKind.GROUP, value), ()):
                    if other == ident or (other not in self.free_k and other not in bound_to):
                        continue
                    at = bound_to.get(other)
                    if at is not None and (at in self.firm or field(self.book[at]) == value):
                        continue  # it kept the value, or an identifier bound it
                    if not conflict(self.known[other].fingerprint, new):
                        links[ident].add(other)
                        links[other].add(ident)
        seen: set[IdentityId] = set()
        for start in list(links):
            if start in seen:
                continue
            ids: list[IdentityId] = []
            stack = [start]
            seen.add(start)
            while stack:
                ident = stack.pop()
                ids.append(ident)
                for other in links[ident] - seen:
                    seen.add(other)
                    stack.append(other)
            addresses = [bound_to[i] for i in ids if i in bound_to]
            for ident in ids:
                old = self.known[ident].fingerprint
                for address, profile in list(self.free_p.items()):
                    if (
                        profile.kind is old.kind
                        and not conflict(old, profile)
                        and any(
                            field(old) and field(old) == field(profile)
                            for field in self.move_fields
                        )
                    ):
                        addresses.append(address)
                        del self.free_p[address]
            for address in addresses:
                self.binds.pop(address, None)
            for ident in ids:
                self.free_k.pop(ident, None)
            addresses = list(dict.fromkeys(addresses))
            self.claims.update(dict.fromkeys(ids, tuple(addresses)))
            self.groups.append(Ambiguity(tuple(sorted(ids)), tuple(addresses), self.reason))
            self.evidence.update(dict.fromkeys(ids, self.reason))

    def _hold_member_overlaps(self) -> None:
        """Groups still free whose member sets overlap enough but whose topics differ (a
        renamed group, or another group of the same people): held, never bound."""
        index: dict[str, list[Identity]] = defaultdict(list)
        for free in self.free_k.values():
            if free.kind is ChatKind.GROUP:
                for member in free.fingerprint.members:
                    index[member].append(free)
        if not index:
            return
        edges: dict[IdentityId, list[Address]] = defaultdict(list)
        for profile in self.free_p.values():
            if profile.kind is not ChatKind.GROUP:
                continue
            shared = Counter(i.id for m in profile.members for i in index.get(m, ()))
            for ident, _common in shared.items():
                old = self.free_k[ident].fingerprint
                if not conflict(old, profile) and (
                    overlap(old.members, profile.members) >= self.min_overlap
                ):
                    edges[ident].append(profile.address)
        by_address: dict[Address, list[IdentityId]] = defaultdict(list)
        for ident, addresses in edges.items():
            for address in addresses:
                by_address[address].append(ident)
        seen: set[IdentityId] = set()
        for start in list(edges):
            if start in seen:
                continue
            ids: list[IdentityId] = []
            addresses_: dict[Address, None] = {}
            stack = [start]
            seen.add(start)
            while stack:
                ident = stack.pop()
                ids.append(ident)
                for address in edges[ident]:
                    if address not in addresses_:
                        addresses_[address] = None
                        for other in by_address[address]:
                            if other not in seen:
                                seen.add(other)
                                stack.append(other)
            candidates = {i: tuple(edges[i]) for i in ids}
            self._settle(ids, list(addresses_), candidates, firm=False, hold=True)

    def _bindable(self, ident: IdentityId, firm: bool) -> bool:
        # Once ambiguous, only a real id or Alias at a login, or the user, binds an identity:
        # the lookalike that made it ambiguous may still be around, not in this book, and a
        # RemarkName may have been given to it too.
        return not self.known[ident].ambiguous or (firm and not self.mid_session)

    def _bind(self, ident: IdentityId, address: Address) -> None:
        del self.free_p[address]
        self.binds[address] = ident
        self.evidence[ident] = self.reason

    def _drop_identities_of_present_keys(self) -> None:
        """A free identity whose real id or Alias some present contact holds is that
        contact's (bound elsewhere or conflicting): it must not be matched to anyone else."""
        present = {
            (p.kind, key, value)
            for p in (*self.book.values(), *self.context)
            for key, value in (("real_id", p.real_id), ("alias", p.alias))
            if value
        }
        for ident in list(self.free_k.values()):
            fp = ident.fingerprint
            if (ident.kind, "real_id", fp.real_id) in present or (
                ident.kind,
                "alias",
                fp.alias,
            ) in present:
                del self.free_k[ident.id]

    def _unique_attr_statuses(self) -> set[int]:
        """AttrStatus values held by one contact and one identity: many accounts share a
        value, and only a unique one is worth asking the user about."""
        contacts = Counter(p.attr_status for p in (*self.book.values(), *self.context))
        known = Counter(i.fingerprint.attr_status for i in self.known.values())
        return {a for a, n in contacts.items() if a and n == 1 and known[a] == 1}

    def _unique_remarks(self) -> set[str]:
        contacts = Counter(p.remark_name for p in (*self.book.values(), *self.context))
        known = Counter(i.fingerprint.remark_name for i in self.known.values())
        return {r for r, n in contacts.items() if r and n == 1 and known[r] == 1}

    def _result(self, new_id: NewId) -> MatchResult:
        taken = set(self.known)
        bound: dict[Address, IdentityId] = {}
        created: list[Identity] = []
        for address, profile in self.book.items():
            if address in self.binds:
                bound[address] = self.binds[address]
            elif address in self.free_p:
                fresh = Identity.from_profile(fresh_id(new_id, profile, taken), profile)
                created.append(fresh)
                bound[address] = fresh.id
        after: dict[IdentityId, Identity] = {}
        for address, ident in self.binds.items():
            old = self.known[ident]
            after[ident] = Identity(ident, old.kind, merge(old.fingerprint, self.book[address]))
        # Ambiguous identities a contested contact left (mid-session) are ambiguous still.
        claimed = [
            i for i in self.known.values() if i != self.original[i.id] and i.id not in self.claims
        ]
        for ident, addresses in self.claims.items():
            old = self.known[ident]
            if self.mid_session:
                addresses = tuple(dict.fromkeys([*old.candidates, *addresses]))
            after[ident] = attrs.evolve(old, ambiguous=True, candidates=addresses)
            claimed.append(after[ident])
        for ident, old in self.known.items():
            if ident in after:
                continue
            if not self.mid_session and old.candidates:  # the last session's are gone
                after[ident] = attrs.evolve(old, candidates=())
            elif old != self.original[ident]:
                after[ident] = old
        original = self.original
        updated = tuple(after[i] for i in original if i in after and after[i] != original[i])
        if self.mid_session:
            ambiguous = group_ambiguities(claimed, self.known.values())
        else:
            ambiguous = tuple(self.groups)
        kept = {i: self.evidence.get(i, "") for i in {*self.binds.values(), *self.claims}}
        return MatchResult(bound, tuple(created), updated, ambiguous, kept)

"""Stable identities of WeChat contacts and groups, matched after each login (PROTOCOL.md §11)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs

from bridge.model import Address, ChatKind, IdentityId, Profile

#: Makes the id of a new identity for a contact no known identity matches.
NewId = Callable[[Profile], IdentityId]

#: Default least Jaccard overlap of two member sets for a group to be the same group.
MIN_OVERLAP = 0.5


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
    """Contacts at ``addresses`` that could be any of ``identities``: none of them is bound."""

    identities: tuple[IdentityId, ...]
    addresses: tuple[Address, ...]


@attrs.frozen
class MatchResult:
    """The outcome of a match.

    ``bound``: address -> identity for every contact that is safely known (matched or new).
    ``created``: identities made for contacts nothing matched. ``updated``: known identities
    that changed (new fingerprint, or ambiguity flag/candidates). ``ambiguous``: the contacts
    left unbound because they could be more than one identity or vice versa.
    """

    bound: Mapping[Address, IdentityId]
    created: tuple[Identity, ...] = ()
    updated: tuple[Identity, ...] = ()
    ambiguous: tuple[Ambiguity, ...] = ()


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
    4. contacts: the same NickName with no conflicting Sex/Province/City/Signature/RemarkName;
    groups: the same topic (NickName, else name) and a member-set Jaccard overlap of at
    least ``min_overlap`` when both member sets are known. Two non-empty values that differ
    conflict; an empty one never does. A differing real id or Alias rules a candidate out at
    every rule. 5. Anything else gets a new identity from ``new_id``.

    Never misdelivers: when several contacts could be one identity, or one contact several
    identities, none of them is bound and the identities become ambiguous. Runs in time
    linear in ``len(known) + len(book)`` plus the pairs inside each NickName/topic bucket.
    Duplicate addresses in ``book``: the last profile wins. Raises ``ValueError`` for
    duplicate identity ids in ``known`` or an id from ``new_id`` that is already taken.
    """
    return _Matcher(known, book, (), min_overlap, mid_session=False).run(new_id)


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
    return _Matcher(unbound, (profile,), session, min_overlap, mid_session=True).run(new_id)


def update_fingerprint(identity: Identity, profile: Profile) -> Identity:
    """``identity`` after its bound contact changed in this session (rename, new remark,
    members): the fingerprint becomes ``profile``, keeping real id, Alias and members it lacks.

    Raises ``ValueError`` if ``identity`` is ambiguous (not bound) or of another kind.
    """
    if identity.ambiguous:
        raise ValueError(f"identity {identity.id} is ambiguous: resolve it before updating it")
    if profile.kind != identity.kind:
        raise ValueError(f"identity {identity.id} is {identity.kind.value}, not {profile.kind}")
    return attrs.evolve(identity, fingerprint=_merge(identity.fingerprint, profile))


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
        merged = _merge(target.fingerprint, profiles[chosen])
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
                _fresh_id(new_id, profiles[address], taken), profiles[address]
            )
            created.append(fresh)
            bound[address] = fresh.id

    remaining = [i for i in changed.values() if i.ambiguous]
    ambiguous = _group_ambiguities(remaining, [i for i in known if i.id not in changed])
    return MatchResult(bound, tuple(created), tuple(changed.values()), ambiguous)


# ---- internals -------------------------------------------------------------------------------

Key = Callable[[Profile], str]
Fits = Callable[[Profile, Profile], bool]


class _Matcher:
    """One run of the rules of ``match_book`` over ``known`` and ``book``."""

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
        self.groups: list[Ambiguity] = []

    def run(self, new_id: NewId) -> MatchResult:
        self._stage(lambda p: p.real_id, lambda old, new: True, firm=True)
        self._stage(
            lambda p: p.alias, lambda old, new: not _differs(old.real_id, new.real_id), firm=True
        )
        self._drop_identities_of_present_keys()
        unique = self._unique_remarks()
        self._stage(
            lambda p: p.remark_name if p.remark_name in unique else "",
            lambda old, new: not _strong_conflict(old, new),
            firm=False,
        )
        self._stage(_topic, self._weak_fits, firm=False)
        return self._result(new_id)

    def _weak_fits(self, old: Profile, new: Profile) -> bool:
        if new.kind is ChatKind.DIRECT:
            return _caption_fits(old, new)
        if _strong_conflict(old, new) or _differs(old.remark_name, new.remark_name):
            return False
        # A member list not fetched yet is no evidence either way.
        return (
            not old.members
            or not new.members
            or (_overlap(old.members, new.members) >= self.min_overlap)
        )

    def _stage(self, key: Key, fits: Fits, *, firm: bool) -> None:
        """Bucket free identities and contacts by ``(kind, key)``; settle each bucket.
        ``firm``: the key is a real id or Alias, which nobody else can hold."""
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
            self._settle_bucket(index[bucket], profiles, fits, firm=firm)

    def _settle_bucket(
        self,
        identities: list[Identity],
        profiles: list[Profile],
        fits: Fits,
        *,
        firm: bool,
    ) -> None:
        """Split the candidate graph of one bucket into connected parts and settle each.

        Identities (and contacts) with the same fields form one class, checked once and
        sharing one candidates tuple: a bucket of n look-alikes costs O(n), not O(n²).
        """
        if len(identities) == 1 and len(profiles) == 1:  # by far the most common bucket
            ident, profile = identities[0], profiles[0]
            if fits(ident.fingerprint, profile):
                pair = {ident.id: (profile.address,)}
                self._settle([ident.id], [profile.address], pair, firm=firm)
            return
        ids_of: dict[_Fields, list[IdentityId]] = defaultdict(list)
        old: dict[_Fields, Profile] = {}
        for ident in identities:
            key = _fields(ident.fingerprint)
            ids_of[key].append(ident.id)
            old.setdefault(key, ident.fingerprint)
        addresses_of: dict[_Fields, list[Address]] = defaultdict(list)
        new: dict[_Fields, Profile] = {}
        for profile in profiles:
            key = _fields(profile)
            addresses_of[key].append(profile.address)
            new.setdefault(key, profile)
        edges_k: dict[_Fields, list[_Fields]] = defaultdict(list)
        edges_p: dict[_Fields, list[_Fields]] = defaultdict(list)
        for key_k, fingerprint in old.items():
            for key_p, profile in new.items():
                if fits(fingerprint, profile):
                    edges_k[key_k].append(key_p)
                    edges_p[key_p].append(key_k)
        seen_k: set[_Fields] = set()
        seen_p: set[_Fields] = set()
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
            self._settle(ids, addresses, candidates, firm=firm)

    def _settle(
        self,
        ids: list[IdentityId],
        addresses: list[Address],
        candidates: Mapping[IdentityId, tuple[Address, ...]],
        *,
        firm: bool,
    ) -> None:
        """Bind a one-to-one part; otherwise make all of it ambiguous."""
        if firm and len(addresses) == 1 and len(ids) > 1:
            # Several identities share one real id or Alias: they are all this contact's, so
            # binding the one whose fingerprint still fits cannot misdeliver.
            profile = self.free_p[addresses[0]]
            fitting = [
                i
                for i in ids
                if _topic(self.known[i].fingerprint) == _topic(profile)
                and self._weak_fits(self.known[i].fingerprint, profile)
            ]
            if len(fitting) == 1 and self._bindable(fitting[0], firm):
                for i in ids:
                    del self.free_k[i]
                self._bind(fitting[0], addresses[0])
                return
        if len(ids) == 1 and len(addresses) == 1 and self._bindable(ids[0], firm):
            del self.free_k[ids[0]]
            self._bind(ids[0], addresses[0])
            return
        for i in ids:
            del self.free_k[i]
        self.claims.update(candidates)
        for address in addresses:
            del self.free_p[address]
        self.groups.append(Ambiguity(tuple(sorted(ids)), tuple(addresses)))

    def _bindable(self, ident: IdentityId, firm: bool) -> bool:
        # Once ambiguous, only a real id or Alias at a login, or the user, binds an identity:
        # the lookalike that made it ambiguous may still be around, not in this book, and a
        # RemarkName may have been given to it too.
        return not self.known[ident].ambiguous or (firm and not self.mid_session)

    def _bind(self, ident: IdentityId, address: Address) -> None:
        del self.free_p[address]
        self.binds[address] = ident

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
                fresh = Identity.from_profile(_fresh_id(new_id, profile, taken), profile)
                created.append(fresh)
                bound[address] = fresh.id
        after: dict[IdentityId, Identity] = {}
        for address, ident in self.binds.items():
            old = self.known[ident]
            after[ident] = Identity(ident, old.kind, _merge(old.fingerprint, self.book[address]))
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
            ambiguous = _group_ambiguities(claimed, self.known.values())
        else:
            ambiguous = tuple(self.groups)
        return MatchResult(bound, tuple(created), updated, ambiguous)


#: Every field a rule reads: contacts (or identities) equal in all of them match alike.
_Fields = tuple[str, str, str, str, int, str, str, str, str, frozenset[str]]


def _fields(p: Profile) -> _Fields:
    return (
        p.nick_name,
        p.name,
        p.real_id,
        p.alias,
        p.sex,
        p.remark_name,
        p.province,
        p.city,
        p.signature,
        p.members,
    )


def _differs(a: str, b: str) -> bool:
    return bool(a) and bool(b) and a != b


def _strong_conflict(old: Profile, new: Profile) -> bool:
    return _differs(old.real_id, new.real_id) or _differs(old.alias, new.alias)


def _caption_fits(old: Profile, new: Profile) -> bool:
    """Rule 4 for a contact: nothing non-empty differs (NickName is the bucket key)."""
    return not (
        _strong_conflict(old, new)
        or _differs(old.remark_name, new.remark_name)
        or (old.sex != 0 and new.sex != 0 and old.sex != new.sex)
        or _differs(old.province, new.province)
        or _differs(old.city, new.city)
        or _differs(old.signature, new.signature)
    )


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def _topic(profile: Profile) -> str:
    return profile.nick_name or profile.name


def _merge(old: Profile, new: Profile) -> Profile:
    # Real ids leak only in some payloads and member lists come only from batchgetcontact:
    # what was learnt once stays until contradicted.
    learnt = (
        (old.real_id and not new.real_id)
        or (old.alias and not new.alias)
        or (old.members and not new.members)
    )
    if not learnt:
        return new
    return attrs.evolve(
        new,
        real_id=new.real_id or old.real_id,
        alias=new.alias or old.alias,
        members=new.members or old.members,
    )


def _fresh_id(new_id: NewId, profile: Profile, taken: set[IdentityId]) -> IdentityId:
    ident = new_id(profile)
    if ident in taken:
        raise ValueError(f"new_id returned {ident!r}, which is already taken")
    taken.add(ident)
    return ident


def _group_ambiguities(
    identities: Iterable[Identity], others: Iterable[Identity]
) -> tuple[Ambiguity, ...]:
    """Ambiguities formed by ``identities`` and the ambiguous ``others`` sharing candidates."""
    by_address: dict[Address, list[Identity]] = defaultdict(list)
    pool = {i.id: i for i in others if i.ambiguous}
    pool.update({i.id: i for i in identities})
    for ident in pool.values():
        for address in ident.candidates:
            by_address[address].append(ident)
    seen: set[IdentityId] = set()
    result: list[Ambiguity] = []
    for start in identities:
        if start.id in seen:
            continue
        ids: list[IdentityId] = []
        addresses: dict[Address, None] = {}  # an ordered set
        stack = [start]
        seen.add(start.id)
        while stack:
            ident = stack.pop()
            ids.append(ident.id)
            for address in ident.candidates:
                if address in addresses:
                    continue
                addresses[address] = None
                for neighbour in by_address[address]:
                    if neighbour.id not in seen:
                        seen.add(neighbour.id)
                        stack.append(neighbour)
        if addresses:
            result.append(Ambiguity(tuple(sorted(ids)), tuple(addresses)))
    return tuple(result)

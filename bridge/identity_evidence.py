"""What the matching rules of ``bridge.identity`` compare: fields, conflicts, member overlap,
and the small helpers the rules share (PROTOCOL.md §11)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import attrs

from bridge.identity_types import Ambiguity, Identity, NewId
from bridge.model import Address, IdentityId, Profile

#: Every field a rule reads: contacts (or identities) equal in all of them match alike.
Fields = tuple[str, str, str, str, int, str, str, str, str, tuple[str, ...], int, str, str, str]


def fields_of(p: Profile) -> Fields:
    """Every field a rule reads, as one hashable value."""
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
        p.attr_status,
        p.key_word,
        p.group_name,
        p.avatar_hash,
    )


def differs(a: str, b: str) -> bool:
    """Two non-empty values that differ (an empty one never conflicts)."""
    return bool(a) and bool(b) and a != b


def strong_conflict(old: Profile, new: Profile) -> bool:
    """The real ids or Aliases (identifiers) of ``old`` and ``new`` differ."""
    return differs(old.real_id, new.real_id) or differs(old.alias, new.alias)


def conflict(old: Profile, new: Profile) -> bool:
    """A non-empty stable field differs: an identifier (real id, Alias), or Sex, Province,
    City, Signature, AttrStatus, KeyWord, avatar hash (``bridge.identity_avatars`` blanks a
    hash that several accounts share, such as the default avatar's). Such a pair is never
    matched, by any rule."""
    return (
        strong_conflict(old, new)
        or key_word_conflict(old, new)
        or (old.sex != 0 and new.sex != 0 and old.sex != new.sex)
        or differs(old.province, new.province)
        or differs(old.city, new.city)
        or differs(old.signature, new.signature)
        or (old.attr_status != 0 and new.attr_status != 0 and old.attr_status != new.attr_status)
        or differs(old.avatar_hash, new.avatar_hash)
    )


def key_word_conflict(old: Profile, new: Profile) -> bool:
    """The ``KeyWord`` of a group member (the first 3 characters of its real id, PROTOCOL.md
    §3.4, §11) differs from the other's KeyWord or from the start of its real id: their real
    ids differ. An empty one says nothing; shared by many, an equal one proves nothing."""
    old_prefix = old.key_word or old.real_id[:3]
    new_prefix = new.key_word or new.real_id[:3]
    return bool(old.key_word or new.key_word) and differs(old_prefix, new_prefix)


def group_name_key(profile: Profile) -> str:
    """A group member's name in its group (``DisplayName``), as a rule key."""
    return profile.group_name


def remark_key(profile: Profile) -> str:
    """The RemarkName, as a rule key."""
    return profile.remark_name


def avatar_key(profile: Profile) -> str:
    """The avatar hash, as a rule key ("" when not fetched or, while matching, shared by
    several accounts: ``identity_avatars.shared_hashes``)."""
    return profile.avatar_hash


def attr_status_key(profile: Profile) -> str:
    """The AttrStatus as a rule key; ``""`` when unknown (0)."""
    return str(profile.attr_status) if profile.attr_status else ""


def overlap(a: Sequence[str], b: Sequence[str]) -> float:
    """Jaccard overlap of two non-empty member lists of unique names (``Profile.members``),
    0.0 to 1.0."""
    common = len(set(a).intersection(b))
    return common / (len(a) + len(b) - common)


def topic(profile: Profile) -> str:
    """A group topic or contact NickName: ``nick_name``, else ``name``."""
    return profile.nick_name or profile.name


def merge(old: Profile, new: Profile) -> Profile:
    """``new``, keeping the real id, Alias, members and avatar hash of ``old`` that it lacks."""
    # Real ids leak only in some payloads, member lists come only from batchgetcontact and
    # avatars are fetched only where they decide: what was learnt once stays until contradicted.
    learnt = (
        (old.real_id and not new.real_id)
        or (old.alias and not new.alias)
        or (old.members and not new.members)
        or (old.avatar_hash and not new.avatar_hash)
    )
    if not learnt:
        return new
    return attrs.evolve(
        new,
        real_id=new.real_id or old.real_id,
        alias=new.alias or old.alias,
        members=new.members or old.members,
        avatar_hash=new.avatar_hash or old.avatar_hash,
    )


def fresh_id(new_id: NewId, profile: Profile, taken: set[IdentityId]) -> IdentityId:
    """``new_id(profile)``, added to ``taken``; raises ``ValueError`` if it was taken."""
    ident = new_id(profile)
    if ident in taken:
        raise ValueError(f"new_id returned {ident!r}, which is already taken")
    taken.add(ident)
    return ident


def group_ambiguities(
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

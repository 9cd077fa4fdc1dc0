"""Property tests of identity matching for group members who are not contacts: simulated
groups across many WeChat re-logins (``match_book`` for the groups, then ``with_members``),
the members' part of ``test_identity_properties``.

The world stays decidable, so any misdelivery is the matcher's fault:
- a member's look is its NickName and KeyWord (always shown, from a small set as real ids
  mostly start alike) with an AttrStatus from a small set (0 = not shown); group cards
  (``DisplayName``) are fresh per member and group, or empty;
- look-alikes ("twins": same NickName, KeyWord, AttrStatus and group card) never leave a
  group and never change; nothing tells them apart, so they must be held;
- offline changes give fresh values (a new NickName or group card), or move a member in or
  out of a group; a member's real id leaks at random logins;
- adversarial offline changes, only where a stable field still tells people apart: two
  members of a group swap NickNames (their KeyWords or AttrStatuses differ, and no one else
  ever showed the look either gets), or a member leaves its groups for good while a look-alike
  (same NickName, KeyWord and group card, another AttrStatus never shown with that look)
  joins them;
- some members are also contacts: they keep their contact's identity, never a member one;
- members write in their groups: one that no identity is bound to or claims gets a new
  identity in that group (as the relay does).
The user answers some ambiguities, choosing the right member or "none".
"""

from __future__ import annotations

import itertools
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.identity import (
    Identity,
    MatchResult,
    match_book,
    resolve,
    rosters_of,
    with_members,
)
from bridge.model import Address, ChatKind, GroupMember, IdentityId, Profile
from tests.core.test_identity_properties import SCALE

NICKS = ("Ann", "Bo", "小明")
KEY_WORDS = ("wxi", "wxi", "dap")
ATTRS = (0, 3, 3, 5, 9)
rarely = st.sampled_from((False, False, False, True))


@attrs.define
class Member:
    """A simulated group member, as it really is."""

    number: int
    nick: str
    key_word: str
    attr: int
    groups: set[int]
    cards: dict[int, str] = attrs.Factory(dict)
    twin: bool = False
    friend: bool = False
    gone: bool = False

    @property
    def real_id(self) -> str:
        return f"{self.key_word}_{self.number}"

    @property
    def look(self) -> tuple[str, str]:
        return (self.nick, self.key_word)

    def profile(self, address: Address, group: int, leak: bool) -> Profile:
        return Profile(
            address,
            ChatKind.DIRECT,
            nick_name=self.nick,
            real_id=self.real_id if leak else "",
            attr_status=self.attr,
            key_word=self.key_word,
            group_name=self.cards.get(group, ""),
        )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[int, list[Member]]:
    groups = draw(st.integers(1, 3))
    people: list[Member] = []
    looks = st.tuples(st.sampled_from(NICKS), st.sampled_from(KEY_WORDS))
    for nick, key_word in draw(st.lists(looks, min_size=1, max_size=6, unique=True)):
        size = draw(st.sampled_from((1, 1, 2)))
        attr = draw(st.sampled_from(ATTRS))
        home = draw(st.sets(st.integers(0, groups - 1), min_size=1, max_size=2))
        card = draw(st.sampled_from(("", "card")))
        for _ in range(size):
            n = len(people)
            member = Member(n, nick, key_word, attr, set(home), twin=size > 1)
            member.cards = {
                g: f"{card}{n if size == 1 else nick}.{g}" if card else "" for g in home
            }
            member.friend = size == 1 and draw(rarely)
            people.append(member)
    return groups, people


class Simulation:
    """Ground truth next to what the bridge stores."""

    def __init__(self, groups: int, people: list[Member], data: st.DataObject) -> None:
        self.groups = groups
        self.people = {p.number: p for p in people}
        self.data = data
        self.known: dict[IdentityId, Identity] = {}
        self.owner: dict[IdentityId, int] = {}  # member number, or -1 - group number
        self.ids = itertools.count()
        self.fresh = itertools.count()
        self.looks_ever: dict[tuple[str, str], set[int]] = {}  # look -> who ever showed it
        # AttrStatuses shown with a look or a group card (each of which can bind alone).
        self.attrs_shown: dict[object, set[int]] = {}
        for p in people:
            self._shown(p)
        self.at: dict[Address, int] = {}
        self.bound: dict[Address, IdentityId] = {}
        self.group_of: dict[int, IdentityId] = {}
        self.rosters: dict[IdentityId, list[Profile]] = {}

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.data.draw(strategy)

    def new_id(self, profile: Profile) -> IdentityId:
        ident = IdentityId(f"i{next(self.ids)}")
        self.owner[ident] = self.at[profile.address]
        return ident

    def apply(self, result: MatchResult) -> None:
        for address, ident in result.bound.items():
            assert self.owner[ident] == self.at[address], (
                f"misdelivery: {ident} (of {self.owner[ident]}) bound to {address} "
                f"(of {self.at[address]})"
            )
            assert self.bound.get(address, ident) == ident, f"{address} bound twice"
        self.bound.update(result.bound)
        assert len(set(self.bound.values())) == len(self.bound), "an identity bound twice"
        for identity in (*result.updated, *result.created):
            self.known[identity.id] = identity
        for identity in self.known.values():
            assert not (identity.ambiguous and set(identity.candidates) & set(self.bound)), (
                f"{identity.id} still offers a bound address as a candidate"
            )

    # ---- one session ---------------------------------------------------------------------

    def login(self, n: int) -> None:
        self.at, self.bound = {}, {}
        book = []
        for g in range(self.groups):
            address = Address(f"@@{n}g{g}")
            self.at[address] = -1 - g
            topic = f"group {g}"
            book.append(Profile(address, ChatKind.GROUP, nick_name=topic, real_id=f"{g}@chatroom"))
        present = [p for p in self.people.values() if not p.gone and p.groups]
        for person in present:
            address = Address(f"@{n}m{person.number}")
            self.at[address] = person.number
            if person.friend:
                book.append(Profile(address, nick_name=person.nick, real_id=person.real_id))
        contacts = [i for i in self.known.values() if not i.fingerprint.member_of]
        result = match_book(contacts, book, new_id=self.new_id)
        self.group_of = {g: result.bound[Address(f"@@{n}g{g}")] for g in range(self.groups)}
        listed = [
            GroupMember(
                Address(f"@@{n}g{g}"),
                person.profile(Address(f"@{n}m{person.number}"), g, self.draw(rarely)),
            )
            for person in present
            for g in sorted(person.groups)
        ]
        groups = {Address(f"@@{n}g{g}"): i for g, i in self.group_of.items()}
        self.rosters = rosters_of(listed, groups, [p.address for p in book])
        members = [i for i in self.known.values() if i.fingerprint.member_of]
        expected = self.expectations(members)
        combined, named = with_members(result, members, book, listed)
        assert combined.created == result.created
        assert set(named) <= {p.address for r in self.rosters.values() for p in r}
        assert all(p.member_of in self.rosters for p in named.values())
        self.apply(combined)
        for ident in combined.updated:
            before = next((i for i in members if i.id == ident.id), None)
            assert before is None or ident.fingerprint.member_of == before.fingerprint.member_of
        for address, ident in expected.items():
            assert self.bound.get(address) == ident, f"{address} lost member identity {ident}"

    def expectations(self, members: list[Identity]) -> dict[Address, IdentityId]:
        """Members unchanged since their identity's last binding, that nothing else in their
        groups looks like, must keep their identity."""
        expected: dict[Address, IdentityId] = {}
        for group, roster in self.rosters.items():
            for profile in roster:
                person = self.at[profile.address]
                mine = [
                    i
                    for i in members
                    if self.owner[i.id] == person
                    and i.fingerprint.member_of == group
                    and not i.ambiguous
                ]
                if len(mine) != 1:
                    continue
                ident = mine[0]
                fp = ident.fingerprint
                if (fp.nick_name, fp.group_name, fp.attr_status) != (
                    profile.nick_name,
                    profile.group_name,
                    profile.attr_status,
                ):
                    continue
                others = [
                    q for r in self.rosters.values() for q in r if q.address != profile.address
                ]
                if any(_look_alike(fp, q) for q in others):
                    continue
                # ... nor another identity, as this member shows itself in any of its groups.
                itself = [
                    q for r in self.rosters.values() for q in r if q.address == profile.address
                ]
                if any(
                    i.id != ident.id and _look_alike(i.fingerprint, q)
                    for i in members
                    for q in itself
                ):
                    continue
                expected[profile.address] = ident.id
        return expected

    def write(self) -> None:
        """Members write in their groups: one nothing binds or claims gets an identity."""
        claimed = {a for i in self.known.values() if i.ambiguous for a in i.candidates}
        for group, roster in self.rosters.items():
            for profile in roster:
                address = profile.address
                if address in self.bound or address in claimed or not self.draw(st.booleans()):
                    continue
                fresh = Identity.from_profile(
                    self.new_id(profile), attrs.evolve(profile, member_of=group)
                )
                self.apply(MatchResult({address: fresh.id}, (fresh,)))

    def answer_ambiguities(self) -> None:
        listed = [attrs.evolve(p, member_of=g) for g, r in self.rosters.items() for p in r]
        for ident in list(self.known):
            current = self.known[ident]
            if not current.ambiguous or not current.candidates or self.draw(rarely):
                continue
            owner = self.owner[ident]
            owner_at = [a for a in current.candidates if self.at.get(a) == owner]
            chosen = owner_at[0] if owner_at and not self.draw(rarely) else None
            result = resolve(list(self.known.values()), ident, chosen, listed, new_id=self.new_id)
            self.apply(result)

    # ---- between sessions ------------------------------------------------------------------

    def change_offline(self) -> None:
        self.adversary()
        for person in self.people.values():
            if person.twin or person.gone:
                continue
            change = self.draw(st.sampled_from(("none", "none", "rename", "card", "move")))
            if change == "rename":
                person.nick = f"{person.nick}~{next(self.fresh)}"
                self._shown(person)
            elif change == "card" and person.groups:
                group = min(person.groups)
                person.cards[group] = f"card~{next(self.fresh)}"
                self._shown(person)
            elif change == "move":
                group = self.draw(st.integers(0, self.groups - 1))
                if group in person.groups:
                    person.groups.discard(group)
                else:
                    person.groups.add(group)
                    person.cards.setdefault(group, "")

    def adversary(self) -> None:
        move = self.draw(st.sampled_from(("none", "swap", "lookalike")))
        singles = sorted(n for n, p in self.people.items() if not p.twin and not p.gone)
        if move == "swap":
            pairs = [
                (self.people[x], self.people[y])
                for x, y in itertools.combinations(singles, 2)
                if self._swappable(self.people[x], self.people[y])
            ]
            if pairs:
                a, b = self.draw(st.sampled_from(pairs))
                a.nick, b.nick = b.nick, a.nick
                self._shown(a)
                self._shown(b)
        elif move == "lookalike" and singles:
            old = self.people[self.draw(st.sampled_from(singles))]
            keys = [old.look, *(c for c in old.cards.values() if c)]
            shown = {a for key in keys for a in self.attrs_shown.get(key, ())}
            fresh = [a for a in ATTRS if a and a not in shown]
            if old.attr and fresh and old.groups:
                n = len(self.people)
                new = Member(n, old.nick, old.key_word, self.draw(st.sampled_from(fresh)), set())
                new.groups, new.cards = set(old.groups), dict(old.cards)
                old.gone = True
                self.people[n] = new
                self._shown(new)

    def _swappable(self, a: Member, b: Member) -> bool:
        """Two members of a common group whose stable fields differ, swapping NickNames to
        looks no one else ever showed."""
        apart = a.key_word != b.key_word or (a.attr and b.attr and a.attr != b.attr)
        new_looks = {(b.nick, a.key_word), (a.nick, b.key_word)}
        shown_by = {n for look in new_looks for n in self.looks_ever.get(look, ())}
        fresh = shown_by <= {a.number, b.number}
        return bool(apart and a.groups & b.groups and a.nick != b.nick and fresh)

    def _shown(self, person: Member) -> None:
        self.looks_ever.setdefault(person.look, set()).add(person.number)
        for key in (person.look, *(c for c in person.cards.values() if c)):
            self.attrs_shown.setdefault(key, set()).add(person.attr)


def _look_alike(fp: Profile, p: Profile) -> bool:
    """Could a member rule pair fingerprint ``fp`` with member ``p`` (loosely)?"""
    if fp.real_id and p.real_id:
        return fp.real_id == p.real_id
    if fp.key_word and p.key_word and fp.key_word != p.key_word:
        return False
    if fp.attr_status and p.attr_status and fp.attr_status != p.attr_status:
        return False
    same_card = bool(fp.group_name) and fp.group_name == p.group_name
    return same_card or fp.nick_name == p.nick_name


@pytest.mark.timeout(120 * SCALE)
@settings(
    max_examples=100 * SCALE,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(world=worlds(), logins=st.integers(2, 5), data=st.data())
def test_group_members_never_misdelivered_across_relogins(
    world: tuple[int, list[Member]], logins: int, data: st.DataObject
) -> None:
    groups, people = world
    sim = Simulation(groups, people, data)
    for _ in range(logins):
        sim.login(next(sim.fresh))
        sim.write()
        sim.answer_ambiguities()
        sim.write()
        sim.change_offline()

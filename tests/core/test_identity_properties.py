"""Property tests of identity matching: simulated people across many WeChat re-logins.

The world stays decidable, so any misdelivery is the matcher's fault, never bad luck:
- people are grouped in lookalike classes by (NickName, City); City is always shown, so people
  of different classes always conflict. Lookalikes of a class of two or more ("twins") may
  join late but never leave, so none can stand in for an absent one; once a twin changed
  offline or was wrongly kept apart, its stale identity looks like the class, so no more twins
  of that class join;
- changes made while the bridge is not watching (offline) give fresh values: a new NickName,
  a new City, a new group topic, or one member replaced;
- changes made in a session to a bound contact go through ``update_fingerprint``;
- RemarkNames and Aliases are never reused by another person, except by a swap; real ids leak
  at random logins;
- every person has a stable AttrStatus from a small set (0 = not shown), so it is shared
  by many, as in real address books;
- adversarial offline changes, each only where what WeChat shows still tells the people
  apart: two people swap NickNames or RemarkNames (only when a stable field of theirs
  differs, and no one else ever had the combination they get), a person is deleted while a
  look-alike (same NickName, City, Sex, Province, Signature, another AttrStatus) is added,
  a group takes another group's topic;
- groups of the same topic have disjoint members, and member lists are always known;
- every person has an avatar: a picture of their own (distinct), WeChat's default one
  (shared by many), or for twins sometimes one picture they both use (identical). Each login
  fetches the avatars ``avatars_wanted`` asks for (candidates of held matches, look-alikes)
  and matches again with them (``match_book_with_avatars``); newcomers never reuse another
  person's own picture.
The user answers some ambiguities, choosing the right contact, or "none".
``CHATBRIDGE_PROPERTY_EXAMPLES`` multiplies the number of generated histories (default 1).
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.identity import (
    Identity,
    MatchResult,
    match_book,
    match_contact,
    resolve,
    update_fingerprint,
)
from bridge.identity_avatars import avatar_hash, avatars_wanted, match_book_with_avatars
from bridge.model import Address, ChatKind, IdentityId, Profile

NICKS = ("Alice", "Bob", "小明")
rarely = st.sampled_from((False, False, False, True))
CITIES = ("Paris", "Oslo", "Lima", "Pune")
TOPICS = ("Family", "同学")
ATTRS = (0, 3, 3, 5, 9)
SCALE = int(os.environ.get("CHATBRIDGE_PROPERTY_EXAMPLES", "1"))


@attrs.define
class Person:
    """A simulated contact or group, as it really is."""

    number: int
    kind: ChatKind
    nick: str
    city: str = ""
    sex: int = 0
    province: str = ""
    signature: str = ""
    alias: str = ""
    remark: str = ""
    members: set[str] = attrs.Factory(set)
    klass: int = -1
    twin: bool = False
    joins: int = 0
    attr: int = 0
    gone: bool = False  # deleted from the address book for good
    avatar: str = "default"  # the picture's name: "pic<n>" its own, "default", "class<k>"

    @property
    def real_id(self) -> str:
        return f"{self.number}@chatroom" if self.kind is ChatKind.GROUP else f"wxid_{self.number}"

    def profile(self, address: Address, leak: bool) -> Profile:
        return Profile(
            address=address,
            kind=self.kind,
            nick_name=self.nick,
            real_id=self.real_id if leak else "",
            alias=self.alias,
            remark_name=self.remark,
            sex=self.sex,
            province=self.province,
            city=self.city,
            signature=self.signature,
            attr_status=self.attr,
            members=frozenset(self.members),
        )


@st.composite
def worlds(draw: st.DrawFn) -> list[Person]:
    people: list[Person] = []
    keys = st.tuples(st.sampled_from(NICKS), st.sampled_from(CITIES))
    for klass, (nick, city) in enumerate(draw(st.lists(keys, min_size=1, max_size=7, unique=True))):
        size = draw(st.sampled_from((1, 2, 2, 3)))
        # Lookalikes mostly share their other fields too: the hard case.
        template = (
            draw(st.sampled_from((0, 1, 2))),
            draw(st.sampled_from(("", "P1"))),
            draw(st.sampled_from(("", "s1"))),
        )
        for _ in range(size):
            n = len(people)
            sex, province, signature = template
            if draw(rarely):
                sex = draw(st.sampled_from((0, 1, 2)))
            if draw(rarely):
                province = draw(st.sampled_from(("", "P1", "P2")))
            if draw(rarely):
                signature = draw(st.sampled_from(("", "s1", "s2")))
            people.append(
                Person(
                    n,
                    ChatKind.DIRECT,
                    nick,
                    city,
                    sex=sex,
                    province=province,
                    signature=signature,
                    alias=f"alias{n}" if draw(rarely) else "",
                    remark=f"remark{n}" if draw(rarely) else "",
                    klass=klass,
                    twin=size > 1,
                    joins=draw(st.sampled_from((0, 0, 1, 2))),
                    attr=draw(st.sampled_from(ATTRS)),
                    avatar=draw(
                        st.sampled_from(
                            (f"pic{n}", f"pic{n}", "default")
                            + ((f"class{klass}",) if size > 1 else ())
                        )
                    ),
                )
            )
    for topic in draw(st.lists(st.sampled_from(TOPICS), max_size=4)):
        n = len(people)
        members = {f"m{n}.{j}" for j in range(draw(st.integers(4, 6)))}
        people.append(
            Person(n, ChatKind.GROUP, topic, members=members, joins=draw(st.integers(0, 2)))
        )
    return people


def _differs(a: str, b: str) -> bool:
    return bool(a) and bool(b) and a != b


def could_match(fp: Profile, p: Profile) -> bool:
    """The rules' spec, loosely: could any rule pair fingerprint ``fp`` with contact ``p``?"""
    if fp.kind != p.kind:
        return False
    if fp.real_id and fp.real_id == p.real_id:
        return True
    if _differs(fp.real_id, p.real_id):
        return False
    if fp.alias and fp.alias == p.alias:
        return True
    if _differs(fp.alias, p.alias):
        return False
    if stable_conflict(fp, p):
        return False
    if fp.remark_name and fp.remark_name == p.remark_name:
        return True
    return (
        bool(fp.nick_name)
        and fp.nick_name == p.nick_name
        and not _differs(fp.remark_name, p.remark_name)
        and (not fp.members or not p.members or bool(set(fp.members) & set(p.members)))
    )


def stable_conflict(a: Profile, b: Profile) -> bool:
    """A non-empty stable field differs (Sex, Province, City, Signature, AttrStatus)."""
    return (
        bool(a.sex and b.sex and a.sex != b.sex)
        or _differs(a.province, b.province)
        or _differs(a.city, b.city)
        or _differs(a.signature, b.signature)
        or bool(a.attr_status and b.attr_status and a.attr_status != b.attr_status)
    )


class Simulation:
    """Ground truth next to what the bridge stores."""

    def __init__(self, world: list[Person], data: st.DataObject) -> None:
        self.people = {p.number: p for p in world}
        self.data = data
        self.known: dict[IdentityId, Identity] = {}
        self.owner: dict[IdentityId, int] = {}
        self.last: dict[int, IdentityId] = {}
        self.up_to_date: set[int] = set()  # people whose last identity's fingerprint is them
        self.present = {p.number for p in world if p.joins == 0}
        self.at: dict[Address, int] = {}
        self.bound: dict[Address, IdentityId] = {}
        self.book: list[Profile] = []
        self.closed: set[int] = set()  # classes no more twins may join
        self.keys_ever = {(p.nick, p.city) for p in world}  # (NickName, City) ever shown
        self.ids = itertools.count()
        self.fresh = itertools.count()

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.data.draw(strategy)

    def new_id(self, profile: Profile) -> IdentityId:
        ident = IdentityId(f"i{next(self.ids)}")
        self.owner[ident] = self.at[profile.address]
        return ident

    # ---- checks ------------------------------------------------------------------------------

    def apply(self, result: MatchResult) -> None:
        for address, ident in result.bound.items():
            assert address not in self.bound, "an address is bound twice in one session"
            assert self.owner[ident] == self.at[address], (
                f"misdelivery: {ident} (person {self.owner[ident]}) bound to {address} "
                f"(person {self.at[address]})"
            )
            person = self.at[address]
            self.last[person] = ident
            self.up_to_date.add(person)
        self.bound.update(result.bound)
        assert len(set(self.bound.values())) == len(self.bound), "an identity bound twice"
        for identity in (*result.updated, *result.created):
            self.known[identity.id] = identity
        for ambiguity in result.ambiguous:
            assert not set(ambiguity.addresses) & set(self.bound), "bound and ambiguous"
        for identity in self.known.values():
            assert not (identity.ambiguous and set(identity.candidates) & set(self.bound)), (
                f"{identity.id} still offers a bound contact as a candidate"
            )

    def expectations(self) -> dict[Address, IdentityId]:
        """Contacts that did not change and have no lookalike must keep their identity."""
        expected: dict[Address, IdentityId] = {}
        for p in self.book:
            person = self.at[p.address]
            ident = self.last.get(person)
            if ident is None or person not in self.up_to_date or self.known[ident].ambiguous:
                continue
            fp = self.known[ident].fingerprint
            if any(q is not p and could_match(fp, q) for q in self.book):
                continue
            if any(j != ident and could_match(i.fingerprint, p) for j, i in self.known.items()):
                continue
            expected[p.address] = ident
        return expected

    # ---- one session ---------------------------------------------------------------------------

    def login(self, n: int) -> None:
        order = self.draw(st.permutations(sorted(self.present)))
        self.at = {Address(f"@{n}x{number}"): number for number in order}
        self.bound = {}
        self.book = [
            self.people[number].profile(address, self.draw(rarely))
            for address, number in self.at.items()
        ]
        expected = self.expectations()
        known = list(self.known.values())
        result = match_book(known, self.book, new_id=self.new_id)
        # The avatars that could decide, fetched and hashed, then the book matched again.
        hashes = {
            a: avatar_hash(self.people[self.at[a]].avatar.encode())
            for a in avatars_wanted(known, self.book, result)
        }
        if hashes:
            result = match_book_with_avatars(known, self.book, result, hashes, new_id=self.new_id)
        ambiguous = {a for amb in result.ambiguous for a in amb.addresses}
        assert ambiguous | set(result.bound) == set(self.at), (
            "a contact was neither bound nor ambiguous"
        )
        self.apply(result)
        for address, ident in expected.items():
            assert result.bound.get(address) == ident, f"{address} lost identity {ident}"

    def answer_ambiguities(self) -> None:
        for ident in list(self.known):
            current = self.known[ident]
            if not current.ambiguous or not current.candidates or self.draw(rarely):
                continue
            owner = self.people[self.owner[ident]]
            owner_at = [a for a in current.candidates if self.at.get(a) == owner.number]
            chosen = owner_at[0] if owner_at and not self.draw(rarely) else None
            if chosen is None and owner.twin:
                self.closed.add(owner.klass)
            self.apply(
                resolve(list(self.known.values()), ident, chosen, self.book, new_id=self.new_id)
            )

    def join_mid_session(self, n: int) -> None:
        absent = [p for p in self.people.values() if self.may_join(p) and not p.twin]
        if not absent or not self.draw(st.booleans()):
            return
        person = self.draw(st.sampled_from(absent))
        address = Address(f"@{n}j{person.number}")
        self.at[address] = person.number
        self.present.add(person.number)
        profile = person.profile(address, self.draw(rarely))
        unbound = [i for i in self.known.values() if i.id not in self.bound.values()]
        result = match_contact(profile, unbound, new_id=self.new_id, session=self.book)
        self.book.append(profile)
        self.apply(result)

    def may_join(self, person: Person) -> bool:
        return (
            person.number not in self.present
            and person.klass not in self.closed
            and not person.gone
        )

    def change_in_session(self) -> None:
        for address, ident in list(self.bound.items()):
            person = self.people[self.at[address]]
            change = self.draw(st.sampled_from(("none", "none", "rename", "remark", "other")))
            if change == "none":
                continue
            if person.kind is ChatKind.GROUP:
                if change == "rename":
                    person.nick = f"{person.nick}~{next(self.fresh)}"
                else:
                    person.members.remove(min(person.members))
                    person.members.add(f"m{person.number}.new{next(self.fresh)}")
            elif change == "rename":
                person.nick = f"{person.nick}~{next(self.fresh)}"
            elif change == "remark":
                person.remark = self.draw(st.sampled_from(("", f"remark~{next(self.fresh)}")))
            else:
                person.province = self.draw(st.sampled_from(("", "P1", "P2")))
                person.signature = self.draw(st.sampled_from(("", "s1", "s2")))
            update = person.profile(address, leak=False)
            self.known[ident] = update_fingerprint(self.known[ident], update)

    def adversary(self) -> None:
        """One adversarial change while the bridge is logged out, where still decidable."""
        move = self.draw(st.sampled_from(("none", "swap_nick", "swap_remark", "readd", "retopic")))
        people = sorted(n for n in self.present if self.people[n].kind is ChatKind.DIRECT)
        singles = [n for n in people if not self.people[n].twin]
        if move in ("swap_nick", "swap_remark"):
            pairs = [
                (self.people[x], self.people[y])
                for x, y in itertools.combinations(people, 2)
                if self._swappable(self.people[x], self.people[y], move)
            ]
            if pairs:
                a, b = self.draw(st.sampled_from(pairs))
                if move == "swap_nick":
                    self.keys_ever |= {(b.nick, a.city), (a.nick, b.city)}
                    a.nick, b.nick = b.nick, a.nick
                else:
                    a.remark, b.remark = b.remark, a.remark
                self._changed(a, b)
        elif move == "readd" and singles:
            old = self.people[self.draw(st.sampled_from(singles))]
            # The newcomer's AttrStatus is one no one of that look ever showed: else nothing
            # WeChat shows tells it from them.
            shown = {
                p.attr for p in self.people.values() if (p.nick, p.city) == (old.nick, old.city)
            }
            shown |= {
                i.fingerprint.attr_status
                for i in self.known.values()
                if (i.fingerprint.nick_name, i.fingerprint.city) == (old.nick, old.city)
            }
            fresh = [a for a in ATTRS if a and a not in shown]
            if old.attr and fresh:
                n = len(self.people)
                attr = self.draw(st.sampled_from(fresh))
                new = attrs.evolve(old, number=n, alias="", remark="", attr=attr, joins=0)
                new.avatar = self.draw(st.sampled_from((f"pic{n}", "default")))
                new.members = set()
                old.gone = True
                self.present.discard(old.number)
                self.people[n] = new
                self.present.add(n)
                self.up_to_date.discard(old.number)
        elif move == "retopic":
            groups = [self.people[n] for n in sorted(self.present)]
            groups = [g for g in groups if g.kind is ChatKind.GROUP]
            if groups:
                group = self.draw(st.sampled_from(groups))
                group.nick = self.draw(st.sampled_from([t for t in TOPICS if t != group.nick]))
                self._changed(group)

    def _swappable(self, a: Person, b: Person, move: str) -> bool:
        """Whether swapping ``move``'s field of ``a`` and ``b`` leaves them decidable: a
        stable field tells them apart, and no one else ever showed what they get."""
        if (a.twin or b.twin) and a.city == b.city:
            return False  # one would take the look of the other's twins
        apart = (
            a.city != b.city
            or stable_conflict(a.profile(Address(""), False), b.profile(Address(""), False))
            or (a.avatar != b.avatar and "default" not in (a.avatar, b.avatar))
        )
        if move == "swap_remark":
            return apart and bool(a.remark or b.remark)
        others = self.keys_ever - {(a.nick, a.city), (b.nick, b.city)}
        new_keys = {(b.nick, a.city), (a.nick, b.city)}
        return apart and a.nick != b.nick and not new_keys & others

    def _changed(self, *people: Person) -> None:
        for person in people:
            self.up_to_date.discard(person.number)
            if person.twin:  # its stale identity still looks like its twins
                self.closed.add(person.klass)
            person.klass, person.twin = -1 - person.number, False  # a class of its own now

    def change_offline(self, next_login: int) -> None:
        self.adversary()
        for person in self.people.values():
            change = self.draw(st.sampled_from(("none", "none", "none", "rename", "other")))
            if change == "rename":
                person.nick = f"{person.nick}~{next(self.fresh)}"
            elif change == "other" and person.kind is ChatKind.GROUP:
                person.members.remove(min(person.members))
                person.members.add(f"m{person.number}.off{next(self.fresh)}")
            elif change == "other":
                person.city = f"city~{next(self.fresh)}"
            if change != "none":
                self.up_to_date.discard(person.number)
                if person.twin:
                    self.closed.add(person.klass)
        for person in list(self.people.values()):
            if person.number in self.present:
                if not person.twin and self.draw(st.booleans()):
                    self.present.discard(person.number)
            elif self.may_join(person) and person.joins <= next_login and self.draw(st.booleans()):
                self.present.add(person.number)


@pytest.mark.timeout(120 * SCALE)
@settings(
    max_examples=100 * SCALE,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(world=worlds(), logins=st.integers(2, 5), data=st.data())
def test_relogins_never_misdeliver_and_unchanged_contacts_keep_their_identity(
    world: list[Person], logins: int, data: st.DataObject
) -> None:
    sim = Simulation(world, data)
    for n in range(logins):
        sim.login(n)
        sim.answer_ambiguities()
        sim.join_mid_session(n)
        sim.change_in_session()
        sim.change_offline(n + 1)


def normalised(identity: Identity) -> Identity:
    """Candidates come in book order; compare them as a set."""
    return attrs.evolve(identity, candidates=tuple(sorted(identity.candidates)))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(world=worlds(), data=st.data())
def test_matching_depends_on_the_book_not_its_order(
    world: list[Person], data: st.DataObject
) -> None:
    sim = Simulation(world, data)
    sim.present = set(sim.people)
    sim.login(0)
    known = list(sim.known.values())
    book = [p.profile(Address(f"@1x{p.number}"), leak=False) for p in world]
    shuffled = data.draw(st.permutations(book))
    one = match_book(known, book, new_id=lambda p: IdentityId(f"n{p.address}"))
    two = match_book(known, shuffled, new_id=lambda p: IdentityId(f"n{p.address}"))
    assert dict(one.bound) == dict(two.bound)
    assert {normalised(i) for i in one.updated} == {normalised(i) for i in two.updated}
    assert {frozenset(a.addresses) for a in one.ambiguous} == {
        frozenset(a.addresses) for a in two.ambiguous
    }

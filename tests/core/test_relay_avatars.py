"""Avatars as identity evidence through the relay: fetched only for look-alikes, they tell
them apart across re-logins; shared ones say nothing; held messages of an earlier session are
carried over to the contact the avatar proves, and released in order on ``resolve``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import pytest

from bridge.identity import Identity, match_book
from bridge.identity_avatars import (
    FETCH_LIMIT,
    avatar_hash,
    avatars_wanted,
    match_book_with_avatars,
)
from bridge.model import Address, IdentityId, Profile
from bridge.relay.notices import HELD_AVATARS, held_chat, held_chat_notice
from bridge.store import EntryState, Login, Store
from bridge.testing.memory import MemoryChannel
from tests.core.conftest import Rig, make_rig

#: Friends nobody mistakes for anyone: their avatars must never be fetched.
OTHERS = [Profile(Address(f"@s1-other{n}"), nick_name=f"Other {n}") for n in range(10)]
BOB = Profile(Address("@s1-bob"), nick_name="Bob", sex=1)
TWIN = Profile(Address("@s1-twin"), nick_name="Bob", sex=1)


def session(n: int, *profiles: Profile) -> list[Profile]:
    """The same contacts under the UserNames of login session ``n``."""
    return [
        attrs.evolve(p, address=Address(p.address.replace("@s1-", f"@s{n}-"))) for p in profiles
    ]


def log_in(rig: Rig, n: int, book: list[Profile], pictures: dict[str, bytes]) -> None:
    """Login session ``n``: ``book`` under its UserNames, ``pictures`` by the s1 address."""
    rig.a.avatars = {Address(a.replace("@s1-", f"@s{n}-")): data for a, data in pictures.items()}
    rig.a.scan(session(n, *book))


@pytest.fixture
async def wechat(store: Store, login: Login) -> AsyncIterator[Rig]:
    a = MemoryChannel("wechat", stable_addresses=False)
    rig = await make_rig(store, login, a=a)
    try:
        yield rig
    finally:
        await rig.relay.stop()


async def test_look_alikes_told_apart_only_by_avatar_keep_their_chats(wechat: Rig) -> None:
    rig = wechat
    pictures = {BOB.address: b"bob's photo", TWIN.address: b"twin's photo"}
    log_in(rig, 1, [*OTHERS, BOB, TWIN], pictures)
    await rig.settle()
    for who in (BOB, TWIN):
        rig.a.inject(rig.a.incoming_text(who.address, f"first from {who.address}"))
    await rig.settle()
    rooms = {who.address: await rig.portal_of(who.address) for who in (BOB, TWIN)}
    # Only the look-alikes' avatars were fetched, none of the 10 others'.
    assert sorted(rig.a.avatar_fetches) == sorted([BOB.address, TWIN.address])

    for n in (2, 3):
        log_in(rig, n, [*OTHERS, BOB, TWIN], pictures)
        await rig.settle()
        assert await rig.relay.ambiguities() == []
        for who in (BOB, TWIN):
            now = session(n, who)[0].address
            rig.a.inject(rig.a.incoming_text(now, f"login {n} from {who.address}"))
            rig.b.inject(rig.b.incoming_text(rooms[who.address], f"to {now}", sender=rig.owner))
        await rig.settle()
        assert len(rig.a.avatar_fetches) == 2 * n  # the two look-alikes, once per login

    for who in (BOB, TWIN):
        assert rig.texts(rig.b, rooms[who.address]) == [
            f"first from {who.address}",
            f"login 2 from {who.address}",
            f"login 3 from {who.address}",
        ]
    sent = [(s.chat, s.content.body) for s in rig.a.messages()]  # type: ignore[union-attr]
    assert all(body == f"to {chat}" for chat, body in sent) and len(sent) == 4


@pytest.mark.parametrize("picture", ["identical", "default"])
async def test_a_shared_avatar_says_nothing(wechat: Rig, picture: str) -> None:
    rig = wechat
    # One photo used by both Bobs; or WeChat's default avatar, which two of three Bobs show
    # (the third has a photo of its own).
    pictures = {BOB.address: b"same", TWIN.address: b"same"}
    third = Profile(Address("@s1-third"), nick_name="Bob", sex=1)
    book = [BOB, TWIN]
    if picture == "default":
        pictures[TWIN.address] = b"twin's photo"
        pictures[third.address] = b"same"
        book.append(third)
    log_in(rig, 1, book, pictures)
    await rig.settle()
    rig.a.inject(rig.a.incoming_text(BOB.address, "hello"))
    await rig.settle()
    room = await rig.portal_of(BOB.address)
    bob = await rig.store.identities.by_address(rig.login.id, BOB.address)

    log_in(rig, 2, book, pictures)
    await rig.settle()
    held = {i.id: i for i in await rig.relay.ambiguities()}
    assert bob is not None and bob.id in held
    assert session(2, BOB)[0].address in {c.address for c in held[bob.id].candidates}
    for other in book[1:]:
        rig.a.inject(rig.a.incoming_text(session(2, other)[0].address, "not Bob"))
    await rig.settle()
    assert rig.texts(rig.b, room) == ["hello"]


async def test_held_messages_of_an_earlier_session_are_released_in_order_on_resolve(
    wechat: Rig,
) -> None:
    rig = wechat
    robert = Profile(Address("@s1-rob"), nick_name="Robert", sex=1)
    pictures = {BOB.address: b"bob's photo", robert.address: b"robert's photo"}
    log_in(rig, 1, [BOB, robert], pictures)  # not look-alikes yet: nothing fetched
    await rig.settle()
    rig.a.inject(rig.a.incoming_text(BOB.address, "one"))
    await rig.settle()
    bob_room = await rig.portal_of(BOB.address)
    bob = await rig.store.identities.by_address(rig.login.id, BOB.address)
    assert bob is not None and rig.a.avatar_fetches == []

    # Robert takes Bob's NickName: either contact could be Bob's chat; held.
    robert = attrs.evolve(robert, nick_name="Bob")
    log_in(rig, 2, [BOB, robert], pictures)
    await rig.settle()
    bob2 = session(2, BOB)[0].address
    for text in ("two", "three"):
        rig.a.inject(rig.a.incoming_text(bob2, text))
    rig.a.inject(rig.a.incoming_text(session(2, robert)[0].address, "robert, held too"))
    await rig.settle()
    assert [i.id for i in await rig.relay.ambiguities()] == [bob.id]

    # Another re-login: still held (only the user binds a held chat), nothing dropped.
    log_in(rig, 3, [BOB, robert], pictures)
    await rig.settle()
    bob3 = session(3, BOB)[0].address
    rig.a.inject(rig.a.incoming_text(bob3, "four"))
    await rig.settle()
    assert rig.texts(rig.b, bob_room) == ["one"]
    held = await rig.store.journal.entries(rig.login.id, EntryState.HELD)
    assert len(held) == 4
    [ambiguous] = await rig.relay.ambiguities()

    await rig.relay.resolve(bob.id, bob3)
    await rig.settle()
    # What Bob sent under the UserNames of session 2 went with him (his avatar proved it).
    assert rig.texts(rig.b, bob_room) == ["one", "two", "three", "four"]
    assert all("robert" not in t for t in rig.texts(rig.b, bob_room)), (
        "Robert's message reached Bob's chat"
    )
    assert ambiguous.id == bob.id


async def test_held_messages_nothing_proves_stay_held_across_relogins(wechat: Rig) -> None:
    rig = wechat
    pictures = {BOB.address: b"same", TWIN.address: b"same"}
    log_in(rig, 1, [BOB, TWIN], pictures)
    await rig.settle()
    rig.a.inject(rig.a.incoming_text(BOB.address, "one"))
    await rig.settle()
    bob_room = await rig.portal_of(BOB.address)
    bob = await rig.store.identities.by_address(rig.login.id, BOB.address)
    assert bob is not None
    log_in(rig, 2, [BOB, TWIN], pictures)
    await rig.settle()
    rig.a.inject(rig.a.incoming_text(session(2, TWIN)[0].address, "which one?"))
    await rig.settle()
    log_in(rig, 3, [BOB, TWIN], pictures)
    await rig.settle()
    await rig.relay.resolve(bob.id, session(3, BOB)[0].address)
    await rig.settle()
    # Nothing says which look-alike wrote under the session-2 UserName: it stays held.
    assert rig.texts(rig.b, bob_room) == ["one"]
    [entry] = await rig.store.journal.entries(rig.login.id, EntryState.HELD)
    assert entry.chat == session(2, TWIN)[0].address


# ---- the pure rules ------------------------------------------------------------------------


def _ids() -> object:
    n = iter(range(1000))
    return lambda _p: IdentityId(f"i{next(n)}")


def test_only_candidates_and_look_alikes_are_wanted() -> None:
    book = [*OTHERS, BOB, TWIN]
    first = match_book([], book, new_id=_ids())  # type: ignore[arg-type]
    assert set(avatars_wanted([], book, first)) == {BOB.address, TWIN.address}
    with_alias = [*OTHERS, BOB, attrs.evolve(TWIN, alias="bob_w")]
    assert avatars_wanted([], with_alias, first) == ()
    many = [Profile(Address(f"@{n}"), nick_name="Bob") for n in range(100)]
    assert len(avatars_wanted([], many, first, limit=24)) == 24


def test_a_differing_avatar_vetoes_and_an_equal_one_settles_the_tie() -> None:
    h1, h2 = avatar_hash(b"1"), avatar_hash(b"2")
    known = [
        Identity(IdentityId("bob"), BOB.kind, attrs.evolve(BOB, avatar_hash=h1)),
        Identity(IdentityId("twin"), TWIN.kind, attrs.evolve(TWIN, avatar_hash=h2)),
    ]
    book = session(2, BOB, TWIN)
    first = match_book(known, book, new_id=_ids())  # type: ignore[arg-type]
    assert first.bound == {}  # without avatars: held
    hashes = {book[0].address: h2, book[1].address: h1}  # in the other order
    result = match_book_with_avatars(known, book, first, hashes, new_id=_ids())  # type: ignore[arg-type]
    assert result.bound == {book[0].address: "twin", book[1].address: "bob"}
    assert result.evidence["bob"].endswith("the avatar told the look-alikes apart")


def test_a_name_bound_to_a_contact_showing_another_identitys_avatar_is_held() -> None:
    # Found by the property test: Alice (Paris) and Bob (Paris) swap NickNames while the
    # look-alike Alice (Oslo) stays. Alice's avatar was fetched (a look-alike), Bob's not.
    # "Bob" now shows Alice's avatar: binding it to Bob's chat by name would misdeliver.
    pic = {n: avatar_hash(f"pic{n}".encode()) for n in range(3)}
    alice = Profile(Address("@a"), nick_name="Alice", city="Paris", avatar_hash=pic[0])
    alice_oslo = Profile(Address("@o"), nick_name="Alice", city="Oslo", avatar_hash=pic[1])
    bob = Profile(Address("@b"), nick_name="Bob", city="Paris")
    known = [
        Identity(IdentityId("alice"), alice.kind, alice),
        Identity(IdentityId("oslo"), alice.kind, alice_oslo),
        Identity(IdentityId("bob"), bob.kind, bob),
    ]
    now_bob = Profile(Address("@1"), nick_name="Bob", city="Paris")  # Alice's account
    now_alice = Profile(Address("@2"), nick_name="Alice", city="Paris")  # Bob's account
    oslo = attrs.evolve(alice_oslo, address=Address("@3"), avatar_hash="")
    book = [now_bob, now_alice, oslo]
    first = match_book(known, book, new_id=_ids())  # type: ignore[arg-type]
    hashes = {now_bob.address: pic[0], now_alice.address: pic[2], oslo.address: pic[1]}
    result = match_book_with_avatars(known, book, first, hashes, new_id=_ids())  # type: ignore[arg-type]
    assert result.bound.get(now_bob.address) != "bob"
    assert result.bound.get(oslo.address) == "oslo"
    [held] = [a for a in result.ambiguous if now_bob.address in a.addresses]
    assert set(held.identities) == {"alice", "bob"}


def test_the_held_notice_names_what_differs() -> None:
    a = attrs.evolve(BOB, attr_status=4133, avatar_hash=avatar_hash(b"1"))
    b = attrs.evolve(TWIN, attr_status=4133, avatar_hash=avatar_hash(b"2"), province="Hubei")
    text = held_chat("Bob", ["Bob (!room:hs)"], [a, b], "WeChat")
    assert "1) Bob · no region · avatar A" in text
    assert "2) Bob · Hubei · avatar B" in text
    assert "All of them: male, AttrStatus 4133." in text
    same = held_chat("Bob", ["Bob"], [a, attrs.evolve(a, address=TWIN.address)], "WeChat")
    assert "Nothing WeChat shows tells them apart (all: male, AttrStatus 4133, same avatar)" in (
        same
    )


def test_the_held_notice_shows_each_candidates_avatar_under_its_line() -> None:
    a = attrs.evolve(BOB, avatar_hash=avatar_hash(b"1"))
    b = attrs.evolve(TWIN, province="Hubei")  # its avatar was not compared
    notice = held_chat_notice("Bob", ["Bob (!room:hs)"], [a, b], "WeChat")
    assert notice.text == held_chat("Bob", ["Bob (!room:hs)"], [a, b], "WeChat")
    assert notice.avatars == (
        ("Avatar of 1) Bob (avatar A)", BOB.address),
        ("Avatar of 2) Bob", TWIN.address),
    )
    many = [attrs.evolve(BOB, address=Address(f"@{n}")) for n in range(HELD_AVATARS + 3)]
    assert len(held_chat_notice("Bob", ["Bob"], many, "WeChat").avatars) == HELD_AVATARS


class BrokenAvatars(MemoryChannel):
    """An adapter whose avatar fetch fails with a bug, not a ``BridgeError``."""

    async def avatar(self, address: Address) -> bytes:
        self.avatar_fetches.append(address)
        raise RuntimeError("adapter bug")


async def test_a_failing_avatar_fetch_leaves_the_book_matched_without_it(
    store: Store, login: Login
) -> None:
    rig = await make_rig(store, login, a=BrokenAvatars("wechat", stable_addresses=False))
    try:
        rig.a.scan([BOB, TWIN])
        await rig.settle()
        rig.a.scan(session(2, BOB, TWIN))
        await rig.settle()
        assert len(await rig.relay.ambiguities()) == 2  # held, as without avatars
        assert len(rig.a.avatar_fetches) == 4
    finally:
        await rig.relay.stop()


async def test_avatar_fetches_per_login_are_bounded(wechat: Rig) -> None:
    rig = wechat
    crowd = [Profile(Address(f"@s1-bob{n}"), nick_name="Bob") for n in range(40)]
    log_in(rig, 1, crowd, {p.address: p.address.encode() for p in crowd})
    await rig.settle()
    assert len(rig.a.avatar_fetches) == FETCH_LIMIT

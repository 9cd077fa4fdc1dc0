"""Side A with session-scoped addresses: a resumed session keeps its bindings; a real id or
Alias learnt after a re-login settles an ambiguity (PROTOCOL.md §11)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import pytest

from bridge.model import Address, ChatKind, IdentityId, Profile, ProfileUpdate
from bridge.store import EntryState, Login, Store
from bridge.testing.memory import MemoryChannel
from tests.core.conftest import Rig, make_rig
from tests.core.test_relay_identity import ALICE, BOB, session

# Two contacts who differ in nothing but their UserName: the demo's two Bobs.
TWIN = attrs.evolve(BOB, address=Address("@s1-bobtwin"))
TEAM = Profile(Address("@@s1-team"), kind=ChatKind.GROUP, nick_name="Team")
# A member of TEAM who is not a contact: never in a contact book.
CAROL = Profile(Address("@s1-carol"), nick_name="Carol", city="Lyon")
BOOK = (ALICE, BOB, TWIN, TEAM)
# The same people after a re-login: every UserName is new.
S2_BOB, S2_TWIN = session(2, BOB, TWIN)


@attrs.frozen
class Bobs:
    """The two namesakes' identities and portals, made in session 1."""

    bob: IdentityId
    twin: IdentityId
    bob_portal: Address
    twin_portal: Address


@pytest.fixture
async def wechat_rig(store: Store, login: Login) -> AsyncIterator[Rig]:
    rig = await make_rig(store, login, a=MemoryChannel("wechat", stable_addresses=False))
    rig.a.scan(BOOK)
    await rig.settle()
    try:
        yield rig
    finally:
        await rig.relay.stop()
        await rig.a.stop()
        await rig.b.stop()


async def meet_the_bobs(rig: Rig, *updates: Profile) -> Bobs:
    """Each Bob writes once in session 1 (after ``updates``, e.g. leaked real ids)."""
    rig.a.inject(
        *(ProfileUpdate(p) for p in updates),
        rig.a.incoming_text(BOB.address, "I am Bob"),
        rig.a.incoming_text(TWIN.address, "I am Bob too"),
    )
    await rig.settle()
    bob = await rig.store.identities.by_address(rig.login.id, BOB.address)
    twin = await rig.store.identities.by_address(rig.login.id, TWIN.address)
    assert bob is not None and twin is not None and bob.id != twin.id
    bobs = Bobs(
        bob.id, twin.id, await rig.portal_of(BOB.address), await rig.portal_of(TWIN.address)
    )
    assert bobs.bob_portal != bobs.twin_portal
    assert rig.texts(rig.b, bobs.bob_portal) == ["I am Bob"]
    assert rig.texts(rig.b, bobs.twin_portal) == ["I am Bob too"]
    return bobs


def sent_to_a(rig: Rig) -> list[tuple[Address, str]]:
    """What side A (WeChat) received: (chat, text)."""
    return [(s.chat, getattr(s.content, "body", "")) for s in rig.a.messages()]


def sender_in(rig: Rig, portal: Address, body: str) -> Profile:
    """Who said ``body`` in ``portal`` on side B (its ghost's profile)."""
    [sent] = [s for s in rig.b.messages(portal) if getattr(s.content, "body", "") == body]
    assert sent.sender is not None
    return sent.sender


def held_notices(rig: Rig, chat: Address | None = None) -> list[str]:
    return [n for n in rig.notices(rig.b, chat) if n.startswith("⏸")]


async def held_chats(rig: Rig) -> list[str]:
    """The side-A chats of held entries, in journal order."""
    return [e.chat for e in await rig.store.journal.entries(rig.login.id, EntryState.HELD)]


async def ambiguous(rig: Rig) -> dict[IdentityId, set[Address]]:
    """Ambiguous identity -> the addresses it could be."""
    return {i.id: {p.address for p in i.candidates} for i in await rig.relay.ambiguities()}


# ---- 1. a resumed session keeps its bindings ------------------------------------------------


async def test_a_resumed_session_keeps_the_namesakes_apart(wechat_rig: Rig) -> None:
    rig = wechat_rig
    bobs = await meet_the_bobs(rig)

    await rig.restart()
    rig.a.scan(BOOK)  # WeChat resumed the session: the same UserNames
    await rig.settle()
    rig.a.inject(
        rig.a.incoming_text(TWIN.address, "twin again"),
        rig.a.incoming_text(BOB.address, "bob again"),
    )
    rig.b.inject(
        rig.b.incoming_text(bobs.bob_portal, "hi Bob", sender=rig.owner),
        rig.b.incoming_text(bobs.twin_portal, "hi other Bob", sender=rig.owner),
    )
    await rig.settle()

    assert rig.texts(rig.b, bobs.bob_portal) == ["I am Bob", "bob again"]
    assert rig.texts(rig.b, bobs.twin_portal) == ["I am Bob too", "twin again"]
    assert sorted(sent_to_a(rig)) == sorted(
        [(BOB.address, "hi Bob"), (TWIN.address, "hi other Bob")]
    )
    # The same ghosts speak in the same portals; nothing was held or refused.
    for portal, first, again in [
        (bobs.bob_portal, "I am Bob", "bob again"),
        (bobs.twin_portal, "I am Bob too", "twin again"),
    ]:
        assert sender_in(rig, portal, again).address == sender_in(rig, portal, first).address
    assert len(rig.b.portals) == 2
    assert rig.notices(rig.b) == []
    assert await ambiguous(rig) == {}
    assert await held_chats(rig) == []


async def test_a_resumed_book_adds_a_new_namesake_and_renames_a_contact(wechat_rig: Rig) -> None:
    rig = wechat_rig
    bobs = await meet_the_bobs(rig)
    newcomer = attrs.evolve(BOB, address=Address("@s1-bobnew"))  # befriended while down
    ali = attrs.evolve(ALICE, remark_name="Ali")  # a RemarkName given on the phone

    await rig.restart()
    rig.a.scan([ali, BOB, TWIN, TEAM, newcomer])
    await rig.settle()
    rig.a.inject(
        rig.a.incoming_text(newcomer.address, "I am a third Bob"),
        rig.a.incoming_text(BOB.address, "still Bob"),
        rig.a.incoming_text(ALICE.address, "hello"),
    )
    await rig.settle()

    assert rig.texts(rig.b, bobs.bob_portal) == ["I am Bob", "still Bob"]
    newcomer_portal = await rig.portal_of(newcomer.address)
    assert newcomer_portal not in (bobs.bob_portal, bobs.twin_portal)
    assert rig.texts(rig.b, newcomer_portal) == ["I am a third Bob"]
    [from_alice] = rig.b.messages(await rig.portal_of(ALICE.address))
    assert from_alice.sender is not None and from_alice.sender.display_name == "Ali"
    assert rig.notices(rig.b) == []
    assert await ambiguous(rig) == {}


async def test_a_relogin_makes_the_namesakes_ambiguous(wechat_rig: Rig) -> None:
    rig = wechat_rig
    bobs = await meet_the_bobs(rig)

    await rig.restart()
    rig.a.scan(session(2, *BOOK))  # a new session: the same people, new UserNames
    await rig.settle()
    rig.a.inject(
        rig.a.incoming_text(S2_BOB.address, "bob again"),
        rig.a.incoming_text(S2_TWIN.address, "twin again"),
    )
    rig.b.inject(rig.b.incoming_text(bobs.bob_portal, "which one?", sender=rig.owner))
    await rig.settle()

    both = {S2_BOB.address, S2_TWIN.address}
    assert await ambiguous(rig) == {bobs.bob: both, bobs.twin: both}
    assert await held_chats(rig) == [S2_BOB.address, S2_TWIN.address]
    assert sorted(rig.texts(rig.b)) == ["I am Bob", "I am Bob too"]
    assert rig.a.messages() == []
    # Each held chat is announced in both portals it could belong to.
    assert len(held_notices(rig, bobs.bob_portal)) == 2
    assert len(held_notices(rig, bobs.twin_portal)) == 2
    [refused] = [n for n in rig.notices(rig.b, bobs.bob_portal) if n.startswith("⚠")]
    assert "“which one?”" in refused and "could be any of Bob, Bob" in refused


# ---- 2. a real id or Alias learnt after the login --------------------------------------------


async def relogin_with_held_messages(rig: Rig) -> None:
    """Re-login with new UserNames; each namesake writes while ambiguous (all held)."""
    rig.a.scan(session(2, *BOOK))
    await rig.settle()
    rig.a.inject(
        *(rig.a.incoming_text(S2_BOB.address, f"bob {n}") for n in range(3)),
        rig.a.incoming_text(S2_TWIN.address, "twin 0"),
    )
    await rig.settle()
    assert await held_chats(rig) == [S2_BOB.address] * 3 + [S2_TWIN.address]


def with_key(profile: Profile, key: str) -> Profile:
    """``profile`` showing Bob's real id (``key`` "real_id") or Alias (``key`` "alias")."""
    if key == "real_id":
        return attrs.evolve(profile, real_id="wxid_bob")
    return attrs.evolve(profile, alias="bob_w")


@pytest.mark.parametrize("key", ["real_id", "alias"])
async def test_a_key_learnt_after_a_relogin_binds_its_namesake(wechat_rig: Rig, key: str) -> None:
    rig = wechat_rig
    # Session 1 leaked Bob's real id (or Alias); the book of session 2 has none.
    bobs = await meet_the_bobs(rig, with_key(BOB, key))
    await relogin_with_held_messages(rig)

    # A later message leaks which of the two it is, then Bob writes again.
    rig.a.inject(
        ProfileUpdate(with_key(S2_BOB, key)),
        rig.a.incoming_text(S2_BOB.address, "bob 3"),
    )
    await rig.settle()

    assert rig.texts(rig.b, bobs.bob_portal) == ["I am Bob", "bob 0", "bob 1", "bob 2", "bob 3"]
    bob = await rig.store.identities.by_address(rig.login.id, S2_BOB.address)
    assert bob is not None and bob.id == bobs.bob
    # The other namesake keeps its one remaining candidate but stays ambiguous: only the user
    # (or its own key) says that the other contact called Bob is it.
    assert await ambiguous(rig) == {bobs.twin: {S2_TWIN.address}}
    assert await held_chats(rig) == [S2_TWIN.address]
    assert rig.texts(rig.b, bobs.twin_portal) == ["I am Bob too"]

    rig.b.inject(
        rig.b.incoming_text(bobs.bob_portal, "hi Bob", sender=rig.owner),
        rig.b.incoming_text(bobs.twin_portal, "hi other Bob", sender=rig.owner),
    )
    await rig.settle()
    assert sent_to_a(rig) == [(S2_BOB.address, "hi Bob")]
    [refused] = [n for n in rig.notices(rig.b, bobs.twin_portal) if n.startswith("⚠")]
    assert "“hi other Bob”" in refused

    await rig.relay.resolve(bobs.twin, S2_TWIN.address)
    await rig.settle()
    assert rig.texts(rig.b, bobs.twin_portal) == ["I am Bob too", "twin 0"]
    assert await ambiguous(rig) == {}


async def test_a_real_id_no_namesake_holds_releases_nothing(wechat_rig: Rig) -> None:
    rig = wechat_rig
    bobs = await meet_the_bobs(rig, attrs.evolve(BOB, real_id="wxid_bob"))
    await relogin_with_held_messages(rig)

    # Not Bob's real id: S2_BOB is not Bob, but may still be the twin, whose is unknown.
    rig.a.inject(ProfileUpdate(attrs.evolve(S2_BOB, real_id="wxid_other")))
    await rig.settle()

    assert await ambiguous(rig) == {
        bobs.bob: {S2_TWIN.address},
        bobs.twin: {S2_BOB.address, S2_TWIN.address},
    }
    assert await held_chats(rig) == [S2_BOB.address] * 3 + [S2_TWIN.address]
    assert sorted(rig.texts(rig.b)) == ["I am Bob", "I am Bob too"]


async def test_a_real_id_two_namesakes_hold_releases_nothing(wechat_rig: Rig) -> None:
    rig = wechat_rig
    bobs = await meet_the_bobs(
        rig, attrs.evolve(BOB, real_id="wxid_bob"), attrs.evolve(TWIN, real_id="wxid_bob")
    )
    await relogin_with_held_messages(rig)

    rig.a.inject(ProfileUpdate(attrs.evolve(S2_BOB, real_id="wxid_bob")))
    await rig.settle()

    both = {S2_BOB.address, S2_TWIN.address}
    assert await ambiguous(rig) == {bobs.bob: both, bobs.twin: both}
    assert await held_chats(rig) == [S2_BOB.address] * 3 + [S2_TWIN.address]
    assert sorted(rig.texts(rig.b)) == ["I am Bob", "I am Bob too"]


async def test_a_real_id_ruling_out_every_namesake_releases_a_new_contact(
    wechat_rig: Rig,
) -> None:
    rig = wechat_rig
    bobs = await meet_the_bobs(
        rig, attrs.evolve(BOB, real_id="wxid_bob"), attrs.evolve(TWIN, real_id="wxid_twin")
    )
    await relogin_with_held_messages(rig)

    # S2_BOB is neither Bob: someone new, whose messages need a portal of their own.
    rig.a.inject(
        ProfileUpdate(attrs.evolve(S2_BOB, real_id="wxid_stranger")),
        rig.a.incoming_text(S2_BOB.address, "bob 3"),
    )
    await rig.settle()

    stranger = await rig.portal_of(S2_BOB.address)
    assert stranger not in (bobs.bob_portal, bobs.twin_portal)
    assert rig.texts(rig.b, stranger) == ["bob 0", "bob 1", "bob 2", "bob 3"]
    assert await held_chats(rig) == [S2_TWIN.address]


# ---- 3. group members across a restart -------------------------------------------------------


async def test_a_group_member_keeps_its_ghost_across_a_resumed_session(wechat_rig: Rig) -> None:
    rig = wechat_rig
    rig.a.add_profiles(CAROL)  # what the group's member list tells about her

    def said(body: str) -> None:
        rig.a.inject(
            rig.a.incoming_text(TEAM.address, body, sender=CAROL.address, chat_kind=ChatKind.GROUP)
        )

    said("before the restart")
    await rig.settle()
    [before] = rig.b.messages()

    await rig.restart()
    rig.a.scan(BOOK)  # resumed; Carol is in no contact book
    await rig.settle()
    said("after the restart")
    await rig.settle()

    [_, after] = rig.b.messages()
    assert before.chat == after.chat == await rig.portal_of(TEAM.address)
    assert after.sender is not None and before.sender is not None
    assert after.sender.address == before.sender.address
    assert after.sender.display_name == "Carol"
    assert rig.texts(rig.b) == ["before the restart", "after the restart"]
    assert len(rig.b.portals) == 1

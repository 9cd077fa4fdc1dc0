"""Side A with session-scoped addresses (WeChat): portals by identity, holds and ``resolve``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import pytest

from bridge.errors import BridgeError
from bridge.model import Address, Profile, ProfileUpdate
from bridge.relay.decisions import split_identity
from bridge.store import EntryState, IdentityState, Login, Store
from bridge.testing.memory import MemoryChannel
from tests.core.conftest import Rig, make_rig

ALICE = Profile(Address("@s1-alice"), nick_name="Alice", alias="alice_w", city="Paris")
BOB = Profile(Address("@s1-bob"), nick_name="Bob")


def session(n: int, *profiles: Profile) -> list[Profile]:
    """The same contacts under the UserNames of login session ``n``."""
    return [
        attrs.evolve(p, address=Address(p.address.replace("@s1-", f"@s{n}-"))) for p in profiles
    ]


@pytest.fixture
async def wechat_rig(store: Store, login: Login) -> AsyncIterator[Rig]:
    a = MemoryChannel("wechat", stable_addresses=False)
    rig = await make_rig(store, login, a=a)
    a.scan([ALICE, BOB])
    await rig.settle()
    try:
        yield rig
    finally:
        await rig.relay.stop()


async def test_a_relogin_keeps_portals_and_senders(wechat_rig: Rig) -> None:
    rig = wechat_rig
    rig.a.inject(rig.a.incoming_text(ALICE.address, "before"))
    await rig.settle()
    portal = await rig.portal_of(ALICE.address)
    [before] = rig.b.messages()

    rig.a.scan(session(2, ALICE, BOB))  # every UserName changes
    await rig.settle()
    rig.a.inject(rig.a.incoming_text(Address("@s2-alice"), "after"))
    rig.b.inject(rig.b.incoming_text(portal, "welcome back", sender=rig.owner))
    await rig.settle()

    after = rig.b.messages()[-1]
    assert (after.chat, after.content.body) == (portal, "after")  # type: ignore[union-attr]
    assert after.sender is not None and before.sender is not None
    assert after.sender.address == before.sender.address  # the same ghost
    assert [(s.chat, s.content.body) for s in rig.a.messages()] == [  # type: ignore[union-attr]
        (Address("@s2-alice"), "welcome back")
    ]
    assert len(rig.b.portals) == 1


async def test_a_profile_update_renames_the_sender(wechat_rig: Rig) -> None:
    rig = wechat_rig
    rig.a.inject(ProfileUpdate(attrs.evolve(ALICE, remark_name="Ali")))
    rig.a.inject(rig.a.incoming_text(ALICE.address, "hi"))
    await rig.settle()
    [sent] = rig.b.messages()
    assert sent.sender is not None and sent.sender.display_name == "Ali"


async def test_an_ambiguous_contact_is_held_until_resolved(wechat_rig: Rig) -> None:
    rig = wechat_rig
    rig.a.inject(rig.a.incoming_text(BOB.address, "I am the real Bob"))
    await rig.settle()
    bob_portal = await rig.portal_of(BOB.address)
    bob = await rig.store.identities.by_address(rig.login.id, BOB.address)
    assert bob is not None

    # After a re-login two contacts look exactly like Bob.
    twin1, twin2 = Address("@s2-bob"), Address("@s2-bobtwin")
    rig.a.scan(
        [*session(2, ALICE), attrs.evolve(BOB, address=twin1), attrs.evolve(BOB, address=twin2)]
    )
    await rig.settle()
    [ambiguous] = await rig.relay.ambiguities()
    assert ambiguous.id == bob.id and ambiguous.state is IdentityState.AMBIGUOUS
    assert {p.address for p in ambiguous.candidates} == {twin1, twin2}

    for n in range(3):
        rig.a.inject(rig.a.incoming_text(twin2, f"twin2 says {n}"))
    rig.a.inject(rig.a.incoming_text(twin1, "twin1 says hi"))
    rig.b.inject(rig.b.incoming_text(bob_portal, "which Bob are you?", sender=rig.owner))
    await rig.settle()

    # Nothing reached either side; the portal says why, once per waiting chat.
    assert rig.texts(rig.b) == ["I am the real Bob"]
    assert rig.a.messages() == []
    notices = rig.notices(rig.b, bob_portal)
    held_notices = [n for n in notices if n.startswith("⏸")]
    refused = [n for n in notices if n.startswith("⚠")]
    assert len(held_notices) == 2 and all("resolve" in n for n in held_notices)
    assert len(refused) == 1 and "“which Bob are you?”" in refused[0]
    assert "could be any of Bob, Bob" in refused[0]
    held = await rig.store.journal.entries(rig.login.id, EntryState.HELD)
    assert len(held) == 4

    await rig.relay.resolve(bob.id, twin2)
    await rig.settle()

    assert rig.texts(rig.b, bob_portal) == [
        "I am the real Bob",
        "twin2 says 0",
        "twin2 says 1",
        "twin2 says 2",
    ]
    # The other lookalike is someone new: a portal of its own.
    assert await rig.portal_of(twin1) != bob_portal
    assert rig.texts(rig.b, await rig.portal_of(twin1)) == ["twin1 says hi"]
    assert await rig.relay.ambiguities() == []
    assert await rig.store.journal.entries(rig.login.id, EntryState.HELD) == []

    rig.b.inject(rig.b.incoming_text(bob_portal, "now I know", sender=rig.owner))
    await rig.settle()
    assert [(s.chat, s.content.body) for s in rig.a.messages()] == [(twin2, "now I know")]  # type: ignore[union-attr]


async def test_keeping_apart_makes_new_identities_for_every_lookalike(wechat_rig: Rig) -> None:
    rig = wechat_rig
    rig.a.inject(rig.a.incoming_text(BOB.address, "old"))
    await rig.settle()
    bob_portal = await rig.portal_of(BOB.address)
    bob = await rig.store.identities.by_address(rig.login.id, BOB.address)
    assert bob is not None
    twin1, twin2 = Address("@s2-bob"), Address("@s2-bobtwin")
    rig.a.scan([attrs.evolve(BOB, address=twin1), attrs.evolve(BOB, address=twin2)])
    await rig.settle()
    rig.a.inject(rig.a.incoming_text(twin1, "held"))
    await rig.settle()

    await rig.relay.resolve(bob.id, None)
    await rig.settle()

    new_portal = await rig.portal_of(twin1)
    assert new_portal != bob_portal
    assert rig.texts(rig.b, new_portal) == ["held"]
    assert await rig.store.identities.by_address(rig.login.id, twin2) is not None
    assert await rig.relay.ambiguities() == []


async def test_resolving_with_a_wrong_address_is_refused(wechat_rig: Rig) -> None:
    rig = wechat_rig
    bob = await rig.store.identities.by_address(rig.login.id, BOB.address)
    assert bob is not None
    with pytest.raises(BridgeError):
        await rig.relay.resolve(bob.id, Address("@nobody"))  # Bob is not ambiguous


async def test_a_leaked_real_id_that_contradicts_the_binding_unbinds_it(wechat_rig: Rig) -> None:
    rig = wechat_rig
    rig.a.inject(ProfileUpdate(attrs.evolve(BOB, real_id="wxid_bob")))
    rig.a.inject(rig.a.incoming_text(BOB.address, "the real Bob"))
    await rig.settle()
    bob_portal = await rig.portal_of(BOB.address)

    rig.a.scan(session(2, ALICE, BOB))  # another "Bob", nothing in the book tells
    await rig.settle()
    impostor = Address("@s2-bob")
    rig.a.inject(ProfileUpdate(attrs.evolve(BOB, address=impostor, real_id="wxid_other")))
    rig.a.inject(rig.a.incoming_text(impostor, "not the same Bob"))
    await rig.settle()

    landed = rig.b.messages()[-1]
    assert landed.content.body == "not the same Bob"  # type: ignore[union-attr]
    assert landed.chat != bob_portal


async def test_split_undoes_a_wrong_resolve_and_the_audit_keeps_both(wechat_rig: Rig) -> None:
    rig = wechat_rig
    rig.a.inject(rig.a.incoming_text(BOB.address, "the real Bob"))
    await rig.settle()
    bob_portal = await rig.portal_of(BOB.address)
    bob = await rig.store.identities.by_address(rig.login.id, BOB.address)
    assert bob is not None
    twin1, twin2 = Address("@s2-bob"), Address("@s2-bobtwin")
    rig.a.scan([attrs.evolve(BOB, address=twin1), attrs.evolve(BOB, address=twin2, city="Oslo")])
    await rig.settle()
    await rig.relay.resolve(bob.id, twin2)  # the user picks the wrong one

    async with rig.store.transaction() as tx:
        fresh = await split_identity(tx, rig.login.id, bob.id)
    rig.a.inject(rig.a.incoming_text(twin2, "I am not your Bob"))
    await rig.settle()

    assert await rig.portal_of(twin2) != bob_portal
    assert rig.texts(rig.b, bob_portal) == ["the real Bob"]
    restored = await rig.store.identities.get(bob.id)
    assert restored is not None and restored.address is None
    assert restored.profile.city == ""  # its fingerprint from before the resolve
    assert (await rig.store.identities.by_address(rig.login.id, twin2)).id == fresh  # type: ignore[union-attr]
    decisions = [(d.identity_id, d.decision) for d in await rig.store.audit.recent(rig.login.id)]
    assert decisions[-2:] == [(bob.id, "resolved"), (bob.id, "split")]
    with pytest.raises(BridgeError):
        async with rig.store.transaction() as tx:
            await split_identity(tx, rig.login.id, bob.id)  # bound to nothing now


async def test_a_long_run_of_real_id_leaks_is_applied_in_chunks_then_the_batch(
    store: Store, login: Login
) -> None:
    people = [Profile(Address(f"@s1-p{n}"), nick_name=f"P{n}") for n in range(130)]
    a = MemoryChannel("wechat", stable_addresses=False)
    rig = await make_rig(store, login, a=a)
    try:
        a.scan(people)
        await rig.settle()
        before = await store.identities.generation()
        leaks = [ProfileUpdate(attrs.evolve(p, real_id=f"wxid_{p.nick_name}")) for p in people]
        a.inject_batch([*leaks, a.incoming_text(people[-1].address, "after the leaks")])
        await rig.settle()
        # Each leak bumps the identity generation: they were all applied, once each.
        assert await store.identities.generation() > before
        learnt = {i.profile.real_id for i in await store.identities.all(login.id)}
        assert learnt >= {f"wxid_P{n}" for n in range(130)}
        assert rig.texts(rig.b) == ["after the leaks"]
    finally:
        await rig.relay.stop()

"""Side-A renames reaching side B's portals through the journal, in order with messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import attrs
import pytest

from bridge.model import Address, ChatKind, Profile, ProfileUpdate, Text
from bridge.store import EntryState, Login, Store
from bridge.testing.memory import MemoryChannel, PortalUpdated, Sent
from tests.core.conftest import ALICE, Rig, make_rig, until

HIKE = Profile(Address("@@g-hike"), ChatKind.GROUP, name="Weekend Hike", nick_name="Weekend Hike")


def story(rig: Rig, portal: Address) -> list[str]:
    """What side B saw happen to ``portal``: message bodies and ``renamed to <name>``."""
    seen: list[str] = []
    for out in rig.b.sent:
        if isinstance(out, Sent) and out.chat == portal and isinstance(out.content, Text):
            seen.append(out.content.body)
        elif isinstance(out, PortalUpdated) and out.chat == portal:
            seen.append(f"renamed to {out.remote.display_name}")
    return seen


@pytest.fixture
async def wechat_rig(store: Store, login: Login) -> AsyncIterator[Rig]:
    """A relay whose side A has session-scoped addresses, logged in with Alice and a group."""
    a = MemoryChannel("wechat", stable_addresses=False)
    rig = await make_rig(store, login, a=a)
    a.scan([ALICE, HIKE])
    await rig.settle()
    try:
        yield rig
    finally:
        await rig.relay.stop()


async def test_a_renamed_group_renames_its_portal_after_the_messages_before(
    wechat_rig: Rig,
) -> None:
    rig = wechat_rig
    said = [
        rig.a.incoming_text(HIKE.address, body, sender=ALICE.address, chat_kind=ChatKind.GROUP)
        for body in ("one", "two", "three")
    ]
    rig.a.inject(said[0])
    await rig.settle()
    portal = await rig.portal_of(HIKE.address)

    renamed = attrs.evolve(HIKE, nick_name="Autumn Hike")
    rig.a.inject(said[1], ProfileUpdate(renamed), said[2])
    await rig.settle()

    assert story(rig, portal) == ["one", "two", "renamed to Autumn Hike", "three"]
    [update] = rig.b.portal_updates()
    ident = await rig.store.identities.by_address(rig.login.id, HIKE.address)
    assert ident is not None
    assert update.remote.address == Address(ident.id)  # as for ensure_portal
    assert update.remote.kind is ChatKind.GROUP
    assert (await rig.b.get_profile(portal)).name == "Autumn Hike"


async def test_a_contacts_new_remark_name_reaches_its_portal_once(wechat_rig: Rig) -> None:
    rig = wechat_rig
    rig.a.inject(rig.a.incoming_text(ALICE.address, "hi"))
    await rig.settle()
    portal = await rig.portal_of(ALICE.address)

    remarked = attrs.evolve(ALICE, remark_name="Aunt Alice")
    # WeChat repeats ModContactList entries: the same profile again changes no name.
    rig.a.inject(ProfileUpdate(remarked))
    rig.a.inject(ProfileUpdate(remarked), rig.a.incoming_text(ALICE.address, "it's me"))
    await rig.settle()

    assert story(rig, portal) == ["hi", "renamed to Aunt Alice", "it's me"]
    assert rig.b.messages(portal)[-1].sender == rig.b.portal_updates()[0].remote


async def test_a_profile_update_that_keeps_the_name_changes_nothing(wechat_rig: Rig) -> None:
    rig = wechat_rig
    rig.a.inject(rig.a.incoming_text(ALICE.address, "hi"))
    await rig.settle()

    rig.a.inject(ProfileUpdate(attrs.evolve(ALICE, city="Lyon", signature="on holiday")))
    await rig.settle()

    assert rig.b.portal_updates() == []


async def test_a_rename_of_a_chat_without_a_portal_changes_nothing(wechat_rig: Rig) -> None:
    rig = wechat_rig
    rig.a.inject(ProfileUpdate(attrs.evolve(HIKE, nick_name="Autumn Hike")))
    await rig.settle()
    assert rig.b.portal_updates() == []

    rig.a.inject(
        rig.a.incoming_text(HIKE.address, "first", sender=ALICE.address, chat_kind=ChatKind.GROUP)
    )
    await rig.settle()
    portal = await rig.portal_of(HIKE.address)
    assert (await rig.b.get_profile(portal)).name == "Autumn Hike"  # created under the new name
    assert rig.b.portal_updates() == []


async def test_a_rename_seen_in_the_contact_book_of_a_relogin_reaches_the_portal(
    wechat_rig: Rig,
) -> None:
    rig = wechat_rig
    rig.a.inject(rig.a.incoming_text(ALICE.address, "hi"))
    await rig.settle()
    portal = await rig.portal_of(ALICE.address)

    # Renamed while the bridge was logged out; the new session's UserNames differ.
    alice2 = attrs.evolve(ALICE, address=Address("@s2-alice"), remark_name="Ali")
    hike2 = attrs.evolve(HIKE, address=Address("@@s2-hike"))
    rig.a.scan([alice2, hike2])
    await rig.settle()

    assert story(rig, portal) == ["hi", "renamed to Ali"]


async def test_a_rename_waits_in_the_journal_across_a_restart_and_is_applied_once(
    store: Store, login: Login
) -> None:
    gate = asyncio.Event()

    class Blocked(MemoryChannel):
        async def update_portal(self, chat: Address, remote: Profile) -> None:
            await gate.wait()
            await super().update_portal(chat, remote)

    b = Blocked("matrix")
    rig = await make_rig(store, login, b=b)
    try:
        rig.a.inject(rig.a.incoming_text(ALICE.address, "hi"))
        await rig.settle()
        portal = await rig.portal_of(ALICE.address)

        rig.a.inject(ProfileUpdate(attrs.evolve(ALICE, remark_name="Ali")))
        await until(lambda: not rig.a.pending)  # journaled and acknowledged
        [pending] = await store.journal.entries(login.id, EntryState.PENDING)
        assert isinstance(pending.event(), ProfileUpdate) and b.portal_updates() == []

        gate.set()
        await rig.restart()
        await rig.settle()
        await rig.restart()
        await rig.settle()
        assert story(rig, portal) == ["hi", "renamed to Ali"]
        assert await store.journal.entries(login.id, EntryState.PENDING) == []
    finally:
        await rig.relay.stop()


async def test_stable_addresses_rename_portals_too(store: Store, login: Login) -> None:
    rig = await make_rig(store, login)
    try:
        rig.a.inject(rig.a.incoming_text(ALICE.address, "hi"))
        await rig.settle()
        portal = await rig.portal_of(ALICE.address)

        rig.a.inject(ProfileUpdate(attrs.evolve(ALICE, nick_name="Alicia")))
        await rig.settle()

        assert story(rig, portal) == ["hi", "renamed to Alicia"]
    finally:
        await rig.relay.stop()

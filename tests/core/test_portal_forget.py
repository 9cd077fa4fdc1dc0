"""``PortalDirectory.forget`` (``delete-portal``): the room is no longer a portal, and the chat
gets a new one from its next ``ensure``."""

from __future__ import annotations

from bridge.ids import RoomId
from bridge.model import Address, ChatKind, Profile
from bridge.relay.portals import PortalDirectory
from bridge.store import Login, Store


async def test_a_forgotten_portal_is_no_portal_and_the_chat_gets_a_new_room(
    store: Store, login: Login
) -> None:
    ident = await store.identities.create(
        login.id, Profile(Address("@@g"), ChatKind.GROUP, name="Hike"), address=Address("@@g")
    )
    directory = PortalDirectory(store)
    rooms = iter([RoomId("!old"), RoomId("!new")])

    async def create() -> Address:
        return Address(next(rooms))

    assert await directory.ensure(ident.id, create) == (RoomId("!old"), True)
    assert await directory.by_room(RoomId("!old")) is not None  # cached from now on

    assert await directory.forget(ident.id) == RoomId("!old")
    assert await directory.forget(ident.id) is None  # nothing left to forget

    assert await directory.by_room(RoomId("!old")) is None
    assert await store.portals.get(ident.id) is None
    assert await directory.ensure(ident.id, create) == (RoomId("!new"), True)
    assert await PortalDirectory(store).room_of(ident.id) == RoomId("!new")

"""The core's portal directory: the one writer of portals, and the room -> portal answer."""

from __future__ import annotations

import asyncio

from bridge.ids import RoomId
from bridge.model import Address, ChatKind, Profile
from bridge.relay.portals import PortalDirectory, PortalInfo
from bridge.store import Login, Store


async def test_concurrent_callers_get_one_recorded_room(store: Store, login: Login) -> None:
    ident = await store.identities.create(
        login.id, Profile(Address("@@g"), ChatKind.GROUP, name="Hike"), address=Address("@@g")
    )
    directory = PortalDirectory(store)
    made: list[RoomId] = []

    async def create() -> Address:
        await asyncio.sleep(0.01)
        made.append(RoomId(f"!room{len(made)}"))
        return Address(made[-1])

    results = await asyncio.gather(*(directory.ensure(ident.id, create) for _ in range(3)))

    assert made == [RoomId("!room0")]
    assert sorted(results) == [
        (RoomId("!room0"), False),
        (RoomId("!room0"), False),
        (RoomId("!room0"), True),
    ]
    assert await store.portals.get(ident.id) is not None
    # A fresh directory (another process) reads what was recorded.
    found = await PortalDirectory(store).by_room(RoomId("!room0"))
    assert found == PortalInfo(
        RoomId("!room0"), ident.id, login.id, login.matrix_user, ChatKind.GROUP
    )
    assert await PortalDirectory(store).by_room(RoomId("!other")) is None

"""WeChat renames through the running service: portal names and ghost names follow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adapters.wechat.simulator.demo import create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import BridgeHarness, accept_invite, wait_for_message, wait_until
from tests.service.test_login import log_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


async def room_name(user: MatrixUser, room: str) -> Any:
    return (await user.state(room, "m.room.name")).get("name")


async def name_events(user: MatrixUser, room: str) -> list[str]:
    """The names ``room`` had in its timeline, oldest first (creation included)."""
    return [
        e["content"].get("name", "")
        for e in await user.messages(room, limit=100)
        if e.get("type") == "m.room.name"
    ]


async def test_a_renamed_wechat_group_renames_its_portal(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    user = await make_user("renata")
    dm, _ = await log_in(bridge, user, demo)
    await control.send_message(demo.account, demo.alice, group=demo.group, text="tent?")
    portal = await accept_invite(user, {dm})
    await wait_for_message(user, portal, contains="tent?")
    assert await room_name(user, portal) == "Weekend Hike"

    await control.update_group(demo.account, demo.group, topic="Autumn Hike")
    await wait_until(lambda: _has_name(user, portal, "Autumn Hike"))

    # A change that keeps the group's name (a member's group nickname) adds no m.room.name.
    await control.update_group(demo.account, demo.group, display_names={demo.alice: "Ali"})
    await control.send_message(demo.account, demo.carol, group=demo.group, text="boots!")
    await wait_for_message(user, portal, contains="boots!")
    assert await name_events(user, portal) == ["Weekend Hike", "Autumn Hike"]


async def test_a_contacts_new_remark_name_renames_its_ghost_and_portal(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    user = await make_user("remy")
    dm, _ = await log_in(bridge, user, demo)
    await control.send_message(demo.account, demo.carol, text="hi from Carol")
    portal = await accept_invite(user, {dm})
    ghost = (await wait_for_message(user, portal, contains="hi from Carol"))["sender"]
    assert await _displayname(user, ghost) == "Carol (WeChat)"

    await control.update_contact(demo.account, demo.carol, remark_name="Carol from school")

    await wait_until(lambda: _named(user, ghost, "Carol from school (WeChat)"))
    await wait_until(lambda: _has_name(user, portal, "Carol from school"))
    await wait_until(lambda: _member_named(user, portal, ghost, "Carol from school (WeChat)"))


async def _has_name(user: MatrixUser, room: str, name: str) -> bool:
    return bool(await room_name(user, room) == name)


async def _displayname(user: MatrixUser, user_id: str) -> Any:
    return (await user.request("GET", f"/v3/profile/{user_id}")).get("displayname")


async def _named(user: MatrixUser, user_id: str, name: str) -> bool:
    return bool(await _displayname(user, user_id) == name)


async def _member_named(user: MatrixUser, room: str, user_id: str, name: str) -> bool:
    return bool((await user.state(room, "m.room.member", user_id)).get("displayname") == name)

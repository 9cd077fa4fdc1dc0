"""The management room follows the user: the bot greets in a new DM and names it the
management room, answers where it is asked, takes ``set-management-room``, and after a
restart sends its notices to the room the user last used or chose."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from adapters.wechat.simulator.demo import create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import BridgeHarness, bot_messages, wait_for_message, wait_until
from tests.service.test_login import log_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


async def test_notices_follow_the_user_to_the_room_last_used_across_a_restart(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    user = await make_user("follow")
    first, _ = await log_in(bridge, user, demo)

    # A new DM: the bot greets there and it becomes the management room; answers come there.
    second = await bridge.open_dm(user)
    greeting = await wait_for_message(user, second, from_=bridge.bot, contains="management room")
    assert "formatted_body" in greeting["content"]
    await bridge.command(user, second, "ping", expect="Logged in as")

    # A group room with the bot: the prefix works there and it can be chosen explicitly.
    group = await user.create_room(name="Planning", invite=[bridge.bot])
    await wait_for_message(user, group, from_=bridge.bot, contains="!wechat help")
    chosen = await bridge.command(
        user, group, "!wechat set-management-room", expect="now your management room"
    )
    assert "<code>" not in chosen["content"]["body"]
    assert chosen["content"]["formatted_body"]

    await bridge.restart()
    await wait_until(lambda: _receiving(bridge, user, group))
    await control.logout(demo.account)  # the phone ends the session after the restart

    notice = await wait_for_message(user, group, from_=bridge.bot, contains="Logged out of")
    assert notice["content"]["body"].startswith("Logged out of WeChat")
    for old in (first, second):
        assert not [m for m in await bot_messages(user, old, bridge.bot) if "Logged out" in m]


async def _receiving(bridge: BridgeHarness, user: MatrixUser, room: str) -> bool:
    reply = await bridge.command(user, room, "!wechat ping", expect="")
    return str(reply["content"]["body"]).startswith("Logged in")

"""A bot command typed in a portal is answered there by the bot and never reaches the contact."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from adapters.wechat.simulator.demo import create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import BridgeHarness, accept_invite, wait_for_message
from tests.service.test_login import log_in
from tests.service.test_messages import sent_to

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


async def test_a_command_in_a_portal_is_answered_and_not_relayed(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    demo = await create_demo(bridge.simulator.control)
    user = await make_user("portalcmd")
    dm, _ = await log_in(bridge, user, demo)
    await bridge.simulator.control.send_message(demo.account, demo.carol, text="hi there")
    portal = await accept_invite(user, {dm})
    await wait_for_message(user, portal, contains="hi there")

    reply = await bridge.command(user, portal, "!wechat ping", expect="Logged in as")
    quoted = await bridge.command(
        user, portal, "> <@x:localhost> hi there\n\n!WeChat ping", expect="Logged in as"
    )

    assert reply["content"]["body"] == "Logged in as Demo User; receiving."
    assert quoted["content"]["msgtype"] == "m.notice"
    # A text after them is relayed; the commands before it never were.
    await user.send_text(portal, "after the commands")
    await sent_to(bridge, demo.account, demo.carol, "after the commands")
    outbox = await bridge.simulator.control.outbox(demo.account)
    assert [e.text for e in outbox if e.to == demo.carol] == ["after the commands"]

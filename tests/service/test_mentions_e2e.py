"""Mentions through the running service: an @ in a WeChat group notifies the Matrix user."""

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


async def test_an_at_of_the_account_in_a_group_mentions_the_matrix_user(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    demo = await create_demo(bridge.simulator.control)
    user = await make_user("mentioned")
    dm, _ = await log_in(bridge, user, demo)

    text = "@Demo User\u2005@Carol W.\u2005 who brings the tent?"
    await bridge.simulator.control.send_message(
        demo.account, demo.alice, group=demo.group, text=text
    )
    portal = await accept_invite(user, {dm})
    message = await wait_for_message(user, portal, contains="who brings the tent?")

    mentioned = message["content"]["m.mentions"]["user_ids"]
    assert user.user_id in mentioned
    ghosts = [m for m in mentioned if bridge.config.is_ghost(m)]
    assert len(ghosts) == 1 and ghosts[0] != message["sender"]


async def test_a_pill_of_a_ghost_reaches_wechat_as_an_at_mention(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    demo = await create_demo(bridge.simulator.control)
    user = await make_user("pills")
    dm, _ = await log_in(bridge, user, demo)
    control = bridge.simulator.control
    await control.send_message(demo.account, demo.carol, group=demo.group, text="tent?")
    portal = await accept_invite(user, {dm})
    carol = (await wait_for_message(user, portal, contains="tent?"))["sender"]

    pill = f'<a href="https://matrix.to/#/{carol}">Carol (WeChat)</a>'
    mine = f'<a href="https://matrix.to/#/{user.user_id}">me</a>'
    await user.send(
        portal,
        {
            "msgtype": "m.text",
            "body": "Carol (WeChat): bring it, says me",
            "format": "org.matrix.custom.html",
            "formatted_body": f"{pill}: bring it, says {mine}",
        },
    )
    entry = await sent_to(bridge, demo.account, demo.group, "@Carol\u2005bring it, says me")
    assert entry.kind == "text"

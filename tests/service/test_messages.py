"""Messages through the running service: WeChat contacts and groups <-> Matrix portals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from adapters.wechat.simulator.control import OutboxEntry
from adapters.wechat.simulator.demo import create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import BridgeHarness, accept_invite, wait_for_message, wait_until
from tests.service.test_login import log_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


async def sent_to(bridge: BridgeHarness, account: str, to: str, text: str) -> OutboxEntry:
    """The outbox entry of the WeChat ``account`` sending ``text`` to ``to`` (waits for it)."""

    async def find() -> OutboxEntry | None:
        outbox = await bridge.simulator.control.outbox(account)
        return next((e for e in outbox if e.to == to and e.text == text), None)

    found: OutboxEntry = await wait_until(find)
    return found


async def test_contact_text_opens_a_portal_and_the_reply_reaches_wechat(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    demo = await create_demo(bridge.simulator.control)
    user = await make_user("mia")
    dm, _ = await log_in(bridge, user, demo)
    known = {dm}

    await bridge.simulator.control.send_message(demo.account, demo.carol, text="hi from WeChat")
    portal = await accept_invite(user, known)
    message = await wait_for_message(user, portal, contains="hi from WeChat")

    ghost = message["sender"]
    assert bridge.config.is_ghost(ghost)
    profile = await user.request("GET", f"/v3/profile/{ghost}")
    assert profile["displayname"] == "Carol (WeChat)"

    await user.send_text(portal, "hello Carol")
    entry = await sent_to(bridge, demo.account, demo.carol, "hello Carol")
    assert entry.kind == "text"


async def test_group_text_opens_a_group_portal_and_the_reply_reaches_the_group(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    demo = await create_demo(bridge.simulator.control)
    user = await make_user("noor")
    dm, _ = await log_in(bridge, user, demo)
    known = {dm}

    await bridge.simulator.control.send_message(
        demo.account, demo.alice, group=demo.group, text="who brings the tent?"
    )
    portal = await accept_invite(user, known)
    message = await wait_for_message(user, portal, contains="who brings the tent?")

    assert bridge.config.is_ghost(message["sender"])
    name = await user.state(portal, "m.room.name")
    assert name["name"] == "Weekend Hike"

    await user.send_text(portal, "I do")
    await sent_to(bridge, demo.account, demo.group, "I do")


async def test_two_matrix_users_each_bridge_their_own_wechat_account(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    other_account = await control.create_account("Second User", wxid="wxid_second_user")
    zoe = await control.add_contact(other_account, "Zoe", wxid="wxid_zoe")
    first, second = await make_user("ines"), await make_user("jon")
    first_dm, _ = await log_in(bridge, first, demo)
    second_dm = await bridge.open_dm(second)
    await bridge.command(second, second_dm, "login", expect="Starting the WeChat login")
    await wait_for_message(second, second_dm, from_=bridge.bot, msgtype="m.image")
    await control.scan(other_account)
    await wait_for_message(second, second_dm, from_=bridge.bot, contains="as Second User")

    await control.send_message(other_account, zoe, text="for the second account")
    await control.send_message(demo.account, demo.dave, text="for the first account")
    second_portal = await accept_invite(second, {second_dm})
    first_portal = await accept_invite(first, {first_dm})

    await wait_for_message(second, second_portal, contains="for the second account")
    await wait_for_message(first, first_portal, contains="for the first account")
    await second.send_text(second_portal, "hi Zoe")
    await sent_to(bridge, other_account, zoe, "hi Zoe")
    assert not [e for e in await control.outbox(demo.account) if e.text == "hi Zoe"]

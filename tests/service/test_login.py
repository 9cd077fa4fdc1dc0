"""Logging in to WeChat from Matrix: the bot's QR flow, ping, logout, permissions, restore."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable

import pytest

from adapters.wechat.simulator.demo import Demo, create_demo
from bridge.config import REFUSAL
from tests.matrix.synapse import MatrixUser
from tests.service.harness import BridgeHarness, bot_messages, wait_for_message, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


async def log_in(bridge: BridgeHarness, user: MatrixUser, demo: Demo) -> tuple[str, str]:
    """``user`` logs ``demo``'s account in through the bot; returns (DM room, QR event id)."""
    room = await bridge.open_dm(user)
    await bridge.command(user, room, "login", expect="Starting the WeChat login")
    qr = await wait_for_message(user, room, from_=bridge.bot, msgtype="m.image")
    await bridge.simulator.control.scan(demo.account)
    await wait_for_message(user, room, from_=bridge.bot, contains="Logged in to WeChat as")
    return room, qr["event_id"]


async def test_login_with_the_qr_code_from_the_bot(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    demo = await create_demo(bridge.simulator.control)
    user = await make_user("wanda")
    room = await bridge.open_dm(user)

    await bridge.command(user, room, "ping", expect="Not logged in")
    await bridge.command(user, room, "login", expect="Starting the WeChat login")
    qr = await wait_for_message(user, room, from_=bridge.bot, msgtype="m.image")
    image = await user.download(qr["content"]["url"])
    assert image.startswith(b"\x89PNG")
    assert qr["content"]["info"]["mimetype"] == "image/png"

    await bridge.simulator.control.scan(demo.account)
    done = await wait_for_message(user, room, from_=bridge.bot, contains="Logged in to WeChat as")

    assert done["content"]["body"] == "Logged in to WeChat as Demo User."
    assert (await user.event(room, qr["event_id"]))["content"] == {}  # the QR code is redacted
    reply = await bridge.command(user, room, "PING", expect="Logged in as")
    assert reply["content"]["body"] == "Logged in as Demo User; receiving."
    assert reply["content"]["msgtype"] == "m.notice"


async def test_an_expired_qr_code_is_replaced(bridge: BridgeHarness, make_user: MakeUser) -> None:
    demo = await create_demo(bridge.simulator.control)
    user = await make_user("xena")
    room = await bridge.open_dm(user)
    await bridge.command(user, room, "login", expect="Starting the WeChat login")
    first = await wait_for_message(user, room, from_=bridge.bot, msgtype="m.image")

    await bridge.simulator.control.set_qr_code(400)  # the login poll reports it expired
    second = await wait_for_message(
        user, room, from_=bridge.bot, msgtype="m.image", after=first["event_id"]
    )

    await wait_until(lambda: _redacted(user, room, first["event_id"]))  # after the new one
    await bridge.simulator.control.scan(demo.account)
    await wait_for_message(user, room, from_=bridge.bot, contains="Logged in to WeChat as")
    assert (await user.event(room, second["event_id"]))["content"] == {}


async def test_logout(bridge: BridgeHarness, make_user: MakeUser) -> None:
    demo = await create_demo(bridge.simulator.control)
    user = await make_user("yuri")
    room, _ = await log_in(bridge, user, demo)

    notice = await bridge.command(user, room, "!wechat logout", expect="Logged out of WeChat")

    assert "login" in notice["content"]["body"]  # it says how to log in again
    session = await bridge.simulator.control.session(demo.account)
    assert not session.logged_in
    await bridge.command(user, room, "ping", expect="Not logged in to WeChat")
    await bridge.command(user, room, "logout", expect="You are not logged in")


async def test_login_while_logged_in_is_refused(bridge: BridgeHarness, make_user: MakeUser) -> None:
    demo = await create_demo(bridge.simulator.control)
    user = await make_user("zack")
    room, _ = await log_in(bridge, user, demo)

    reply = await bridge.command(user, room, "login", expect="already logged in")

    assert "Demo User" in reply["content"]["body"]


async def test_help_and_unknown_commands(bridge: BridgeHarness, make_user: MakeUser) -> None:
    user = await make_user("hana")
    room = await bridge.open_dm(user)

    help_text = (await bridge.command(user, room, "help", expect="commands"))["content"]["body"]
    unknown = await bridge.command(user, room, "dance", expect="Unknown command")

    for name in ("login", "logout", "ping", "sync", "list", "resolve"):
        assert f"\n- `{name}" in help_text
    assert "help" in unknown["content"]["body"]


async def test_users_without_permission_are_refused(
    bridge: BridgeHarness, make_user: MakeUser, refused_user: MatrixUser
) -> None:
    # In a room with a permitted user, the refused one addresses the bot with the prefix.
    friend = await make_user("friend")
    room = await friend.create_room(name="shared", invite=[bridge.bot, refused_user.user_id])
    await refused_user.join(room)
    await wait_until(lambda: _is_member(friend, room, bridge.bot))

    reply = await bridge.command(refused_user, room, "!wechat login", expect="not allowed")

    assert reply["content"]["body"] == REFUSAL
    # Text without the prefix outside a DM is not for the bot: no answer to it.
    sent = await friend.send_text(room, "ping")
    await bridge.command(friend, room, "!wechat ping", expect="Not logged in")
    assert await bot_messages(friend, room, bridge.bot, after=sent) == [
        "Not logged in to WeChat. Send `login` to log in."
    ]


async def _redacted(user: MatrixUser, room: str, event_id: str) -> bool:
    content: object = (await user.event(room, event_id))["content"]
    return content == {}


async def _is_member(user: MatrixUser, room: str, member: str) -> bool:
    state = await user.state(room, "m.room.member", member)
    return state.get("membership") == "join"


async def test_logins_are_restored_after_a_restart(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    demo = await create_demo(bridge.simulator.control)
    user = await make_user("rita")
    room, _ = await log_in(bridge, user, demo)
    logins_before = await bridge.simulator.control.logins()

    await bridge.restart()

    # The resumed session's LoggedIn reaches the bot shortly after the start: ask until then.
    async def pinged() -> str | None:
        body = str((await bridge.command(user, room, "ping", expect=""))["content"]["body"])
        return body if body.startswith("Logged in") else None

    assert await wait_until(pinged) == "Logged in as Demo User; receiving."
    assert await bridge.simulator.control.logins() == logins_before  # no new QR code


async def test_a_session_wechat_ended_meanwhile_is_reported_after_a_restart(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    demo = await create_demo(bridge.simulator.control)
    user = await make_user("otto")
    room, _ = await log_in(bridge, user, demo)
    before = await bridge.simulator.control.session(demo.account)

    await bridge.restart(lambda: bridge.simulator.control.logout(demo.account), resume_grace_s=0.5)

    assert before.logged_in
    await wait_for_message(user, room, from_=bridge.bot, contains="could not be resumed")
    await bridge.command(user, room, "ping", expect="Not logged in to WeChat")


async def test_the_qr_code_is_also_printed_on_the_terminal(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    terminal = io.StringIO()
    await bridge.restart(qr_terminal=terminal)
    await create_demo(bridge.simulator.control)
    user = await make_user("pia")
    room = await bridge.open_dm(user)

    await bridge.command(user, room, "login", expect="Starting the WeChat login")
    await wait_for_message(user, room, from_=bridge.bot, msgtype="m.image")

    printed = terminal.getvalue()
    assert f"WeChat login for {user.user_id}: scan this QR code" in printed
    rows = printed.splitlines()[1:]
    assert len(rows) > 10
    assert all(set(row) <= set("█▀▄ ") for row in rows)

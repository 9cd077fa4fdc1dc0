"""The bot's chat commands on a live login: sync, list and resolve."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import pytest

from adapters.wechat.simulator.demo import create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import (
    BridgeHarness,
    Event,
    add_namesakes,
    bot_messages,
    wait_for_message,
    wait_until,
)
from tests.service.test_login import log_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


async def test_sync_creates_every_portal_reporting_progress_and_list_shows_them(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    for n in range(1, 10):
        await control.add_contact(demo.account, f"Hiker {n}", wxid=f"wxid_hiker{n}")
    # Look-alikes: the list tells them apart by what differs (sex), else by identity id.
    await control.add_contact(demo.account, "Sam", wxid="wxid_sam_m", sex=1)
    await control.add_contact(demo.account, "Sam", wxid="wxid_sam_f", sex=2)
    await control.add_contact(demo.account, "Hiker 9", wxid="wxid_hiker9_twin")
    user = await make_user("sam")
    room, _ = await log_in(bridge, user, demo)

    sent = await user.send_text(room, "sync")
    done = await wait_for_message(user, room, from_=bridge.bot, contains="Sync done", after=sent)

    found = re.fullmatch(r"Sync done: (\d+) chats, (\d+) new rooms\.", done["content"]["body"])
    assert found, done["content"]["body"]
    total = int(found.group(1))
    assert total >= 18  # 5 friends + 10 hikers + 2 Sams + the group
    assert int(found.group(2)) == total
    progress = [
        m for m in await bot_messages(user, room, bridge.bot, after=sent) if m.startswith("Sync: ")
    ]
    assert progress[0] == f"Sync: 10 of {total} chats have a room…"
    assert len(await user.invites()) == total

    listing = await bridge.command(user, room, "list", expect="Your WeChat chats")
    body = listing["content"]["body"]
    link = r"https://matrix\.to/#/!\S+"
    assert re.search(rf"^• Alice \(work\) — {link}$", body, re.MULTILINE)
    assert re.search(rf"^• Sam · male — {link}$", body, re.MULTILINE)
    assert re.search(rf"^• Sam · female — {link}$", body, re.MULTILINE)
    assert len(re.findall(rf"^• Hiker 9 \(id \S+\) — {link}$", body, re.MULTILINE)) == 2
    assert re.search(rf"^Groups:\n• Weekend Hike — {link}$", body, re.MULTILINE)
    assert body.endswith(f"{total} chats, {total} with a room.")
    lines = body.splitlines()
    assert len(lines) == len(set(lines))  # no two lines alike
    # In clients, each chat is a room pill labelled with its name.
    html = listing["content"]["formatted_body"]
    assert re.search(r'<a href="https://matrix\.to/#/![^"]+">Alice \(work\)</a>', html)

    again = await bridge.command(user, room, "sync", expect="Sync done")
    assert again["content"]["body"] == f"Sync done: {total} chats, 0 new rooms."


async def test_sync_needs_a_login(bridge: BridgeHarness, make_user: MakeUser) -> None:
    user = await make_user("ted")
    room = await bridge.open_dm(user)

    reply = await bridge.command(user, room, "sync", expect="login")

    assert "no WeChat login yet" in reply["content"]["body"]


async def test_resolve_the_namesakes_after_a_relogin(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    demo = await create_demo(bridge.simulator.control)
    await add_namesakes(bridge.simulator.control, demo.account, "Sam")
    user = await make_user("uma")
    room, _ = await log_in(bridge, user, demo)
    await bridge.command(user, room, "resolve", expect="No chat is ambiguous")

    # After a new login WeChat's UserNames change; the two "Sam"s cannot be told apart. (The
    # demo's two "Bob"s can, once the real ids the login reveals have been read.)
    await bridge.command(user, room, "logout", expect="Logged out of WeChat")
    await log_in(bridge, user, demo)

    async def only_the_sams() -> Event | None:
        reply = await bridge.command(user, room, "resolve", expect="could each be")
        return None if "Bob" in reply["content"]["body"] else reply

    listing = await wait_until(only_the_sams)
    body = listing["content"]["body"]
    assert re.search(r"^1\. Sam — no room \(id-[0-9a-f]+\)$", body, re.MULTILINE), body
    assert re.search(r"^ +1\) Sam · male$", body, re.MULTILINE), body
    assert re.search(r"^ +2\) Sam · male$", body, re.MULTILINE), body
    listed = await bridge.command(user, room, "list", expect="Your WeChat chats")
    assert "ambiguous: could be Sam, Sam" in listed["content"]["body"]

    done = await bridge.command(user, room, "resolve 1 2", expect="Sam")

    assert done["content"]["body"] == "Sam is now Sam · male; held messages are being delivered."
    wrong = await bridge.command(user, room, "resolve id-nope 1", expect="not an ambiguous")
    assert "send `resolve`" in wrong["content"]["body"]

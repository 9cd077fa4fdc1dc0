"""A new WeChat login re-assigns every UserName: chats keep their portals and ghosts, namesakes
never get each other's messages, and a pair the bridge cannot tell apart waits for ``resolve``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from adapters.wechat.simulator.control import SimulatorControl, SimulatorControlError
from adapters.wechat.simulator.demo import Demo, create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import (
    BridgeHarness,
    accept_invite,
    add_namesakes,
    wait_for_message,
    wait_until,
)
from tests.service.test_login import log_in
from tests.service.test_messages import sent_to

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


async def open_portal(
    bridge: BridgeHarness, user: MatrixUser, known: set[str], account: str, contact: str
) -> tuple[str, str]:
    """``contact`` writes to ``account``; returns the new portal ``user`` joined and the
    ghost that posted there."""
    text = f"hello from {contact}"
    await bridge.simulator.control.send_message(account, contact, text=text)
    portal = await accept_invite(user, known)
    message = await wait_for_message(user, portal, contains=text)
    return portal, str(message["sender"])


async def relogin(bridge: BridgeHarness, user: MatrixUser, room: str, demo: Demo) -> None:
    """WeChat ends the session from the phone (1101); ``user`` logs in again: the bridge asks
    the phone to confirm (push login, PROTOCOL.md §2.5; a QR code only if that fails), and
    the user confirms there."""
    control = bridge.simulator.control
    # Each wait looks past the bot's earlier messages: an earlier "Logged in" is no answer.
    ended = str((await user.messages(room, limit=1))[-1]["event_id"])
    await control.logout(demo.account)
    await wait_for_message(
        user, room, from_=bridge.bot, contains="Logged out of WeChat", after=ended
    )
    started = await bridge.command(user, room, "login", expect="Starting the WeChat login")
    await wait_until(lambda: _confirm_on_the_phone(control, demo.account))
    await wait_for_message(
        user, room, from_=bridge.bot, contains="Logged in to WeChat as", after=started["event_id"]
    )


async def _confirm_on_the_phone(control: SimulatorControl, account: str) -> bool:
    try:
        await control.scan(account)
    except SimulatorControlError as exc:
        if exc.status == 404:  # no prompt on the phone yet
            return False
        raise
    return True


async def _user_names(control: SimulatorControl, account: str) -> dict[str, str]:
    return dict((await control.session(account)).user_names)


async def test_after_a_relogin_chats_keep_their_portals_ghosts_and_contacts(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    user = await make_user("again")
    dm, _ = await log_in(bridge, user, demo)
    known = {dm}
    people = (demo.carol, demo.bob, demo.bob_twin)
    rooms = {p: await open_portal(bridge, user, known, demo.account, p) for p in people}
    for person in (demo.bob, demo.bob_twin):
        await user.send_text(rooms[person][0], f"before, for {person}")
        await sent_to(bridge, demo.account, person, f"before, for {person}")
    before = await _user_names(control, demo.account)

    await relogin(bridge, user, dm, demo)

    after = await _user_names(control, demo.account)
    assert set(after) == set(before)
    assert not set(after.values()) & set(before.values())  # every UserName is new
    for person in people:
        text = f"after, from {person}"
        await control.send_message(demo.account, person, text=text)
        portal, ghost = rooms[person]
        message = await wait_for_message(user, portal, contains=text)
        assert message["sender"] == ghost
    for person in (demo.bob, demo.bob_twin):
        await user.send_text(rooms[person][0], f"after, for {person}")
        await sent_to(bridge, demo.account, person, f"after, for {person}")
    assert await user.invites() == []  # no new portal
    outbox = await control.outbox(demo.account)
    for person in (demo.bob, demo.bob_twin):
        assert sorted(e.text for e in outbox if e.to == person) == [
            f"after, for {person}",
            f"before, for {person}",
        ]
    assert len(await wait_until(lambda: _user_names(control, demo.account))) == len(after)


async def test_namesakes_nothing_tells_apart_wait_for_resolve_after_a_relogin(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    sam, twin = await add_namesakes(control, demo.account, "Sam")
    user = await make_user("twins")
    dm, _ = await log_in(bridge, user, demo)
    known = {dm}
    (sam_room, sam_ghost), (twin_room, twin_ghost) = [
        await open_portal(bridge, user, known, demo.account, p) for p in (sam, twin)
    ]
    await relogin(bridge, user, dm, demo)

    # Which Sam is which is unknown: nothing goes out, and what they send waits.
    refused = await user.send_text(sam_room, "are you coming?")
    notice = await wait_for_message(
        user, sam_room, from_=bridge.bot, contains="Not delivered", after=refused
    )
    assert "could be any of Sam, Sam" in notice["content"]["body"]
    assert "'resolve'" in notice["content"]["body"]
    await control.send_message(demo.account, sam, text="it is the first Sam")
    # Said once, in the management room, with what tells the candidates apart: nothing.
    held = await wait_for_message(user, dm, from_=bridge.bot, contains="message from Sam is held")
    assert "Nothing WeChat shows tells them apart" in held["content"]["body"]
    assert "same avatar" in held["content"]["body"]
    assert sam_room in held["content"]["body"] and twin_room in held["content"]["body"]
    assert not [e for e in await control.outbox(demo.account) if e.to in (sam, twin)]

    # On the phone, the user tells them apart and gives the first Sam a RemarkName.
    await control.update_contact(demo.account, sam, remark_name="Sam (climbing)")

    async def listed() -> str | None:
        reply = await bridge.command(user, dm, "resolve", expect="could each be")
        body = str(reply["content"]["body"])
        return body if "Sam (climbing)" in body else None

    body = await wait_until(listed)
    choice = _candidate_number(body, sam_room, "Sam (climbing)")
    await bridge.command(user, dm, f"resolve {sam_room} {choice}", expect="is now")
    await bridge.command(user, dm, f"resolve {twin_room} 1", expect="is now")

    held = await wait_for_message(user, sam_room, contains="it is the first Sam")
    assert held["sender"] == sam_ghost
    await control.send_message(demo.account, twin, text="and I am the other one")
    other = await wait_for_message(user, twin_room, contains="I am the other one")
    assert other["sender"] == twin_ghost
    await user.send_text(sam_room, "hi first Sam")
    await user.send_text(twin_room, "hi other Sam")
    await sent_to(bridge, demo.account, sam, "hi first Sam")
    await sent_to(bridge, demo.account, twin, "hi other Sam")
    outbox = await control.outbox(demo.account)
    assert [e.text for e in outbox if e.to == sam] == ["hi first Sam"]
    assert [e.text for e in outbox if e.to == twin] == ["hi other Sam"]


def _candidate_number(listing: str, room: str, name: str) -> int:
    """The number of candidate ``name`` under the chat of ``room`` in a ``resolve`` listing."""
    chat = listing[listing.index(room) :]
    for line in chat.splitlines()[1:]:
        number, _, described = line.strip().partition(") ")
        if described.startswith(name):
            return int(number)
    raise AssertionError(f"{name} is not a candidate of {room}:\n{listing}")


async def test_a_bridge_restart_keeps_every_chat_and_ghost(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    user = await make_user("restart")
    dm, _ = await log_in(bridge, user, demo)
    known = {dm}
    bobs = (demo.bob, demo.bob_twin)
    rooms = {bob: await open_portal(bridge, user, known, demo.account, bob) for bob in bobs}
    await control.send_message(demo.account, demo.stranger, group=demo.group, text="Eve here")
    group = await accept_invite(user, known)
    eve = (await wait_for_message(user, group, contains="Eve here"))["sender"]
    before = await _user_names(control, demo.account)

    # The restarted bridge resumes the same WeChat session: the same UserNames.
    await bridge.restart()

    for bob in bobs:
        await control.send_message(demo.account, bob, text=f"still me, {bob}")
        portal, ghost = rooms[bob]
        message = await wait_for_message(user, portal, contains=f"still me, {bob}")
        assert message["sender"] == ghost
        await user.send_text(portal, f"hi again {bob}")
        await sent_to(bridge, demo.account, bob, f"hi again {bob}")
    await control.send_message(demo.account, demo.stranger, group=demo.group, text="Eve again")
    assert (await wait_for_message(user, group, contains="Eve again"))["sender"] == eve
    assert await _user_names(control, demo.account) == before
    listing = await bridge.command(user, dm, "list", expect="Your WeChat chats")
    assert "Eve" not in listing["content"]["body"]  # a group member, not a contact

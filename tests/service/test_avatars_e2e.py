"""Avatars tell look-alikes apart, end to end (real Synapse, WeChat simulator): two friends
nothing else tells apart keep their chats across re-logins, with avatars fetched only for
look-alikes; and where even avatars cannot bind a chat, the management room says once what
tells the candidates apart and shows their avatars, and what waited across two re-logins
arrives in order on ``resolve``. No real id leaks for the people involved (the recent-chat
slots of PROTOCOL.md §11 are taken by others)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from adapters.wechat.simulator import blobs
from adapters.wechat.simulator.control import SimulatorControl
from adapters.wechat.simulator.demo import Demo, create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import (
    RECENT_FRIENDS,
    BridgeHarness,
    accept_invite,
    wait_for_message,
    wait_until,
)
from tests.service.test_identity_adversarial_e2e import relogin_after_logout
from tests.service.test_login import log_in
from tests.service.test_messages import sent_to
from tests.service.test_relogin_e2e import _candidate_number, open_portal

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.synapse]

MakeUser = Callable[[str], Awaitable[MatrixUser]]
#: Look-alikes of the book per login: the demo's two Bobs and the test's two look-alikes.
LOOK_ALIKES = 4


async def _fill_recent_chats(control: SimulatorControl, account: str) -> None:
    """Friends that take the recent-chat slots, so no real id leaks for those added later."""
    friends = [c for c in (await control.get_account(account))["contacts"] if c["friend"]]
    for n in range(len(friends), RECENT_FRIENDS):
        await control.add_contact(account, f"Neighbour {n}", wxid=f"wxid_neighbour{n}")


async def _relogin(bridge: BridgeHarness, user: MatrixUser, dm: str, demo: Demo) -> str:
    """WeChat ends the session; the user logs in again. Returns the "Logged in" event id."""
    ended = str((await user.messages(dm, limit=1))[-1]["event_id"])
    await bridge.simulator.control.logout(demo.account)
    await wait_for_message(user, dm, from_=bridge.bot, contains="Logged out of WeChat", after=ended)
    return await relogin_after_logout(bridge, user, dm, demo)


@pytest.mark.timeout(120)
async def test_look_alikes_told_apart_only_by_avatar_keep_their_chats(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    account = demo.account
    await _fill_recent_chats(control, account)
    same = {"sex": 2, "attr_status": 77}  # each has a picture of her own
    kim = await control.add_contact(account, "Kim", wxid="wxid_kim", **same)
    twin = await control.add_contact(account, "Kim", wxid="wxid_kim_twin", **same)
    book = len([c for c in (await control.get_account(account))["contacts"] if c["friend"]])
    user = await make_user("avatars")
    dm, _ = await log_in(bridge, user, demo)
    known = {dm}
    rooms = {p: (await open_portal(bridge, user, known, account, p))[0] for p in (kim, twin)}
    fetched = await control.icon_fetches(account)
    assert fetched <= LOOK_ALIKES < book, f"{fetched} avatars fetched for a book of {book}"

    for round_ in (1, 2):
        await _relogin(bridge, user, dm, demo)
        for who in (kim, twin):
            await control.send_message(account, who, text=f"round {round_} from {who}")
            await user.send_text(rooms[who], f"round {round_} to {who}")
        for who in (kim, twin):
            await wait_for_message(user, rooms[who], contains=f"round {round_} from {who}")
            await sent_to(bridge, account, who, f"round {round_} to {who}")
        # Counted once messages crossed: "Logged in" comes before the contact book, whose
        # avatars are fetched before WeChat's messages are taken in.
        now = await control.icon_fetches(account)
        assert now - fetched <= LOOK_ALIKES, f"{now - fetched} avatars fetched at a re-login"
        fetched = now

    # Zero misdeliveries either way, and no new portal for anyone.
    outbox = await control.outbox(account)
    for who in (kim, twin):
        assert sorted(e.text for e in outbox if e.to == who) == [
            f"round 1 to {who}",
            f"round 2 to {who}",
        ]
        bodies = [str(e["content"].get("body", "")) for e in await user.messages(rooms[who])]
        other = twin if who == kim else kim
        assert not [b for b in bodies if b.endswith(f"from {other}")], bodies
    assert await user.invites() == []


@pytest.mark.timeout(150)
async def test_held_messages_survive_a_second_relogin_and_arrive_in_order_on_resolve(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    account = demo.account
    await _fill_recent_chats(control, account)
    same = {"sex": 1, "attr_status": 4133}  # each has a picture of his own
    lee = await control.add_contact(account, "Lee", wxid="wxid_lee", avatar="lee", **same)
    leo = await control.add_contact(account, "Leo", wxid="wxid_leo", avatar="leo", **same)
    user = await make_user("held")
    dm, _ = await log_in(bridge, user, demo)
    known = {dm}
    lee_room, lee_ghost = await open_portal(bridge, user, known, account, lee)

    # While logged out, Leo takes Lee's NickName: after the re-login either could be Lee.
    ended = str((await user.messages(dm, limit=1))[-1]["event_id"])
    await control.logout(account)
    await wait_for_message(user, dm, from_=bridge.bot, contains="Logged out of WeChat", after=ended)
    await control.update_contact(account, leo, nickname="Lee")
    logged_in = await relogin_after_logout(bridge, user, dm, demo)
    for text in ("one", "two"):
        await control.send_message(account, lee, text=text)
    notice = await wait_for_message(
        user, dm, from_=bridge.bot, contains="message from Lee is held", after=logged_in
    )
    body = str(notice["content"]["body"])
    # The candidates are described by what tells them apart: their avatars.
    assert "Lee · avatar A" in body and "Lee · avatar B" in body, body
    assert lee_room in body and "All of them: male, AttrStatus 4133" in body, body
    # Under it, each candidate's avatar, captioned with its line of the notice: the pictures
    # the phone shows for Lee and Leo, so that the user can tell which is which.
    pictures: dict[str, bytes] = {}
    for n in (1, 2):
        image = await wait_for_message(
            user,
            dm,
            from_=bridge.bot,
            contains=f"Avatar of {n}) Lee",
            after=str(notice["event_id"]),
        )
        caption = str(image["content"]["body"])
        letter = caption.removeprefix(f"Avatar of {n}) Lee (avatar ").removesuffix(")")
        assert f"{n}) Lee · avatar {letter}" in body, (caption, body)
        assert image["content"]["msgtype"] == "m.image", image
        info = image["content"]["info"]
        assert info["mimetype"] == "image/jpeg" and (info["w"], info["h"]) == (96, 96), info
        pictures[letter] = await user.download(str(image["content"]["url"]))
    assert sorted(pictures.values()) == sorted(
        blobs.picture(f"avatar:picture:{name}") for name in ("lee", "leo")
    )

    # A second re-login: what waits stays held (not dropped, not given to the look-alike).
    await _relogin(bridge, user, dm, demo)
    await control.send_message(account, lee, text="three")
    await control.send_message(account, leo, text="from Leo")

    # On the phone, the user tells them apart with a RemarkName, then answers `resolve`.
    await control.update_contact(account, lee, remark_name="Lee (school)")

    async def listed() -> str | None:
        reply = await bridge.command(user, dm, "resolve", expect="could each be")
        text = str(reply["content"]["body"])
        return text if "Lee (school)" in text else None

    listing = await wait_until(listed)
    choice = _candidate_number(listing, lee_room, "Lee (school)")
    await bridge.command(user, dm, f"resolve {lee_room} {choice}", expect="is now")

    await wait_for_message(user, lee_room, contains="three")
    arrived = [
        str(e["content"].get("body", ""))
        for e in await user.messages(lee_room, limit=50)
        if e["sender"] == lee_ghost
    ]
    assert [b for b in arrived if b in ("one", "two", "three", "from Leo")] == [
        "one",
        "two",
        "three",
    ]
    # Leo's message opens a chat of its own.
    leo_room = await accept_invite(user, known | {lee_room})
    await wait_for_message(user, leo_room, contains="from Leo")

"""Group members who are not friends keep their ghost across a WeChat re-login, and members
the bridge cannot tell apart are held and the user told, never shown under another member's
ghost (PROTOCOL.md §3.4, §11; ``bridge.identity_members``)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import pytest

from adapters.wechat.simulator import blobs
from adapters.wechat.simulator.demo import create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import BridgeHarness, accept_invite, wait_for_message
from tests.service.test_identity_adversarial_e2e import relogin_after_logout
from tests.service.test_login import log_in

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.synapse]

MakeUser = Callable[[str], Awaitable[MatrixUser]]


@pytest.mark.timeout(180)
async def test_non_friend_members_keep_their_ghosts_and_swapped_names_are_held(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    account = demo.account
    strangers = {
        name: await control.add_contact(
            account, name, wxid=f"wxid_{name.lower()}", friend=False, avatar=name.lower()
        )
        for name in ("Uma", "Vic", "Xena", "Yara", "Zed")
    }
    garden = await control.add_group(
        account, "Garden", [demo.alice, *strangers.values()], display_names={strangers["Vic"]: "V."}
    )
    user = await make_user("gardener")
    dm, _ = await log_in(bridge, user, demo)

    # Everyone writes once: the group's portal opens, each member gets a ghost.
    await control.send_message(account, strangers["Uma"], group=garden, text="hello from Uma")
    portal = await accept_invite(user, {dm})
    ghosts = {}
    for name, wxid in strangers.items():
        text = f"hello from {name}"
        if name != "Uma":
            await control.send_message(account, wxid, group=garden, text=text)
        ghosts[name] = str((await wait_for_message(user, portal, contains=text))["sender"])
    assert len(set(ghosts.values())) == len(strangers)
    before = dict((await control.session(account)).user_names)

    # Logged out: Xena and Yara swap NickNames; Zed leaves and a look-alike Zed joins.
    ended = str((await user.messages(dm, limit=1))[-1]["event_id"])
    await control.logout(account)
    await wait_for_message(user, dm, from_=bridge.bot, contains="Logged out of WeChat", after=ended)
    await control.update_contact(account, strangers["Xena"], nickname="Yara")
    await control.update_contact(account, strangers["Yara"], nickname="Xena")
    newcomer = await control.add_contact(account, "Zed", wxid="wxid_zed_2", friend=False)
    await control.update_group(account, garden, remove=[strangers["Zed"]], add=[newcomer])
    logged_in = await relogin_after_logout(bridge, user, dm, demo)
    after = dict((await control.session(account)).user_names)
    assert all(after[w] != before[w] for w in strangers.values() if w in after)

    told = await wait_for_message(
        user, dm, from_=bridge.bot, contains="could be more than one", after=logged_in
    )
    assert int(str(told["content"]["body"]).split()[0]) == 2  # Xena and Yara
    listed = await bridge.command(user, dm, "resolve", expect="a member of Garden")
    held = dict(re.findall(r"(\w+) — a member of Garden \((\S+)\)", listed["content"]["body"]))
    assert set(held) == {"Xena", "Yara"}
    audit = await bridge.command(user, dm, "audit", expect="Identity decisions")
    assert "held Xena" in audit["content"]["body"]  # and why

    # The held members write first, the others last: once the last arrived, what the held
    # ones wrote has been placed (one ordered stream), and must not be in the portal.
    writers = {**strangers, "Zed": newcomer}
    for name in ("Xena", "Yara", "Zed", "Vic", "Uma"):
        await control.send_message(account, writers[name], group=garden, text=f"again {name}")
    senders = {}
    for name in ("Zed", "Vic", "Uma"):
        event = await wait_for_message(user, portal, contains=f"again {name}")
        senders[name] = str(event["sender"])
    assert senders["Uma"] == ghosts["Uma"] and senders["Vic"] == ghosts["Vic"]
    assert senders["Zed"] not in ghosts.values()  # the look-alike is someone new
    shown = [str(e["content"].get("body", "")) for e in await user.messages(portal, limit=50)]
    assert not any(body.startswith(("again Xena", "again Yara")) for body in shown)
    # The management room's notice of the held chat shows the candidate's avatar (fetched
    # through the group, as WeChat shows a stranger's): the member now called "Yara" has
    # Xena's own picture, which tells the user who she is.
    image = await wait_for_message(
        user, dm, from_=bridge.bot, contains="Avatar of 1) Yara", after=logged_in
    )
    picture = await user.download(str(image["content"]["url"]))
    assert picture == blobs.picture("avatar:picture:xena")

    # The user says who Xena is now (she is called "Yara"): her message comes out under her
    # own ghost, nobody else's.
    await bridge.command(user, dm, f"resolve {held['Xena']} 1", expect="is now")
    released = await wait_for_message(user, portal, contains="again Xena")
    assert released["sender"] == ghosts["Xena"]

"""Never the wrong person, against an adversary: contact books that change between WeChat
logins in the ways that fool a matcher, with no real id leaking for the people involved
(the recent-chat slots of PROTOCOL.md §11 are filled by others), across several re-logins.

Each round every original chat gets a Matrix message (checked in the simulator's outbox) and
every person or group a WeChat message (checked in the portal it lands in): a message that
reaches someone else, or lands in another person's portal, is a misdelivery. There must be
none; chats the bridge cannot tell apart are held (or made anew), never guessed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import attrs
import pytest

from adapters.wechat.simulator.demo import Demo, create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import (
    RECENT_FRIENDS,
    BridgeHarness,
    accept_invite,
    wait_for_message,
    wait_until,
)
from tests.service.test_login import log_in
from tests.service.test_relogin_e2e import _confirm_on_the_phone, open_portal

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.synapse, pytest.mark.slow]

MakeUser = Callable[[str], Awaitable[MatrixUser]]
#: How long a probe may take to show up before it counts as held.
SETTLE_S = 12.0


@attrs.define
class Chat:
    """One original chat: who it really is (wxid or group id), its portal and ghost."""

    who: str
    room: str
    ghost: str
    group: str | None = None
    speaker: str = ""  # who writes into a group


@attrs.define
class Tally:
    kept: int = 0
    held: int = 0
    new: int = 0
    misdelivered: list[str] = attrs.Factory(list)
    refused: int = 0
    sent: int = 0


class Scenario:
    def __init__(self, bridge: BridgeHarness, user: MatrixUser, demo: Demo, dm: str) -> None:
        self.bridge, self.user, self.demo, self.dm = bridge, user, demo, dm
        self.control = bridge.simulator.control
        self.chats: dict[str, Chat] = {}
        self.known_rooms = {dm}

    async def open(self, who: str, group: str | None = None, speaker: str = "") -> None:
        if group is None:
            room, ghost = await open_portal(
                self.bridge, self.user, self.known_rooms, self.demo.account, who
            )
        else:
            text = f"hello in {group}"
            await self.control.send_message(self.demo.account, speaker, group=group, text=text)
            room = await accept_invite(self.user, self.known_rooms)
            ghost = str((await wait_for_message(self.user, room, contains=text))["sender"])
        self.known_rooms.add(room)
        self.chats[who] = Chat(who, room, ghost, group, speaker)

    async def _accept_invites(self) -> None:
        for room in await self.user.invites():
            if room not in self.known_rooms:
                await self.user.join(room)
                self.known_rooms.add(room)

    async def find(self, marker: str) -> str | None:
        """The room (of those the user is in) where ``marker`` arrived, or None."""
        for room in sorted(self.known_rooms):
            for event in await self.user.messages(room, limit=100):
                if marker in str(event.get("content", {}).get("body", "")) and (
                    event.get("sender") != self.user.user_id
                ):
                    return room
        return None

    async def probe(self, label: str, people: dict[str, tuple[str, str | None]]) -> Tally:
        """Matrix → WeChat into every original portal, then WeChat → Matrix from every
        person in ``people`` (name → (wxid or speaker, group)); count where each lands."""
        tally = Tally()
        account = self.demo.account
        markers: dict[str, str] = {}
        for who, chat in self.chats.items():
            marker = f"out-{label}-{who}"
            markers[marker] = chat.group or who
            await self.user.send_text(chat.room, marker)
        deadline = time.monotonic() + SETTLE_S
        pending = set(markers)
        while pending and time.monotonic() < deadline:
            for entry in await self.control.outbox(account):
                if entry.text in pending:
                    pending.discard(entry.text)
                    if entry.to != markers[entry.text]:
                        tally.misdelivered.append(f"{entry.text} reached {entry.to}")
            await asyncio.sleep(0.3)
        tally.sent = len(markers) - len(pending)
        tally.refused = len(pending)

        origin = {chat.room: who for who, chat in self.chats.items()}
        inbound: dict[str, str] = {}
        for who, (sender, group) in people.items():
            marker = f"in-{label}-{who}"
            inbound[marker] = who
            await self.control.send_message(account, sender, group=group, text=marker)
        deadline = time.monotonic() + SETTLE_S
        pending = set(inbound)
        while pending and time.monotonic() < deadline:
            await self._accept_invites()
            for marker in sorted(pending):
                room = await self.find(marker)
                if room is None:
                    continue
                pending.discard(marker)
                owner = origin.get(room)
                if owner is None:
                    tally.new += 1
                elif owner == inbound[marker]:
                    tally.kept += 1
                else:
                    tally.misdelivered.append(f"{marker} landed in {owner}'s portal")
            await asyncio.sleep(0.3)
        tally.held = len(pending)
        print(
            f"{label}: kept {tally.kept}, held {tally.held}, newly created {tally.new}; "
            f"Matrix → WeChat sent {tally.sent}, refused {tally.refused}; "
            f"misdelivered {tally.misdelivered}"
        )
        return tally


@pytest.mark.timeout(420)
async def test_adversarial_relogins_never_misdeliver(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    account = demo.account
    friends = [c for c in (await control.get_account(account))["contacts"] if c["friend"]]
    for n in range(len(friends), RECENT_FRIENDS):  # no real id leaks for anyone added later
        await control.add_contact(account, f"Neighbour {n}", wxid=f"wxid_neighbour{n}")
    nina = await control.add_contact(account, "Nina", wxid="wxid_nina", sex=2)
    olga = await control.add_contact(account, "Olga", wxid="wxid_olga", sex=2)
    boss = await control.add_contact(account, "Peter", wxid="wxid_peter", sex=1, remark_name="Boss")
    landlord = await control.add_contact(
        account, "Paula", wxid="wxid_paula", sex=2, remark_name="Landlord"
    )
    quinn = await control.add_contact(account, "Quinn", wxid="wxid_quinn", sex=1, province="Hubei")
    club = await control.add_group(account, "Book Club", [demo.alice, demo.carol, demo.dave])
    climbing = await control.add_group(account, "Climbing", [demo.bob, nina, olga])

    user = await make_user("adversary")
    dm, _ = await log_in(bridge, user, demo)
    scenario = Scenario(bridge, user, demo, dm)
    for person in (nina, olga, boss, landlord, quinn):
        await scenario.open(person)
    await scenario.open(club, club, demo.alice)
    await scenario.open(climbing, climbing, demo.bob)

    people: dict[str, tuple[str, str | None]] = {
        p: (p, None) for p in (nina, olga, boss, landlord, quinn)
    }
    people |= {club: (demo.alice, club), climbing: (demo.bob, climbing)}
    baseline = await scenario.probe("before", people)
    assert baseline.misdelivered == []
    assert baseline.kept == len(people)

    # While the bridge is logged out: Nina and Olga swap NickNames, the user swaps the
    # RemarkNames of Boss and Landlord, Quinn is deleted and a new Quinn (same NickName,
    # Sex, Province) is added, and the book club takes the climbing group's topic.
    async def offline_changes() -> None:
        await control.update_contact(account, nina, nickname="Olga")
        await control.update_contact(account, olga, nickname="Nina")
        await control.update_contact(account, boss, remark_name="Landlord")
        await control.update_contact(account, landlord, remark_name="Boss")
        await control.delete_contact(account, quinn)
        people["quinn2"] = (
            await control.add_contact(
                account, "Quinn", wxid="wxid_quinn2", sex=1, province="Hubei"
            ),
            None,
        )
        await control.update_group(account, club, topic="Climbing")

    del people[quinn]
    tallies = []
    for round_ in range(3):
        ended = str((await user.messages(dm, limit=1))[-1]["event_id"])
        await control.logout(account)
        await wait_for_message(
            user, dm, from_=bridge.bot, contains="Logged out of WeChat", after=ended
        )
        if round_ == 0:
            await offline_changes()
        logged_in = await relogin_after_logout(bridge, user, dm, demo)
        told = await wait_for_message(
            user, dm, from_=bridge.bot, contains="could be more than one", after=logged_in
        )
        # Swapped names and remarks, and the renamed group until its real id leaks.
        assert int(str(told["content"]["body"]).split()[0]) in (4, 5)
        tallies.append(await scenario.probe(f"relogin{round_ + 1}", people))
    assert [t.misdelivered for t in tallies] == [[], [], []]

    # The audit says why the chats wait; the user answers for Nina (now called "Olga"): what
    # she sent in this session arrives in her chat, and so does what she sent under the
    # UserNames of earlier sessions, in order: her avatar proved, re-login after re-login,
    # which new contact those were (it cannot bind a held chat; only the user does).
    # `split` undoes the answer.
    audit = await bridge.command(user, dm, "audit", expect="Identity decisions")
    assert "held Nina" in audit["content"]["body"]
    nina_room = scenario.chats[nina].room
    await bridge.command(user, dm, f"resolve {nina_room} 1", expect="is now")
    await wait_for_message(user, nina_room, contains=f"in-relogin3-{nina}")
    markers = [f"in-relogin{n}-{nina}" for n in (1, 2, 3)]
    arrived = [str(e["content"].get("body", "")) for e in await user.messages(nina_room, limit=100)]
    assert [b for b in arrived if b in markers] == markers
    await bridge.command(user, dm, f"split {nina_room}", expect="no longer bound")
    await control.send_message(account, nina, text="after the split")
    elsewhere = await accept_invite(user, scenario.known_rooms)
    await wait_for_message(user, elsewhere, contains="after the split")


async def relogin_after_logout(bridge: BridgeHarness, user: MatrixUser, dm: str, demo: Demo) -> str:
    """The user logs in again (WeChat ended the session); the phone confirms. Returns the
    event id of the bot's "Logged in" message."""
    control = bridge.simulator.control
    started = await bridge.command(user, dm, "login", expect="Starting the WeChat login")
    await wait_until(lambda: _confirm_on_the_phone(control, demo.account))
    done = await wait_for_message(
        user, dm, from_=bridge.bot, contains="Logged in to WeChat as", after=started["event_id"]
    )
    return str(done["event_id"])

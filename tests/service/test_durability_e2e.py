"""Nothing is lost or doubled when the homeserver goes away for a while, or when the bridge
process is killed, in the middle of a burst of WeChat messages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

import pytest

from adapters.wechat.simulator.control import SimulatorControl
from adapters.wechat.simulator.demo import Demo, create_demo
from tests.matrix.synapse import MatrixUser, Synapse
from tests.service.harness import (
    BridgeHarness,
    BridgeProcess,
    accept_invite,
    open_dm,
    wait_for_message,
    wait_until,
)
from tests.service.test_login import log_in
from tests.wechat.conftest import SimulatorHandle

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: ``BridgeProcess`` lives in ``tests/service/harness.py``; still importable from here.
__all__ = ["BridgeProcess"]

MakeUser = Callable[[str], Awaitable[MatrixUser]]

#: Messages per contact in a burst (three contacts).
PER_CONTACT = 10


async def open_portals(
    control: SimulatorControl, user: MatrixUser, dm: str, demo: Demo
) -> dict[str, str]:
    """Alice, Carol and Dave say hello; their portals (joined) by wxid."""
    rooms: dict[str, str] = {}
    known = {dm}
    for contact in (demo.alice, demo.carol, demo.dave):
        await control.send_message(demo.account, contact, text="hello")
        rooms[contact] = await accept_invite(user, known)
        await wait_for_message(user, rooms[contact], contains="hello")
    return rooms


async def bridged_texts(user: MatrixUser, room: str) -> list[str]:
    """The bodies of the ghosts' messages in ``room`` numbered by a burst, oldest first."""
    events = await user.messages(room, limit=100)
    return [
        str(e["content"]["body"])
        for e in events
        if e.get("type") == "m.room.message" and str(e["content"].get("body", "")).startswith("#")
    ]


async def _delivered(user: MatrixUser, rooms: dict[str, str], burst_text_last: int) -> bool:
    """Whether burst message ``burst_text_last`` of every contact is in its portal."""
    for contact, room in rooms.items():
        if burst_text(contact, burst_text_last) not in await bridged_texts(user, room):
            return False
    return True


def burst_text(contact: str, n: int) -> str:
    """The text of burst message ``n`` from ``contact``."""
    return f"#{n:02d} from {contact}"


async def send_burst(
    control: SimulatorControl, account: str, contacts: Iterable[str], numbers: range
) -> None:
    """Each of ``contacts`` sends the burst messages ``numbers`` to ``account``, interleaved."""
    for n in numbers:
        for contact in contacts:
            await control.send_message(account, contact, text=burst_text(contact, n))


async def all_arrived(user: MatrixUser, rooms: dict[str, str]) -> dict[str, list[str]]:
    """Each portal's burst messages, once the last one is there everywhere."""

    async def complete() -> dict[str, list[str]] | None:
        seen = {c: await bridged_texts(user, r) for c, r in rooms.items()}
        last = PER_CONTACT - 1
        return seen if all(burst_text(c, last) in texts for c, texts in seen.items()) else None

    found: dict[str, list[str]] = await wait_until(complete, within_s=60)
    return found


async def test_a_homeserver_outage_during_a_burst_loses_and_doubles_nothing(
    bridge: BridgeHarness, make_user: MakeUser, synapse: Synapse
) -> None:
    demo = await create_demo(bridge.simulator.control)
    user = await make_user("outage")
    dm, _ = await log_in(bridge, user, demo)
    control = bridge.simulator.control
    rooms = await open_portals(control, user, dm, demo)

    await send_burst(control, demo.account, rooms, range(0, 4))
    # The homeserver stops between two sends, not during one: Synapse keeps an appservice's
    # transaction ids in memory only, so a send it took but could not answer before stopping
    # would be posted again after its restart (README, Limits).
    await wait_until(lambda: _delivered(user, rooms, burst_text_last=3), within_s=30)
    await synapse.stop()
    try:
        await send_burst(control, demo.account, rooms, range(4, PER_CONTACT))
        await asyncio.sleep(20)
    finally:
        await synapse.start()

    arrived = await all_arrived(user, rooms)
    for contact, texts in arrived.items():
        assert texts == [burst_text(contact, n) for n in range(PER_CONTACT)]


async def test_a_bridge_killed_during_a_burst_resumes_without_a_qr_and_loses_nothing(
    bridge_process: BridgeProcess, simulator: SimulatorHandle, make_user: MakeUser
) -> None:
    control, bot = simulator.control, bridge_process.bot
    demo = await create_demo(control)
    user = await make_user("killed")
    dm = await open_dm(user, bot)
    await user.send_text(dm, "login")
    qr = await wait_for_message(user, dm, from_=bot, msgtype="m.image")
    await control.scan(demo.account)
    await wait_for_message(user, dm, from_=bot, contains="Logged in to WeChat as")
    rooms = await open_portals(control, user, dm, demo)
    session, logins = await control.session(demo.account), await control.logins()

    await send_burst(control, demo.account, rooms, range(0, 5))
    await wait_until(lambda: any_burst_arrived(user, rooms))
    await bridge_process.kill()
    await send_burst(control, demo.account, rooms, range(5, PER_CONTACT))
    await bridge_process.start()

    arrived = await all_arrived(user, rooms)
    for contact, texts in arrived.items():
        assert texts == [burst_text(contact, n) for n in range(PER_CONTACT)]
    assert await control.logins() == logins  # no new QR code or push login
    resumed = await control.session(demo.account)
    assert (resumed.logged_in, resumed.self_name) == (True, session.self_name)
    later = await user.messages(dm, limit=100)
    assert not [e for e in later if e["content"].get("msgtype") == "m.image"][1:]
    assert qr["event_id"] in [e["event_id"] for e in later]


async def any_burst_arrived(user: MatrixUser, rooms: dict[str, str]) -> bool:
    """Whether a burst message is in one of ``rooms`` yet."""
    return any([await bridged_texts(user, room) for room in rooms.values()])

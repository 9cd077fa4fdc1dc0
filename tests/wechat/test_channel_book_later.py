"""The contact book after ``LoggedIn``: messages that arrive while a re-login's contact book is
still being fetched reach the right portals, in order, once the book is matched.

The real ``WeChatChannel`` against the simulator, relayed by the real ``Relay`` over a SQLite
store to the in-memory Matrix side of ``bridge.testing`` (which records what it is sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from adapters.wechat.channel import WeChatChannel, WeChatSettings
from adapters.wechat.simulator.control import SimulatorControl, SimulatorControlError
from adapters.wechat.simulator.demo import Demo
from bridge.ids import LoginId, MatrixUserId
from bridge.model import Address, LoggedIn, LoggedOut, QRCodeNeeded, StateEvent, Text
from bridge.relay import Relay, RetryPolicy
from bridge.store import Side, Store
from bridge.testing.memory import MemoryChannel
from tests.wechat.conftest import SimulatorHandle

TIMEOUT = 15.0
OWNER = Address("@owner:localhost")


async def _until(condition: Callable[[], object]) -> None:
    """Poll ``condition`` (what the in-memory side recorded) until true; fails after TIMEOUT."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():  # noqa: ASYNC110 - the recorders expose no event
            await asyncio.sleep(0.01)


async def _confirm_on_phone(control: SimulatorControl, account: str) -> None:
    """The phone confirms the waiting login (push prompt or QR code) as soon as there is one."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            try:
                await control.scan(account)
                return
            except SimulatorControlError as exc:
                if exc.status != 404:
                    raise
            await asyncio.sleep(0.02)


def _texts(matrix: MemoryChannel, chat: Address) -> list[str]:
    return [s.content.body for s in matrix.messages(chat) if isinstance(s.content, Text)]


async def test_messages_during_the_book_fetch_reach_the_right_portals_in_order(
    simulator: SimulatorHandle, demo: Demo, tmp_path: Path
) -> None:
    control = simulator.control
    store = await Store.open(tmp_path / "bridge.db", synchronous="NORMAL")
    login = await store.logins.create(MatrixUserId(OWNER), "wechat", login_id=LoginId("login-1"))
    wechat = WeChatChannel(
        WeChatSettings(base_url=simulator.base_url, session_path=tmp_path / "session.json")
    )
    matrix = MemoryChannel("matrix")
    states: list[StateEvent] = []

    async def on_state(side: Side, state: StateEvent) -> None:
        if side is Side.A:
            states.append(state)

    retry = RetryPolicy(attempts=20, first_delay_s=0.2, max_delay_s=0.5)
    relay = Relay(store, login.id, wechat, matrix, owner=OWNER, retry=retry, on_state=on_state)
    try:
        await matrix.start()
        await relay.start()
        await wechat.start()

        # First login; Alice and Carol write, and their portals open.
        await wechat.login()
        await _until(lambda: any(isinstance(s, QRCodeNeeded) for s in states))
        await control.scan(demo.account)
        await asyncio.wait_for(wechat.contact_book_loaded(), TIMEOUT)
        portals: dict[str, Address] = {}
        for who in (demo.alice, demo.carol):
            await control.send_message(demo.account, who, text=f"before from {who}")
            await _until(lambda w=who: w in _senders(matrix))
            portals[who] = _senders(matrix)[who]

        # WeChat ends the session; the re-login's contact book is slow to come.
        await control.logout(demo.account)
        await _until(lambda: any(isinstance(s, LoggedOut) for s in states))
        await control.add_fault("webwxgetcontact", delay_s=2.0)
        await wechat.login()
        await _confirm_on_phone(control, demo.account)
        await _until(lambda: sum(isinstance(s, LoggedIn) for s in states) == 2)
        book = asyncio.ensure_future(wechat.contact_book_loaded())
        await asyncio.sleep(0)
        assert not book.done(), "the book was expected to be still on its way"

        # Meanwhile (every UserName is new) Alice and Carol write, interleaved.
        during = [(demo.alice, "one"), (demo.carol, "two"), (demo.alice, "three")]
        for who, text in during:
            await control.send_message(demo.account, who, text=f"{text} from {who}")
        assert not book.done(), "the messages were sent after the book was matched"

        expected = {
            who: [f"before from {who}"] + [f"{t} from {who}" for w, t in during if w == who]
            for who in portals
        }
        await _until(lambda: all(_texts(matrix, portals[w]) == expected[w] for w in portals))
        assert book.done()
        # Nothing went anywhere else: two portals, the five messages.
        assert {s.chat for s in matrix.messages()} == set(portals.values())
        assert len(matrix.messages()) == 5
    finally:
        await relay.stop()
        await wechat.stop()
        await matrix.stop()
        await store.close()


def _senders(matrix: MemoryChannel) -> dict[str, Address]:
    """WeChat real id of the sender -> the portal its first message went to, read from the
    text "... from <real id>" of the messages sent to the Matrix side."""
    found: dict[str, Address] = {}
    for sent in matrix.messages():
        if isinstance(sent.content, Text):
            found.setdefault(sent.content.body.rsplit(" from ", 1)[-1], sent.chat)
    return found

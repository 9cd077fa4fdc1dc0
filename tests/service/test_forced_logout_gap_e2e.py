"""A long sync outage followed by a forced logout (1101): the bridge process, its receive loop
deep in its reconnect backoff, notices the logout within seconds of the network's return (it
probes with a cheap synccheck), says which messages may be missing where, and takes `login`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from adapters.wechat.simulator.demo import create_demo
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.synapse import MatrixUser
from tests.service.harness import (
    BridgeProcess,
    accept_invite,
    bot_messages,
    open_dm,
    wait_for_message,
)
from tests.service.test_hostile_appservice_e2e import sent_to
from tests.wechat.conftest import SimulatorHandle

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

MakeUser = Callable[[str], Awaitable[MatrixUser]]

#: The receive loop's backoff cap and probe interval for this test (defaults: 60 s, 5 s).
RECONNECT_MAX_S = 20
PROBE_INTERVAL_S = 1
#: How long webwxsync and synccheck fail: long enough for the backoff to reach its cap.
OUTAGE_S = 75
GAP = "may be missing"


async def test_a_forced_logout_after_a_long_outage_is_noticed_at_once_and_the_gap_told(
    bridge_setup: BridgeSetup,
    appservice: TransactionRecorder,
    simulator: SimulatorHandle,
    make_user: MakeUser,
    tmp_path: Path,
) -> None:
    control = simulator.control
    process = BridgeProcess(
        bridge_setup,
        appservice,
        simulator,
        tmp_path,
        configure=lambda raw: raw["wechat"].update(
            reconnect_max_s=RECONNECT_MAX_S, probe_interval_s=PROBE_INTERVAL_S
        ),
    )
    await process.start()
    try:
        user = await make_user("gap")
        demo = await create_demo(control)
        dm = await open_dm(user, process.bot)
        await user.send_text(dm, "login")
        await wait_for_message(user, dm, from_=process.bot, msgtype="m.image")
        await control.scan(demo.account)
        await wait_for_message(user, dm, from_=process.bot, contains="Logged in to WeChat as")
        portals: dict[str, str] = {}
        for contact in (demo.alice, demo.carol):
            await control.send_message(demo.account, contact, text="hello")
            portals[contact] = await accept_invite(user, {dm, *portals.values()})
            await wait_for_message(user, portals[contact], contains="hello")

        for endpoint in ("synccheck", "webwxsync"):
            await control.add_fault(endpoint, drop=True, count=None)
        started = time.monotonic()
        try:
            await wait_for_message(
                user, dm, from_=process.bot, contains="connection to WeChat is failing", within_s=60
            )
            # Sending still works: Alice's portal has traffic in the gap, Carol's none.
            await user.send_text(portals[demo.alice], "sent during the outage")
            await sent_to(control, demo.account, demo.alice, "sent during the outage")
            await control.send_message(demo.account, demo.alice, text="never fetched")
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - started)))
        finally:
            await control.clear_faults()
        await asyncio.sleep(2)
        await control.logout(demo.account, retcode=1101)
        ended = time.monotonic()

        # Noticed within seconds, not at the end of a 20 s backoff.
        await wait_for_message(
            user, dm, from_=process.bot, contains="Logged out of WeChat", within_s=30
        )
        assert time.monotonic() - ended < 10
        alice_notice = await wait_for_message(
            user, portals[demo.alice], from_=process.bot, contains=GAP
        )
        assert "between" in alice_notice["content"]["body"]
        told = await wait_for_message(user, dm, from_=process.bot, contains=GAP)
        assert "until you log in again" in told["content"]["body"]
        assert not [
            m for m in await bot_messages(user, portals[demo.carol], process.bot) if GAP in m
        ]

        # `login` is taken, not refused as if still logged in.
        sent = await user.send_text(dm, "login")
        reply = await wait_for_message(user, dm, from_=process.bot, after=sent)
        assert "already logged in" not in reply["content"]["body"]
        await wait_for_message(user, dm, from_=process.bot, msgtype="m.image", after=sent)
        await control.scan(demo.account)
        await wait_for_message(
            user, dm, from_=process.bot, contains="Logged in to WeChat as", after=sent
        )
        await control.send_message(demo.account, demo.alice, text="after the new login")
        await wait_for_message(user, portals[demo.alice], contains="after the new login")
    finally:
        await control.clear_faults()
        await process.close()

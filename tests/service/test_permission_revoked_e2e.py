"""A user whose permission is withdrawn: after a restart of the bridge process their login
stays stopped (nothing is relayed either way, the user is told once), and an admin logs it out."""

from __future__ import annotations

import asyncio
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
    wait_until,
)
from tests.wechat.conftest import SimulatorHandle

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]

WITHDRAWN = "Your permission to use this bridge was withdrawn"


async def restarted(
    process: BridgeProcess,
    setup: BridgeSetup,
    recorder: TransactionRecorder,
    simulator: SimulatorHandle,
    folder: Path,
    permissions: dict[str, str],
) -> BridgeProcess:
    """``process`` ended (SIGTERM) and a new one started on the same database with
    ``permissions``."""
    await process.close()
    again = BridgeProcess(
        setup,
        recorder,
        simulator,
        folder,
        configure=lambda raw: raw.update(permissions=permissions),
    )
    await again.start()
    return again


async def test_a_withdrawn_permission_stops_the_login_and_an_admin_logs_it_out(
    bridge_setup: BridgeSetup,
    appservice: TransactionRecorder,
    simulator: SimulatorHandle,
    make_user: MakeUser,
    tmp_path: Path,
) -> None:
    control = simulator.control
    process = BridgeProcess(bridge_setup, appservice, simulator, tmp_path)
    await process.start()
    try:
        user, admin = await make_user("revoked"), await make_user("admin")
        demo = await create_demo(control)
        dm = await open_dm(user, process.bot)
        await user.send_text(dm, "login")
        await wait_for_message(user, dm, from_=process.bot, msgtype="m.image")
        await control.scan(demo.account)
        await wait_for_message(user, dm, from_=process.bot, contains="Logged in to WeChat as")
        await control.send_message(demo.account, demo.alice, text="hello")
        portal = await accept_invite(user, {dm})
        await wait_for_message(user, portal, contains="hello")
        revoked = {"localhost": "user", user.user_id: "none", admin.user_id: "admin"}

        process = await restarted(process, bridge_setup, appservice, simulator, tmp_path, revoked)
        told = await wait_for_message(user, dm, from_=process.bot, contains=WITHDRAWN)

        # Nothing is relayed either way.
        await control.send_message(demo.account, demo.alice, text="while revoked")
        await user.send_text(portal, "reply while revoked")
        await wait_for_message(user, portal, from_=process.bot, contains="Not delivered")
        await asyncio.sleep(5)
        assert "while revoked" not in [
            e["content"].get("body") for e in await user.messages(portal, limit=50)
        ]
        sent = [e.text for e in await control.outbox(demo.account)]
        assert "reply while revoked" not in sent
        # The user's own commands are refused, their logout too.
        await user.send_text(dm, "logout")
        await wait_for_message(user, dm, from_=process.bot, contains="not allowed")

        # Told once: another restart says nothing new.
        process = await restarted(process, bridge_setup, appservice, simulator, tmp_path, revoked)
        await asyncio.sleep(3)
        assert [m for m in await bot_messages(user, dm, process.bot) if WITHDRAWN in m] == [
            told["content"]["body"]
        ]

        # A plain user may not log others out; the admin may.
        other = await make_user("plain")
        other_dm = await open_dm(other, process.bot)
        await other.send_text(other_dm, f"logout {user.user_id}")
        await wait_for_message(other, other_dm, from_=process.bot, contains="Only an admin")
        assert (await control.session(demo.account)).logged_in

        admin_dm = await open_dm(admin, process.bot)
        await admin.send_text(admin_dm, f"logout {user.user_id}")
        await wait_for_message(
            admin, admin_dm, from_=process.bot, contains=f"Logged {user.user_id} out of WeChat"
        )
        await wait_for_message(user, dm, from_=process.bot, contains="administrator logged you out")

        async def logged_out() -> bool:
            return not (await control.session(demo.account)).logged_in

        await wait_until(logged_out, within_s=10)
        # The message sent meanwhile never reached Matrix.
        bodies = [e["content"].get("body") for e in await user.messages(portal, limit=100)]
        assert "while revoked" not in bodies
    finally:
        await process.close()

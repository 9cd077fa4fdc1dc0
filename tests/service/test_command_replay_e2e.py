"""A bot command the homeserver sends again under another transaction id runs only once,
also after a restart of the bridge."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from tests.matrix.synapse import MatrixUser
from tests.service.harness import BridgeHarness, bot_messages, wait_for_message, wire_event

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


async def replay(bridge: BridgeHarness, event_id: str, txn_id: str) -> int:
    """PUT the recorded event ``event_id`` to the bridge's appservice as transaction
    ``txn_id`` (as a homeserver that renumbered its transactions would); the HTTP status."""
    [event] = [e for e in bridge.recorder.events if e.event_id == event_id]
    appservice = bridge.config.appservice
    url = f"http://127.0.0.1:{appservice.port}/_matrix/app/v1/transactions/{txn_id}"
    headers = {"Authorization": f"Bearer {appservice.hs_token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.put(url, json={"events": [wire_event(event)]}, headers=headers) as resp,
    ):
        return resp.status


async def test_a_replayed_command_is_not_executed_again(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    user = await make_user("replayed")
    dm = await bridge.open_dm(user)
    ping = await user.send_text(dm, "ping")
    await wait_for_message(user, dm, from_=bridge.bot, contains="Not logged in", after=ping)

    assert await replay(bridge, ping, "replay-a") == 200
    assert await replay(bridge, ping, "replay-b") == 200
    await bridge.restart()
    assert await replay(bridge, ping, "replay-c") == 200
    await bridge.service.hub.drain_commands()
    second = await user.send_text(dm, "ping")
    await wait_for_message(user, dm, from_=bridge.bot, contains="Not logged in", after=second)

    replies = [b for b in await bot_messages(user, dm, bridge.bot, after=ping) if "Not logged" in b]
    assert len(replies) == 2  # one per ping the user sent

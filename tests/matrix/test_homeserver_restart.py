"""The homeserver going down and coming back: bounded failures, then everything resumes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from adapters.matrix import content
from adapters.matrix.api import AppserviceAPI
from adapters.matrix.errors import MatrixUnavailable
from adapters.matrix.types import RoomId, UserId
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.synapse import MatrixUser, Synapse

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


async def test_requests_fail_fast_while_down_and_work_after_restart(
    synapse: Synapse,
    as_api: AppserviceAPI,
    appservice: TransactionRecorder,
    bridge_setup: BridgeSetup,
    make_user: MakeUser,
) -> None:
    alice = await make_user("alice")
    ghost = UserId(bridge_setup.config.ghost_user_id("Restart"))
    await as_api.ensure_registered(ghost)
    room_id = await as_api.create_room(as_user=ghost, invite=[UserId(alice.user_id)])
    await alice.join(room_id)

    await synapse.stop()
    try:
        with pytest.raises(MatrixUnavailable) as down:
            await as_api.send_message(room_id, content.text("while down"), as_user=ghost)
        assert down.value.retryable
    finally:
        await synapse.start()

    event_id = await as_api.send_message(room_id, content.text("after restart"), as_user=ghost)
    assert (await alice.event(room_id, event_id))["content"]["body"] == "after restart"
    user_event = await alice.send_text(RoomId(room_id), "still there?")
    arrived = await appservice.wait_for(lambda e: e.event_id == user_event)
    assert arrived.content["body"] == "still there?"

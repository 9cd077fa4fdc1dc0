"""The bridge process's appservice under hostile and oversized transactions: a flood of huge
invites from a stranger, a 1.5 MB transaction, deep JSON nesting; Matrix -> WeChat goes on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from adapters.wechat.simulator.control import OutboxEntry, SimulatorControl
from adapters.wechat.simulator.demo import Demo, create_demo
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.synapse import MatrixUser, Synapse
from tests.service.harness import (
    BridgeProcess,
    accept_invite,
    open_dm,
    wait_for_message,
    wait_until,
)
from tests.wechat.conftest import SimulatorHandle

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]

#: The stranger the process's config gives permission ``none``.
FLOODER = "hostile-flooder"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def flooder(synapse: Synapse) -> MatrixUser:
    """A homeserver user the bridge refuses (registered once per session)."""
    return await synapse.register_user(FLOODER)


def configure_bridge(raw: dict[str, Any]) -> None:
    """The ``bridge_process`` config: ``@hostile-flooder`` has permission none."""
    raw["permissions"] = {"localhost": "user", f"@{FLOODER}:localhost": "none"}


async def logged_in_portal(
    process: BridgeProcess, control: SimulatorControl, user: MatrixUser
) -> tuple[Demo, str]:
    """``user`` logs the demo account in through the bot; Alice opens a portal (joined)."""
    demo = await create_demo(control)
    dm = await open_dm(user, process.bot)
    await user.send_text(dm, "login")
    await wait_for_message(user, dm, from_=process.bot, msgtype="m.image")
    await control.scan(demo.account)
    await wait_for_message(user, dm, from_=process.bot, contains="Logged in to WeChat as")
    await control.send_message(demo.account, demo.alice, text="hello")
    portal = await accept_invite(user, {dm})
    await wait_for_message(user, portal, contains="hello")
    return demo, portal


async def sent_to(
    control: SimulatorControl, account: str, to: str, text: str, within_s: float = 30
) -> OutboxEntry:
    """The outbox entry of ``account`` sending ``text`` to ``to`` (waits ``within_s``)."""

    async def find() -> OutboxEntry | None:
        return next(
            (e for e in await control.outbox(account) if e.to == to and e.text == text), None
        )

    found: OutboxEntry = await wait_until(find, within_s=within_s)
    return found


def wire_size(events: Any) -> int:
    """Bytes of ``events`` as JSON."""
    return len(json.dumps([dict(e.content) for e in events]))


async def test_an_invite_flood_over_a_mebibyte_does_not_wedge_the_appservice(
    bridge_process: BridgeProcess,
    simulator: SimulatorHandle,
    appservice: TransactionRecorder,
    flooder: MatrixUser,
    make_user: MakeUser,
) -> None:
    control = simulator.control
    user = await make_user("flooded")
    demo, portal = await logged_in_portal(bridge_process, control, user)
    rooms = [await flooder.create_room() for _ in range(40)]
    reason = "x" * 60_000
    already = len(appservice.transactions)

    invite = {"user_id": bridge_process.bot, "reason": reason}
    # Synapse batches what it queues while a transaction is in flight: hold the first invite's
    # transaction until the others had time to join its queue, so they arrive as one batch
    # over 1 MiB however loaded the machine is.
    async with appservice.held():
        await asyncio.gather(
            *(flooder.request("POST", f"/v3/rooms/{room}/invite", invite) for room in rooms)
        )
        await appservice.transaction_waiting()
        await asyncio.sleep(3)
    await user.send_text(portal, "still bridged after the flood")

    await sent_to(control, demo.account, demo.alice, "still bridged after the flood", within_s=20)
    flood = appservice.transactions[already:]
    assert max(wire_size(t.events) for t in flood) > 1024 * 1024  # Synapse did batch them
    invited = [e for t in flood for e in t.events if e.membership == "invite"]
    assert {e.room_id for e in invited} >= set(rooms)
    for room in rooms[:3]:  # refused: the bot said so and left
        events = await flooder.messages(room)
        assert any(e["sender"] == bridge_process.bot for e in events)


async def test_a_1_5_mb_transaction_is_accepted_and_delivered(
    bridge_process: BridgeProcess,
    simulator: SimulatorHandle,
    bridge_setup: BridgeSetup,
    make_user: MakeUser,
) -> None:
    control = simulator.control
    user = await make_user("bigtxn")
    demo, portal = await logged_in_portal(bridge_process, control, user)
    # 20 texts for Alice (WeChat throttles an account sending much faster) among 80 topic
    # changes the bridge does not carry: 100 events of ~15 KB, Synapse's per-transaction count.
    texts = [f"{n:03d} " + "y" * 15_000 for n in range(20)]
    events: list[dict[str, Any]] = [
        {
            "event_id": f"$bigtxn-topic-{n}",
            "room_id": portal,
            "sender": user.user_id,
            "type": "m.room.topic",
            "state_key": "",
            "origin_server_ts": 1_700_000_000_000 + n,
            "content": {"topic": "z" * 15_000},
        }
        for n in range(80)
    ]
    for n, text in enumerate(texts):
        events.insert(
            n * 5,
            {
                "event_id": f"$bigtxn-{n}",
                "room_id": portal,
                "sender": user.user_id,
                "type": "m.room.message",
                "origin_server_ts": 1_700_000_001_000 + n,
                "content": {"msgtype": "m.text", "body": text},
            },
        )
    body = json.dumps({"events": events}).encode()
    assert len(body) > 1_500_000

    status = await put_transaction(bridge_process, bridge_setup, "bigtxn-1", body)

    assert status == 200
    await sent_to(control, demo.account, demo.alice, texts[-1], within_s=60)
    outbox = [e.text for e in await control.outbox(demo.account) if e.text in texts]
    assert outbox == texts


async def test_deep_nesting_is_refused_with_400_and_the_process_goes_on(
    bridge_process: BridgeProcess, bridge_setup: BridgeSetup
) -> None:
    deep = b'{"events": [' + b"[" * 200_000 + b"]" * 200_000 + b"]}"
    assert await put_transaction(bridge_process, bridge_setup, "deep-1", deep) == 400
    assert await put_transaction(bridge_process, bridge_setup, "deep-2", deep, token="no") == 403
    fine = json.dumps({"events": []}).encode()
    assert await put_transaction(bridge_process, bridge_setup, "after-deep", fine) == 200


async def put_transaction(
    process: BridgeProcess,
    setup: BridgeSetup,
    txn_id: str,
    body: bytes,
    token: str | None = None,
) -> int:
    """PUT ``body`` as transaction ``txn_id`` to the process's appservice; the HTTP status."""
    token = token or setup.config.appservice.hs_token
    url = f"http://127.0.0.1:{process.port}/_matrix/app/v1/transactions/{txn_id}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http,
        http.put(url, data=body, headers=headers) as resp,
    ):
        await resp.read()
        return resp.status


@pytest.mark.timeout(240)
async def test_an_event_that_keeps_failing_is_skipped_and_the_rest_goes_on(
    bridge_process: BridgeProcess, simulator: SimulatorHandle, make_user: MakeUser
) -> None:
    control = simulator.control
    user = await make_user("stuck")
    demo, portal = await logged_in_portal(bridge_process, control, user)
    # Media on a server this homeserver cannot reach: every download fails with a 5xx.
    image = {"msgtype": "m.image", "body": "x.png", "url": "mxc://unreachable.invalid/abc"}
    await user.request("PUT", f"/v3/rooms/{portal}/send/m.room.message/stuck-1", image)
    await user.send_text(portal, "after the unreachable image")

    await sent_to(control, demo.account, demo.alice, "after the unreachable image", within_s=150)
    notice = await wait_for_message(
        user, portal, from_=bridge_process.bot, contains="Not delivered"
    )
    assert notice["content"]["msgtype"] == "m.notice"

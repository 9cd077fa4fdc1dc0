"""A file the user posts in a portal is downloaded by that chat's queue, never while the
appservice transaction is handled: a slow Matrix download in one portal does not delay a text
in another, and the journal holds a reference, not the file (issue 7, deliverable 4).

The running service reaches Synapse through ``SlowMedia``, which holds the file's download.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import pytest_asyncio

from adapters.wechat.simulator import blobs
from adapters.wechat.simulator.control import OutboxEntry
from adapters.wechat.simulator.demo import create_demo
from bridge.service import BridgeService
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.slowmedia import SlowMedia
from tests.matrix.synapse import MatrixUser, Synapse
from tests.service.harness import BridgeHarness, accept_invite, wait_for_message, wait_until
from tests.service.test_login import log_in
from tests.wechat.conftest import SimulatorHandle

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]

VIDEO_SIZE = 3 * 1024 * 1024


@pytest_asyncio.fixture(loop_scope="session")
async def slow_bridge(
    bridge_setup: BridgeSetup,
    appservice: TransactionRecorder,
    synapse: Synapse,
    simulator: SimulatorHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[BridgeHarness, SlowMedia]]:
    """A started service whose client-server requests go through ``SlowMedia``."""
    proxy = SlowMedia(synapse.url)
    await proxy.start()
    harness = BridgeHarness(
        bridge_setup.config, appservice, synapse, simulator, tmp_path_factory.mktemp("slowhs")
    )
    homeserver = attrs.evolve(harness.config.homeserver, address=proxy.url)
    harness.config = attrs.evolve(harness.config, homeserver=homeserver)
    harness.service = BridgeService(harness.config)
    await harness.start()
    try:
        yield harness, proxy
    finally:
        await harness.close()
        await proxy.close()


def _journal_payloads(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [row[0] for row in conn.execute("SELECT payload FROM journal ORDER BY id")]


async def _outbox(bridge: BridgeHarness, account: str, to: str) -> list[OutboxEntry]:
    return [e for e in await bridge.simulator.control.outbox(account) if e.to == to]


async def test_a_held_matrix_download_delays_neither_the_transaction_nor_another_portal(
    slow_bridge: tuple[BridgeHarness, SlowMedia], make_user: MakeUser
) -> None:
    bridge, proxy = slow_bridge
    control = bridge.simulator.control
    demo = await create_demo(control)
    user = await make_user("heldfile")
    dm, _ = await log_in(bridge, user, demo)
    known = {dm}
    await control.send_message(demo.account, demo.carol, text="carol's chat")
    chat_a = await accept_invite(user, known)
    await wait_for_message(user, chat_a, contains="carol's chat")
    await control.send_message(demo.account, demo.dave, text="dave's chat")
    chat_b = await accept_invite(user, known)
    await wait_for_message(user, chat_b, contains="dave's chat")

    video = blobs.mp4("held video", VIDEO_SIZE)
    url = await user.upload(video, mimetype="video/mp4", filename="held.mp4")
    proxy.hold(url)
    content: dict[str, Any] = {
        "msgtype": "m.video",
        "body": "held.mp4",
        "url": url,
        "info": {"mimetype": "video/mp4", "size": VIDEO_SIZE, "duration": 5000},
    }
    video_event = await user.send(chat_a, content)
    # The homeserver's transaction with the video was answered while its download is held.
    await bridge.recorder.wait_for(lambda e: e.event_id == video_event)
    await wait_until(lambda: _async_true(proxy.waiting.is_set()), within_s=30)

    await user.send(chat_b, {"msgtype": "m.text", "body": "meanwhile for dave"})
    texts = await wait_until(
        lambda: _texts_to(bridge, demo.account, demo.dave, "meanwhile for dave"), within_s=30
    )
    assert texts and await _outbox(bridge, demo.account, demo.carol) == []
    assert not proxy.release.is_set()

    # The journal names the file by its mxc URI; its bytes are nowhere in the database.
    db_path = bridge.config.database.path
    [payload] = [p for p in _journal_payloads(db_path) if url in p]
    assert len(payload) < 4000
    wal = db_path.with_name(db_path.name + "-wal")
    stored = db_path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert video[VIDEO_SIZE // 2 : VIDEO_SIZE // 2 + 64] not in stored

    proxy.release.set()

    async def carols_video() -> OutboxEntry | None:
        found = await _outbox(bridge, demo.account, demo.carol)
        return found[0] if found else None

    entry: OutboxEntry = await wait_until(carols_video, within_s=60)
    assert (entry.kind, entry.filename) == ("video", "held.mp4")
    assert entry.sha256 == hashlib.sha256(video).hexdigest()
    assert await control.media(entry.sha256) == video
    spool = db_path.with_name(db_path.name + ".media")
    await wait_until(lambda: _async_true(not list(spool.glob("*"))), within_s=10)


async def _texts_to(bridge: BridgeHarness, account: str, to: str, text: str) -> bool:
    return any(e.kind == "text" and e.text == text for e in await _outbox(bridge, account, to))


async def _async_true(value: bool) -> bool:
    return value

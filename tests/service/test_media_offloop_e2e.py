"""A large WeChat file is fetched by its own chat's queue, never by the receive loop, and its
bytes never enter the journal (issue 7, deliverable 4)."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from adapters.wechat.simulator import blobs, phone
from adapters.wechat.simulator.demo import create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import (
    BridgeHarness,
    accept_invite,
    wait_for_event,
    wait_for_message,
    wait_until,
)
from tests.service.test_login import log_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]

VIDEO_SIZE = 20 * 1024 * 1024
#: How long the simulator holds the video download before it starts sending it.
DOWNLOAD_DELAY_S = 20.0


def _database_bytes(db_path: Path) -> bytes:
    """The database file and its write-ahead log, as they are on disk."""
    wal = db_path.with_name(db_path.name + "-wal")
    return db_path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _journal_payloads(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [row[0] for row in conn.execute("SELECT payload FROM journal ORDER BY id")]


def _assert_no_media_bytes(db_path: Path, video: bytes) -> None:
    """Neither the raw bytes nor their base64 of any part of ``video`` are in the database."""
    stored = _database_bytes(db_path)
    for offset in (3 * 1000, 3 * 1_000_000, VIDEO_SIZE - 3 * 1000):
        piece = video[offset : offset + 48]
        assert piece not in stored
        assert base64.b64encode(piece) not in stored  # 3-byte aligned: as in a whole encoding


async def test_a_slow_20mb_video_in_one_chat_does_not_delay_a_text_in_another(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    world = bridge.simulator.running.world
    demo = await create_demo(control)
    user = await make_user("slowvideo")
    dm, _ = await log_in(bridge, user, demo)
    known = {dm}
    await control.send_message(demo.account, demo.carol, text="carol's chat")
    chat_a = await accept_invite(user, known)
    await wait_for_message(user, chat_a, contains="carol's chat")
    await control.send_message(demo.account, demo.dave, text="dave's chat")
    chat_b = await accept_invite(user, known)
    await wait_for_message(user, chat_b, contains="dave's chat")

    # Carol sends a 20 MB video; WeChat is slow to serve it.
    await control.add_fault("webwxgetvideo", delay_s=DOWNLOAD_DELAY_S, count=1)
    video = blobs.mp4("slow holiday video", VIDEO_SIZE)
    account = world.accounts[demo.account]
    spec = {"type": "video", "from": demo.carol, "play_length_s": 42}
    # In process: the control API takes bodies up to 8 MiB, a base64 20 MB video is more.
    phone.incoming(world, account, {**spec, "data_base64": base64.b64encode(video).decode()})
    # The bridge has asked for the video when the one-shot fault is used up.
    await wait_until(lambda: _async_true(not world.faults), within_s=30)
    asked_at = time.monotonic()

    await control.send_message(demo.account, demo.dave, text="meanwhile in another chat")
    text = await wait_for_message(user, chat_b, contains="meanwhile in another chat")
    waited = time.monotonic() - asked_at
    assert waited < DOWNLOAD_DELAY_S / 2, f"the text waited {waited:.1f} s for the video"
    in_a = await user.messages(chat_a, limit=20)
    assert not any(e["content"].get("msgtype") == "m.video" for e in in_a), "video came early"
    assert text["content"]["body"] == "meanwhile in another chat"

    # While the download is in progress, the journal holds a reference, not the file.
    db_path = bridge.config.database.path
    _assert_no_media_bytes(db_path, video)
    [ref] = [p for p in _journal_payloads(db_path) if '"media_kind", "value": "video"' in p]
    assert '\\"call\\": \\"video\\"' in ref
    session = account.live_session()
    assert session is not None
    for secret in (session.skey, session.pass_ticket, session.sid, session.data_ticket):
        assert secret not in ref

    # Then the video itself arrives, byte for byte, and its spooled copy is removed.
    movie = await wait_for_event(
        user,
        chat_a,
        lambda e: e.get("content", {}).get("msgtype") == "m.video",
        within_s=DOWNLOAD_DELAY_S + 90,
    )
    content = movie["content"]
    assert content["info"]["size"] == VIDEO_SIZE
    assert content["info"]["duration"] == 42_000
    downloaded = await user.download(content["url"])
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(video).digest()
    _assert_no_media_bytes(db_path, video)
    spool = db_path.with_name(db_path.name + ".media")
    await wait_until(lambda: _async_true(not list(spool.glob("*"))), within_s=10)


async def _async_true(value: bool) -> bool:
    return value

"""itchat-uos, a real third-party client, logs into the simulator and chats (PROTOCOL.md §13)."""

from __future__ import annotations

import asyncio
import hashlib
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.wechat.simulator import blobs
from adapters.wechat.simulator.demo import Demo
from tests.wechat.conftest import SimulatorHandle

itchat = pytest.importorskip("itchat")
pytestmark = pytest.mark.filterwarnings("ignore:setDaemon:DeprecationWarning")

Message = dict[str, Any]


def next_message(instance: Any, wanted: Callable[[Message], bool], timeout: float = 15) -> Message:
    """Block (in a worker thread) until itchat's receive loop queues a matching message."""
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while not deadline.is_set():
            try:
                message: Message = instance.msgList.get(timeout=0.2)
            except queue.Empty:
                continue
            if wanted(message):
                return message
        raise AssertionError("itchat did not receive the expected message")
    finally:
        timer.cancel()


async def test_itchat_uos_logs_in_lists_receives_sends_and_revokes(
    simulator: SimulatorHandle, demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(itchat.config, "BASE_URL", simulator.base_url)
    loop = asyncio.get_running_loop()
    control = simulator.control
    instance = itchat.new_instance()
    exited = threading.Event()

    def on_qr(uuid: str, status: str, qrcode: bytes) -> None:
        if status == "0":  # the QR is shown: the demo phone scans and confirms it
            asyncio.run_coroutine_threadsafe(control.scan(demo.account, uuid), loop).result(10)

    await asyncio.to_thread(
        instance.login, qrCallback=on_qr, loginCallback=lambda: None, exitCallback=exited.set
    )
    try:
        session = await control.session(demo.account)
        assert session.uos  # itchat-uos sends client-version/extspam and mod=desktop
        names = session.user_names

        # Lists: its own parsing of webwxinit/webwxgetcontact.
        friends = {f["UserName"]: f for f in instance.get_friends()}
        assert friends[names[demo.alice]]["RemarkName"] == "Alice (work)"
        assert friends[names[demo.carol]]["Alias"] == "carol_w"
        assert friends[names[demo.dave]]["NickName"] == "Dave \U0001f600"
        assert sorted(f["NickName"] for f in friends.values()).count("Bob") == 2
        rooms = instance.get_chatrooms()
        assert [(r["UserName"], r["NickName"]) for r in rooms] == [
            (names[demo.group], "Weekend Hike")
        ]

        # Receive a 1:1 text and a group text (ActualUserName from the @prefix).
        direct = await control.send_message(demo.account, demo.alice, text="hi\nthere & you")
        got = await asyncio.to_thread(next_message, instance, lambda m: m.get("MsgId") == direct)
        assert (got["Type"], got["Text"]) == ("Text", "hi\nthere & you")
        assert got["FromUserName"] == names[demo.alice]
        grouped = await control.send_message(demo.account, demo.carol, group=demo.group, text="yo")
        got = await asyncio.to_thread(next_message, instance, lambda m: m.get("MsgId") == grouped)
        assert got["ActualUserName"] == names[demo.carol]
        assert got["ActualNickName"] == "Carol W." and got["Text"] == "yo"

        # Send a text and a two-chunk image; revoke the text.
        to = names[demo.alice]
        sent = await asyncio.to_thread(instance.send_msg, "hello from itchat", to)
        assert sent["BaseResponse"]["Ret"] == 0
        image = tmp_path / "photo.jpg"
        image.write_bytes(blobs.jpeg("itchat", 600_000))
        shown = await asyncio.to_thread(instance.send_image, str(image), to)
        assert shown["BaseResponse"]["Ret"] == 0
        echo = await asyncio.to_thread(
            next_message, instance, lambda m: m.get("MsgId") == sent["MsgID"]
        )
        assert echo["FromUserName"] == session.self_name and echo["Text"] == "hello from itchat"
        revoked = await asyncio.to_thread(instance.revoke, sent["MsgID"], to)
        assert revoked["BaseResponse"]["Ret"] == 0

        outbox = await control.outbox(demo.account)
        assert [(e.kind, e.to) for e in outbox] == [
            ("text", demo.alice),
            ("image", demo.alice),
            ("revoke", demo.alice),
        ]
        assert outbox[0].text == "hello from itchat" and outbox[0].msg_id == sent["MsgID"]
        assert outbox[1].sha256 == hashlib.sha256(image.read_bytes()).hexdigest()
        assert outbox[2].msg_id == sent["MsgID"]
    finally:
        instance.alive = False
        if (await control.session(demo.account)).logged_in:
            await control.logout(demo.account, retcode=1101)  # releases its held synccheck
        assert await asyncio.to_thread(exited.wait, 15)

"""itchat 1.3.10 (PyPI, 2017), a second real client written independently of this project,
logs into the unmodified simulator and chats (PROTOCOL.md §2.4 XML-body login path, §13).

It installs the same ``itchat`` module as itchat-uos, so ``scripts/bootstrap.sh`` puts it in
``.venv/itchat-1.3.10`` and the test runs it in a subprocess (``itchat_driver.py``) with
PYTHONPATH pointing there. Nothing in itchat is patched or wrapped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.wechat.simulator import blobs
from adapters.wechat.simulator.demo import Demo
from tests.wechat.conftest import SimulatorHandle

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / ".venv" / "itchat-1.3.10"
DRIVER = Path(__file__).resolve().parent / "itchat_driver.py"
MARK = "@@itchat-driver@@ "  # as in itchat_driver.py


class Driver:
    """The itchat subprocess: JSON commands in, JSON events out."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output: list[str] = []  # itchat's own lines (log, tracebacks), for failures

    async def event(self, wait_s: float = 30) -> dict[str, Any]:
        """The next event line (itchat's own output on stdout is skipped)."""
        assert self.process.stdout is not None
        async with asyncio.timeout(wait_s):
            while True:
                line = (await self.process.stdout.readline()).decode("utf-8", "replace")
                assert line, "itchat 1.3.10 exited early:\n" + "".join(self.output[-40:])
                if MARK in line:
                    event: dict[str, Any] = json.loads(line.split(MARK, 1)[1])
                    return event
                self.output.append(line)

    async def ask(self, wait_s: float = 30, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        return await self.event(wait_s)


@pytest.fixture
async def itchat_1310(simulator: SimulatorHandle) -> AsyncIterator[Driver]:
    if not (TARGET / "itchat" / "__init__.py").is_file():
        pytest.fail(f"itchat 1.3.10 is not installed in {TARGET}: run scripts/bootstrap.sh")
    env = {**os.environ, "PYTHONPATH": str(TARGET), "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(DRIVER),
        simulator.base_url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=str(TARGET.parent),
    )
    try:
        yield Driver(process)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_itchat_1310_logs_in_lists_receives_sends_revokes_and_sees_1101(
    simulator: SimulatorHandle, demo: Demo, itchat_1310: Driver, tmp_path: Path
) -> None:
    control = simulator.control
    qr = await itchat_1310.event()
    assert qr["event"] == "qr"
    await control.scan(demo.account, qr["uuid"])
    logged_in = await itchat_1310.event()
    assert logged_in == {"event": "logged_in", "version": "1.3.10"}
    session = await control.session(demo.account)
    assert session.logged_in and not session.uos  # the plain web path, XML body credentials
    names = session.user_names

    # Contacts: its own parsing of webwxinit/webwxgetcontact.
    book = await itchat_1310.ask(cmd="contacts")
    friends = {f["UserName"]: f for f in book["friends"]}
    assert friends[names[demo.alice]]["RemarkName"] == "Alice (work)"
    assert friends[names[demo.carol]]["Alias"] == "carol_w"
    assert friends[names[demo.dave]]["NickName"] == "Dave \U0001f600"
    assert [(r["UserName"], r["NickName"]) for r in book["chatrooms"]] == [
        (names[demo.group], "Weekend Hike")
    ]

    # A 1:1 text and a group text whose sender it names (members via webwxbatchgetcontact).
    direct = await control.send_message(demo.account, demo.alice, text="hi\nthere & you")
    got = await itchat_1310.ask(cmd="wait", msg_id=direct)
    assert (got["Type"], got["Text"], got["FromUserName"]) == (
        "Text",
        "hi\nthere & you",
        names[demo.alice],
    )
    grouped = await control.send_message(demo.account, demo.carol, group=demo.group, text="yo")
    got = await itchat_1310.ask(cmd="wait", msg_id=grouped)
    assert (got["Text"], got["ActualUserName"], got["ActualNickName"]) == (
        "yo",
        names[demo.carol],
        "Carol W.",
    )

    # An image each way.
    picture = blobs.jpeg("from-alice", 40_000)
    incoming = await control.send_message(demo.account, demo.alice, "image", data=picture)
    saved = tmp_path / "incoming.jpg"
    got = await itchat_1310.ask(cmd="wait", msg_id=incoming, download=str(saved))
    assert got["Type"] == "Picture" and saved.read_bytes() == picture
    outgoing = tmp_path / "photo.jpg"
    outgoing.write_bytes(blobs.jpeg("itchat-1310", 600_000))  # two upload chunks
    to = names[demo.alice]
    shown = await itchat_1310.ask(cmd="send_image", path=str(outgoing), to=to)
    assert shown["Ret"] == 0, shown

    # A text, then its recall.
    sent = await itchat_1310.ask(cmd="send_msg", text="hello from itchat 1.3.10", to=to)
    assert sent["Ret"] == 0 and sent["MsgID"]
    revoked = await itchat_1310.ask(cmd="revoke", msg_id=sent["MsgID"], to=to)
    assert revoked["Ret"] == 0, revoked

    outbox = await control.outbox(demo.account)
    assert [(e.kind, e.to) for e in outbox] == [
        ("image", demo.alice),
        ("text", demo.alice),
        ("revoke", demo.alice),
    ]
    assert outbox[0].sha256 == hashlib.sha256(outgoing.read_bytes()).hexdigest()
    assert outbox[1].text == "hello from itchat 1.3.10" and outbox[1].msg_id == sent["MsgID"]
    assert outbox[2].msg_id == sent["MsgID"]

    # 1101: logged in elsewhere; its receive loop ends and it reports the exit.
    await control.logout(demo.account, retcode=1101)
    assert (await itchat_1310.ask(cmd="wait_exit", timeout=20))["exited"] is True
    assert (await itchat_1310.ask(cmd="quit"))["event"] == "bye"

"""The receive loop against malformed answers pushed through the simulator: bad AddMsgList
entries, webwxsync envelopes without a usable SyncKey (PROTOCOL.md §5), and the user-facing
``Disconnected`` when nothing cures them. Later good messages always arrive."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from adapters.wechat.channel import WeChatChannel, WeChatSettings
from adapters.wechat.client.messages import TextMessage, UnknownMessage
from adapters.wechat.client.parse import parse_sync_messages
from adapters.wechat.client.receive import SyncBatch
from adapters.wechat.client.types import UserName
from adapters.wechat.simulator.demo import Demo
from bridge.model import ContactBook, Disconnected, Message, QRCodeNeeded, Text
from tests.wechat.conftest import SimulatorHandle
from tests.wechat.test_channel import Tap
from tests.wechat.test_client_receive import FAST, collect, config, has, logged_in

#: Envelopes with Ret 0 whose SyncKey is unusable (and worse), as a broken server might send.
BAD_ENVELOPES: list[dict[str, Any]] = [
    {"BaseResponse": {"Ret": 0, "ErrMsg": ""}, "AddMsgList": 5, "SyncKey": None},
    {"BaseResponse": {"Ret": 0}, "SyncKey": {"Count": 1, "List": [{"Key": "x", "Val": []}]}},
    {"BaseResponse": {"Ret": 0}, "SyncKey": "1_2|3_4", "ModContactList": [{"MemberList": 7}]},
    {"BaseResponse": {"Ret": 0}, "SyncKey": {"List": {}}, "SyncCheckKey": [1], "SKey": {}},
]


def entry(msg_id: str, **fields: Any) -> dict[str, Any]:
    return {"MsgId": msg_id, "FromUserName": "{{user:wxid_alice}}", "ToUserName": "{{self}}"} | (
        fields
    )


async def test_malformed_entries_and_envelopes_do_not_stop_later_messages(
    simulator: SimulatorHandle, demo: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    control = simulator.control
    caplog.set_level(logging.WARNING, "adapters.wechat.client.receive")
    async with await logged_in(control, demo.account, config(simulator.base_url)) as client:
        me = client.self_user
        assert me is not None
        bad = [
            entry("7100000000000000001", MsgType="one", Content={"not": "text"}),
            entry("7100000000000000002", MsgType=49, AppMsgType=5, Content="&lt;a&gt;" * 3000),
            entry(
                "7100000000000000003",
                MsgType=49,
                Content="&lt;msg&gt;" + "&lt;x&gt;" * 5000 + "&lt;/x&gt;" * 5000 + "&lt;/msg&gt;",
            ),
            entry(
                "7100000000000000004",
                MsgType=1,
                Content='<span class="emoji emoji1f600"' + " " * 30000,
            ),
            {"MsgId": None, "MsgType": 1},
        ]
        for raw in bad:
            await control.send_raw(demo.account, raw)
        first = await control.send_message(demo.account, demo.alice, text="after the bad ones")
        got = await collect(client, has(first))
        parsed = {m.msg_id: m for m in parse_sync_messages(got, UserName(me.user_name))}
        assert isinstance(parsed[first], TextMessage) and parsed[first].text == "after the bad ones"
        assert isinstance(parsed["7100000000000000001"], UnknownMessage)
        assert isinstance(parsed["7100000000000000003"], UnknownMessage)  # nested too deep
        emoji = parsed["7100000000000000004"]
        assert isinstance(emoji, TextMessage) and emoji.text.startswith('<span class="emoji')

        for envelope in BAD_ENVELOPES:
            await control.add_fault("webwxsync", answer=envelope)
            sent = await control.send_message(demo.account, demo.alice, text=f"good {envelope}")
            received = await collect(client, has(sent))
            assert [m["Content"] for m in received if m["MsgId"] == sent] == [f"good {envelope}"]
        session = simulator.running.world.accounts[demo.account].session
        assert session is not None
        secrets = (session.skey, session.sid, session.pass_ticket, session.data_ticket)
    warnings = [r.getMessage() for r in caplog.records]
    assert any("SyncKey missing" in w for w in warnings), warnings
    assert any("SyncKey entry 0 is malformed" in w for w in warnings), warnings
    assert not [w for w in warnings if any(secret in w for secret in secrets)]


async def test_repeated_unusable_keys_re_initialise_and_messages_go_on(
    simulator: SimulatorHandle, demo: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    control = simulator.control
    caplog.set_level(logging.WARNING, "adapters.wechat.client.receive")
    async with await logged_in(control, demo.account, config(simulator.base_url)) as client:
        envelope = {"BaseResponse": {"Ret": 0, "ErrMsg": ""}, "AddMsgList": []}
        await control.add_fault("webwxsync", answer=envelope, count=FAST.attempts)
        sent = await control.send_message(demo.account, demo.alice, text="after re-init")
        batches: list[SyncBatch] = []
        got = await collect(client, has(sent), batches=batches)
        assert [m["Content"] for m in got if m["MsgId"] == sent] == ["after re-init"]
        assert batches[-1].sync_key  # fresh keys from webwxinit, then webwxsync
    assert any("re-initialising" in r.getMessage() for r in caplog.records)


async def test_keys_that_stay_unusable_tell_the_user_and_the_loop_recovers(
    simulator: SimulatorHandle, demo: Demo, tmp_path: Path
) -> None:
    settings = WeChatSettings(base_url=simulator.base_url, session_path=tmp_path / "s.json")
    channel = WeChatChannel(settings)
    tap = Tap(channel)
    try:
        await channel.start()
        await channel.login()
        await tap.wait_for(lambda e: isinstance(e, QRCodeNeeded))
        await simulator.control.scan(demo.account)
        await tap.wait_for(lambda e: isinstance(e, ContactBook))
        envelope = {"BaseResponse": {"Ret": 0, "ErrMsg": ""}, "SyncKey": {"Count": 0}}
        await simulator.control.add_fault("webwxsync", answer=envelope, count=None)
        await simulator.control.send_message(demo.account, demo.alice, text="stuck")
        async with asyncio.timeout(30):
            while True:
                try:
                    down = await tap.wait_for(lambda e: isinstance(e, Disconnected))
                    break
                except TimeoutError:
                    continue
        assert isinstance(down, Disconnected) and "SyncKey" in down.reason
        mark = len(tap.events)
        await simulator.control.clear_faults()
        after = await simulator.control.send_message(demo.account, demo.alice, text="back")
        arrived = await tap.wait_for(
            lambda e: isinstance(e, Message) and e.remote_id == after, start=mark
        )
        assert isinstance(arrived, Message) and arrived.content == Text("back")
    finally:
        await tap.close()
        await channel.stop()

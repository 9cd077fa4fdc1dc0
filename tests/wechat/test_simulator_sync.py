"""Simulator sync over raw HTTP: long poll, SyncKey evolution, selectors, message shapes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.wechat.simulator.demo import Demo
from tests.wechat.conftest import SimulatorHandle, WebSession

Login = Callable[..., Awaitable[WebSession]]
Factory = Callable[..., Awaitable[SimulatorHandle]]


def keys(sync_key: dict[str, Any]) -> list[int]:
    return [item["Key"] for item in sync_key["List"]]


async def test_long_poll_holds_then_wakes_at_once_on_new_data(
    simulator_factory: Factory, web_login: Login
) -> None:
    sim = await simulator_factory(synccheck_hold_s=600)
    account = await sim.control.create_account("Alice")
    bob = await sim.control.add_contact(account, "Bob")
    session = await web_login(sim, account)
    poll = asyncio.create_task(session.synccheck())
    await asyncio.sleep(0.2)
    assert not poll.done()  # nothing to report: the poll is held
    await sim.control.send_message(account, bob, text="hi")
    # Far below the 600 s hold: only a wake-up on data can answer in time.
    assert await asyncio.wait_for(poll, 10) == (0, 2)


async def test_idle_poll_answers_selector_0_after_the_hold(
    simulator_factory: Factory, web_login: Login
) -> None:
    sim = await simulator_factory(synccheck_hold_s=0.1)
    account = await sim.control.create_account("Alice")
    session = await web_login(sim, account)
    assert await session.synccheck() == (0, 0)


async def test_sync_keys_grow_from_4_to_7_and_keep_their_place(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    await simulator.control.send_message(demo.account, demo.alice, text="one")
    assert await session.synccheck() == (0, 2)
    init_key = session.sync_key
    first = await session.sync()
    assert [m["Content"] for m in first["AddMsgList"]] == ["one"]
    assert keys(first["SyncKey"]) == [1, 2, 3, 11, 201, 1000, 1001] == keys(first["SyncCheckKey"])
    values = {i["Key"]: i["Val"] for i in first["SyncKey"]["List"]}
    assert all(1_400_000_000 < values[k] < 4_000_000_000 for k in (201, 1000, 1001))
    assert first["SyncKey"] == first["SyncCheckKey"]
    # The new key fetches nothing more; the old one fetches the same message again.
    assert (await session.sync())["AddMsgList"] == []
    again = await session.post("webwxsync", {"SyncKey": init_key, "rr": -1})
    assert [m["MsgId"] for m in again["AddMsgList"]] == [m["MsgId"] for m in first["AddMsgList"]]


async def test_backlog_comes_in_batches_with_continue_flag(
    simulator_factory: Factory, web_login: Login
) -> None:
    sim = await simulator_factory(sync_batch_size=3)
    account = await sim.control.create_account("Alice")
    bob = await sim.control.add_contact(account, "Bob")
    session = await web_login(sim, account)
    for n in range(5):
        await sim.control.send_message(account, bob, text=f"m{n}")
    first = await session.sync()
    second = await session.sync()
    assert (first["AddMsgCount"], first["ContinueFlag"]) == (3, 1)
    assert (second["AddMsgCount"], second["ContinueFlag"]) == (2, 0)
    texts = [m["Content"] for m in first["AddMsgList"] + second["AddMsgList"]]
    assert texts == ["m0", "m1", "m2", "m3", "m4"]


async def test_message_shapes_escaping_prefix_and_ids(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    names = (await simulator.control.session(demo.account)).user_names
    control = simulator.control
    one = await control.send_message(demo.account, demo.alice, text='a<b> & "c"\nline2 \U0001f600')
    group_text = await control.send_message(demo.account, demo.carol, group=demo.group, text="yo")
    await control.send_message(demo.account, "", group=demo.group, type="system", text="joined")
    received = {m["MsgId"]: m for m in await session.messages()}
    direct = received[one]
    assert direct["Content"] == (
        'a&lt;b&gt; &amp; &quot;c&quot;<br/>line2 <span class="emoji emoji1f600"></span>'
    )
    assert (direct["FromUserName"], direct["ToUserName"]) == (names[demo.alice], session.self_name)
    assert re.fullmatch(r"\d{19}", one) and direct["NewMsgId"] == int(one)
    grouped = received[group_text]
    assert grouped["FromUserName"] == names[demo.group]
    assert grouped["Content"] == f"{names[demo.carol]}:<br/>yo"
    system = next(m for m in received.values() if m["MsgType"] == 10000)
    assert system["Content"] == "joined" and system["FromUserName"] == names[demo.group]
    assert all("\n" not in m["Content"] for m in received.values())


async def test_media_and_card_message_types(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    control, a = simulator.control, demo.account
    sent = {
        "image": await control.send_message(a, demo.alice, "image"),
        "voice": await control.send_message(a, demo.alice, "voice", voice_length_ms=3000),
        "video": await control.send_message(a, demo.alice, "video", play_length_s=4),
        "file": await control.send_message(a, demo.bob, "file", group=demo.group, filename="a.pdf"),
        "emoticon": await control.send_message(a, demo.alice, "emoticon"),
        "location": await control.send_message(a, demo.alice, "location", label="Park"),
        "link": await control.send_message(
            a, demo.alice, "link", title="T", url="http://x/?a=1&b=2"
        ),
        "card": await control.send_message(a, demo.alice, "card", card={"nickname": "Zed"}),
        "request": await control.send_message(a, "wxid_new", "friend_request", nickname="Neo"),
    }
    got = {m["MsgId"]: m for m in await session.messages()}
    shapes = {kind: (got[i]["MsgType"], got[i]["AppMsgType"]) for kind, i in sent.items()}
    assert shapes == {
        "image": (3, 0),
        "voice": (34, 0),
        "video": (43, 0),
        "file": (49, 6),
        "emoticon": (47, 0),
        "location": (1, 0),
        "link": (49, 5),
        "card": (42, 0),
        "request": (37, 0),
    }
    assert got[sent["voice"]]["VoiceLength"] == 3000 and got[sent["video"]]["PlayLength"] == 4
    file_msg = got[sent["file"]]
    assert file_msg["FileName"] == "a.pdf" and file_msg["MediaId"].startswith("@crypt_")
    assert (
        file_msg["EncryFileName"] == "a%2Epdf"
        and "&lt;type&gt;6&lt;/type&gt;" in file_msg["Content"]
    )
    assert got[sent["location"]]["SubMsgType"] == 48
    assert got[sent["location"]]["Content"].startswith("Park:<br/>/cgi-bin/mmwebwx-bin/")
    assert got[sent["link"]]["Url"] == "http://x/?a=1&amp;b=2"
    assert got[sent["card"]]["RecommendInfo"]["NickName"] == "Zed"
    request = got[sent["request"]]
    assert request["FromUserName"] == "fmessage" and 'fromusername="wxid_new"' in request["Content"]
    assert request["RecommendInfo"]["Ticket"].startswith("v2_")


async def test_contact_changes_selectors_4_and_6(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    await simulator.control.update_contact(demo.account, demo.bob, nickname="Robert")
    assert await session.synccheck() == (0, 4)
    renamed = await session.sync()
    assert [c["NickName"] for c in renamed["ModContactList"]] == ["Robert"]
    new = await simulator.control.add_contact(demo.account, "Frank")
    assert await session.synccheck() == (0, 6)
    assert [c["NickName"] for c in (await session.sync())["ModContactList"]] == ["Frank"]
    await simulator.control.delete_contact(demo.account, new)
    assert await session.synccheck() == (0, 6)
    deleted = (await session.sync())["DelContactList"]
    names = (await simulator.control.session(demo.account)).user_names
    assert deleted == [{"UserName": names[new], "ContactFlag": 0}]
    await simulator.control.update_group(demo.account, demo.group, topic="Hike!")
    assert await session.synccheck() == (0, 4)
    (group,) = (await session.sync())["ModContactList"]
    assert group["NickName"] == "Hike!" and len(group["MemberList"]) == 5


async def test_phone_enter_quit_is_selector_7_on_its_own_key(
    simulator_factory: Factory, web_login: Login
) -> None:
    sim = await simulator_factory(diverge_sync_keys=True)
    account = await sim.control.create_account("Alice")
    bob = await sim.control.add_contact(account, "Bob")
    session = await web_login(sim, account)
    await sim.control.phone_action(account, "enter", bob)
    assert await session.synccheck() == (0, 7)
    before = session.sync_key
    result = await session.sync()
    (notice,) = result["AddMsgList"]
    assert (notice["MsgType"], notice["StatusNotifyCode"]) == (51, 2)
    # SyncCheckKey moved on; the SyncKey stayed behind (PROTOCOL.md §4), so a client that
    # polls with the SyncKey keeps seeing 7 while the right one sees nothing.
    assert result["SyncKey"] != result["SyncCheckKey"]
    assert await session.synccheck(result["SyncKey"]) == (0, 7)
    assert (await session.sync())["AddMsgList"] == []
    assert before != result["SyncKey"]


async def test_logout_from_phone_ends_session_with_retcode(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    poll = asyncio.create_task(session.synccheck())
    await simulator.control.logout(demo.account, retcode=1101)
    assert await asyncio.wait_for(poll, 10) == (1101, 0)
    assert (await session.sync())["BaseResponse"]["Ret"] == 1101
    notify = await session.post("webwxstatusnotify", {"Code": 3})
    assert notify == {"BaseResponse": {"Ret": 1101, "ErrMsg": ""}, "MsgID": ""}


async def test_raw_messages_get_current_user_names(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    raw = {
        "MsgId": "1234567890123456789",
        "FromUserName": "{{group:" + demo.group + "}}",
        "ToUserName": "{{self}}",
        "MsgType": 1,
        "Content": "{{user:" + demo.alice + "}}:<br/>raw",
    }
    await simulator.control.send_raw(demo.account, raw)  # kept by the phone until login
    session = await web_login(simulator, demo.account)
    names = (await simulator.control.session(demo.account)).user_names
    (message,) = await session.messages()
    assert message == {
        **raw,
        "FromUserName": names[demo.group],
        "ToUserName": session.self_name,
        "Content": f"{names[demo.alice]}:<br/>raw",
    }

"""Simulator sends over raw HTTP: echo, outbox, 1204/1205, recall window, chunked upload, groups."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from adapters.wechat.simulator import SimulatorControlError
from adapters.wechat.simulator.demo import Demo
from tests.wechat.conftest import API, SimulatorHandle, WebSession

Login = Callable[..., Awaitable[WebSession]]
Factory = Callable[..., Awaitable[SimulatorHandle]]
CHUNK = 524288


def text_msg(
    session: WebSession, to: str, content: str, local_id: str = "15462147414160521"
) -> dict[str, Any]:
    msg = {"Type": 1, "Content": content, "FromUserName": session.self_name, "ToUserName": to}
    return {"Msg": {**msg, "LocalID": local_id, "ClientMsgId": local_id}, "Scene": 0}


async def names(sim: SimulatorHandle, account: str) -> dict[str, str]:
    return dict((await sim.control.session(account)).user_names)


async def test_sent_text_is_echoed_and_recorded(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    alice = (await names(simulator, demo.account))[demo.alice]
    answer = await session.post("webwxsendmsg", text_msg(session, alice, "hello\nworld"))
    assert answer["BaseResponse"] == {"Ret": 0, "ErrMsg": ""}
    assert re.fullmatch(r"\d{19}", answer["MsgID"]) and answer["LocalID"] == "15462147414160521"
    (echo,) = await session.messages()
    assert echo["MsgId"] == answer["MsgID"] and echo["NewMsgId"] == int(answer["MsgID"])
    assert (echo["FromUserName"], echo["ToUserName"]) == (session.self_name, alice)
    assert echo["Content"] == "hello<br/>world"
    (entry,) = await simulator.control.outbox(demo.account)
    assert (entry.kind, entry.to, entry.text, entry.msg_id) == (
        "text",
        demo.alice,
        "hello\nworld",
        answer["MsgID"],
    )


async def test_group_and_filehelper_are_valid_targets_strangers_are_not(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    n = await names(simulator, demo.account)
    for target in (n[demo.group], "filehelper"):
        assert (await session.post("webwxsendmsg", text_msg(session, target, "x")))["MsgID"]
    refused = await session.post("webwxsendmsg", text_msg(session, n[demo.stranger], "x"))
    assert refused == {"BaseResponse": {"Ret": 1204, "ErrMsg": ""}, "MsgID": "", "LocalID": ""}
    assert [e.to for e in await simulator.control.outbox(demo.account)] == [
        demo.group,
        "filehelper",
    ]


async def test_burst_of_sends_gets_1205(simulator_factory: Factory, web_login: Login) -> None:
    sim = await simulator_factory(send_burst_limit=3)
    account = await sim.control.create_account("Alice")
    bob = await sim.control.add_contact(account, "Bob")
    session = await web_login(sim, account)
    to = (await names(sim, account))[bob]
    rets = [
        (await session.post("webwxsendmsg", text_msg(session, to, str(i))))["BaseResponse"]["Ret"]
        for i in range(4)
    ]
    assert rets == [0, 0, 0, 1205]
    await sim.control.advance_clock(61)
    assert (await session.post("webwxsendmsg", text_msg(session, to, "later")))["MsgID"]


async def test_revoke_within_window_then_too_late(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    n = await names(simulator, demo.account)
    first = await session.post("webwxsendmsg", text_msg(session, n[demo.alice], "oops", "111"))
    second = await session.post("webwxsendmsg", text_msg(session, n[demo.group], "late", "222"))
    revoke = {"SvrMsgId": first["MsgID"], "ToUserName": n[demo.alice], "ClientMsgId": "111"}
    answer = await session.post("webwxrevokemsg", revoke)
    assert answer == {
        "BaseResponse": {"Ret": 0, "ErrMsg": ""},
        "Introduction": "你可以撤回2分钟内发送的消息（部分旧版本微信不支持这个功能）。",
        "SysWording": "",
    }
    await simulator.control.advance_clock(130)
    late = await session.post(
        "webwxrevokemsg",
        {"SvrMsgId": second["MsgID"], "ToUserName": n[demo.group], "ClientMsgId": "2"},
    )
    assert late["BaseResponse"]["Ret"] != 0 and late["BaseResponse"]["ErrMsg"]
    outbox = await simulator.control.outbox(demo.account)
    (recall,) = [e for e in outbox if e.kind == "revoke"]
    assert (recall.to, recall.msg_id) == (demo.alice, first["MsgID"])
    # Exactly what the recipient's phone gets (PROTOCOL.md §6.5): <session> is the real id of
    # the conversation as the recipient sees it, <msgid> the MsgId returned by the send.
    assert re.fullmatch(
        r'&lt;sysmsg type="revokemsg"&gt;&lt;revokemsg&gt;'
        rf"&lt;session&gt;{demo.account}&lt;/session&gt;&lt;oldmsgid&gt;\d{{10}}&lt;/oldmsgid&gt;"
        rf"&lt;msgid&gt;{first['MsgID']}&lt;/msgid&gt;"
        r'&lt;replacemsg&gt;&lt;!\[CDATA\["Demo User" 撤回了一条消息\]\]&gt;&lt;/replacemsg&gt;'
        r"&lt;/revokemsg&gt;&lt;/sysmsg&gt;",
        recall.raw["recall_content"],
    )


async def test_contacts_recall_reaches_the_account_as_10002(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    n = await names(simulator, demo.account)
    direct = await simulator.control.send_message(demo.account, demo.alice, text="a")
    grouped = await simulator.control.send_message(
        demo.account, demo.carol, group=demo.group, text="b"
    )
    await simulator.control.recall(demo.account, direct)
    await simulator.control.recall(demo.account, grouped)
    recalls = [m for m in await session.messages() if m["MsgType"] == 10002]
    one, two = recalls
    assert (one["FromUserName"], one["Status"]) == (n[demo.alice], 4)
    assert re.fullmatch(
        r'&lt;sysmsg type="revokemsg"&gt;&lt;revokemsg&gt;&lt;session&gt;wxid_alice&lt;/session&gt;'
        rf"&lt;oldmsgid&gt;\d{{10}}&lt;/oldmsgid&gt;&lt;msgid&gt;{direct}&lt;/msgid&gt;"
        r'&lt;replacemsg&gt;&lt;!\[CDATA\["Alice" 撤回了一条消息\]\]&gt;&lt;/replacemsg&gt;'
        r"&lt;/revokemsg&gt;&lt;/sysmsg&gt;",
        one["Content"],
    )
    assert two["FromUserName"] == n[demo.group]
    assert two["Content"].startswith(f"{n[demo.carol]}:<br/>&lt;sysmsg")
    assert f"&lt;session&gt;{demo.group}&lt;/session&gt;" in two["Content"]
    await simulator.control.advance_clock(130)
    old = await simulator.control.send_message(demo.account, demo.alice, text="c")
    await simulator.control.advance_clock(130)
    with pytest.raises(SimulatorControlError, match="revoke window"):
        await simulator.control.recall(demo.account, old)


def upload_form(
    session: WebSession,
    name: str,
    data: bytes,
    chunk: int | None,
    chunks: int | None,
    *,
    client_media_id: int = 1,
    md5: str | None = None,
) -> aiohttp.FormData:
    form = aiohttp.FormData()
    ticket = next(c.value for c in session.http.cookie_jar if c.key == "webwx_data_ticket")
    request = {
        "UploadType": 2,
        "BaseRequest": session.base_request(),
        "ClientMediaId": client_media_id,
        "TotalLen": len(data) if chunks is None else CHUNK * (chunks - 1) + 10,
        "StartPos": 0,
        "DataLen": len(data),
        "MediaType": 4,
        "FromUserName": session.self_name,
        "ToUserName": "filehelper",
        "FileMd5": md5 or hashlib.md5(data).hexdigest(),
    }
    fields: list[tuple[str, str]] = [("id", "WU_FILE_0"), ("name", name), ("type", "image/jpeg")]
    fields += [
        ("lastModifiedDate", "Sat Jun 23 2018 16:45:07 GMT+0800"),
        ("size", str(request["TotalLen"])),
    ]
    if chunks is not None:
        fields += [("chunks", str(chunks)), ("chunk", str(chunk))]
    fields += [("mediatype", "pic"), ("uploadmediarequest", json.dumps(request))]
    fields += [("webwx_data_ticket", ticket), ("pass_ticket", "undefined")]
    for key, value in fields:
        form.add_field(key, value)
    form.add_field("filename", data, filename=name, content_type="application/octet-stream")
    return form


async def upload(session: WebSession, form: aiohttp.FormData) -> dict[str, Any]:
    url = f"{session.base_url}{API}/webwxuploadmedia?f=json"
    async with session.http.post(url, data=form) as response:
        result: dict[str, Any] = json.loads(await response.text())
        return result


async def test_chunked_upload_then_send_image(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    data = bytes(range(256)) * 2048 + b"0123456789"  # 2 chunks: 524288 + 10
    md5 = hashlib.md5(data).hexdigest()
    first = await upload(session, upload_form(session, "IMG_1.JPG", data[:CHUNK], 0, 2, md5=md5))
    assert first["BaseResponse"]["Ret"] == 0 and first["MediaId"] == ""
    assert first["StartPos"] == CHUNK
    last = await upload(session, upload_form(session, "IMG_1.JPG", data[CHUNK:], 1, 2, md5=md5))
    assert last["BaseResponse"]["Ret"] == 0 and last["MediaId"].startswith("@crypt_")
    assert (last["StartPos"], last["EncryFileName"]) == (len(data), "IMG%5F1%2EJPG")
    alice = (await names(simulator, demo.account))[demo.alice]
    msg = {"Type": 3, "MediaId": last["MediaId"], "Content": "", "FromUserName": session.self_name}
    msg.update(ToUserName=alice, LocalID="1", ClientMsgId="1")
    sent = await session.post("webwxsendmsgimg", {"Msg": msg, "Scene": 0}, fun="async", f="json")
    assert sent["BaseResponse"]["Ret"] == 0
    (entry,) = await simulator.control.outbox(demo.account)
    assert (entry.kind, entry.to, entry.sha256) == (
        "image",
        demo.alice,
        hashlib.sha256(data).hexdigest(),
    )


async def test_upload_rules_single_chunk_md5_and_tickets(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    small = b"\xff\xd8small\xff\xd9"
    single = await upload(session, upload_form(session, "a.jpg", small, None, None))
    assert single["BaseResponse"]["Ret"] == 0 and single["StartPos"] == len(small)
    with_chunks = upload_form(session, "a.jpg", small, 0, 1, client_media_id=2)
    assert (await upload(session, with_chunks))["BaseResponse"]["Ret"] != 0
    bad_md5 = upload_form(session, "a.jpg", small, None, None, client_media_id=3, md5="0" * 32)
    assert (await upload(session, bad_md5))["BaseResponse"]["Ret"] != 0
    msg = {"Type": 3, "MediaId": "@crypt_unknown", "FromUserName": session.self_name}
    msg.update(ToUserName="filehelper", LocalID="1", ClientMsgId="1")
    refused = await session.post("webwxsendmsgimg", {"Msg": msg, "Scene": 0})
    assert refused["BaseResponse"]["Ret"] != 0 and refused["MsgID"] == ""


async def test_group_topic_and_members(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    n = await names(simulator, demo.account)
    room = n[demo.group]
    topic = await session.post(
        "webwxupdatechatroom", {"ChatRoomName": room, "NewTopic": "Hike"}, fun="modtopic"
    )
    assert topic == {"BaseResponse": {"Ret": 0, "ErrMsg": ""}, "MemberCount": 0, "MemberList": []}
    added = await session.post(
        "webwxupdatechatroom",
        {"ChatRoomName": room, "AddMemberList": n[demo.dave]},
        fun="addmember",
    )
    assert [m["UserName"] for m in added["MemberList"]] == [n[demo.dave]]
    stranger = await session.post(
        "webwxupdatechatroom",
        {"ChatRoomName": room, "AddMemberList": "@" + "0" * 32},
        fun="addmember",
    )
    assert stranger["BaseResponse"]["Ret"] == 1204
    removed = await session.post(
        "webwxupdatechatroom", {"ChatRoomName": room, "DelMemberList": n[demo.bob]}, fun="delmember"
    )
    assert removed["BaseResponse"]["Ret"] == 0
    received = await session.sync()
    group = received["ModContactList"][-1]
    members = {m["UserName"] for m in group["MemberList"]}
    assert group["NickName"] == "Hike" and n[demo.dave] in members and n[demo.bob] not in members
    lines = [m["Content"] for m in received["AddMsgList"] if m["MsgType"] == 10000]
    assert lines[0] == "你修改群名为“Hike”"
    kinds = [e.kind for e in await simulator.control.outbox(demo.account)]
    assert kinds == ["modtopic", "addmember", "delmember"]


async def test_video_emoticon_and_file_sends(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    to = (await names(simulator, demo.account))[demo.carol]
    movie, gif, doc = b"\x00\x00\x00\x18ftypmp42", b"GIF89a;", b"plain text file"
    ids = []
    for n, data in enumerate((movie, gif, doc)):
        answer = await upload(
            session, upload_form(session, f"f{n}", data, None, None, client_media_id=n)
        )
        ids.append(answer["MediaId"])
    base = {"FromUserName": session.self_name, "ToUserName": to, "LocalID": "9", "ClientMsgId": "9"}
    video = {"Msg": {**base, "Type": 43, "MediaId": ids[0], "Content": ""}, "Scene": 0}
    emoticon = {"Msg": {**base, "Type": 47, "EmojiFlag": 2, "MediaId": ids[1]}, "Scene": 0}
    stored = {"Msg": {**base, "Type": 47, "EmojiFlag": 2, "EMoticonMd5": "ab" * 16}, "Scene": 0}
    appmsg = (
        "<appmsg appid='wxeb7ec651dd0aefa9' sdkver=''><title>notes.txt</title><des></des>"
        "<action></action><type>6</type><content></content><url></url><lowurl></lowurl>"
        f"<appattach><totallen>{len(doc)}</totallen><attachid>{ids[2]}</attachid>"
        "<fileext>txt</fileext></appattach><extinfo></extinfo></appmsg>"
    )
    file = {"Msg": {**base, "Type": 6, "Content": appmsg}, "Scene": 0}
    for endpoint, body in (
        ("webwxsendvideomsg", video),
        ("webwxsendemoticon", emoticon),
        ("webwxsendemoticon", stored),
        ("webwxsendappmsg", file),
    ):
        assert (await session.post(endpoint, body))["BaseResponse"]["Ret"] == 0, endpoint
    outbox = await simulator.control.outbox(demo.account)
    assert [(e.kind, e.to) for e in outbox] == [
        ("video", demo.carol),
        ("emoticon", demo.carol),
        ("emoticon", demo.carol),
        ("file", demo.carol),
    ]
    assert outbox[0].sha256 == hashlib.sha256(movie).hexdigest()
    assert outbox[2].raw["md5"] == "ab" * 16
    assert (outbox[3].filename, outbox[3].sha256) == ("notes.txt", hashlib.sha256(doc).hexdigest())
    echoes = {m["MsgType"]: m for m in await session.messages()}
    assert set(echoes) == {43, 47, 49} and echoes[49]["AppMsgType"] == 6
    assert echoes[49]["FileName"] == "notes.txt" and echoes[49]["MediaId"] == ids[2]

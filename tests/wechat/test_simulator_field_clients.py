"""Clients of the field, written over raw HTTP from PROTOCOL.md (not from our client): one
that reads its credentials only from the cookies of webwxnewloginpage's 301 (§2.4), one that
POSTs jslogin (§2.1), one that batch-fetches the members of groups webwxgetcontact lists with
``MemberCount`` 0 (§3.3, §3.4). Also what a UTF-8 server does with a lone surrogate, and the
"发送消息过于频繁" notice that comes with 1205 (§6.3, §12)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from adapters.wechat.simulator.control import SimulatorControlError
from adapters.wechat.simulator.demo import Demo, create_demo
from tests.wechat.conftest import API, APPID, SimulatorHandle, WebSession

Login = Callable[..., Awaitable[WebSession]]
Factory = Callable[..., Awaitable[SimulatorHandle]]
QR = re.compile(r'window\.QRLogin\.code = 200; window\.QRLogin\.uuid = "(\S+?)";')
REDIRECT = f"https://wx.qq.com{API}/webwxnewloginpage"


def jar() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def redirect_after_scan(
    http: aiohttp.ClientSession, sim: SimulatorHandle, account: str, uuid: str
) -> str:
    """The phone of ``account`` scans and confirms ``uuid``; the login poll's redirect_uri."""
    await sim.control.scan(account, uuid)
    params = {"loginicon": "true", "uuid": uuid, "tip": "1", "r": "-1", "_": "1"}
    async with http.get(f"{sim.base_url}{API}/login", params=params) as response:
        text = await response.text()
    found = re.fullmatch(r'window\.code=200;window\.redirect_uri="(\S+)";', text)
    assert found, text
    return found.group(1)


async def post_json(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], **params: str
) -> dict[str, Any]:
    async with http.post(url, data=json.dumps(body), params=params) as response:
        assert response.status == 200
        answer: dict[str, Any] = json.loads(await response.text())
        return answer


# --- §2.4: credentials only from the cookies of a 301 without Location ---------------------


async def test_a_client_reading_only_the_301_cookies_logs_in_and_receives(
    simulator: SimulatorHandle, demo: Demo
) -> None:
    base = simulator.base_url
    async with jar() as http:
        params = {"appid": APPID, "fun": "new", "lang": "zh_CN", "redirect_uri": REDIRECT}
        async with http.get(f"{base}/jslogin", params=params) as response:
            found = QR.fullmatch(await response.text())
        assert found
        redirect = await redirect_after_scan(http, simulator, demo.account, found.group(1))
        # The 2019-2022 clients request the redirect_uri as given: no fun=new&version=v2.
        async with http.get(redirect, allow_redirects=False) as response:
            assert response.status == 301
            assert "Location" not in response.headers
            cookies = {c.key: c.value for c in response.cookies.values()}
        uin, sid = cookies["wxuin"], cookies["wxsid"]
        # No skey and no pass_ticket: the cookies are all this client has.
        base_request = {"Uin": int(uin), "Sid": sid, "Skey": "", "DeviceID": "e305419234870521"}
        init = await post_json(
            http, f"{base}{API}/webwxinit", {"BaseRequest": base_request}, r="-1"
        )
        assert init["BaseResponse"]["Ret"] == 0, init["BaseResponse"]
        assert init["User"]["NickName"] == "Demo User"
        sent = await simulator.control.send_message(demo.account, demo.alice, text="hi 301")
        body = {"BaseRequest": base_request, "SyncKey": init["SyncKey"], "rr": -1}
        synced = await post_json(http, f"{base}{API}/webwxsync", body, sid=sid)
    assert synced["BaseResponse"]["Ret"] == 0
    assert [(m["MsgId"], m["Content"]) for m in synced["AddMsgList"]] == [(sent, "hi 301")]


async def test_the_301_also_carries_the_xml_for_body_readers(
    simulator: SimulatorHandle, demo: Demo
) -> None:
    async with jar() as http:
        async with http.get(f"{simulator.base_url}/jslogin", params={"appid": APPID}) as response:
            found = QR.fullmatch(await response.text())
        assert found
        redirect = await redirect_after_scan(http, simulator, demo.account, found.group(1))
        async with http.get(redirect, allow_redirects=False) as response:
            status, xml = response.status, await response.text()
            cookies = {c.key: c.value for c in response.cookies.values()}
    assert status == 301
    fields = dict(re.findall(r"<(\w+)>([^<]*)</\1>", xml))
    assert fields["ret"] == "0" and fields["skey"].startswith("@crypt_")
    assert (fields["wxsid"], fields["wxuin"]) == (cookies["wxsid"], cookies["wxuin"])


# --- §2.1: jslogin by POST -----------------------------------------------------------------


async def test_jslogin_by_post_with_query_urlencoded_or_multipart_parameters(
    simulator: SimulatorHandle, demo: Demo
) -> None:
    url = f"{simulator.base_url}/jslogin"
    query = {"appid": APPID, "fun": "new", "lang": "zh_CN", "_": "1546211298739"}
    async with jar() as http:
        async with http.post(url, params=query) as response:
            assert response.status == 200
            assert response.content_type == "text/javascript"
            by_query = QR.fullmatch(await response.text())
        async with http.post(url, data={"appid": APPID}) as response:
            by_form = QR.fullmatch(await response.text())
        form = aiohttp.FormData()
        form.add_field("appid", APPID)
        form.add_field("fun", "new")
        async with http.post(url, data=form) as response:
            by_multipart = QR.fullmatch(await response.text())
        async with http.post(url, data={"appid": "wx0000000000000000"}) as response:
            assert await response.text() == "window.QRLogin.code = 400;"
        assert by_query and by_form and by_multipart
        uuids = {by_query.group(1), by_form.group(1), by_multipart.group(1)}
        assert len(uuids) == 3
        # A uuid from a POST is a QR like any other: scan, confirm, redirect.
        redirect = await redirect_after_scan(http, simulator, demo.account, by_form.group(1))
    assert "/webwxnewloginpage?ticket=" in redirect


# --- §3.3/§3.4: saved groups without members, members by webwxbatchgetcontact --------------


async def test_saved_groups_come_without_members_and_batchget_names_the_senders(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    names = (await simulator.control.session(demo.account)).user_names
    book = await session.get_json("webwxgetcontact", seq="0", skey=session.skey, r="1")
    groups = [c for c in book["MemberList"] if c["UserName"].startswith("@@")]
    assert [(g["UserName"], g["NickName"]) for g in groups] == [(names[demo.group], "Weekend Hike")]
    assert groups[0]["MemberCount"] == 0 and groups[0]["MemberList"] == []
    # A client that needs the members asks for every group with MemberCount 0 (§3.4).
    wanted = [
        {"UserName": g["UserName"], "EncryChatRoomId": ""} for g in groups if g["MemberCount"] == 0
    ]
    batch = await session.post(
        "webwxbatchgetcontact", {"Count": len(wanted), "List": wanted}, type="ex", r="1"
    )
    (group,) = batch["ContactList"]
    assert group["MemberCount"] == len(group["MemberList"]) == 5
    members = {m["UserName"]: m for m in group["MemberList"]}
    sent = await simulator.control.send_message(
        demo.account, demo.carol, group=demo.group, text="yo"
    )
    (message,) = [m for m in await session.messages() if m["MsgId"] == sent]
    sender, _, text = message["Content"].partition(":<br/>")
    assert text == "yo"
    assert members[sender]["DisplayName"] == "Carol W."


# --- a lone surrogate never kills a session ------------------------------------------------


async def test_a_lone_surrogate_is_refused_at_the_control_api_and_the_session_lives_on(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    raw = {"MsgId": "7000000000000000009", "MsgType": 1, "Content": "a\ud800b"}
    raw.update(FromUserName=f"{{{{user:{demo.alice}}}}}", ToUserName="{{self}}")
    with pytest.raises(SimulatorControlError) as refused:
        await simulator.control.send_raw(demo.account, raw)
    assert refused.value.status == 400 and "surrogate" in str(refused.value)
    with pytest.raises(SimulatorControlError):
        await simulator.control.send_message(demo.account, demo.alice, text="\udfff")
    later = await simulator.control.send_message(demo.account, demo.alice, text="still here")
    assert [m["MsgId"] for m in await session.messages()][-1] == later


async def test_a_lone_surrogate_sent_by_a_client_is_served_as_valid_utf8(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    await session.messages()
    names = (await simulator.control.session(demo.account)).user_names
    msg = {"Type": 1, "Content": "x\ud800y", "FromUserName": session.self_name}
    msg.update(ToUserName=names[demo.alice], LocalID="1", ClientMsgId="1")
    sent = await session.post("webwxsendmsg", {"Msg": msg, "Scene": 0})
    assert sent["BaseResponse"]["Ret"] == 0
    (echo,) = await session.messages()
    assert echo["MsgId"] == sent["MsgID"] and echo["Content"] == "x\ufffdy"
    (entry,) = await simulator.control.outbox(demo.account)
    assert entry.text == "x\ufffdy"


# --- §6.3/§12: the 10000 notice that comes with 1205 ---------------------------------------


async def test_1205_after_a_send_burst_comes_with_the_system_notice_once(
    simulator_factory: Factory, web_login: Login
) -> None:
    sim = await simulator_factory(send_burst_limit=3)
    demo = await create_demo(sim.control)
    session = await web_login(sim, demo.account)
    await session.messages()
    peer = (await sim.control.session(demo.account)).user_names[demo.alice]
    rets = []
    for n in range(5):
        msg = {"Type": 1, "Content": f"m{n}", "FromUserName": session.self_name}
        msg.update(ToUserName=peer, LocalID=str(n), ClientMsgId=str(n))
        answer = await session.post("webwxsendmsg", {"Msg": msg, "Scene": 0})
        rets.append(answer["BaseResponse"]["Ret"])
    assert rets == [0, 0, 0, 1205, 1205]
    received = await session.messages()
    notices = [m for m in received if m["MsgType"] == 10000]
    assert [(m["FromUserName"], m["Content"], m["Status"]) for m in notices] == [
        (peer, "发送消息过于频繁，请稍后再试", 4)
    ]
    assert received[-1] is notices[0]  # after the three echoes

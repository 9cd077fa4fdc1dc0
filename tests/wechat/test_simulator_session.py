"""Simulator sessions over raw HTTP: init, cookie auth, UserNames per login, contacts, notify."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import yarl

from adapters.wechat.simulator.demo import Demo
from tests.wechat.conftest import API, SimulatorHandle, WebSession

Login = Callable[..., Awaitable[WebSession]]
Factory = Callable[..., Awaitable[SimulatorHandle]]
PERSON = re.compile(r"@(?:[0-9a-f]{32}|[0-9a-f]{64})")
GROUP = re.compile(r"@@[0-9a-f]{64}")


def keys(sync_key: dict[str, Any]) -> list[int]:
    return [item["Key"] for item in sync_key["List"]]


async def test_init_lists_self_recent_chats_and_four_sync_keys(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    init = session.init
    assert keys(init["SyncKey"]) == [1, 2, 3, 1000] and init["SyncKey"]["Count"] == 4
    assert init["User"]["NickName"] == "Demo User" and str(init["User"]["Uin"]) == session.uin
    assert init["SKey"] == session.skey
    names = [c["UserName"] for c in init["ContactList"]]
    assert init["Count"] == len(names) and "filehelper" in names
    group = next(c for c in init["ContactList"] if c["UserName"].startswith("@@"))
    assert group["NickName"] == "Weekend Hike"
    assert group["MemberCount"] == 5 and all(m["NickName"] == "" for m in group["MemberList"])
    assert init["ChatSet"] == "".join(f"{n}," for n in names)


async def test_missing_cookies_1100_bad_cookies_1102(
    simulator: SimulatorHandle, demo: Demo
) -> None:
    body = '{"BaseRequest": {"Uin": 1, "Sid": "x", "Skey": "", "DeviceID": "e1"}}'
    url = f"{simulator.base_url}{API}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/webwxinit", data=body) as response:
            assert response.content_type == "text/plain"
            init = await response.json(content_type=None)
        async with http.get(f"{url}/synccheck?synckey=1_1") as response:
            bare = await response.text()
    async with aiohttp.ClientSession(cookies={"wxsid": "nope", "wxuin": "1"}) as http:
        async with http.post(f"{url}/webwxsync", data=body) as response:
            sync = await response.json(content_type=None)
        async with http.get(f"{url}/synccheck?synckey=1_1") as response:
            bad = await response.text()
    assert init["BaseResponse"] == {"Ret": 1100, "ErrMsg": ""}
    assert init["User"]["UserName"] == "" and init["SyncKey"] == {"Count": 0, "List": []}
    assert bare == 'window.synccheck={retcode:"1100",selector:"0"}'
    assert sync["BaseResponse"]["Ret"] == 1102 and sync["AddMsgList"] == []
    assert bad == 'window.synccheck={retcode:"1102",selector:"0"}'


async def test_base_request_forms_and_pass_ticket_encodings(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)

    async def sync_ret(ticket: str, base_request: dict[str, Any]) -> int:
        # The URL is written out by hand so the ticket keeps exactly the encoding chosen here.
        url = f"{simulator.base_url}{API}/webwxsync?pass_ticket={ticket}"
        body = json.dumps({"BaseRequest": base_request, "SyncKey": session.sync_key})
        async with session.http.post(yarl.URL(url, encoded=True), data=body) as response:
            return int(json.loads(await response.text())["BaseResponse"]["Ret"])

    xml_value = session.pass_ticket  # as the XML carries it: %2B, %2F, %3D
    double = xml_value.replace("%", "%25")  # as the official client sends it
    as_string = {**session.base_request(), "Uin": session.uin, "DeviceID": "e9"}
    assert await sync_ret(xml_value, session.base_request()) == 0
    assert await sync_ret(double, as_string) == 0
    assert await sync_ret("undefined", session.base_request()) == 0
    assert await sync_ret("abc", session.base_request()) == -14
    no_skey = {**session.base_request(), "Skey": ""}
    assert await sync_ret(xml_value, no_skey) == 1100


async def test_uos_session_accepts_empty_skey_and_any_ticket(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account, uos=True)
    body = {"BaseRequest": {**session.base_request(), "Skey": ""}}
    init = await session.post("webwxinit", body, pass_ticket=session.device_id)
    assert init["BaseResponse"]["Ret"] == 0


async def test_user_names_change_at_each_login_while_the_address_book_persists(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    first = await web_login(simulator, demo.account)
    before = await simulator.control.session(demo.account)
    alice = before.user_names[demo.alice]
    answer = await first.post("webwxoplog", {"UserName": alice, "CmdId": 2, "RemarkName": "A1"})
    assert answer["BaseResponse"]["Ret"] == 0

    second = await web_login(simulator, demo.account)
    after = await simulator.control.session(demo.account)
    assert await first.synccheck() == (1101, 0)  # logged in elsewhere
    for real_id in (demo.alice, demo.bob, demo.carol, demo.group, demo.account):
        assert after.user_names[real_id] != before.user_names[real_id]
    assert PERSON.fullmatch(after.user_names[demo.alice])
    assert GROUP.fullmatch(after.user_names[demo.group])
    assert PERSON.fullmatch(second.self_name) and second.self_name == after.self_name
    contacts = (await second.get_json("webwxgetcontact", seq="0", skey=second.skey))["MemberList"]
    by_name = {c["UserName"]: c for c in contacts}
    assert by_name[after.user_names[demo.alice]]["RemarkName"] == "A1"
    assert by_name[after.user_names[demo.carol]]["Alias"] == "carol_w"
    assert by_name[after.user_names[demo.group]]["NickName"] == "Weekend Hike"
    assert [c["NickName"] for c in contacts].count("Bob") == 2
    assert after.user_names[demo.stranger] not in by_name  # not a friend


async def test_getcontact_pages_by_seq(simulator_factory: Factory, web_login: Login) -> None:
    sim = await simulator_factory(contact_page_size=2)
    account = await sim.control.create_account("Paged")
    for n in range(4):
        await sim.control.add_contact(account, f"Friend {n}")
    session = await web_login(sim, account)
    seq, pages, names = "0", 0, []
    while True:
        page = await session.get_json("webwxgetcontact", seq=seq, skey=session.skey, r="1")
        assert page["BaseResponse"]["Ret"] == 0 and page["MemberCount"] == len(page["MemberList"])
        names += [c["NickName"] for c in page["MemberList"]]
        pages += 1
        if page["Seq"] == 0:
            break
        seq = str(page["Seq"])
    assert pages == 3
    assert sorted(names) == ["Friend 0", "Friend 1", "Friend 2", "Friend 3", "文件传输助手"]


async def test_batchgetcontact_groups_in_both_forms_and_members(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    names = (await simulator.control.session(demo.account)).user_names
    group_name = names[demo.group]
    for form in ("ChatRoomId", "EncryChatRoomId"):
        answer = await session.post(
            "webwxbatchgetcontact", {"Count": 1, "List": [{"UserName": group_name, form: ""}]}
        )
        (group,) = answer["ContactList"]
        members = {m["UserName"]: m for m in group["MemberList"]}
        assert group["MemberCount"] == 5 and len(members) == 5
        assert members[names[demo.stranger]]["NickName"] == "Eve"
        assert members[names[demo.carol]]["DisplayName"] == "Carol W."
        assert PERSON.fullmatch(group["EncryChatRoomId"])
    encry = group["EncryChatRoomId"]
    lookups = [
        {"UserName": names[demo.stranger], "EncryChatRoomId": encry},
        {"UserName": names[demo.carol], "EncryChatRoomId": group_name},
        {"UserName": names[demo.alice], "EncryChatRoomId": ""},
    ]
    answer = await session.post("webwxbatchgetcontact", {"Count": 3, "List": lookups})
    found = [(c["NickName"], c["ContactFlag"] & 1) for c in answer["ContactList"]]
    assert found == [("Eve", 0), ("Carol", 1), ("Alice", 1)]


async def test_statusnotify_code_3_brings_the_aligned_real_id_list(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    body = {"Code": 3, "FromUserName": session.self_name, "ToUserName": session.self_name}
    answer = await session.post("webwxstatusnotify", {**body, "ClientMsgId": 1})
    assert answer["BaseResponse"]["Ret"] == 0 and re.fullmatch(r"\d{19}", answer["MsgID"])
    (notice,) = [m for m in await session.messages() if m["MsgType"] == 51]
    assert notice["StatusNotifyCode"] == 4
    assert notice["FromUserName"] == notice["ToUserName"] == session.self_name
    listed = re.search(r"&lt;username&gt;([^&]*)&lt;/username&gt;", notice["Content"])
    assert listed and notice["Content"].startswith("&lt;msg&gt;<br/>&lt;op id='4'&gt;<br/>")
    real_ids = listed.group(1).split(",")
    user_names = notice["StatusNotifyUserName"].split(",")
    names = (await simulator.control.session(demo.account)).user_names
    assert len(real_ids) == len(user_names) and demo.group in real_ids
    for real_id, user_name in zip(real_ids, user_names, strict=True):
        assert names.get(real_id, real_id) == user_name


async def test_logout_ends_the_session(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    async with session.http.get(f"{simulator.base_url}{API}/webwxlogout?redirect=1&type=1") as r:
        assert r.status == 200
    assert await session.synccheck() == (1100, 0)
    assert not (await simulator.control.session(demo.account)).logged_in

"""Captured WeChat payloads (tests/data/wechat) replayed through the client's pure
request builders and response parsers."""

from __future__ import annotations

import json
import re
from typing import Any

import attrs
import pytest
from yarl import URL

from adapters.wechat.client import calls, calls_msg
from adapters.wechat.client.calls_msg import ImageSize, UploadMediaType, UploadPlan
from adapters.wechat.client.connection import ClientConfig, Connection
from adapters.wechat.client.errors import (
    ApiError,
    LoginRefused,
    NotAFriend,
    SessionInvalid,
    TooFrequent,
)
from adapters.wechat.client.login import api_base_for
from adapters.wechat.client.results import (
    ContactPage,
    InitResult,
    RevokeResult,
    SendResult,
    SyncResponse,
    UploadResult,
    contacts_from_batch,
)
from adapters.wechat.client.types import (
    ClientMsgId,
    Contact,
    Credentials,
    Hosts,
    MsgId,
    SyncKey,
    UserName,
    Uuid,
)
from adapters.wechat.client.wire import (
    LoginConfirmed,
    LoginScanned,
    LoginWaiting,
    SyncCheck,
    check_base_response,
    cookies_from_set_cookie,
    parse_jslogin,
    parse_login_poll,
    parse_newloginpage,
    parse_pushloginurl,
    parse_synccheck,
)
from adapters.wechat.translate import group_members
from tests.wechat import samples

WX = Hosts.for_api_host("https://wx.qq.com")
SELF = UserName("@f0c04abe389590b02d91684d99584439")
PEER = UserName("@d77f22c1444fcbd7092fa2464899391a3cc0d6a9ec79b0770ce91be01a66a09b")
PASS_TICKET = "kbmy5Jt9nj%2BJzBaJZYNpUBQyBwRTejeXq1sM%2FYH7iOI%3D"
SKEY = "@crypt_63d18dea_a7de6934c67e2f89ac399fa35b689a50"


def text(name: str) -> str:
    return samples.text(name)


def load(name: str) -> Any:
    return json.loads(text(name))


def creds(device_id: str = "e000000000000000") -> Credentials:
    """The 2018 capture's credentials, from its webwxnewloginpage XML."""
    return parse_newloginpage(text("webwxnewloginpage-ok.xml"), {}, device_id)


def request_url(name: str) -> URL:
    """The URL of a ``GET|POST <url>`` capture line."""
    first = text(name).splitlines()[0]
    return URL(first.split()[1], encoded=True)


def params(url: URL) -> list[tuple[str, str]]:
    return [(k, v) for k, v in url.query.items() if k]


# --- login (§2) ---------------------------------------------------------------------------


def test_jslogin_request_is_rebuilt_exactly() -> None:
    call = calls.jslogin("https://wx.qq.com", uos=False, ms=1546211298739)
    assert call.url(WX) == request_url("login-jslogin-request.txt")


def test_jslogin_response_gives_the_uuid() -> None:
    assert parse_jslogin(text("login-jslogin-response.txt")) == Uuid("gbyKnbsmqQ==")


def test_login_poll_requests_send_tip_1_then_0() -> None:
    captured = [URL(line.split()[1]) for line in text("login-poll-requests.txt").splitlines()]
    built = [calls.login_poll(Uuid("gbyKnbsmqQ=="), tip=tip, ms=0, counter=1) for tip in (1, 0, 0)]
    for url, call in zip(captured, built, strict=True):
        rebuilt = call.url(WX)
        assert (rebuilt.host, rebuilt.path) == (url.host, url.path)
        assert [k for k, _ in params(rebuilt)] == [k for k, _ in params(url)]
        for key in ("loginicon", "uuid", "tip"):
            assert rebuilt.query[key] == url.query[key]
    # r is JavaScript's ~Date(): the 32-bit NOT of the time in ms.
    assert calls.js_not(1546211300154) == int(captured[0].query["r"])


def test_login_poll_responses() -> None:
    assert parse_login_poll(text("login-poll-408-response.txt")) == LoginWaiting()
    scanned = parse_login_poll(text("login-poll-201-response.txt"))
    assert isinstance(scanned, LoginScanned)
    assert scanned.avatar.startswith("data:img/jpg;base64,/9j/")
    assert scanned.avatar_jpeg() is None  # the publisher truncated the base64
    confirmed = parse_login_poll(text("login-poll-200-response.txt"))
    assert isinstance(confirmed, LoginConfirmed)
    assert confirmed.redirect_uri.startswith("https://wx.qq.com/cgi-bin/mmwebwx-bin/")
    assert "ticket=AaXdHpmbWGYo_ZOk7ylAnnCY@qrticket_0" in confirmed.redirect_uri
    assert "AaXd" not in repr(confirmed)


def test_redirect_uri_host_decides_the_hosts() -> None:
    confirmed = parse_login_poll(text("login-poll-200-response.txt"))
    assert isinstance(confirmed, LoginConfirmed)
    api, uri = api_base_for(confirmed.redirect_uri, None)
    assert (api, uri) == ("https://wx.qq.com", confirmed.redirect_uri)
    assert Hosts.for_api_host(api) == Hosts(
        login="https://login.wx.qq.com",
        api="https://wx.qq.com",
        file="https://file.wx.qq.com",
        push="https://webpush.wx.qq.com",
    )
    moved = confirmed.redirect_uri.replace("https://wx.qq.com", "https://wx2.qq.com")
    assert Hosts.for_api_host(api_base_for(moved, None)[0]).push == "https://webpush.wx2.qq.com"
    # A configured base URL (the simulator) replaces every real WeChat host.
    api, uri = api_base_for(confirmed.redirect_uri, "http://127.0.0.1:8765")
    assert api == "http://127.0.0.1:8765"
    assert uri.startswith("http://127.0.0.1:8765/cgi-bin/mmwebwx-bin/webwxnewloginpage?ticket=")
    assert Hosts.for_api_host(api) == Hosts(*[api] * 4)


def test_device_id_shape() -> None:
    assert re.fullmatch(r"e\d{15}", calls.new_device_id())


def test_newloginpage_xml_gives_credentials() -> None:
    got = parse_newloginpage(text("webwxnewloginpage-ok.xml"), {}, "e123456789012345")
    assert got == Credentials(
        uin="176666155",
        sid="5YpLHmVgWwH5LxN1",
        skey=SKEY,
        pass_ticket=PASS_TICKET,
        device_id="e123456789012345",
    )
    assert SKEY not in repr(got) and PASS_TICKET not in repr(got)
    old = parse_newloginpage(text("webwxnewloginpage-ok-2016.xml"), {}, "e1")
    assert (old.uin, old.sid) == ("2684027137", "L9W0ddcaijmzhYhu")
    assert old.skey == "@crypt_3bb2969_5d9682fbe6794c9437337ef278f6615c"


def test_newloginpage_request_and_set_cookie() -> None:
    lines = text("webwxnewloginpage-ok-http.txt").splitlines()
    redirect = parse_login_poll(text("login-poll-200-response.txt"))
    assert isinstance(redirect, LoginConfirmed)
    call = calls.newloginpage(redirect.redirect_uri, uos=False, api_base="https://wx.qq.com")
    # The capture also carries the official interceptor's trailing &lang=zh_CN.
    assert lines[0].split()[1].startswith(str(call.url(WX)))
    assert call.param("fun") == "new" and call.param("version") == "v2"
    cookies = cookies_from_set_cookie(line for line in lines if line.startswith("Set-Cookie:"))
    assert cookies["webwx_data_ticket"] == "gSehWtnDWTMh38gmz0IjaFv0"
    # No XML body (the 301-without-Location case): wxsid/wxuin come from the cookies.
    from_cookies = parse_newloginpage("", cookies, "e1")
    assert (from_cookies.uin, from_cookies.sid, from_cookies.skey) == (
        "176666155",
        "5YpLHmVgWwH5LxN1",
        "",
    )
    both = parse_newloginpage(text("webwxnewloginpage-ok.xml"), cookies, "e1")
    assert both.skey == SKEY


def test_newloginpage_uos_variant_adds_headers_and_mod_desktop() -> None:
    redirect = parse_login_poll(text("login-poll-200-response.txt"))
    assert isinstance(redirect, LoginConfirmed)
    call = calls.newloginpage(redirect.redirect_uri, uos=True, api_base="https://wx.qq.com")
    headers = dict(call.headers)
    assert headers["client-version"] == "2.0.0"
    assert headers["Referer"] == "https://wx.qq.com/?&lang=zh_CN&target=t"
    assert len(headers["extspam"]) > 600
    assert call.param("mod") == "desktop"
    jslogin = calls.jslogin("https://wx.qq.com", uos=True, ms=1)
    assert jslogin.param("redirect_uri") == (
        "https://wx.qq.com/cgi-bin/mmwebwx-bin/webwxnewloginpage?mod=desktop"
    )


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("webwxnewloginpage-1203-refused.xml", "当前登录环境异常"),
        ("webwxnewloginpage-1203-refused-2019.xml", "此微信号已不允许登录网页微信"),
        ("webwxnewloginpage-1203-refused-en.xml", "logging in to WeChat via the web"),
    ],
)
def test_newloginpage_1203_is_a_refusal(name: str, fragment: str) -> None:
    with pytest.raises(LoginRefused) as caught:
        parse_newloginpage(text(name), {"wxsid": "x", "wxuin": "1"}, "e1")
    assert fragment in caught.value.message


def test_pushloginurl_response() -> None:
    assert parse_pushloginurl(load("webwxpushloginurl-response-redacted.json")) == "xxx"


# --- init, status notify, contacts (§3) ----------------------------------------------------


def test_webwxinit_request_body() -> None:
    call = calls.webwxinit(creds("e940492848928413"), ms=0)
    assert call.json == load("webwxinit-request.json")
    assert call.param("pass_ticket") == PASS_TICKET


def test_webwxinit_response() -> None:
    obj = load("webwxinit-response.json")
    check_base_response("webwxinit", obj)
    init = InitResult.from_wire(obj)
    assert init.user.user_name == SELF
    assert init.user.nick_name == "秦习淳"
    assert init.sync_key.formatted() == "1_698325105|2_698325109|3_698325051|1000_1546210682"
    assert init.skey == SKEY
    assert init.contacts[0].remark_name == "亲爱的大宝贝"
    assert init.contacts[1].is_group and init.contacts[1].member_count == 14
    assert len(init.chat_set) == len(set(init.chat_set)) > 0


def test_webwxinit_error_ret1() -> None:
    with pytest.raises(ApiError) as caught:
        check_base_response("webwxinit", load("webwxinit-error-ret1-response.json"))
    assert caught.value.ret == 1 and not isinstance(caught.value, SessionInvalid)


def test_webwxstatusnotify_request_and_responses() -> None:
    call = calls.statusnotify(
        creds("e435716924360955"), code=3, from_user=SELF, to_user=SELF, ms=1546211539889
    )
    assert call.json == load("webwxstatusnotify-request.json")
    obj = load("webwxstatusnotify-response.json")
    check_base_response("webwxstatusnotify", obj)
    assert obj["MsgID"] == "8032721323945545465"
    with pytest.raises(SessionInvalid):
        check_base_response("webwxstatusnotify", load("webwxstatusnotify-1101-response.json"))


def test_webwxgetcontact_request_and_response() -> None:
    call = calls.getcontact(creds(), seq=0, ms=1546211540630)
    captured = request_url("webwxgetcontact-request.txt")
    assert params(call.url(WX)) == params(captured)
    page = ContactPage.from_wire(load("webwxgetcontact-response.json"))
    assert page.seq == 0
    assert [c.remark_name for c in page.contacts] == ["亲爱的大宝贝"]
    assert page.contacts[0].contact_flag == 34819


def test_webwxbatchgetcontact_requests() -> None:
    groups = load("webwxbatchgetcontact-request-chatrooms.json")
    call = calls.batchgetcontact(
        attrs.evolve(creds(), device_id=groups["BaseRequest"]["DeviceID"]),
        [calls.batch_entry(UserName(e["UserName"])) for e in groups["List"]],
        ms=0,
    )
    assert call.json == groups
    member = load("webwxbatchgetcontact-request-group-member.json")
    entry = member["List"][0]
    assert calls.batch_entry(entry["UserName"], entry["EncryChatRoomId"]) == entry
    assert [len(b) for b in calls.batches([{"UserName": str(i)} for i in range(120)])] == [
        50,
        50,
        20,
    ]


def test_webwxbatchgetcontact_responses() -> None:
    obj = load("webwxbatchgetcontact-response-chatroom.json")
    check_base_response("webwxbatchgetcontact", obj)
    (group,) = contacts_from_batch(obj)
    assert group.is_group and group.nick_name == "相亲相爱的一家人"
    assert group.members and group.members[0].nick_name == "亲爱的大宝贝"
    big = Contact.from_wire(load("webwxbatchgetcontact-chatroom-entry-with-members.json"))
    assert big.is_group and big.member_count == 146 and len(big.members) == 10
    # What member matching reads of each entry (§3.4): NickName, DisplayName, KeyWord.
    listed = {m.profile.nick_name: m.profile for m in group_members([big], {}, "")}
    assert len(listed) == 10 and {m.group for m in group_members([big], {}, "")} == {big.user_name}
    maggie = listed["田美坤Maggie"]
    assert (maggie.group_name, maggie.key_word, maggie.attr_status) == ("田美坤", "tia", 112679)


def test_contact_entry_filehelper() -> None:
    helper = Contact.from_wire(load("contact-entry-filehelper-2016.json"))
    assert helper.user_name == "filehelper" and helper.key_word == "fil"
    assert helper.contact_flag == 3
    assert not helper.is_group and not helper.is_official_account


def test_chatroom_operation_answers() -> None:
    # The client does not manage groups; their answers still show the Ret codes it handles.
    with pytest.raises(TooFrequent) as caught:
        check_base_response("webwxupdatechatroom", load("webwxupdatechatroom-1205-response.json"))
    assert caught.value.errmsg == "操作太频繁，请稍后再试。"
    for sample in (
        "webwxupdatechatroom-addmember-response-redacted.json",
        "webwxupdatechatroom-modtopic-response.json",
        "webwxcreatechatroom-response-redacted.json",
    ):
        check_base_response(sample.split("-")[0], load(sample))


# --- synccheck and webwxsync (§4, §5) ------------------------------------------------------


def test_synccheck_request_is_rebuilt_exactly() -> None:
    captured = request_url("synccheck-request.txt")
    key = SyncKey.from_formatted(captured.query["synckey"])
    assert len(key.pairs) == 7
    call = calls.synccheck(
        creds(captured.query["deviceid"]), key, ms=1546211541936, counter=1546211298751
    )
    assert str(call.url(Hosts.for_api_host("https://wx.qq.com"))) == str(captured)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("synccheck-response-0-0.txt", SyncCheck(0, 0)),
        ("synccheck-response-0-2.txt", SyncCheck(0, 2)),
        ("synccheck-response-0-3.txt", SyncCheck(0, 3)),
        ("synccheck-response-0-6.txt", SyncCheck(0, 6)),
        ("synccheck-response-1100.txt", SyncCheck(1100, 0)),
        ("synccheck-response-1101.txt", SyncCheck(1101, 0)),
        ("synccheck-response-1102.txt", SyncCheck(1102, 0)),
    ],
)
def test_synccheck_responses(name: str, expected: SyncCheck) -> None:
    got = parse_synccheck(text(name))
    assert got == expected
    assert got.has_news == (expected.retcode == 0 and expected.selector != 0)


def test_synccheck_key_growth_2016_round_trips() -> None:
    urls = [
        URL(line, encoded=True)
        for line in text("synccheck-requests-synckey-growth-2016.txt").split()
    ]
    keys = [SyncKey.from_formatted(url.query["synckey"]) for url in urls]
    assert [len(k.pairs) for k in keys] == [4, 7]
    assert [k for k, _ in keys[1].pairs] == [1, 2, 3, 11, 13, 203, 1000]
    hosts = Hosts(*(["https://webpush.weixin.qq.com"] * 4))
    for url, key in zip(urls, keys, strict=True):
        assert key.formatted() == url.query["synckey"]
        q = url.query
        old = Credentials(q["uin"], q["sid"], q["skey"], "", q["deviceid"])
        call = calls.synccheck(old, key, ms=int(q["r"]), counter=int(q["_"]))
        assert str(call.url(hosts)) == str(url)


def test_webwxsync_request() -> None:
    body = load("webwxsync-request.json")
    key = SyncKey.from_wire(body["SyncKey"])
    call = calls.webwxsync(creds(body["BaseRequest"]["DeviceID"]), key, ms=1546211541416)
    assert call.json == body
    captured = request_url("webwxsync-request-url.txt")
    assert params(call.url(WX)) == params(captured)
    # Like the official client, pass_ticket (already percent-encoded) is encoded once more.
    assert "pass_ticket=kbmy5Jt9nj%252BJzBa" in str(captured)
    assert "pass_ticket=kbmy5Jt9nj%252BJzBa" in str(call.url(WX))


def test_webwxsync_response_and_set_cookie() -> None:
    obj = load("webwxsync-response-emoticon-statusnotify-video-text.json")
    check_base_response("webwxsync", obj)
    result = SyncResponse.from_wire(obj)
    # The publisher merged several answers into this one file: 4 messages.
    assert [m["MsgType"] for m in result.messages] == [m["MsgType"] for m in obj["AddMsgList"]]
    assert len(result.messages) == 4
    assert result.sync_key == result.sync_check_key and len(result.sync_key.pairs) == 7
    cookies = cookies_from_set_cookie(text("webwxsync-response-setcookie.txt").splitlines())
    assert cookies["wxloadtime"] == "1546211541_expired"
    # wxpluginkey is the Val of SyncKey key 1000.
    assert cookies["wxpluginkey"] == str(dict(result.sync_key.pairs)[1000])


async def test_webwxsync_error_1100_keeps_the_old_keys() -> None:
    obj = load("webwxsync-error-1100-response.json")
    with pytest.raises(SessionInvalid) as caught:
        check_base_response("webwxsync", obj)
    assert caught.value.ret == 1100
    conn = Connection(ClientConfig())
    before = SyncKey(((1, 1), (2, 2)))
    conn.sync_key = conn.sync_check_key = before
    result = SyncResponse.from_wire(obj)
    conn.apply_sync_keys(result.sync_key, result.sync_check_key)
    assert conn.sync_key == conn.sync_check_key == before
    await conn.http.close()


# --- sending, upload, revoke (§7, §8) ------------------------------------------------------


def test_webwxsendmsg_request_and_responses() -> None:
    body = load("webwxsendmsg-request.json")
    msg = body["Msg"]
    call = calls_msg.sendmsg(
        creds(body["BaseRequest"]["DeviceID"]),
        UserName(msg["FromUserName"]),
        UserName(msg["ToUserName"]),
        msg["Content"],
        msg["LocalID"],
    )
    assert call.json == body
    assert call.url(WX) == request_url("webwxsendmsg-request-url.txt")
    sent = SendResult.from_wire(load("webwxsendmsg-response.json"), ClientMsgId(msg["LocalID"]))
    assert sent == SendResult(
        MsgId("3053194738703673101"),
        ClientMsgId("15462147414160521"),
        ClientMsgId("15462147414160521"),
    )
    with pytest.raises(NotAFriend):
        check_base_response("webwxsendmsg", load("webwxsendmsg-1204-response.json"))
    assert re.fullmatch(r"\d{17}", calls.new_client_msg_id())


def multipart_fields(name: str) -> tuple[URL, list[tuple[str, str]], str]:
    """``(url, text fields in order, file part's filename)`` of a multipart capture."""
    raw = text(name)
    url = URL(raw.splitlines()[0].split()[1])
    boundary = re.search(r"boundary=(\S+)", raw)
    assert boundary
    fields: list[tuple[str, str]] = []
    file_name = ""
    for part in raw.split("--" + boundary[1])[1:]:
        head, _, value = part.strip("\r\n").partition("\n\n")
        found = re.search(r'name="([^"]+)"(?:; filename="([^"]+)")?', head)
        if not found:
            continue
        if found[2]:
            file_name = found[2]
        else:
            fields.append((found[1], value.strip("\n")))
    return url, fields, file_name


@pytest.mark.parametrize(
    ("name", "size", "chunk"),
    [
        ("webwxuploadmedia-multipart-chunked-request.txt", 3213741, 1),
        ("webwxuploadmedia-multipart-single-request.txt", 63048, 0),
    ],
)
def test_webwxuploadmedia_fields_in_webuploader_order(name: str, size: int, chunk: int) -> None:
    url, captured, file_name = multipart_fields(name)
    values = dict(captured)
    request = json.loads(values["uploadmediarequest"])
    plan = UploadPlan(
        file_id=values["id"],
        name=values["name"],
        mime=values["type"],
        last_modified=values["lastModifiedDate"],
        size=size,
        media_type=UploadMediaType.PIC,
        request=calls_msg.upload_request(
            creds(request["BaseRequest"]["DeviceID"]),
            client_media_id=request["ClientMediaId"],
            size=size,
            from_user=SELF,
            to_user=PEER,
            md5=request["FileMd5"],
        ),
        data_ticket="gSehWtnDWTMh38gmz0IjaFv0",
    )
    assert plan.fields(chunk) == captured
    assert file_name == values["name"]
    assert calls_msg.uploadmedia().url(WX) == url
    assert plan.chunk_bounds(plan.chunks - 1)[1] == size


def test_webwxuploadmedia_response() -> None:
    obj = load("webwxuploadmedia-response.json")
    check_base_response("webwxuploadmedia", obj)
    up = UploadResult.from_wire(obj)
    assert up.media_id.startswith("@crypt_ca8428f8_")
    assert (up.start_pos, up.encry_file_name) == (63048, "IMG%5F1854%2EJPG")


def test_webwxrevokemsg_response() -> None:
    obj = load("webwxrevokemsg-response.json")
    check_base_response("webwxrevokemsg", obj)
    assert RevokeResult.from_wire(obj).introduction.startswith("你可以撤回2分钟内")


# --- downloads (§9) ------------------------------------------------------------------------


def test_webwxgetmsgimg_request() -> None:
    captured = request_url("webwxgetmsgimg-request.txt")
    call = calls_msg.getmsgimg(creds(), MsgId("6929942228714508460"), ImageSize.BIG)
    rebuilt = call.url(WX)
    assert (rebuilt.host, rebuilt.path) == (captured.host, captured.path)
    assert params(rebuilt) == params(captured)


def test_webwxgetvideo_request_sends_range() -> None:
    lines = text("webwxgetvideo-http.txt").splitlines()
    captured = URL("https://wx.qq.com" + lines[0].split()[1])
    call = calls_msg.getvideo(creds(), MsgId("3835382370273594705"))
    assert params(call.url(WX)) == params(captured)
    assert ("Range", "bytes=0-") in call.headers
    assert "Range: bytes=0-" in lines
    assert any(line.startswith("HTTP/1.1 206") for line in lines)

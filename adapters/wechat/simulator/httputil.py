"""Request parsing, cookie authentication and response helpers shared by the route modules."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from . import wire
from .model import Session
from .world import World

WORLD_KEY = web.AppKey("world", World)
APPID = "wx782c26e4c19acffb"
API = "/cgi-bin/mmwebwx-bin"


def world_of(request: web.Request) -> World:
    """The simulator state behind this request's application."""
    return request.app[WORLD_KEY]


async def read_json(request: web.Request) -> dict[str, Any]:
    """The JSON body whatever the Content-Type header says (itchat sends ``ContentType``).

    A missing or malformed body reads as ``{}`` so the caller answers with its auth/param error.
    """
    raw = await request.read()
    try:
        body = json.loads(raw.decode("utf-8", "replace")) if raw else {}
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


#: A UTF-16 surrogate left alone in a Python string (json.loads keeps a lone ``\ud800``).
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(value: Any) -> bool:
    """Whether any string in the JSON value ``value`` holds a lone UTF-16 surrogate, which no
    UTF-8 payload can carry."""
    return _LONE_SURROGATE.search(json.dumps(value, ensure_ascii=False)) is not None


def json_text(body: Any) -> str:
    """``body`` as JSON text (non-ASCII kept) that always encodes to UTF-8: a lone surrogate
    that reached a string (e.g. a ``\ud800`` escape in a client's request) becomes U+FFFD,
    as it would after a round trip through the UTF-8 storage of a real server."""
    return _LONE_SURROGATE.sub("\ufffd", json.dumps(body, ensure_ascii=False))


def api_json(body: Mapping[str, Any], *, status: int = 200) -> web.Response:
    """A JSON API answer; served as ``text/plain`` like the real servers (PROTOCOL.md §1)."""
    return web.Response(
        status=status,
        text=json_text(body),
        content_type="text/plain",
        charset="utf-8",
    )


def control_json(body: Any, *, status: int = 200) -> web.Response:
    """An ``application/json`` answer of the control API."""
    return web.json_response(body, status=status, dumps=json_text)


def control_error(status: int, message: str) -> web.Response:
    """``{"error": message}`` with an HTTP error status."""
    return control_json({"error": message}, status=status)


def script(text: str) -> web.Response:
    """A ``text/javascript`` answer (jslogin, login poll, synccheck)."""
    return web.Response(text=text, content_type="text/javascript", charset="utf-8")


def synccheck_text(retcode: int, selector: int = 0) -> str:
    """``window.synccheck={retcode:"0",selector:"2"}`` exactly (PROTOCOL.md §4)."""
    return f'window.synccheck={{retcode:"{retcode}",selector:"{selector}"}}'


def ticket_matches(given: str, raw: str) -> bool:
    """Whether a decoded ``pass_ticket`` query value is the raw ticket once or twice encoded.

    Also tolerates ``+`` turned into a space by form decoding (PROTOCOL.md §1).
    """
    candidates = {given, urllib.parse.unquote(given), given.replace(" ", "+")}
    return raw in candidates


def authenticate(
    request: web.Request,
    base_request: Any = None,
    *,
    need_base_request: bool = False,
) -> Session | int:
    """The live session named by the cookies, or the Ret/retcode to answer (PROTOCOL.md §13.1).

    Missing ``wxsid``/``wxuin`` cookies → 1100; cookies naming no session → 1102; a dead
    session → its end code (1100 after webwxlogout, 1101 when replaced or logged out by the
    phone). With ``need_base_request`` the body's BaseRequest must match: Uin (number or
    string) and Sid as the cookies, Skey as issued (empty allowed when ``cookie_auth``: UOS
    mode, or a session opened by the non-v2 301 of §2.4) → else 1100. Otherwise a
    ``pass_ticket`` query value must match once or twice decoded (else -14); ``undefined`` is
    always accepted.
    """
    world = world_of(request)
    sid = request.cookies.get("wxsid")
    uin = request.cookies.get("wxuin")
    if not sid or not uin:
        return 1100
    session = world.sessions.get(sid)
    if session is None or str(session.account.uin) != uin:
        return 1102
    if session.ended is not None:
        return session.ended
    if need_base_request:
        if not isinstance(base_request, Mapping):
            return 1100
        if str(base_request.get("Uin")) != uin or base_request.get("Sid") != sid:
            return 1100
        skey = base_request.get("Skey") or ""
        if skey != session.skey and not (session.cookie_auth and skey == ""):
            return 1100
    ticket = request.query.get("pass_ticket")
    if (
        not session.cookie_auth
        and ticket is not None
        and ticket != "undefined"
        and not ticket_matches(ticket, session.pass_ticket)
    ):
        return -14
    return session


def endpoint_of(path: str) -> str:
    """The endpoint name of a path: ``webwxsync``, ``synccheck``, ``jslogin``, ``qrcode``..."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return ""
    if parts[0] == "qrcode":
        return "qrcode"
    return parts[-1]


_SEND = {"MsgID": "", "LocalID": ""}
_MEMBERS = {"MemberCount": 0, "MemberList": []}
_SKELETONS: dict[str, dict[str, Any]] = {
    "webwxstatusnotify": {"MsgID": ""},
    "webwxsendmsg": _SEND,
    "webwxsendmsgimg": _SEND,
    "webwxsendvideomsg": _SEND,
    "webwxsendemoticon": _SEND,
    "webwxsendappmsg": _SEND,
    "webwxgetcontact": {"Seq": 0, **_MEMBERS},
    "webwxbatchgetcontact": {"Count": 0, "ContactList": []},
    "webwxupdatechatroom": _MEMBERS,
    "webwxcreatechatroom": _MEMBERS,
    "webwxrevokemsg": {"Introduction": "", "SysWording": ""},
    "webwxuploadmedia": {
        "MediaId": "",
        "StartPos": 0,
        "CDNThumbImgHeight": 0,
        "CDNThumbImgWidth": 0,
        "EncryFileName": "",
    },
}


def error_response(endpoint: str, ret: int, errmsg: str = "") -> web.Response:
    """The endpoint's failure answer carrying ``ret`` in the shape that endpoint uses.

    JSON APIs get their zeroed skeleton (§3.1, §5, §7); synccheck its script; the login poll
    ``window.code=N;``; jslogin ``window.QRLogin.code = N;``; webwxnewloginpage the ``<error>``
    XML; webwxpushloginurl ``{"ret": "N", "msg": ""}``.
    """
    if endpoint == "synccheck":
        return script(synccheck_text(ret))
    if endpoint == "login":
        return script(f"window.code={ret};")
    if endpoint == "jslogin":
        return script(f"window.QRLogin.code = {ret};")
    if endpoint == "webwxnewloginpage":
        return xml_response(f"<error><ret>{ret}</ret><message>{errmsg}</message></error>")
    if endpoint == "webwxpushloginurl":
        return api_json({"ret": str(ret), "msg": errmsg})
    if endpoint == "webwxinit":
        return api_json(wire.init_error(ret, errmsg))
    if endpoint == "webwxsync":
        return api_json(wire.sync_response(ret, errmsg))
    body = {"BaseResponse": wire.base_response(ret, errmsg), **_SKELETONS.get(endpoint, {})}
    return api_json(body)


def xml_response(text: str, *, status: int = 200) -> web.Response:
    """``text/plain;charset=utf-8`` XML, as webwxnewloginpage answers (§2.4)."""
    return web.Response(status=status, text=text, content_type="text/plain", charset="utf-8")


def _expires(seconds: float) -> str:
    # Real time, not the simulator clock: cookie jars judge expiry with the wall clock.
    return time.strftime("%a, %d-%b-%Y %H:%M:%S GMT", time.gmtime(time.time() + seconds))


def add_cookie(response: web.StreamResponse, name: str, value: str, lifetime_s: float) -> None:
    """Append a host-only ``Set-Cookie`` with the value unquoted, as the servers send it.

    No ``Domain`` (hosts collapse onto one base URL) and no ``Secure`` (plain HTTP).
    """
    response.headers.add("Set-Cookie", f"{name}={value}; Path=/; Expires={_expires(lifetime_s)}")


HALF_DAY = 12 * 3600.0
TEN_YEARS = 10 * 365 * 86400.0


def set_login_cookies(response: web.StreamResponse, session: Session, now: int) -> None:
    """The cookies of a successful webwxnewloginpage (PROTOCOL.md §2.4)."""
    add_cookie(response, "wxuin", str(session.account.uin), HALF_DAY)
    add_cookie(response, "wxsid", session.sid, HALF_DAY)
    add_cookie(response, "wxloadtime", str(now), HALF_DAY)
    add_cookie(response, "mm_lang", "zh_CN", HALF_DAY)
    add_cookie(response, "webwx_data_ticket", session.data_ticket, HALF_DAY)
    add_cookie(response, "webwxuvid", session.uvid, TEN_YEARS)
    add_cookie(response, "webwx_auth_ticket", session.auth_ticket, TEN_YEARS)


def refresh_sync_cookies(response: web.StreamResponse, session: Session, plugin_key: int) -> None:
    """The cookies webwxsync refreshes (PROTOCOL.md §5)."""
    add_cookie(response, "wxloadtime", f"{session.login_time}_expired", HALF_DAY)
    add_cookie(response, "wxpluginkey", str(plugin_key), HALF_DAY)
    add_cookie(response, "wxuin", str(session.account.uin), 3 * 86400.0)
    add_cookie(response, "wxsid", session.sid, HALF_DAY)
    add_cookie(response, "webwx_data_ticket", session.data_ticket, HALF_DAY)

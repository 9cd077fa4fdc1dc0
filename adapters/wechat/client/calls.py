"""Pure builders of the login, contact and sync requests (PROTOCOL.md §2–§5), as ``Call`` values."""

from __future__ import annotations

import base64
import enum
import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import attrs
from yarl import URL

from adapters.wechat.client.types import Credentials, Hosts, SyncKey, UserName, Uuid, is_group

APPID = "wx782c26e4c19acffb"
LANG = "zh_CN"
CGI = "/cgi-bin/mmwebwx-bin/"
#: Where the QR code points; the phone app resolves it whatever host serves the login.
QR_CONTENT_BASE = "https://login.weixin.qq.com/l/"
#: Batch size of webwxbatchgetcontact (official client and itchat, §3.4).
BATCH_SIZE = 50


class Role(enum.Enum):
    """The host role a request goes to (PROTOCOL.md §1)."""

    LOGIN = "login"
    API = "api"
    FILE = "file"
    PUSH = "push"


@attrs.frozen
class Call:
    """One HTTP request to WeChat, independent of hosts and transport.

    ``endpoint`` names it in logs (never the URL: it carries skey/pass_ticket). ``raw_query`` is
    an already-encoded query prefix (the redirect_uri of the login poll); ``params`` are
    appended after it, each value percent-encoded like JavaScript's encodeURIComponent.
    ``json`` is a JSON body, ``form`` an urlencoded form body. Secrets stay out of ``repr``.
    """

    endpoint: str
    role: Role
    path: str
    method: str = "GET"
    params: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)
    raw_query: str = attrs.field(default="", repr=False)
    json: Mapping[str, Any] | None = attrs.field(default=None, repr=False, eq=False)
    form: tuple[tuple[str, str], ...] | None = attrs.field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)

    def url(self, hosts: Hosts) -> URL:
        """The absolute URL of this call on ``hosts``."""
        base = getattr(hosts, self.role.value).rstrip("/")
        encoded = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in self.params)
        query = "&".join(part for part in (self.raw_query, encoded) if part)
        return URL(f"{base}{self.path}" + (f"?{query}" if query else ""), encoded=True)

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name`` (unencoded), or None."""
        return next((v for k, v in self.params if k == name), None)


def now_ms() -> int:
    """Current time in milliseconds since the epoch."""
    return int(time.time() * 1000)


def js_not(value: int) -> int:
    """JavaScript ``~value``: NOT of the 32-bit signed truncation (the ``r``/``rr`` values)."""
    low = value & 0xFFFFFFFF
    if low >= 1 << 31:
        low -= 1 << 32
    return ~low


def new_device_id() -> str:
    """A DeviceID: ``e`` + 15 random decimal digits (PROTOCOL.md §1)."""
    return "e" + "".join(secrets.choice("0123456789") for _ in range(15))


def new_client_msg_id(ms: int | None = None) -> str:
    """A LocalID/ClientMsgId like the official client's: ms timestamp + "0" + 3 random digits
    (17 digits, §7)."""
    return f"{now_ms() if ms is None else ms}0{secrets.randbelow(1000):03d}"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _pb_bytes(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _pb_int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _build_extspam() -> str:
    # Same protobuf layout as the published values (§2.4), with our own opaque blob: the
    # server only ever checked that the header is present.
    blob = b"".join(hashlib.sha256(b"chatbridge extspam %d" % i).digest() for i in range(20))
    inner = (
        _pb_bytes(1, b"00000001")
        + _pb_int(2, 6)
        + _pb_bytes(3, blob)
        + _pb_int(4, 1700000000)
        + _pb_int(5, 5)
        + _pb_int(6, 0)
    )
    return base64.b64encode(_pb_bytes(3, _pb_int(1, len(inner)) + _pb_bytes(2, inner))).decode()


#: The UOS ``extspam`` header value (base64 protobuf, §2.4); this project's own constant.
EXTSPAM = _build_extspam()
UOS_CLIENT_VERSION = "2.0.0"


def _cgi(endpoint: str, role: Role = Role.API, method: str = "GET", **kwargs: Any) -> Call:
    return Call(endpoint=endpoint, role=role, path=CGI + endpoint, method=method, **kwargs)


def _pt(creds: Credentials) -> tuple[str, str]:
    return ("pass_ticket", creds.pass_ticket)


def jslogin(api_base: str, *, uos: bool, ms: int) -> Call:
    """jslogin: ask for a QR uuid (§2.1). ``api_base`` is the page host of the redirect_uri."""
    redirect = f"{api_base.rstrip('/')}{CGI}webwxnewloginpage" + ("?mod=desktop" if uos else "")
    params = (
        ("appid", APPID),
        ("redirect_uri", redirect),
        ("fun", "new"),
        ("lang", LANG),
        ("_", str(ms)),
    )
    return Call(endpoint="jslogin", role=Role.LOGIN, path="/jslogin", params=params)


def login_poll(uuid: Uuid, *, tip: int, ms: int, counter: int) -> Call:
    """Login poll (§2.3): ``tip=1`` on the first poll after showing the QR, then ``tip=0``."""
    params = (
        ("loginicon", "true"),
        ("uuid", uuid),
        ("tip", str(tip)),
        ("r", str(js_not(ms))),
        ("_", str(counter)),
    )
    return _cgi("login", Role.LOGIN, params=params)


def newloginpage(redirect_uri: str, *, uos: bool, api_base: str) -> Call:
    """webwxnewloginpage (§2.4): ``redirect_uri`` (already encoded) + ``fun=new&version=v2``
    on the API host; UOS adds ``mod=desktop`` and the client-version/extspam/Referer headers."""
    url = URL(redirect_uri, encoded=True)
    params = [("fun", "new"), ("version", "v2")]
    headers: tuple[tuple[str, str], ...] = ()
    if uos:
        if "mod" not in url.query:
            params.append(("mod", "desktop"))
        headers = (
            ("client-version", UOS_CLIENT_VERSION),
            ("extspam", EXTSPAM),
            ("Referer", f"{api_base.rstrip('/')}/?&lang={LANG}&target=t"),
        )
    return Call(
        endpoint="webwxnewloginpage",
        role=Role.API,
        path=url.raw_path,
        params=tuple(params),
        raw_query=url.raw_query_string,
        headers=headers,
    )


def pushloginurl(uin: str, *, uos: bool) -> Call:
    """webwxpushloginurl (§2.5): ask the phone to confirm a login without QR."""
    params = (("uin", uin),) + ((("mod", "desktop"),) if uos else ())
    return _cgi("webwxpushloginurl", params=params)


def logout(creds: Credentials, *, kind: int = 1) -> Call:
    """webwxlogout (§2.6): form ``sid``/``uin``; ``kind`` 0 after retcode 1100, else 1."""
    params = (("redirect", "1"), ("type", str(kind)), ("skey", creds.skey))
    form = (("sid", creds.sid), ("uin", creds.uin))
    return _cgi("webwxlogout", method="POST", params=params, form=form)


def webwxinit(creds: Credentials, *, ms: int) -> Call:
    """webwxinit (§3.1); Uin is sent as a string, as the official client does here."""
    base = dict(creds.base_request(), Uin=creds.uin)
    params = (("r", str(js_not(ms))), ("lang", LANG), _pt(creds))
    return _cgi("webwxinit", method="POST", params=params, json={"BaseRequest": base})


def statusnotify(
    creds: Credentials, *, code: int, from_user: UserName, to_user: UserName, ms: int
) -> Call:
    """webwxstatusnotify (§3.2): Code 3 after init (To = From = self), 1 to mark read."""
    body = {
        "BaseRequest": creds.base_request(),
        "Code": code,
        "FromUserName": from_user,
        "ToUserName": to_user,
        "ClientMsgId": ms,
    }
    params = (("lang", LANG), _pt(creds))
    return _cgi("webwxstatusnotify", method="POST", params=params, json=body)


def getcontact(creds: Credentials, *, seq: int, ms: int) -> Call:
    """webwxgetcontact page ``seq`` (0 = first) (§3.3)."""
    params = (("lang", LANG), _pt(creds), ("r", str(ms)), ("seq", str(seq)), ("skey", creds.skey))
    return _cgi("webwxgetcontact", params=params)


def batch_entry(user_name: UserName, chat_room: UserName | None = None) -> dict[str, str]:
    """One ``List`` entry of webwxbatchgetcontact (§3.4): a group (``ChatRoomId: ""``), a
    member of ``chat_room`` (``EncryChatRoomId`` = the group's UserName) or a contact."""
    if chat_room:
        return {"UserName": user_name, "EncryChatRoomId": chat_room}
    if is_group(user_name):
        return {"UserName": user_name, "ChatRoomId": ""}
    return {"UserName": user_name, "EncryChatRoomId": ""}


def batchgetcontact(creds: Credentials, entries: Sequence[Mapping[str, str]], *, ms: int) -> Call:
    """webwxbatchgetcontact for at most ``BATCH_SIZE`` entries (§3.4)."""
    if len(entries) > BATCH_SIZE:
        raise ValueError(f"at most {BATCH_SIZE} entries per webwxbatchgetcontact")
    body = {"BaseRequest": creds.base_request(), "Count": len(entries), "List": list(entries)}
    params = (("type", "ex"), ("r", str(ms)), ("lang", LANG), _pt(creds))
    return _cgi("webwxbatchgetcontact", method="POST", params=params, json=body)


def batches(items: Iterable[Mapping[str, str]], size: int = BATCH_SIZE) -> list[list[Any]]:
    """Split ``items`` into lists of at most ``size`` (the webwxbatchgetcontact batches)."""
    listed = list(items)
    return [listed[i : i + size] for i in range(0, len(listed), size)]


def synccheck(creds: Credentials, check_key: SyncKey, *, ms: int, counter: int) -> Call:
    """synccheck long poll on the push host with the formatted SyncCheckKey (§4)."""
    params = (
        ("r", str(ms)),
        ("skey", creds.skey),
        ("sid", creds.sid),
        ("uin", creds.uin),
        ("deviceid", creds.device_id),
        ("synckey", check_key.formatted()),
        ("_", str(counter)),
    )
    return _cgi("synccheck", Role.PUSH, params=params)


def webwxsync(creds: Credentials, sync_key: SyncKey, *, ms: int) -> Call:
    """webwxsync with the SyncKey (not the SyncCheckKey) in the body (§5)."""
    params = (("sid", creds.sid), ("skey", creds.skey), ("lang", LANG), _pt(creds))
    body = {"BaseRequest": creds.base_request(), "SyncKey": sync_key.to_wire(), "rr": js_not(ms)}
    return _cgi("webwxsync", method="POST", params=params, json=body)

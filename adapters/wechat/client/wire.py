"""Pure parsers of WeChat web responses: JS assignments, login XML, Set-Cookie, JSON bodies."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import unquote
from xml.etree.ElementTree import Element, ParseError

import attrs
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from adapters.wechat.client.errors import (
    LoginCancelled,
    LoginError,
    LoginRefused,
    ProtocolError,
    QRExpired,
    api_error,
)
from adapters.wechat.client.types import Credentials, Uuid

_JSLOGIN = re.compile(
    r'window\.QRLogin\.code\s*=\s*(\d+)\s*;(?:\s*window\.QRLogin\.uuid\s*=\s*"([^"]*)")?'
)
_POLL_CODE = re.compile(r"window\.code\s*=\s*(\d+)")
_POLL_REDIRECT = re.compile(r'window\.redirect_uri\s*=\s*"([^"]+)"')
_POLL_AVATAR = re.compile(r"window\.userAvatar\s*=\s*'([^']*)'")
_SYNCCHECK = re.compile(r'retcode\s*:\s*"(\d+)"\s*,\s*selector\s*:\s*"(\d+)"')


def parse_jslogin(text: str) -> Uuid:
    """Parse the jslogin answer ``window.QRLogin.code = 200; window.QRLogin.uuid = "…";``.

    Returns the QR uuid (PROTOCOL.md §2.1). Raises ``ProtocolError`` if the body has no
    ``QRLogin.code`` and ``LoginError`` for a non-200 code or a missing uuid.
    """
    match = _JSLOGIN.search(text)
    if match is None:
        raise ProtocolError("jslogin: no window.QRLogin.code in the response")
    code = int(match[1])
    if code != 200 or not match[2]:
        raise LoginError(f"jslogin answered code {code} without a QR uuid")
    return Uuid(match[2])


@attrs.frozen
class LoginWaiting:
    """Login poll code 408: nothing happened yet, poll again with ``tip=0`` (§2.3)."""


@attrs.frozen
class LoginScanned:
    """Login poll code 201: the QR was scanned, waiting for confirmation on the phone (§2.3).

    ``avatar`` is the ``data:img/jpg;base64,…`` URI of the scanner's avatar, or "".
    """

    avatar: str = attrs.field(default="", repr=False)

    def avatar_jpeg(self) -> bytes | None:
        """The avatar image bytes, or None when absent or not valid base64."""
        _, sep, payload = self.avatar.partition("base64,")
        if not sep or not payload:
            return None
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return None


@attrs.frozen
class LoginConfirmed:
    """Login poll code 200: confirmed; ``redirect_uri`` (holds the login ticket, a secret) leads
    to webwxnewloginpage and its host decides the API host (§2.3, §1)."""

    redirect_uri: str = attrs.field(repr=False)


LoginPoll = LoginWaiting | LoginScanned | LoginConfirmed


def parse_login_poll(text: str) -> LoginPoll:
    """Parse one login poll answer (``window.code=…;`` …, PROTOCOL.md §2.3).

    Returns ``LoginWaiting`` (408), ``LoginScanned`` (201) or ``LoginConfirmed`` (200).
    Raises ``QRExpired`` (400, 500), ``LoginCancelled`` (202) and ``ProtocolError`` for any
    other answer (including 200 without a redirect_uri).
    """
    match = _POLL_CODE.search(text)
    if match is None:
        raise ProtocolError("login poll: no window.code in the response")
    code = int(match[1])
    if code == 408:
        return LoginWaiting()
    if code == 201:
        avatar = _POLL_AVATAR.search(text)
        return LoginScanned(avatar[1] if avatar else "")
    if code == 200:
        redirect = _POLL_REDIRECT.search(text)
        if redirect is None:
            raise ProtocolError("login poll: code 200 without window.redirect_uri")
        return LoginConfirmed(redirect[1])
    if code == 400:
        raise QRExpired("the QR code expired (login poll code 400)")
    if code == 500:
        raise QRExpired("the login poll failed on the server (code 500); a new QR is needed")
    if code == 202:
        raise LoginCancelled("the login was cancelled on the phone (login poll code 202)")
    raise ProtocolError(f"login poll: unknown code {code}")


def cookies_from_set_cookie(headers: Iterable[str]) -> dict[str, str]:
    """Cookie name → value from raw ``Set-Cookie`` header values (or ``Set-Cookie: …`` lines).

    Malformed headers are skipped. Used for webwxnewloginpage, whose cookies carry wxsid/wxuin
    when the body is not XML (§2.4).
    """
    result: dict[str, str] = {}
    for header in headers:
        raw = header.split(":", 1)[1] if header.lower().startswith("set-cookie:") else header
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw.strip())
        except CookieError:
            continue
        for name, morsel in jar.items():
            result[name] = morsel.value
    return result


def _xml_text(root: Element, tag: str) -> str:
    node = root.find(tag)
    return (node.text or "").strip() if node is not None else ""


def parse_newloginpage(body: str, cookies: Mapping[str, str], device_id: str) -> Credentials:
    """Credentials from a webwxnewloginpage answer (PROTOCOL.md §2.4).

    ``body`` is the XML ``<error><ret>0</ret>…<skey/><wxsid/><wxuin/><pass_ticket/></error>``
    (or empty/HTML after a 301 without Location), ``cookies`` the Set-Cookie values of that
    answer. XML values win; wxsid/wxuin fall back to the cookies, skey and pass_ticket to "".
    Raises ``LoginRefused`` for ``ret`` 1203, ``LoginError`` for any other non-zero ``ret``, a
    ``<redirecturl>`` or when neither source yields wxsid and wxuin.
    """
    skey = sid = uin = pass_ticket = ""
    text = body.strip()
    if text.startswith("<error"):
        try:
            root = fromstring(text)
        except (ParseError, DefusedXmlException):
            raise ProtocolError("webwxnewloginpage: unparseable XML") from None
        ret_text = _xml_text(root, "ret")
        ret = int(ret_text) if ret_text.lstrip("-").isdigit() else -1
        message = _xml_text(root, "message")
        if ret == 1203:
            raise LoginRefused(message)
        if ret != 0:
            raise LoginError(f"webwxnewloginpage answered ret {ret}: {message}")
        if _xml_text(root, "redirecturl"):
            raise LoginError("webwxnewloginpage asked to open a verification page in a browser")
        skey = _xml_text(root, "skey")
        sid = _xml_text(root, "wxsid")
        uin = _xml_text(root, "wxuin")
        pass_ticket = _xml_text(root, "pass_ticket")
    sid = sid or cookies.get("wxsid", "")
    uin = uin or cookies.get("wxuin", "")
    if not sid or not uin:
        raise LoginError("webwxnewloginpage gave neither XML credentials nor wxsid/wxuin cookies")
    return Credentials(uin=uin, sid=sid, skey=skey, pass_ticket=pass_ticket, device_id=device_id)


@attrs.frozen
class SyncCheck:
    """A synccheck answer ``window.synccheck={retcode:"0",selector:"2"}`` (PROTOCOL.md §4)."""

    retcode: int
    selector: int

    @property
    def has_news(self) -> bool:
        """True when webwxsync should be called: retcode 0 and any non-zero selector."""
        return self.retcode == 0 and self.selector != 0


def parse_synccheck(text: str) -> SyncCheck:
    """Parse a synccheck answer. Raises ``ProtocolError`` if it has no retcode/selector."""
    match = _SYNCCHECK.search(text)
    if match is None:
        raise ProtocolError("synccheck: no retcode/selector in the response")
    return SyncCheck(retcode=int(match[1]), selector=int(match[2]))


_DISPOSITION_EXT = re.compile(r"filename\*\s*=\s*([\w-]+)'[^']*'([^;\s]+)", re.I)
_DISPOSITION = re.compile(r'filename\s*=\s*(?:"([^"]*)"|([^;\s]+))', re.I)


def disposition_filename(header: str) -> str:
    """The file name of a Content-Disposition header (§9): the RFC 5987 ``filename*`` when
    present, else ``filename`` as given; "" when there is none."""
    extended = _DISPOSITION_EXT.search(header)
    if extended:
        try:
            return unquote(extended[2], encoding=extended[1], errors="strict")
        except (LookupError, UnicodeDecodeError):
            pass
    plain = _DISPOSITION.search(header)
    if plain is None:
        return ""
    return plain[1] if plain[1] is not None else plain[2]


def load_json(endpoint: str, body: bytes) -> dict[str, Any]:
    """Decode a JSON API body (UTF-8, served as text/plain) into an object.

    Raises ``ProtocolError`` (naming ``endpoint``) if it is not a JSON object.
    """
    try:
        value = json.loads(body.decode("utf-8", errors="replace"), strict=False)
    except ValueError:
        raise ProtocolError(f"{endpoint}: response is not JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"{endpoint}: response is not a JSON object")
    return value


def base_ret(obj: Mapping[str, Any]) -> tuple[int, str]:
    """``(Ret, ErrMsg)`` of ``BaseResponse``; a missing/odd BaseResponse counts as Ret -1."""
    base = obj.get("BaseResponse")
    if not isinstance(base, Mapping):
        return -1, ""
    try:
        ret = int(base.get("Ret", -1))
    except (TypeError, ValueError, OverflowError):
        ret = -1
    return ret, str(base.get("ErrMsg") or "")


def check_base_response(endpoint: str, obj: Mapping[str, Any]) -> None:
    """Raise the ``ApiError`` subclass for a non-zero ``BaseResponse.Ret`` (PROTOCOL.md §1)."""
    ret, errmsg = base_ret(obj)
    if ret != 0:
        raise api_error(endpoint, ret, errmsg)


def parse_pushloginurl(obj: Mapping[str, Any]) -> Uuid:
    """The uuid of a webwxpushloginurl answer ``{"ret":"0","msg":"all ok","uuid":"…"}`` (§2.5).

    Raises ``LoginError`` when ``ret`` is not "0" or the uuid is missing.
    """
    ret = str(obj.get("ret", ""))
    uuid = str(obj.get("uuid") or "")
    if ret != "0" or not uuid:
        raise LoginError(f"push login refused (ret {ret or '?'}: {obj.get('msg', '')})")
    return Uuid(uuid)

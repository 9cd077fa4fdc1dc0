"""The login flow: QR uuid, login poll, webwxnewloginpage, push login and logout (§2)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from yarl import URL

from adapters.wechat.client import calls
from adapters.wechat.client.connection import Connection
from adapters.wechat.client.errors import HttpStatusError, NetworkError, QRExpired
from adapters.wechat.client.qr import QRCode
from adapters.wechat.client.types import Credentials, Hosts, Uuid
from adapters.wechat.client.wire import (
    LoginConfirmed,
    LoginPoll,
    LoginScanned,
    parse_jslogin,
    parse_login_poll,
    parse_newloginpage,
    parse_pushloginurl,
)

log = logging.getLogger(__name__)

ScanCallback = Callable[[LoginScanned], Awaitable[None]]
_WECHAT_DOMAINS = ("qq.com", "wechat.com", "wechatapp.com")


async def request_qr(conn: Connection) -> QRCode:
    """jslogin: a fresh QR code (PROTOCOL.md §2.1). Raises ``LoginError``/``NetworkError``."""
    call = calls.jslogin(conn.hosts.api, uos=conn.config.uos, ms=calls.now_ms())
    reply = await conn.http.send(call, conn.hosts)
    return QRCode(parse_jslogin(reply.text()))


async def poll_once(conn: Connection, uuid: Uuid, *, tip: int) -> LoginPoll:
    """One login poll (§2.3), held by the server up to ~25 s.

    Returns ``LoginWaiting``/``LoginScanned``/``LoginConfirmed``; raises ``QRExpired``,
    ``LoginCancelled``, ``NetworkError``.
    """
    call = calls.login_poll(uuid, tip=tip, ms=calls.now_ms(), counter=conn.next_counter())
    reply = await conn.http.send(call, conn.hosts, time_limit=conn.config.long_poll_timeout)
    outcome = parse_login_poll(reply.text())
    log.debug("login poll: %s", type(outcome).__name__)
    return outcome


async def wait_for_confirmation(
    conn: Connection,
    uuid: Uuid,
    on_scanned: ScanCallback | None = None,
    *,
    max_polls: int | None = None,
) -> str:
    """Poll (``tip=1`` first, then ``tip=0``) until the phone confirms; returns the
    redirect_uri (a secret). ``on_scanned`` is awaited once, at the first 201.

    Raises ``QRExpired`` (400/500, or no confirmation within ``max_polls`` polls),
    ``LoginCancelled`` (202), ``NetworkError``.
    """
    tip = 1
    scanned = False
    polls = 0
    while True:
        if max_polls is not None and polls >= max_polls:
            raise QRExpired(f"the login was not confirmed within {max_polls} polls")
        polls += 1
        outcome = await poll_once(conn, uuid, tip=tip)
        tip = 0
        if isinstance(outcome, LoginConfirmed):
            return outcome.redirect_uri
        if isinstance(outcome, LoginScanned) and not scanned:
            scanned = True
            if on_scanned is not None:
                await on_scanned(outcome)


def api_base_for(redirect_uri: str, base_url: str | None) -> tuple[str, str]:
    """``(api_base, redirect_uri)`` after the login poll: the API host is the redirect_uri's
    host (PROTOCOL.md §1, §2.3), unless a configured ``base_url`` must replace a real WeChat
    host (then the redirect_uri is moved onto ``base_url``)."""
    url = URL(redirect_uri, encoded=True)
    host = url.host or ""
    if base_url and (not host or any(host.endswith(d) for d in _WECHAT_DOMAINS)):
        base = base_url.rstrip("/")
        rest = url.raw_path + (f"?{url.raw_query_string}" if url.raw_query_string else "")
        return base, base + rest
    return str(url.origin()), redirect_uri


async def open_session(conn: Connection, redirect_uri: str) -> Credentials:
    """webwxnewloginpage (§2.4): switch to the redirect_uri's API host (and the §1 file and
    push hosts), read the credentials from the XML body or, failing that, the cookies.

    Sets ``conn.hosts`` and ``conn.credentials``. Raises ``LoginRefused`` (ret 1203),
    ``LoginError``, ``NetworkError``.
    """
    api_base, redirect_uri = api_base_for(redirect_uri, conn.config.base_url)
    conn.hosts = Hosts.for_api_host(api_base)
    call = calls.newloginpage(redirect_uri, uos=conn.config.uos, api_base=api_base)
    reply = await conn.http.send(
        call, conn.hosts, allow_redirects=False, ok_status=frozenset({200, 301, 302})
    )
    creds = parse_newloginpage(reply.text(), reply.cookies, calls.new_device_id())
    skey_state = "set" if creds.skey else "empty"
    log.info("webwxnewloginpage ok (HTTP %d, skey %s)", reply.status, skey_state)
    conn.credentials = creds
    return creds


async def push_login_uuid(conn: Connection) -> Uuid:
    """webwxpushloginurl (§2.5) with the uin and cookies of a previous session: asks the phone
    to confirm; returns the uuid to poll. Raises ``NoSession`` without a previous session,
    ``LoginError`` when refused, ``NetworkError``."""
    uin = conn.creds().uin
    reply = await conn.http.send(calls.pushloginurl(uin, uos=conn.config.uos), conn.hosts)
    return parse_pushloginurl(reply.json())


async def logout(conn: Connection, *, kind: int = 1) -> None:
    """webwxlogout (§2.6), best effort: failures are logged, never raised."""
    if conn.credentials is None:
        return
    call = calls.logout(conn.credentials, kind=kind)
    try:
        await conn.http.send(
            call,
            conn.hosts,
            retry=False,
            allow_redirects=False,
            ok_status=frozenset({200, 301, 302}),
        )
    except (NetworkError, HttpStatusError) as exc:
        log.warning("webwxlogout failed: %s", exc)

"""Login host and session lifecycle: jslogin, QR, login poll, newloginpage, push login, logout."""

from __future__ import annotations

import base64

from aiohttp import web

from . import blobs, ids
from .httputil import (
    API,
    APPID,
    api_json,
    authenticate,
    script,
    set_login_cookies,
    world_of,
    xml_response,
)
from .model import Account, Login, Session
from .world import World

#: The 2017 refusal text (sample webwxnewloginpage-1203-refused.xml, PROTOCOL.md §2.4).
REFUSED_1203 = (
    "当前登录环境异常。为了你的帐号安全，暂时不能登录web微信。"
    "你可以通过手机客户端或者windows微信登录。"
)
_AVATAR = base64.b64encode(blobs.jpeg("avatar", 256)).decode()


def scan(world: World, account: Account, login: Login, *, confirm: bool, cancel: bool) -> None:
    """``account``'s phone scans ``login``'s QR: 201, then 200 when it confirms, 202 on cancel."""
    login.account = account
    if cancel:
        login.set(202)
        return
    if login.code != 201:
        login.set(201)
    if confirm:
        login.ticket = ids.login_ticket()
        login.set(200)


def _auto_scan(world: World, login: Login) -> None:
    candidates = [login.account] if login.account else list(world.accounts.values())
    for account in candidates:
        if account is not None and account.auto_scan:
            scan(world, account, login, confirm=True, cancel=False)
            return


async def _jslogin_params(request: web.Request) -> dict[str, str]:
    """The jslogin parameters: the query string, plus a POST's form fields (urlencoded or
    multipart), which win."""
    params = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        try:
            form = await request.post()
        except ValueError:
            form = None
        if form is not None:
            params.update((key, value) for key, value in form.items() if isinstance(value, str))
    return params


async def jslogin(request: web.Request) -> web.Response:
    """``GET|POST /jslogin?appid=wx782c26e4c19acffb&fun=new…`` → a new QR uuid (§2.1).

    A POST is answered like the GET. Clients in the field POST it, with the parameters in
    the query or in the body: bipt-urt/wechat_spider_3 ``uuidGet.py`` (urlencoded body,
    appid only), mu1902/ChatFilter ``index.js`` (multipart form), the web API notes of
    81724097/robot ``README.md`` ("method: post"). Another appid → ``code = 400``.
    """
    world = world_of(request)
    params = await _jslogin_params(request)
    if params.get("appid") != APPID:
        return script("window.QRLogin.code = 400;")
    desktop = "mod=desktop" in params.get("redirect_uri", "")
    login = Login(uuid=ids.qr_uuid(), created=world.now(), desktop=desktop)
    world.logins[login.uuid] = login
    _auto_scan(world, login)
    return script(f'window.QRLogin.code = 200; window.QRLogin.uuid = "{login.uuid}";')


async def qrcode(request: web.Request) -> web.Response:
    """``GET /qrcode/<uuid>`` → JPEG bytes (§2.2). Unknown uuids still get an image."""
    uuid = request.match_info["uuid"]
    return web.Response(body=blobs.jpeg("qr:" + uuid), content_type="image/jpeg")


def _expire(world: World, login: Login) -> None:
    if login.code in (408, 201) and world.now() - login.created > world.options.qr_ttl_s:
        login.set(400)


def _waiting(login: Login) -> bool:
    return login.code == 408 or (login.code == 201 and login.reported == 201)


async def login_poll(request: web.Request) -> web.Response:
    """``GET …/login?loginicon=true&uuid=…&tip=1`` long poll (PROTOCOL.md §2.3).

    Holds up to ``login_poll_hold_s`` while nothing new happened, then ``window.code=408;``.
    A scan reports 201 once (with ``window.userAvatar`` when ``loginicon=true``); confirmation
    reports 200 with a redirect_uri on this same base URL; 400 expired, 202 cancelled, 500 error.
    """
    world = world_of(request)
    login = world.logins.get(request.query.get("uuid", ""))
    if login is None:
        return script("window.code=400;")
    _expire(world, login)
    if _waiting(login):
        deadline = world.now() + world.options.login_poll_hold_s
        while _waiting(login) and world.now() < deadline:
            await login.wait(deadline - world.now())
            _expire(world, login)
    code = login.code
    if _waiting(login):
        body = "window.code=408;"
    elif code == 201:
        body = "window.code=201;"
        if request.query.get("loginicon") == "true":
            body += f"window.userAvatar = 'data:img/jpg;base64,{_AVATAR}';"
    elif code == 200:
        base = f"{request.scheme}://{request.host}"
        scan_time = int(world.now())
        uri = (
            f"{base}{API}/webwxnewloginpage?ticket={login.ticket}&uuid={login.uuid}"
            f"&lang=zh_CN&scan={scan_time}"
        )
        if login.desktop:
            uri += "&mod=desktop"
        body = f'window.code=200;window.redirect_uri="{uri}";'
    else:
        body = f"window.code={code};"
    login.reported = code
    return script(body)


def _is_uos(request: web.Request, login: Login) -> bool:
    headers = "client-version" in request.headers and "extspam" in request.headers
    return headers and (login.desktop or request.query.get("mod") == "desktop")


def start_session(world: World, account: Account, *, uos: bool) -> Session:
    """Open a web session for ``account``: fresh UserNames for everyone, the previous session
    ended with 1101 (logged in elsewhere), messages kept by the phone queued for the first sync.
    """
    session = Session(account=account, uos=uos, login_time=int(world.now()))
    for real_id in [*account.contacts, *account.groups]:
        session.user_name(real_id)
    old = account.live_session()
    if old is not None:
        old.end(1101)
    account.session = session
    account.auth_tickets.add(session.auth_ticket)
    world.sessions[session.sid] = session
    for selector, template in account.offline:
        session.push(selector, message=template)
    account.offline.clear()
    return session


async def newloginpage(request: web.Request) -> web.Response:
    """``GET …/webwxnewloginpage?ticket=…&uuid=…`` → credentials as XML and cookies (§2.4).

    With ``fun=new&version=v2`` (the official client): 200, the ``<error><ret>0</ret>…`` XML
    and the session cookies (sample webwxnewloginpage-ok-http.txt). Without ``version=v2``:
    **301 without Location**, the same Set-Cookie headers and the same XML as its body. That
    one answer serves every kind of client the sources show: those of 2019–2022 that read
    only the cookies of that 301 (openwechat issues #11, #90, #102, #319, which is why
    openwechat ``mode.go`` adds ``version=v2``); itchat-uos 1.4.1, which requests the URI as
    given and takes wxsid/wxuin from the cookies (``components/login.py``
    ``process_login_info``, skey left ""); and itchat 1.3.10, which requests it with
    ``allow_redirects=False`` and parses the body as XML (same function), as it could only
    do if the server sent the XML on that non-v2 answer, redirect or not.

    A session opened by the 301 takes an empty Skey and any pass_ticket, as UOS sessions do
    (``Session.cookie_auth``): a client that read only the cookies has neither.

    With ``strict_v2`` the non-v2 answer carries no body (the blocked accounts of the
    openwechat issues: credentials only in the cookies). Answers ``ret`` 1203 for accounts
    that refuse web login, and for ``require_uos`` accounts when the UOS headers
    (``client-version``, ``extspam``) or ``mod=desktop`` are missing.
    """
    world = world_of(request)
    login = world.logins.get(request.query.get("uuid", ""))
    ticket = request.query.get("ticket", "")
    if login is None or login.code != 200 or login.consumed or login.ticket != ticket:
        return xml_response("<error><ret>1</ret><message>invalid login ticket</message></error>")
    account = login.account
    if account is None:
        return xml_response("<error><ret>1</ret><message>invalid login ticket</message></error>")
    uos = _is_uos(request, login)
    if account.refuse_login or (account.require_uos and not uos):
        login.consumed = True
        return xml_response(f"<error><ret>1203</ret><message>{REFUSED_1203}</message></error>")
    login.consumed = True
    session = start_session(world, account, uos=uos)
    v2 = request.query.get("fun") == "new" and request.query.get("version") == "v2"
    session.cookie_login = not v2
    xml = (
        f"<error><ret>0</ret><message></message><skey>{session.skey}</skey>"
        f"<wxsid>{session.sid}</wxsid><wxuin>{account.uin}</wxuin>"
        f"<pass_ticket>{ids.encoded_ticket(session.pass_ticket)}</pass_ticket>"
        "<isgrayscale>1</isgrayscale></error>"
    )
    if v2:
        response = xml_response(xml)
    elif world.options.strict_v2:
        response = web.Response(status=301)
    else:
        response = xml_response(xml, status=301)
    set_login_cookies(response, session, session.login_time)
    return response


async def pushloginurl(request: web.Request) -> web.Response:
    """``GET …/webwxpushloginurl?uin=…`` → ``{"ret":"0","msg":"all ok","uuid":"…"}`` (§2.5).

    Needs the cookies of a previous login of that account (``wxuin`` and
    ``webwx_auth_ticket``); otherwise ``ret`` "1". The phone then confirms via ``/_sim/scan``
    (or at once when the account has ``auto_scan``).
    """
    world = world_of(request)
    uin = request.query.get("uin", "")
    account = next((a for a in world.accounts.values() if str(a.uin) == uin), None)
    ticket = request.cookies.get("webwx_auth_ticket", "")
    if account is None or request.cookies.get("wxuin") != uin or ticket not in account.auth_tickets:
        return api_json({"ret": "1", "msg": "need qrcode login"})
    login = Login(
        uuid=ids.qr_uuid(),
        created=world.now(),
        desktop=request.query.get("mod") == "desktop",
        account=account,
        push=True,
    )
    world.logins[login.uuid] = login
    _auto_scan(world, login)
    return api_json({"ret": "0", "msg": "all ok", "uuid": login.uuid})


async def logout(request: web.Request) -> web.Response:
    """``GET|POST …/webwxlogout?redirect=1&type=…`` ends the session (§2.6); later calls get
    1100. Answers a small HTML page (nothing to parse), also without a valid session.
    """
    session = authenticate(request)
    if isinstance(session, Session):
        session.end(1100)
    return web.Response(text="<html><body>logout</body></html>", content_type="text/html")


def add_routes(app: web.Application) -> None:
    """Register the login-host and lifecycle routes."""
    app.router.add_get("/jslogin", jslogin)
    app.router.add_post("/jslogin", jslogin)
    app.router.add_get("/qrcode/{uuid}", qrcode)
    app.router.add_get(f"{API}/login", login_poll)
    app.router.add_get(f"{API}/webwxnewloginpage", newloginpage)
    app.router.add_get(f"{API}/webwxpushloginurl", pushloginurl)
    app.router.add_route("*", f"{API}/webwxlogout", logout)

"""Login host of the simulator over raw HTTP: exact strings, scan states, cookies, 1203, push."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import aiohttp

from tests.wechat.conftest import API, APPID, UOS_HEADERS, SimulatorHandle, WebSession

Login = Callable[..., Awaitable[WebSession]]
Factory = Callable[..., Awaitable[SimulatorHandle]]
JSLOGIN = re.compile(r'window\.QRLogin\.code = 200; window\.QRLogin\.uuid = "([A-Za-z0-9]{10}==)";')


def jar() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def new_uuid(http: aiohttp.ClientSession, base_url: str, desktop: bool = False) -> str:
    redirect = f"https://wx.qq.com{API}/webwxnewloginpage" + ("?mod=desktop" if desktop else "")
    params = {"appid": APPID, "fun": "new", "lang": "zh_CN", "redirect_uri": redirect}
    async with http.get(f"{base_url}/jslogin", params=params) as response:
        assert response.content_type == "text/javascript"
        text = await response.text()
    match = JSLOGIN.fullmatch(text)
    assert match, text
    return match.group(1)


async def poll(http: aiohttp.ClientSession, base_url: str, uuid: str) -> str:
    params = {"loginicon": "true", "uuid": uuid, "tip": "1", "r": "-23073595", "_": "1"}
    async with http.get(f"{base_url}{API}/login", params=params) as response:
        return await response.text()


async def test_login_poll_reports_408_201_then_200_with_redirect_on_same_base(
    simulator_factory: Factory,
) -> None:
    sim = await simulator_factory(login_poll_hold_s=0.2)
    account = await sim.control.create_account("Alice")
    async with jar() as http:
        uuid = await new_uuid(http, sim.base_url)
        assert await poll(http, sim.base_url, uuid) == "window.code=408;"
        await sim.control.scan(account, uuid, confirm=False)
        scanned = await poll(http, sim.base_url, uuid)
        assert re.fullmatch(
            r"window\.code=201;window\.userAvatar = 'data:img/jpg;base64,\S+';", scanned
        )
        assert await poll(http, sim.base_url, uuid) == "window.code=408;"
        await sim.control.scan(account, uuid)
        confirmed = await poll(http, sim.base_url, uuid)
    match = re.fullmatch(r'window\.code=200;window\.redirect_uri="(\S+)";', confirmed)
    assert match, confirmed
    redirect = match.group(1)
    assert redirect.startswith(f"{sim.base_url}{API}/webwxnewloginpage?ticket=")
    assert f"&uuid={uuid}&lang=zh_CN&scan=" in redirect
    assert "qq.com" not in redirect and "wechat.com" not in redirect


async def test_jslogin_needs_the_web_appid(simulator: SimulatorHandle) -> None:
    async with jar() as http, http.get(f"{simulator.base_url}/jslogin?appid=wrong") as response:
        assert await response.text() == "window.QRLogin.code = 400;"


async def test_cancel_expiry_and_unknown_uuid(simulator: SimulatorHandle) -> None:
    account = await simulator.control.create_account("Alice")
    async with jar() as http:
        cancelled = await new_uuid(http, simulator.base_url)
        await simulator.control.scan(account, cancelled, cancel=True)
        assert await poll(http, simulator.base_url, cancelled) == "window.code=202;"
        expired = await new_uuid(http, simulator.base_url)
        await simulator.control.set_qr_code(400, expired)
        assert await poll(http, simulator.base_url, expired) == "window.code=400;"
        assert await poll(http, simulator.base_url, "nope==") == "window.code=400;"


async def test_newloginpage_answers_xml_and_cookies(simulator: SimulatorHandle) -> None:
    account = await simulator.control.create_account("Alice")
    async with jar() as http:
        uuid = await new_uuid(http, simulator.base_url)
        await simulator.control.scan(account, uuid)
        redirect = re.search(r'redirect_uri="(\S+)"', await poll(http, simulator.base_url, uuid))
        assert redirect
        async with http.get(redirect.group(1) + "&fun=new&version=v2") as response:
            body = await response.text()
            cookies = {c.key: c.value for c in response.cookies.values()}
            assert response.content_type == "text/plain"
        # A ticket works once.
        async with http.get(redirect.group(1) + "&fun=new&version=v2") as again:
            assert "<ret>1</ret>" in await again.text()
    match = re.fullmatch(
        r"<error><ret>0</ret><message></message><skey>(@crypt_[0-9a-f]{8}_[0-9a-f]{32})</skey>"
        r"<wxsid>([A-Za-z0-9]{16})</wxsid><wxuin>(\d+)</wxuin><pass_ticket>(\S+)</pass_ticket>"
        r"<isgrayscale>1</isgrayscale></error>",
        body,
    )
    assert match, body
    assert {"wxuin", "wxsid", "wxloadtime", "mm_lang", "webwx_data_ticket"} <= cookies.keys()
    assert {"webwxuvid", "webwx_auth_ticket"} <= cookies.keys()
    assert cookies["wxsid"] == match.group(2) and cookies["wxuin"] == match.group(3)
    assert "%" in match.group(4) and len(match.group(4)) > 64  # percent-encoded base64


async def test_refused_account_gets_1203(simulator: SimulatorHandle) -> None:
    account = await simulator.control.create_account("Old", refuse_login=True)
    async with jar() as http:
        uuid = await new_uuid(http, simulator.base_url)
        await simulator.control.scan(account, uuid)
        redirect = re.search(r'redirect_uri="(\S+)"', await poll(http, simulator.base_url, uuid))
        assert redirect
        async with http.get(redirect.group(1) + "&fun=new&version=v2") as response:
            body = await response.text()
            assert "wxsid" not in {c.key for c in response.cookies.values()}
    assert re.fullmatch(r"<error><ret>1203</ret><message>[^<]+</message></error>", body)


async def test_uos_can_be_required_per_account(
    simulator: SimulatorHandle, web_login: Login
) -> None:
    account = await simulator.control.create_account("Desk", require_uos=True)
    async with jar() as http:
        uuid = await new_uuid(http, simulator.base_url, desktop=True)
        await simulator.control.scan(account, uuid)
        redirect = re.search(r'redirect_uri="(\S+)"', await poll(http, simulator.base_url, uuid))
        assert redirect and "mod=desktop" in redirect.group(1)
        async with http.get(redirect.group(1)) as response:
            assert "<ret>1203</ret>" in await response.text()
    session = await web_login(simulator, account, uos=True)
    assert session.self_name.startswith("@")
    assert (await simulator.control.session(account)).uos


async def test_strict_v2_answers_301_without_location(simulator_factory: Factory) -> None:
    sim = await simulator_factory(strict_v2=True)
    account = await sim.control.create_account("Alice")
    async with jar() as http:
        uuid = await new_uuid(http, sim.base_url, desktop=True)
        await sim.control.scan(account, uuid)
        redirect = re.search(r'redirect_uri="(\S+)"', await poll(http, sim.base_url, uuid))
        assert redirect
        async with http.get(
            redirect.group(1), headers=UOS_HEADERS, allow_redirects=False
        ) as response:
            assert response.status == 301
            assert "Location" not in response.headers
            assert {"wxsid", "wxuin"} <= {c.key for c in response.cookies.values()}


async def test_push_login_needs_previous_cookies(
    simulator: SimulatorHandle, web_login: Login
) -> None:
    account = await simulator.control.create_account("Alice")
    first = await web_login(simulator, account)
    url = f"{simulator.base_url}{API}/webwxpushloginurl?uin={first.uin}"
    async with jar() as stranger, stranger.get(url) as response:
        assert (await response.json(content_type=None))["ret"] != "0"
    async with first.http.get(url) as response:
        answer = await response.json(content_type=None)
    assert answer["ret"] == "0" and answer["msg"] == "all ok"
    uuid = answer["uuid"]
    await simulator.control.scan(account)  # the newest waiting login is that push prompt
    text = await poll(first.http, simulator.base_url, uuid)
    assert text.startswith("window.code=200;window.redirect_uri=")

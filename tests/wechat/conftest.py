"""Fixtures for WeChat tests: an in-process simulator, a demo account, raw-HTTP web logins.

Fixtures (all function-scoped, all async):

``simulator`` -> :class:`SimulatorHandle`
    A simulator on 127.0.0.1 (free port) with test-friendly holds: synccheck 2 s (it wakes at
    once on new data), login poll 1 s. ``.base_url`` (``http://127.0.0.1:PORT``), ``.control``
    (a :class:`SimulatorControl`), ``.running`` (the :class:`RunningSimulator`).
``simulator_factory`` -> ``async (**options) -> SimulatorHandle``
    Start more simulators or other options (``contact_page_size=2``, ``send_burst_limit=3``,
    ``revoke_window_s``, ``synccheck_hold_s``, ``sync_batch_size``, ``diverge_sync_keys``,
    ``strict_v2``...; see ``SimulatorOptions``). All are closed at teardown.
``demo`` -> :class:`adapters.wechat.simulator.demo.Demo`
    The demo account on ``simulator``: Alice (RemarkName), two "Bob", Carol (Alias), Dave, the
    stranger Eve and the group "Weekend Hike" (real ids as attributes).
``web_login`` -> ``async (handle, account, *, uos=False) -> WebSession``
    Logs ``account`` in over raw HTTP (jslogin, phone scan, poll, newloginpage, webwxinit) and
    returns a :class:`WebSession` for protocol-level tests; closed at teardown.

The simulator's cookies are host-only on an IP address: an aiohttp client needs
``aiohttp.CookieJar(unsafe=True)``. JSON APIs answer ``text/plain`` like the real servers.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import attrs
import pytest

from adapters.wechat.simulator import RunningSimulator, SimulatorControl, start_simulator
from adapters.wechat.simulator.demo import Demo, create_demo

API = "/cgi-bin/mmwebwx-bin"
APPID = "wx782c26e4c19acffb"
UOS_HEADERS = {"client-version": "2.0.0", "extspam": "Gp8ICJkIEpkICggwMDAwMDAwMRAG"}
TEST_OPTIONS: dict[str, Any] = {"synccheck_hold_s": 2.0, "login_poll_hold_s": 1.0}


@attrs.frozen
class SimulatorHandle:
    """A running simulator and a control client bound to it."""

    base_url: str
    control: SimulatorControl
    running: RunningSimulator


@attrs.define
class WebSession:
    """A web client speaking the protocol by hand, for tests of exact server behaviour.

    Keeps the credentials from webwxnewloginpage, the init ``User``, and the SyncKey /
    SyncCheckKey as the official client does (PROTOCOL.md §5).
    """

    http: aiohttp.ClientSession
    base_url: str
    uin: str
    sid: str
    skey: str
    pass_ticket: str
    self_name: str = ""
    init: dict[str, Any] = attrs.field(factory=dict)
    sync_key: dict[str, Any] = attrs.field(factory=dict)
    sync_check_key: dict[str, Any] = attrs.field(factory=dict)
    device_id: str = "e123456789012345"

    def base_request(self) -> dict[str, Any]:
        """BaseRequest with Uin as a number."""
        return {
            "Uin": int(self.uin),
            "Sid": self.sid,
            "Skey": self.skey,
            "DeviceID": self.device_id,
        }

    async def post(self, endpoint: str, body: dict[str, Any], **params: str) -> dict[str, Any]:
        """POST JSON (BaseRequest added unless given) and parse the text/plain JSON answer."""
        body = {"BaseRequest": self.base_request(), **body}
        params.setdefault("pass_ticket", self.pass_ticket)
        async with self.http.post(
            f"{self.base_url}{API}/{endpoint}", data=json.dumps(body), params=params
        ) as response:
            result: dict[str, Any] = json.loads(await response.text())
            return result

    async def get_json(self, endpoint: str, **params: str) -> dict[str, Any]:
        """GET and parse a JSON answer."""
        async with self.http.get(f"{self.base_url}{API}/{endpoint}", params=params) as response:
            result: dict[str, Any] = json.loads(await response.text())
            return result

    async def synccheck(self, key: dict[str, Any] | None = None) -> tuple[int, int]:
        """One synccheck with the SyncCheckKey (or ``key``); (retcode, selector)."""
        use = key if key is not None else self.sync_check_key
        synckey = "|".join(f"{i['Key']}_{i['Val']}" for i in use["List"])
        params = {"r": "1", "skey": self.skey, "sid": self.sid, "uin": self.uin}
        params.update(deviceid=self.device_id, synckey=synckey, _="1")
        async with self.http.get(f"{self.base_url}{API}/synccheck", params=params) as response:
            text = await response.text()
        match = re.fullmatch(r'window\.synccheck=\{retcode:"(\d+)",selector:"(\d+)"\}', text)
        assert match, text
        return int(match.group(1)), int(match.group(2))

    async def sync(self) -> dict[str, Any]:
        """One webwxsync with the SyncKey; stores the returned keys when Ret is 0."""
        body = {"SyncKey": self.sync_key, "rr": -1}
        result = await self.post("webwxsync", body, sid=self.sid, skey=self.skey)
        if result["BaseResponse"]["Ret"] == 0:
            self.sync_key = result["SyncKey"]
            self.sync_check_key = result["SyncCheckKey"]
        return result

    async def messages(self) -> list[dict[str, Any]]:
        """webwxsync until a response brings nothing; every AddMsgList entry, in order.

        (No synccheck: an idle one would hold for the whole hold time.)
        """
        received: list[dict[str, Any]] = []
        while True:
            result = await self.sync()
            assert result["BaseResponse"]["Ret"] == 0, result["BaseResponse"]
            received += result["AddMsgList"]
            if not (result["AddMsgList"] or result["ModContactList"] or result["DelContactList"]):
                return received

    async def close(self) -> None:
        await self.http.close()


async def login_over_http(
    handle: SimulatorHandle,
    account: str,
    *,
    uos: bool = False,
    http: aiohttp.ClientSession | None = None,
) -> WebSession:
    """Log ``account`` in by hand: jslogin, phone scan, login poll, newloginpage, webwxinit."""
    http = http or aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    redirect = f"https://wx.qq.com{API}/webwxnewloginpage" + ("?mod=desktop" if uos else "")
    params = {"appid": APPID, "fun": "new", "lang": "zh_CN", "redirect_uri": redirect}
    async with http.get(f"{handle.base_url}/jslogin", params=params) as response:
        text = await response.text()
    match = re.search(r'window.QRLogin.code = 200; window.QRLogin.uuid = "(\S+?)";', text)
    assert match, text
    uuid = match.group(1)
    await handle.control.scan(account, uuid)
    poll = {"loginicon": "true", "uuid": uuid, "tip": "1", "r": "-1", "_": "1"}
    async with http.get(f"{handle.base_url}{API}/login", params=poll) as response:
        text = await response.text()
    found = re.search(r'window.redirect_uri="(\S+?)";', text)
    assert found, text
    headers = UOS_HEADERS if uos else {}
    url = found.group(1) + "&fun=new&version=v2"
    async with http.get(url, headers=headers, allow_redirects=False) as response:
        xml = await response.text()
    fields = dict(re.findall(r"<(\w+)>([^<]*)</\1>", xml))
    assert fields.get("ret") == "0", xml
    session = WebSession(
        http=http,
        base_url=handle.base_url,
        uin=fields["wxuin"],
        sid=fields["wxsid"],
        skey=fields["skey"],
        pass_ticket=fields["pass_ticket"],
    )
    session.init = await session.post("webwxinit", {}, r="-1")
    assert session.init["BaseResponse"]["Ret"] == 0, session.init
    session.self_name = session.init["User"]["UserName"]
    session.sync_key = session.sync_check_key = session.init["SyncKey"]
    return session


@pytest.fixture
async def simulator_factory() -> AsyncIterator[Callable[..., Awaitable[SimulatorHandle]]]:
    """``await simulator_factory(**options)`` starts a simulator; all closed at teardown."""
    started: list[SimulatorHandle] = []

    async def make(**options: Any) -> SimulatorHandle:
        running = await start_simulator("127.0.0.1", 0, **{**TEST_OPTIONS, **options})
        handle = SimulatorHandle(running.base_url, SimulatorControl(running.base_url), running)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        await handle.control.close()
        await handle.running.close()


@pytest.fixture
async def simulator(
    simulator_factory: Callable[..., Awaitable[SimulatorHandle]],
) -> SimulatorHandle:
    """A simulator with the test holds (synccheck 2 s, login poll 1 s)."""
    return await simulator_factory()


@pytest.fixture
async def demo(simulator: SimulatorHandle) -> Demo:
    """The demo account (contacts and a group) on ``simulator``."""
    return await create_demo(simulator.control)


@pytest.fixture
async def web_login() -> AsyncIterator[Callable[..., Awaitable[WebSession]]]:
    """``await web_login(handle, account, uos=False)`` → a logged-in :class:`WebSession`."""
    opened: list[WebSession] = []

    async def login(handle: SimulatorHandle, account: str, *, uos: bool = False) -> WebSession:
        session = await login_over_http(handle, account, uos=uos)
        opened.append(session)
        return session

    yield login
    for session in opened:
        await session.close()

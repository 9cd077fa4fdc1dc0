"""Simulator fault injection: HTTP status, retcodes, dropped connections, delays."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from adapters.wechat.simulator.demo import Demo
from tests.wechat.conftest import SimulatorHandle, WebSession

Login = Callable[..., Awaitable[WebSession]]


async def test_status_fault_hits_count_requests_then_clears(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    await simulator.control.add_fault("webwxsync", status=500, count=2)
    for _ in range(2):
        async with session.http.post(f"{simulator.base_url}/cgi-bin/mmwebwx-bin/webwxsync") as r:
            assert r.status == 500
    assert (await session.sync())["BaseResponse"]["Ret"] == 0


async def test_retcode_fault_on_synccheck_and_sync(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    await simulator.control.add_fault("synccheck", retcode=1205)
    await simulator.control.add_fault("webwxsync", retcode=1101)
    assert await session.synccheck() == (1205, 0)
    failed = await session.sync()
    assert failed["BaseResponse"] == {"Ret": 1101, "ErrMsg": ""}
    assert failed["SyncKey"] == {"Count": 0, "List": []}
    assert (await session.sync())["BaseResponse"]["Ret"] == 0  # one-shot faults


async def test_dropped_connection_and_delay(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    # Two drops: aiohttp retries a GET once when a kept-alive connection closes.
    await simulator.control.add_fault("synccheck", drop=True, count=2)
    with pytest.raises(aiohttp.ClientError):
        await session.synccheck()
    await simulator.control.add_fault("webwxsync", delay_s=0.05)
    assert (await session.sync())["BaseResponse"]["Ret"] == 0
    await simulator.control.add_fault("webwxinit", retcode=1, count=None)
    await simulator.control.clear_faults()
    assert (await session.post("webwxinit", {}))["BaseResponse"]["Ret"] == 0

"""``python -m adapters.wechat.simulator``: prints its URL, builds the demo, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

from adapters.wechat.simulator import SimulatorControl


async def test_cli_serves_the_demo_and_stops_cleanly() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.wechat.simulator",
        "--port",
        "0",
        "--demo",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        second = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        match = re.fullmatch(r"simulator listening on (http://127\.0\.0\.1:\d+)\n", first)
        assert match, first
        assert second == "demo account wxid_demo_account\n"
        async with SimulatorControl(match.group(1)) as control:
            account = await control.get_account("wxid_demo_account")
        nicknames = sorted(c["nickname"] for c in account["contacts"])
        assert nicknames == ["Alice", "Bob", "Bob", "Carol", "Dave \U0001f600", "Eve"]
        assert [g["topic"] for g in account["groups"]] == ["Weekend Hike"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0

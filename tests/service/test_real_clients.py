"""A Matrix client nobody here wrote (matrix-commander, ``tests/service/commander.py``)
against the session Synapse and the running service: what it sends reaches WeChat as a
WeChat user expects it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from adapters.wechat.simulator.demo import Demo, create_demo
from tests.service.commander import Commander
from tests.service.harness import BridgeHarness, accept_invite, wait_for_message
from tests.service.test_login import log_in
from tests.service.test_messages import sent_to

pytestmark = pytest.mark.asyncio(loop_scope="session")

_numbers = itertools.count(1)


async def _portal_of_carol(
    bridge: BridgeHarness, tmp_path: Path, name: str
) -> tuple[Commander, Demo, str]:
    """A matrix-commander user logged in to WeChat through the bot, and Carol's portal."""
    demo = await create_demo(bridge.simulator.control)
    commander = await Commander.register(
        bridge.synapse, tmp_path / "commander", f"{name}{next(_numbers)}"
    )
    dm, _ = await log_in(bridge, commander.api, demo)
    await bridge.simulator.control.send_message(demo.account, demo.carol, text="hello")
    portal = await accept_invite(commander.api, {dm})
    await wait_for_message(commander.api, portal, contains="hello")
    return commander, demo, portal


async def test_an_html_message_reaches_wechat_as_clean_text(
    bridge: BridgeHarness, tmp_path: Path
) -> None:
    commander, demo, portal = await _portal_of_carol(bridge, tmp_path, "mchtml")

    await commander.send(portal, "<b>bold</b> and <i>italic</i><br>next line", html=True)

    await sent_to(bridge, demo.account, demo.carol, "bold and italic\nnext line")

"""Values beyond Matrix's limits are fitted, not fatal: a contact with a 20 KB nickname and
a 100 KB text reach Matrix (name shortened, text split), and the contact's next message too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters.wechat.simulator.demo import create_demo
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.synapse import MatrixUser, Synapse
from tests.service.harness import BridgeProcess, accept_invite, open_dm, wait_for_message
from tests.wechat.conftest import SimulatorHandle

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]

#: ~20 KB of UTF-8: CJK, an emoji with a skin tone, a ZWJ family (nothing to cut in half).
HUGE_NICKNAME = ("長い名前" + "👍🏽" + "👨‍👩‍👧" + "x") * 1000


def ghost_texts(events: list[dict[str, Any]], ghost: str) -> list[str]:
    """Bodies of ``ghost``'s messages, oldest first."""
    return [
        str(e["content"].get("body", ""))
        for e in events
        if e.get("sender") == ghost and e.get("type") == "m.room.message"
    ]


async def test_a_huge_nickname_and_a_huge_text_do_not_block_the_contact(
    bridge_process: BridgeProcess, simulator: SimulatorHandle, make_user: MakeUser
) -> None:
    control, bot = simulator.control, bridge_process.bot
    demo = await create_demo(control)
    zed = await control.add_contact(demo.account, HUGE_NICKNAME, wxid="wxid_zed_huge")
    assert len(HUGE_NICKNAME.encode()) > 20_000
    user = await make_user("oversized")
    dm = await open_dm(user, bot)
    await user.send_text(dm, "login")
    await wait_for_message(user, dm, from_=bot, msgtype="m.image")
    await control.scan(demo.account)
    await wait_for_message(user, dm, from_=bot, contains="Logged in to WeChat as")

    await control.send_message(demo.account, zed, text="first from Zed")
    portal = await accept_invite(user, {dm})
    first = await wait_for_message(user, portal, contains="first from Zed")
    ghost = first["sender"]
    profile = await user.request("GET", f"/v3/profile/{ghost}")
    shown = profile["displayname"]
    assert len(shown) <= 256 and shown.endswith("… (WeChat)")
    assert HUGE_NICKNAME.startswith(shown.removesuffix("… (WeChat)"))
    name = (await user.state(portal, "m.room.name"))["name"]
    assert len(name.encode()) <= 255 and name.endswith("…")
    assert HUGE_NICKNAME.startswith(name.removesuffix("…"))

    long_text = "".join(f"line {n:05d}: the quick brown fox jumps\n" for n in range(2700))
    assert len(long_text.encode()) > 100_000
    await control.send_message(demo.account, zed, text=long_text)
    await control.send_message(demo.account, zed, text="next from Zed")
    await wait_for_message(user, portal, contains="next from Zed", within_s=60)

    texts = ghost_texts(await user.messages(portal, limit=50), ghost)
    assert texts[0] == "first from Zed" and texts[-1] == "next from Zed"
    assert len(texts) > 3  # the long text came in parts
    assert "".join(texts[1:-1]).strip() == long_text.strip()
    dm_events = await user.messages(dm, limit=50)
    assert not [e for e in dm_events if "could not" in str(e["content"].get("body", ""))]
    outbox = await control.outbox(demo.account)
    assert not [e for e in outbox if e.to == "filehelper"]  # nothing failed on the WeChat side


@pytest_asyncio.fixture(loop_scope="session")
async def file_bridge_process(
    bridge_setup: BridgeSetup,
    appservice: TransactionRecorder,
    synapse: Synapse,
    simulator: SimulatorHandle,
    tmp_path: Path,
) -> AsyncIterator[BridgeProcess]:
    """``python -m bridge`` on a fresh database with ``appservice.long_text: file``."""
    process = BridgeProcess(
        bridge_setup,
        appservice,
        simulator,
        tmp_path,
        configure=lambda raw: raw["appservice"].update(long_text="file"),
    )
    await process.start()
    yield process
    await process.close()


async def test_a_huge_text_can_come_as_a_text_file_instead(
    file_bridge_process: BridgeProcess, simulator: SimulatorHandle, make_user: MakeUser
) -> None:
    control, bot = simulator.control, file_bridge_process.bot
    demo = await create_demo(control)
    user = await make_user("asfile")
    dm = await open_dm(user, bot)
    await user.send_text(dm, "login")
    await wait_for_message(user, dm, from_=bot, msgtype="m.image")
    await control.scan(demo.account)
    await wait_for_message(user, dm, from_=bot, contains="Logged in to WeChat as")
    await control.send_message(demo.account, demo.alice, text="hi")
    portal = await accept_invite(user, {dm})
    long_text = "".join(f"第{n}行: the quick brown fox\n" for n in range(4000))

    await control.send_message(demo.account, demo.alice, text=long_text)
    await control.send_message(demo.account, demo.alice, text="and after the file")

    await wait_for_message(user, portal, contains="and after the file", within_s=60)
    file = await wait_for_message(user, portal, msgtype="m.file")
    assert file["content"]["filename"] == "message.txt"
    assert file["content"]["body"] == "第0行: the quick brown fox"
    assert (await user.download(file["content"]["url"])).decode() == long_text

"""Hundreds of WeChat chats opening at once through the bridge process: exactly one Matrix
room each, within a bounded time."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from adapters.wechat.simulator.demo import create_demo
from tests.matrix.synapse import MatrixUser, Synapse
from tests.service.harness import BridgeProcess, open_dm, wait_for_message, wait_until
from tests.wechat.conftest import SimulatorHandle

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

MakeUser = Callable[[str], Awaitable[MatrixUser]]

#: New chats opened at once (issue 11 item 9: 500).
CHATS = 500
#: How long they may take to become portals, in seconds.
WITHIN_S = 420


async def admin_token(synapse: Synapse, localpart: str) -> str:
    """The access token of a new server admin ``localpart``."""
    password = secrets.token_hex(8)
    await synapse.register_user(localpart, password, admin=True)
    body = {"type": "m.login.password", "user": localpart, "password": password}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{synapse.url}/_matrix/client/v3/login", json=body) as resp,
    ):
        token: str = (await resp.json())["access_token"]
        return token


async def rooms_named(synapse: Synapse, token: str, prefix: str) -> Counter[str]:
    """How many rooms of the homeserver carry each name starting with ``prefix`` (Synapse's
    admin API ``GET /_synapse/admin/v1/rooms``)."""
    names: Counter[str] = Counter()
    start = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        while True:
            params = {"search_term": prefix, "limit": "500", "from": str(start)}
            url = f"{synapse.url}/_synapse/admin/v1/rooms"
            async with http.get(url, params=params, headers=headers) as resp:
                page = await resp.json()
            for room in page["rooms"]:
                name = str(room.get("name") or "")
                if name.startswith(prefix):
                    names[name] += 1
            if "next_batch" not in page:
                return names
            start = int(page["next_batch"])


@pytest.mark.timeout(WITHIN_S + 180)
async def test_hundreds_of_chats_opening_at_once_get_one_room_each(
    bridge_process: BridgeProcess,
    simulator: SimulatorHandle,
    synapse: Synapse,
    make_user: MakeUser,
) -> None:
    control, bot = simulator.control, bridge_process.bot
    tag = f"Load{secrets.token_hex(3)}"
    demo = await create_demo(control)
    contacts = [
        await control.add_contact(demo.account, f"{tag} {n:03d}", wxid=f"wxid_{tag.lower()}_{n}")
        for n in range(CHATS)
    ]
    user = await make_user("loaded")
    token = await admin_token(synapse, f"admin{tag.lower()}")
    dm = await open_dm(user, bot)
    await user.send_text(dm, "login")
    await wait_for_message(user, dm, from_=bot, msgtype="m.image")
    await control.scan(demo.account)
    await wait_for_message(user, dm, from_=bot, contains="Logged in to WeChat as")

    await asyncio.gather(
        *(control.send_message(demo.account, c, text=f"hello {n}") for n, c in enumerate(contacts))
    )

    async def all_invited() -> bool:
        return len(await user.invites()) >= CHATS

    await wait_until(all_invited, within_s=WITHIN_S)
    await asyncio.sleep(5)  # a late duplicate would show up now
    names = await rooms_named(synapse, token, tag)
    assert sorted(names) == [f"{tag} {n:03d}" for n in range(CHATS)]
    assert set(names.values()) == {1}, {k: v for k, v in names.items() if v != 1}

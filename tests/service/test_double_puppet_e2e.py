"""``login-matrix`` with the user's own access token, against ``python -m bridge``, Synapse and
the simulator, driven by two clients nobody here wrote: matrix-commander sends the token,
matrix-js-sdk sees the read receipt. What the user sends from the phone then appears as them,
a read on the phone becomes their read receipt, another user's token is refused, a dead token
is forgotten (told once), ``logout-matrix`` goes back to the bot; no token in the database or
the log."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import stat
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.wechat.simulator.control import SimulatorControl
from adapters.wechat.simulator.demo import Demo, create_demo
from tests.matrix.synapse import MatrixUser, Synapse
from tests.service.commander import Commander
from tests.service.harness import accept_invite, open_dm, wait_for_message
from tests.service.test_durability_e2e import BridgeProcess
from tests.service.test_real_clients_js import run_js
from tests.wechat.conftest import SimulatorHandle

pytestmark = pytest.mark.asyncio(loop_scope="session")

RECEIPT_CLIENT = Path(__file__).parents[1] / "jsclient" / "receipt.mjs"
#: What the bot posts for the account owner's phone messages without a double puppet.
FROM_PHONE = "You (from your phone): "
_numbers = itertools.count(1)
_msg_ids = itertools.count(int(time.time() * 1000) % 10**12)


async def password_login(homeserver: str, user_id: str, password: str) -> str:
    """A new device of ``user_id`` (spec "POST /_matrix/client/v3/login"); its access token."""
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": password,
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{homeserver}/_matrix/client/v3/login", json=body) as resp,
    ):
        data = await resp.json()
        assert resp.status == 200, data
        token: str = data["access_token"]
        return token


async def receipt_seen_by_js_sdk(
    homeserver: str, user_id: str, password: str, room: str, event_id: str
) -> dict[str, Any]:
    """Run ``tests/jsclient/receipt.mjs``: ``{"receipt": event id or None, "ts"}``, the
    user's own ``m.read`` receipt in ``room`` as matrix-js-sdk sees it (once it is on
    ``event_id``, or whatever it is after 20 s). Fails (never skips) without Node or the SDK."""
    request = {
        "homeserver": homeserver,
        "user": user_id,
        "password": password,
        "room": room,
        "event": event_id,
        "timeout_ms": 20000,
    }
    return await run_js(request, RECEIPT_CLIENT)


async def from_the_phone(control: SimulatorControl, demo: Demo, to: str, text: str) -> None:
    """The account's owner writes ``text`` to ``to`` on their phone: the web session gets it
    as a message From self (PROTOCOL.md §6.1)."""
    message = {
        "MsgId": str(8_000_000_000_000_000_000 + next(_msg_ids)),
        "FromUserName": "{{self}}",
        "ToUserName": f"{{{{user:{to}}}}}",
        "MsgType": 1,
        "Content": text,
        "Status": 3,
        "CreateTime": int(time.time()),
    }
    await control.send_raw(demo.account, message)


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


async def test_login_matrix_puppets_the_phone_and_its_reads_until_logout_matrix(
    bridge_process: BridgeProcess,
    simulator: SimulatorHandle,
    synapse: Synapse,
    tmp_path: Path,
) -> None:
    control, bot = simulator.control, bridge_process.bot
    folder = bridge_process.config_path.parent
    tokens_file = folder / "chatbridge.double-puppets.json"
    demo = await create_demo(control)
    password = secrets.token_hex(12)
    user = await synapse.register_user(f"puppeteer{next(_numbers)}", password)
    commander = Commander(tmp_path / "commander", synapse, user, password)
    await asyncio.to_thread(commander.folder.mkdir, parents=True)
    dm = await open_dm(user, bot)
    await commander.login(dm)
    await user.send_text(dm, "login")
    await wait_for_message(user, dm, from_=bot, msgtype="m.image")
    await control.scan(demo.account)
    await wait_for_message(user, dm, from_=bot, contains="Logged in to WeChat as")
    await control.send_message(demo.account, demo.carol, text="are you home?")
    portal = await accept_invite(user, {dm})
    await wait_for_message(user, portal, contains="are you home?")

    # matrix-commander gives its own access token.
    credentials = json.loads((commander.folder / "credentials.json").read_text())
    own_token = credentials["access_token"]
    await commander.send(dm, f"login-matrix {own_token}")
    on = await wait_for_message(user, dm, from_=bot, contains="Double puppeting is on")
    assert "I deleted the message with the token." in on["content"]["body"]
    in_dm = await user.messages(dm, limit=100)
    assert own_token not in json.dumps(in_dm)
    assert [e for e in in_dm if e["sender"] == user.user_id and e["content"] == {}]
    assert mode(tokens_file) == 0o600
    assert json.loads(tokens_file.read_text())["tokens"] == {user.user_id: own_token}

    # The phone's message appears as the user, and its echo goes nowhere.
    await from_the_phone(control, demo, demo.carol, "yes, just now")
    mine = await wait_for_message(user, portal, contains="yes, just now")
    assert mine["sender"] == user.user_id
    assert mine["content"]["body"] == "yes, just now"
    await control.send_message(demo.account, demo.carol, text="great, see you")
    newest = await wait_for_message(user, portal, contains="great, see you")

    # Reading the chat on the phone: the user's receipt on the newest event, seen by js-sdk.
    await control.phone_action(demo.account, "read", demo.carol)
    seen = await receipt_seen_by_js_sdk(
        synapse.url, user.user_id, password, portal, newest["event_id"]
    )
    assert seen["receipt"] == newest["event_id"]
    outbox = await control.outbox(demo.account)
    assert not [e for e in outbox if "yes, just now" in e.text]

    # Another user's token is refused and not kept.
    other_password = secrets.token_hex(12)
    other = await synapse.register_user(f"bystander{next(_numbers)}", other_password)
    other_token = await password_login(synapse.url, other.user_id, other_password)
    await user.send_text(dm, f"login-matrix {other_token}")
    refused = await wait_for_message(user, dm, from_=bot, contains="did not take")
    assert f"it belongs to {other.user_id}" in refused["content"]["body"]
    assert json.loads(tokens_file.read_text())["tokens"] == {user.user_id: own_token}

    # logout-matrix: the phone's messages come from the bot again; the token stays valid.
    await user.send_text(dm, "logout-matrix")
    off = await wait_for_message(user, dm, from_=bot, contains="I forgot your access token")
    assert json.loads(tokens_file.read_text())["tokens"] == {}
    await from_the_phone(control, demo, demo.carol, "leaving now")
    by_bot = await wait_for_message(user, portal, contains="leaving now")
    assert (by_bot["sender"], by_bot["content"]["body"]) == (bot, FROM_PHONE + "leaving now")
    assert await MatrixUser(synapse.url, user.user_id, own_token).request(
        "GET", "/v3/account/whoami"
    )

    # A token that stops working is forgotten, the user told once; the message still arrives.
    dying = await password_login(synapse.url, user.user_id, password)
    await user.send_text(dm, f"login-matrix {dying}")
    await wait_for_message(
        user, dm, from_=bot, contains="Double puppeting is on", after=off["event_id"]
    )
    await MatrixUser(synapse.url, user.user_id, dying).request("POST", "/v3/logout", {})
    await from_the_phone(control, demo, demo.carol, "on my way")
    late = await wait_for_message(user, portal, contains="on my way")
    assert (late["sender"], late["content"]["body"]) == (bot, FROM_PHONE + "on my way")
    told = [
        e
        for e in await user.messages(dm, limit=100)
        if "no longer works" in str(e["content"].get("body"))
    ]
    assert len(told) == 1 and told[0]["sender"] == bot
    assert json.loads(tokens_file.read_text())["tokens"] == {}

    stored = b"".join(p.read_bytes() for p in folder.glob("chatbridge.db*"))
    log = bridge_process.log_path.read_text()
    for token in (own_token, other_token, dying):
        assert token.encode() not in stored
        assert token not in log

"""matrix-js-sdk (npm; the SDK Element is built on), driven by ``tests/jsclient/client.mjs``
in Node, against the session Synapse and the running service: an Element-shaped HTML reply,
an edit and a reaction reach WeChat as a WeChat user expects them."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest

from adapters.wechat.simulator.demo import create_demo
from tests.service.harness import BridgeHarness, accept_invite, wait_for_message
from tests.service.test_login import log_in
from tests.service.test_messages import sent_to

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLIENT = Path(__file__).parents[1] / "jsclient" / "client.mjs"
_numbers = itertools.count(1)


async def run_js_client(request: dict[str, Any]) -> list[str]:
    """Run ``client.mjs`` with ``request`` (see its header); returns the event ids it sent.
    Raises as ``run_js`` does."""
    events: list[str] = (await run_js(request))["events"]
    return events


async def run_js(request: dict[str, Any], script: Path = CLIENT) -> dict[str, Any]:
    """Run ``script`` (a ``tests/jsclient`` script, ``client.mjs`` by default) with
    ``request`` (see its header); returns its answer (for ``client.mjs``: ``events``,
    ``deliveries``). Raises ``FileNotFoundError`` naming the fix when Node or the SDK is
    missing (the test fails, it does not skip), ``RuntimeError`` when the client fails."""
    node = shutil.which("node")
    if node is None:
        raise FileNotFoundError("Node.js is not installed (apt-get install nodejs)")
    if not (script.parent / "node_modules" / "matrix-js-sdk" / "package.json").exists():
        raise FileNotFoundError("matrix-js-sdk is not installed: run scripts/bootstrap.sh")
    process = await asyncio.create_subprocess_exec(
        node,
        str(script),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=script.parent,
    )
    out, err = await asyncio.wait_for(process.communicate(json.dumps(request).encode()), 90)
    if process.returncode != 0:
        raise RuntimeError(f"{script.name} exited {process.returncode}: {err.decode()[-2000:]}")
    # The SDK logs its requests to stdout too: the answer is the last line.
    answer: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return answer


async def test_an_element_shaped_reply_edit_and_reaction_reach_wechat(
    bridge: BridgeHarness,
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    password = secrets.token_hex(12)
    user = await bridge.synapse.register_user(f"jsclient{next(_numbers)}", password)
    dm, _ = await log_in(bridge, user, demo)
    await control.send_message(demo.account, demo.carol, text="dinner at 7?")
    portal = await accept_invite(user, {dm})
    hello = await wait_for_message(user, portal, contains="dinner at 7?")
    reply = {
        "msgtype": "m.text",
        "body": f"> <{hello['sender']}> dinner at 7?\n\nyes, **see** you [there](https://example.org/map)",
        "format": "org.matrix.custom.html",
        "formatted_body": (
            f'<mx-reply><blockquote><a href="https://matrix.to/#/{portal}/{hello["event_id"]}">'
            "In reply to</a> dinner at 7?</blockquote></mx-reply>"
            'yes, <strong>see</strong> you <a href="https://example.org/map">there</a>'
        ),
        "m.relates_to": {"m.in_reply_to": {"event_id": hello["event_id"]}},
    }

    await run_js_client(
        {
            "homeserver": bridge.synapse.url,
            "user": user.user_id,
            "password": password,
            "room": portal,
            "actions": [
                {"send": reply},
                {"edit": 0, "body": "yes, see you at 7:30"},
                {"react": None, "target": hello["event_id"], "key": "👍"},
            ],
        }
    )

    await sent_to(bridge, demo.account, demo.carol, "👍 to 「dinner at 7?」")
    outbox = [e for e in await control.outbox(demo.account) if e.to == demo.carol]
    texts = [e.text for e in outbox if e.kind == "text"]
    assert texts[0].endswith("yes, see you there (https://example.org/map)")  # clean, quoted
    assert "<" not in texts[0] and "**" not in texts[0] and "In reply to" not in texts[0]
    assert [e.kind for e in outbox] == ["text", "revoke", "text", "text"]
    assert texts[1:] == ["yes, see you at 7:30", "👍 to 「dinner at 7?」"]

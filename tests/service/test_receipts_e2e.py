"""Receipts and edits through the running service against the session Synapse and the
simulator: a matrix-js-sdk client's read receipt marks the WeChat chat read on the phone, the
client sees the bot's read receipt and a SUCCESS send status on what it sent, and an edit
keeps standing for its original after a bridge restart."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Awaitable, Callable

import pytest

from adapters.wechat.quotes import QUOTE_SEPARATOR
from adapters.wechat.simulator.demo import create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import BridgeHarness, accept_invite, wait_for_message, wait_until
from tests.service.test_edits_reactions_e2e import edit
from tests.service.test_login import log_in
from tests.service.test_messages import sent_to
from tests.service.test_real_clients_js import run_js
from tests.service.test_recall_e2e import carol_portal
from tests.service.test_restart_actions_e2e import reply_to, restart_and_wait_for_wechat

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]
_numbers = itertools.count(1)


async def test_a_js_client_read_marks_the_chat_read_and_its_message_gets_receipt_and_status(
    bridge: BridgeHarness,
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    password = secrets.token_hex(12)
    user = await bridge.synapse.register_user(f"jsreceipts{next(_numbers)}", password)
    dm, _ = await log_in(bridge, user, demo)
    await control.send_message(demo.account, demo.carol, text="are you coming?")
    portal = await accept_invite(user, {dm})
    question = await wait_for_message(user, portal, contains="are you coming?")
    assert await control.reads(demo.account) == []

    answer = await run_js(
        {
            "homeserver": bridge.synapse.url,
            "user": user.user_id,
            "password": password,
            "room": portal,
            "actions": [
                {"read": None, "target": question["event_id"]},
                {"send": {"msgtype": "m.text", "body": "on my way"}},
                {"await_delivery": 1},
            ],
        }
    )

    [(chat, _)] = await wait_until(lambda: control.reads(demo.account))
    assert chat == demo.carol  # the phone shows Carol's chat read
    await sent_to(bridge, demo.account, demo.carol, "on my way")
    [delivery] = answer["deliveries"]
    assert delivery["read_by"] == [bridge.bot]  # the bot's receipt, not the contact's
    [status] = delivery["statuses"]
    assert status["status"] == "SUCCESS"
    assert status["m.relates_to"] == {"rel_type": "m.reference", "event_id": delivery["event"]}
    assert status["network"] == bridge.config.network


async def test_an_edit_survives_a_restart_for_edits_redactions_and_replies(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    user = await make_user("reedit")
    demo, portal = await carol_portal(bridge, user)
    wrong = await user.send_text(portal, "see you at 5")
    await sent_to(bridge, demo.account, demo.carol, "see you at 5")
    await user.send(portal, edit(wrong, "see you at 6"))
    at_6 = await sent_to(bridge, demo.account, demo.carol, "see you at 6")

    await restart_and_wait_for_wechat(bridge, user)
    await user.send(portal, edit(wrong, "see you at 7"))  # names the original, as clients do
    at_7 = await sent_to(bridge, demo.account, demo.carol, "see you at 7")
    original = await user.event(portal, wrong)
    await user.send(portal, reply_to({**original, "event_id": wrong}, "ok?"))

    async def reply() -> str | None:
        texts = [e.text for e in await control.outbox(demo.account) if e.to == demo.carol]
        return next((t for t in texts if t.endswith(f"{QUOTE_SEPARATOR}\nok?")), None)

    quoted = await wait_until(reply)
    assert "see you at 7" in quoted  # the message that stands for the original now
    await user.redact(portal, wrong)

    async def revokes() -> list[str] | None:
        outbox = await control.outbox(demo.account)
        found = [e.msg_id for e in outbox if e.kind == "revoke"]
        return found if len(found) == 3 else None

    recalled = await wait_until(revokes)
    assert recalled[1:] == [at_6.msg_id, at_7.msg_id]  # the second edit, then the redaction

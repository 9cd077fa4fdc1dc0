"""Actions on messages bridged before a bridge restart behave as they did before it: the
ClientMsgId, send time and quotable text live with the message map, not in memory."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adapters.wechat.quotes import QUOTE_SEPARATOR
from tests.matrix.synapse import MatrixUser
from tests.service.harness import BridgeHarness, wait_for_message, wait_until
from tests.service.test_messages import sent_to
from tests.service.test_recall_e2e import carol_portal

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


async def restart_and_wait_for_wechat(bridge: BridgeHarness, user: MatrixUser) -> None:
    """Restart the bridge and wait until its resumed WeChat session is receiving again."""
    await bridge.restart()
    room = await bridge.open_dm(user)

    async def pinged() -> bool:
        body = str((await bridge.command(user, room, "ping", expect=""))["content"]["body"])
        return body.startswith("Logged in")

    await wait_until(pinged)


async def redacted(user: MatrixUser, room: str, event_id: str) -> bool:
    """Whether ``event_id`` in ``room`` is redacted, as ``user`` sees it."""
    return not (await user.event(room, event_id))["content"]


def reply_to(event: dict[str, Any], body: str) -> dict[str, Any]:
    """An ``m.text`` reply to ``event`` as Element sends it (spec "Rich replies"), with the
    quoted fallback in ``body``."""
    quoted = event["content"]["body"]
    return {
        "msgtype": "m.text",
        "body": f"> <{event['sender']}> {quoted}\n\n{body}",
        "format": "org.matrix.custom.html",
        "formatted_body": (
            f"<mx-reply><blockquote>{html.escape(quoted)}</blockquote></mx-reply>{body}"
        ),
        "m.relates_to": {"m.in_reply_to": {"event_id": event["event_id"]}},
    }


async def test_recalls_after_a_restart_redact_and_use_the_sends_own_client_msg_id(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    user = await make_user("rerecall")
    demo, portal = await carol_portal(bridge, user)
    wrong = await user.send_text(portal, "meet at 9")
    sent = await sent_to(bridge, demo.account, demo.carol, "meet at 9")
    oops_id = await control.send_message(demo.account, demo.carol, text="oops, wrong chat")
    oops = await wait_for_message(user, portal, contains="oops, wrong chat")

    await restart_and_wait_for_wechat(bridge, user)
    await control.recall(demo.account, oops_id)
    await user.redact(portal, wrong)

    await wait_until(lambda: redacted(user, portal, oops["event_id"]))

    async def revokes() -> list[Any]:
        return [e for e in await control.outbox(demo.account) if e.kind == "revoke"]

    [recall] = await wait_until(revokes)
    assert (recall.msg_id, recall.to) == (sent.msg_id, demo.carol)
    # PROTOCOL.md §8: the ClientMsgId of the send, not an invented one.
    assert recall.raw["client_msg_id"] == sent.raw["client_msg_id"]
    assert f"<msgid>{sent.msg_id}</msgid>" in html.unescape(str(recall.raw["recall_content"]))


async def test_a_redaction_past_two_minutes_after_a_restart_is_explained_in_the_portal(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    user = await make_user("relate")
    demo, portal = await carol_portal(bridge, user)
    late = await user.send_text(portal, "an old message")
    await sent_to(bridge, demo.account, demo.carol, "an old message")

    await restart_and_wait_for_wechat(bridge, user)
    await control.advance_clock(130)
    redaction = await user.redact(portal, late)

    notice = await wait_for_message(
        user, portal, from_=bridge.bot, contains="Could not recall", after=redaction
    )
    body = notice["content"]["body"]
    assert notice["content"]["msgtype"] == "m.notice"
    assert "“an old message”" in body
    assert "within 2 minutes" in body
    assert not [e for e in await control.outbox(demo.account) if e.kind == "revoke"]


async def test_replies_after_a_restart_quote_the_contacts_and_the_users_own_text(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    user = await make_user("requote")
    demo, portal = await carol_portal(bridge, user)
    await control.send_message(demo.account, demo.carol, text="lunch at 12?")
    question = await wait_for_message(user, portal, contains="lunch at 12?")
    mine = await user.send_text(portal, "or at 1")
    await sent_to(bridge, demo.account, demo.carol, "or at 1")
    own = await user.event(portal, mine)

    await restart_and_wait_for_wechat(bridge, user)
    await user.send(portal, reply_to(question, "12 is fine"))
    await sent_to(
        bridge, demo.account, demo.carol, f"「Carol：lunch at 12?」\n{QUOTE_SEPARATOR}\n12 is fine"
    )
    await user.send(portal, reply_to(own, "forget that"))
    await sent_to(
        bridge, demo.account, demo.carol, f"「Demo User：or at 1」\n{QUOTE_SEPARATOR}\nforget that"
    )

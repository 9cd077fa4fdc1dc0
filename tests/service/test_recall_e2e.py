"""Recalls through the running service: WeChat recalls redact, Matrix redactions recall, and
a recall WeChat refuses (past its 2 minutes) is explained in the portal."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable

import pytest

from adapters.wechat.simulator.demo import Demo, create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import BridgeHarness, accept_invite, wait_for_message, wait_until
from tests.service.test_login import log_in
from tests.service.test_messages import sent_to

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


async def _redacted(user: MatrixUser, room: str, event_id: str) -> bool:
    return not (await user.event(room, event_id))["content"]


async def carol_portal(bridge: BridgeHarness, user: MatrixUser) -> tuple[Demo, str]:
    """The demo account logged in by ``user``, and Carol's portal (joined), opened by a
    hello from her."""
    control = bridge.simulator.control
    demo = await create_demo(control)
    dm, _ = await log_in(bridge, user, demo)
    await control.send_message(demo.account, demo.carol, text="hello")
    portal = await accept_invite(user, {dm})
    await wait_for_message(user, portal, contains="hello")
    return demo, portal


async def test_a_wechat_recall_redacts_the_matrix_message(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    user = await make_user("recall")
    demo, portal = await carol_portal(bridge, user)
    oops_id = await control.send_message(demo.account, demo.carol, text="oops, wrong chat")
    await control.send_message(demo.account, demo.carol, text="this one stays")
    oops = await wait_for_message(user, portal, contains="oops, wrong chat")
    kept = await wait_for_message(user, portal, contains="this one stays")

    await control.recall(demo.account, oops_id)

    await wait_until(lambda: _redacted(user, portal, oops["event_id"]))
    assert not await _redacted(user, portal, kept["event_id"])


async def test_a_matrix_redaction_recalls_the_wechat_message(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    user = await make_user("redact")
    demo, portal = await carol_portal(bridge, user)
    wrong = await user.send_text(portal, "meet at 9")
    await user.send_text(portal, "see you")
    sent = await sent_to(bridge, demo.account, demo.carol, "meet at 9")
    await sent_to(bridge, demo.account, demo.carol, "see you")

    await user.redact(portal, wrong)

    async def revokes() -> list[str]:
        return [e.msg_id for e in await control.outbox(demo.account) if e.kind == "revoke"]

    assert await wait_until(revokes) == [sent.msg_id]
    recall = next(e for e in await control.outbox(demo.account) if e.kind == "revoke")
    assert recall.to == demo.carol
    assert f"<msgid>{sent.msg_id}</msgid>" in html.unescape(str(recall.raw["recall_content"]))


async def test_a_redaction_past_two_minutes_is_explained_in_the_portal(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    user = await make_user("late")
    demo, portal = await carol_portal(bridge, user)
    late = await user.send_text(portal, "an old message")
    await sent_to(bridge, demo.account, demo.carol, "an old message")
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

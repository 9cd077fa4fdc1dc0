"""Matrix edits and reactions reach WeChat as the config says (``matrix`` section): an edit
within the recall window recalls the original and sends the new text; with ``edits:
correction`` it is a quoted correction; a reaction in a 1:1 chat is a short quoted text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest

from adapters.wechat.simulator.demo import create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import BridgeHarness, accept_invite, wait_for_message, wait_until
from tests.service.test_login import log_in
from tests.service.test_messages import sent_to
from tests.service.test_recall_e2e import carol_portal

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


def edit(event_id: str, body: str) -> dict[str, Any]:
    """An edit of ``event_id`` as Element sends it (spec "Event replacements")."""
    return {
        "msgtype": "m.text",
        "body": f"* {body}",
        "m.new_content": {"msgtype": "m.text", "body": body},
        "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
    }


async def test_an_edit_in_the_window_recalls_and_resends_and_a_reaction_is_quoted(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    user = await make_user("editor")
    demo, portal = await carol_portal(bridge, user)
    hello = next(
        e for e in await user.messages(portal) if e.get("content", {}).get("body") == "hello"
    )
    wrong = await user.send_text(portal, "see you at 5")
    first = await sent_to(bridge, demo.account, demo.carol, "see you at 5")

    await user.send(portal, edit(wrong, "see you at 6"))
    second = await sent_to(bridge, demo.account, demo.carol, "see you at 6")
    await user.send(portal, edit(wrong, "see you at 7"))  # edits name the original
    await sent_to(bridge, demo.account, demo.carol, "see you at 7")
    reaction = {"m.relates_to": {"rel_type": "m.annotation", "event_id": hello["event_id"],
                                 "key": "👍"}}  # fmt: skip
    liked = await user.send(portal, reaction, event_type="m.reaction")
    thumbs = await sent_to(bridge, demo.account, demo.carol, "👍 to 「hello」")
    await user.redact(portal, liked)  # taking the reaction back recalls its text

    async def revoked() -> list[str]:
        return [e.msg_id for e in await control.outbox(demo.account) if e.kind == "revoke"]

    await wait_until(lambda: _has(revoked, thumbs.msg_id))

    outbox = [e for e in await control.outbox(demo.account) if e.to == demo.carol]
    assert [(e.kind, e.msg_id if e.kind == "revoke" else e.text) for e in outbox] == [
        ("text", "see you at 5"),
        ("revoke", first.msg_id),  # the contact sees only the corrected message
        ("text", "see you at 6"),
        ("revoke", second.msg_id),  # the second edit recalls the first one's text
        ("text", "see you at 7"),
        ("text", "👍 to 「hello」"),
        ("revoke", thumbs.msg_id),
    ]


async def _has(found: Callable[[], Awaitable[list[str]]], wanted: str) -> bool:
    return wanted in await found()


async def test_with_edits_as_corrections_the_new_text_quotes_the_old(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    bridge.config = attrs.evolve(bridge.config, matrix_config={"edits": "correction"})
    await bridge.restart()
    control = bridge.simulator.control
    user = await make_user("corrector")
    demo, portal = await carol_portal(bridge, user)
    wrong = await user.send_text(portal, "the tent is blue")
    await sent_to(bridge, demo.account, demo.carol, "the tent is blue")

    await user.send(portal, edit(wrong, "the tent is green"))

    async def correction() -> str | None:
        texts = [e.text for e in await control.outbox(demo.account) if e.to == demo.carol]
        return next((t for t in texts if "green" in t), None)

    text = await wait_until(correction)
    assert "the tent is blue" in text  # quoted, as WeChat shows a reply
    assert text.endswith("✏️ the tent is green")
    assert not [e for e in await control.outbox(demo.account) if e.kind == "revoke"]


async def test_reactions_are_left_out_in_groups_by_default(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    user = await make_user("grouplike")
    dm, _ = await log_in(bridge, user, demo)
    await control.send_message(demo.account, demo.alice, group=demo.group, text="summit at 3")
    portal = await accept_invite(user, {dm})
    summit = await wait_for_message(user, portal, contains="summit at 3")

    reaction = {"m.relates_to": {"rel_type": "m.annotation", "event_id": summit["event_id"],
                                 "key": "🎉"}}  # fmt: skip
    await user.send(portal, reaction, event_type="m.reaction")
    await user.send_text(portal, "great")
    await sent_to(bridge, demo.account, demo.group, "great")

    outbox = [e for e in await control.outbox(demo.account) if e.to == demo.group]
    assert [e.text for e in outbox] == ["great"]  # the group was not told of the reaction

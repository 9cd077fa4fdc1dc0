"""The demo's scripted conversation: a Matrix client on one end, WeChat contacts on the other."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs

from adapters.demo.stack import DemoStack
from adapters.matrix.localsynapse import (
    MatrixError,
    MatrixUser,
    accept_invite,
    wait_for_message,
    wait_until,
)
from adapters.wechat.simulator import SimulatorControl
from adapters.wechat.simulator.control import OutboxEntry

Say = Callable[[str], None]

#: How long one step may take before the script gives up (only guards against a hang).
STEP_S = 30.0


@attrs.frozen
class ScriptResult:
    """What the script left behind: the Matrix rooms it used (the DM with the bot, the
    contact's portal, the group's portal) and names for the WeChat ids it talked to."""

    rooms: tuple[str, ...]
    names: Mapping[str, str]


async def run_script(stack: DemoStack, say: Say) -> ScriptResult:
    """Log the demo user in through the bot's QR flow, then chat both ways with Carol (a
    recall each way) and in the group "Weekend Hike". The Matrix user acts through the
    client-server API, the WeChat contacts through the simulator's control API; ``say``
    narrates each step. Raises ``TimeoutError`` if a step does not happen within ``STEP_S``.
    """
    user, control, demo = stack.user, stack.control, stack.demo
    bot = stack.service.config.bot_user_id
    account = demo.account

    say(f"{user.user_id} opens a direct chat with the bridge bot {bot} and sends 'login'")
    dm = await user.create_room(is_direct=True, invite=[bot])
    await wait_until(lambda: _is_member(user, dm, bot))
    sent = await user.send_text(dm, "login")
    qr = await wait_for_message(user, dm, from_=bot, msgtype="m.image", after=sent)
    say(f"the bot sends the QR code as an image ({qr['content'].get('url', '')})")
    say("the demo WeChat phone scans it and confirms the login")
    await control.scan(account)
    done = await wait_for_message(user, dm, from_=bot, contains="Logged in to WeChat", after=sent)
    say(f"the bot answers: {done['content']['body']}")
    known = {dm}

    say("Carol writes on WeChat; the bridge invites the Matrix user to her portal, who joins")
    await control.send_message(account, demo.carol, text="Hi! Are you coming on Saturday?")
    carol_room = await accept_invite(user, known)
    await wait_for_message(user, carol_room, contains="coming on Saturday")
    say("the Matrix user answers in the portal; it reaches Carol on WeChat")
    await user.send_text(carol_room, "Yes! I'll bring the snacks.")
    await sent_to(control, account, lambda e: e.kind == "text" and "snacks" in e.text)

    say("Carol sends a message and recalls it on WeChat: it is redacted in Matrix")
    text = "Don't tell Bob, but I lost the map"
    msg_id = await control.send_message(account, demo.carol, text=text)
    oops = await wait_for_message(user, carol_room, contains="lost the map")
    await control.recall(account, msg_id)
    await wait_until(lambda: _redacted(user, carol_room, oops["event_id"]))

    say("the Matrix user sends a typo and redacts it: the message is recalled on WeChat")
    typo = await user.send_text(carol_room, "See you at 8 at the statoin")
    sent_typo = await sent_to(control, account, lambda e: e.kind == "text" and "statoin" in e.text)
    await user.redact(carol_room, typo)
    await sent_to(control, account, lambda e: e.kind == "revoke" and e.msg_id == sent_typo.msg_id)
    await user.send_text(carol_room, "See you at 8 at the station")
    await sent_to(control, account, lambda e: e.kind == "text" and "station" in e.text)

    say("Alice writes in the WeChat group 'Weekend Hike'; the Matrix user joins its portal")
    await control.send_message(account, demo.alice, group=demo.group, text="Who brings the tent?")
    group_room = await accept_invite(user, known)
    await wait_for_message(user, group_room, contains="tent")
    say("the Matrix user answers in the group portal; it reaches the WeChat group")
    await user.send_text(group_room, "I do!")
    await sent_to(control, account, lambda e: e.kind == "text" and e.to == demo.group)

    names = {demo.carol: "Carol", demo.group: "Weekend Hike", demo.alice: "Alice"}
    return ScriptResult((dm, carol_room, group_room), names)


async def sent_to(
    control: SimulatorControl, account: str, match: Callable[[OutboxEntry], bool]
) -> OutboxEntry:
    """The first entry of ``account``'s outbox (what its web client sent) that ``match``es,
    waiting for it."""

    async def find() -> OutboxEntry | None:
        return next((e for e in await control.outbox(account) if match(e)), None)

    found: OutboxEntry = await wait_until(find)
    return found


async def _is_member(user: MatrixUser, room: str, member: str) -> bool:
    try:
        state = await user.state(room, "m.room.member", member)
    except MatrixError:
        return False
    return state.get("membership") == "join"


async def _redacted(user: MatrixUser, room: str, event_id: str) -> bool:
    return not (await user.event(room, event_id)).get("content")

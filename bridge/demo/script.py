"""The demo's scripted conversation: a Matrix client on one end, WeChat contacts on the other."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs

from adapters.matrix.localsynapse import MatrixError, MatrixUser
from adapters.wechat.simulator import SimulatorControl
from adapters.wechat.simulator.control import OutboxEntry
from bridge.demo.stack import DemoStack

Event = dict[str, Any]
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


async def wait_until(check: Callable[[], Awaitable[Any]], *, within_s: float = STEP_S) -> Any:
    """Poll the async ``check`` until it returns something truthy, and return that. Raises
    ``TimeoutError`` after ``within_s`` seconds."""
    async with asyncio.timeout(within_s):
        while not (result := await check()):  # noqa: ASYNC110 (polling the homeserver)
            await asyncio.sleep(0.1)
        return result


async def wait_for_message(
    user: MatrixUser,
    room: str,
    *,
    from_: str | None = None,
    contains: str = "",
    msgtype: str | None = None,
    after: str | None = None,
) -> Event:
    """The first ``m.room.message`` in ``room`` as ``user`` sees it (after event ``after``)
    sent by ``from_``, whose body contains ``contains`` and whose msgtype is ``msgtype``."""

    async def find() -> Event | None:
        for event in _after(await user.messages(room, limit=100), after):
            content = event.get("content", {})
            if (
                event.get("type") == "m.room.message"
                and (from_ is None or event.get("sender") == from_)
                and contains in str(content.get("body", ""))
                and (msgtype is None or content.get("msgtype") == msgtype)
            ):
                return event
        return None

    found: Event = await wait_until(find)
    return found


def _after(events: Sequence[Event], event_id: str | None) -> Sequence[Event]:
    if event_id is None:
        return events
    ids = [e.get("event_id") for e in events]
    return events[ids.index(event_id) + 1 :] if event_id in ids else []


async def accept_invite(user: MatrixUser, known: set[str]) -> str:
    """Wait for an invite of ``user`` to a room not in ``known``, join it, return its id."""

    async def new_invite() -> str | None:
        fresh = [r for r in await user.invites() if r not in known]
        return fresh[0] if fresh else None

    room: str = await wait_until(new_invite)
    await user.join(room)
    known.add(room)
    return room


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

"""The demo's transcript: rooms as the Matrix user sees them, and what WeChat was sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from adapters.matrix.localsynapse import MatrixError, MatrixUser
from adapters.wechat.simulator.control import OutboxEntry

#: What a redacted message shows instead of its body.
REDACTED = "[redacted]"


async def room_transcript(user: MatrixUser, room: str) -> list[str]:
    """``room`` as ``user``'s Matrix client shows it: a title line (the room name, else the
    other members' display names), then one line per message ``  sender: body``, with the
    sender's display name in the room and ``[redacted]`` for redacted messages. Continuation
    lines of a multi-line body are indented."""
    names = await user.display_names(room)
    lines = [f"== {await _room_name(user, room, names)} =="]
    for event in await user.messages(room, limit=200):
        if event.get("type") != "m.room.message":
            continue
        sender = str(event.get("sender", ""))
        who = names.get(sender, sender)
        first, *rest = _body(event.get("content") or {}).splitlines() or [""]
        lines.append(f"  {who}: {first}")
        lines.extend(f"  {' ' * len(who)}  {line}" for line in rest)
    return lines


async def _room_name(user: MatrixUser, room: str, names: Mapping[str, str]) -> str:
    try:
        name = (await user.state(room, "m.room.name")).get("name")
    except MatrixError:  # no name: clients show who else is there
        name = None
    if isinstance(name, str) and name:
        return name
    others = [n for member, n in names.items() if member != user.user_id]
    return ", ".join(sorted(others)) or room


def _body(content: Mapping[str, Any]) -> str:
    if not content:
        return REDACTED
    body = str(content.get("body", ""))
    if content.get("msgtype") == "m.image":
        return f"[image] {body}"
    return body


def outbox_transcript(entries: Iterable[OutboxEntry], names: Mapping[str, str]) -> list[str]:
    """What the WeChat account's web client sent, one line per outbox entry: ``  text to
    Carol: …`` or ``  recall to Carol of: …`` (the recalled text), ``names`` naming the ids."""
    texts: dict[str, str] = {}
    lines = []
    for entry in entries:
        to = names.get(entry.to, entry.to)
        if entry.kind == "text":
            texts[entry.msg_id] = entry.text
            lines.append(f"  text to {to}: {entry.text}")
        elif entry.kind == "revoke":
            lines.append(f"  recall to {to} of: {texts.get(entry.msg_id, entry.msg_id)}")
        else:
            lines.append(f"  {entry.kind} to {to}")
    return lines


async def transcript(
    user: MatrixUser, rooms: Sequence[str], outbox: Iterable[OutboxEntry], names: Mapping[str, str]
) -> list[str]:
    """The whole transcript: every room of ``rooms`` (``room_transcript``), then the WeChat
    account's outbox (``outbox_transcript``)."""
    lines = [f"Transcript, as {user.user_id} sees it in a Matrix client:", ""]
    for room in rooms:
        lines.extend(await room_transcript(user, room))
        lines.append("")
    lines.append("What the bridge sent from the WeChat account (the simulator's outbox):")
    lines.extend(outbox_transcript(outbox, names))
    return lines

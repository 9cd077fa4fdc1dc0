"""The bot's identity commands: ``split`` (the inverse of ``resolve``) and ``audit``."""

from __future__ import annotations

import html
import time
from collections.abc import Sequence

from bridge.commands_chats import Reply, room_link
from bridge.errors import BridgeError
from bridge.ids import RoomId
from bridge.logins import LoginSession
from bridge.model import IdentityId
from bridge.relay.decisions import split_identity
from bridge.store.audit import Decision

#: How many decisions ``audit`` shows.
AUDIT_LINES = 20


async def split_command(session: LoginSession, args: Sequence[str]) -> Reply:
    """``split <chat>``: the WeChat contact now bound to ``<chat>`` (a portal's room id or an
    identity id) is someone else; it gets a chat of its own from its next message and the
    chat keeps its room. Undoes a ``resolve`` or a binding a re-login made on a name. Raises
    ``BridgeError`` with a user-facing text."""
    if len(args) != 1:
        raise BridgeError("usage: `split <chat>`, <chat> being its room id or identity id")
    ref = args[0]
    wanted = IdentityId(ref)
    if ref.startswith("!"):
        portal = await session.store.portals.by_room(RoomId(ref))
        if portal is None:
            raise BridgeError(f"{ref!r} is not a WeChat chat's room")
        wanted = portal.identity_id
    async with session.store.transaction() as tx:
        ident = await tx.identities.get(wanted)
        if ident is None or ident.login_id != session.id:
            raise BridgeError(f"{ref!r} is not one of your WeChat chats")
        await split_identity(tx, session.id, wanted)
    name = ident.profile.display_name
    return Reply(
        f"{name} is no longer bound to that WeChat contact: the contact's next message opens "
        "a chat of its own. Send `audit` to see the identity decisions."
    )


async def audit_command(session: LoginSession) -> Reply:
    """``audit``: the last identity decisions (held, bound on a name, resolved, split,
    unbound by a leaked id), oldest first, each with its chat's room."""
    decisions = await session.store.audit.recent(session.id, AUDIT_LINES)
    if not decisions:
        return Reply("No identity decisions yet: every chat was bound by what identifies it.")
    text = ["Identity decisions (newest last):"]
    markup = [html.escape(text[0])]
    for decision in decisions:
        portal = await session.store.portals.get(decision.identity_id)
        plain, rich = _line(decision, portal.room if portal else None)
        text.append(plain)
        markup.append(rich)
    hint = "`split <chat>` undoes a binding; `resolve` answers a held chat."
    return Reply.from_lines([*text, hint], [*markup, html.escape(hint)])


def _line(decision: Decision, room: RoomId | None) -> tuple[str, str]:
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(decision.at))
    chat = decision.before.display_name if decision.before else decision.identity_id
    what = f"{decision.decision} {chat}" + (f" → {decision.contact}" if decision.contact else "")
    plain = f"• {when} UTC {what}: {decision.evidence}" + (f" ({room})" if room else "")
    rich = f"• {when} UTC {html.escape(what)}: <i>{html.escape(decision.evidence)}</i>" + (
        f" ({room_link(room)})" if room else ""
    )
    return plain, rich

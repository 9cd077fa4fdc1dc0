"""The bot's portal commands (model: mautrix bridgev2's ``search``, ``start-chat`` and
``delete-portal``): find a chat of the contact book by name, open its portal, delete one."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence

import attrs

from bridge.channel import SupportsPortalDeletion, SupportsPortalInvite
from bridge.commands_chats import Reply, distinct_labels, room_link, room_url
from bridge.errors import BridgeError, NotLoggedIn
from bridge.ids import MatrixUserId, RoomId
from bridge.login_manager import LoginManager
from bridge.logins import LoginSession
from bridge.model import Address, ChatKind, Profile
from bridge.store import StoredIdentity

log = logging.getLogger(__name__)

#: Most matches ``search`` lists (the rest are counted).
SEARCH_LIMIT = 30
#: Longest text looked for that replies repeat in full (characters); longer is shortened.
SHOWN_QUERY = 60


def _shown(query: str) -> str:
    """``query`` as replies repeat it: at most ``SHOWN_QUERY`` characters."""
    return query if len(query) <= SHOWN_QUERY else query[: SHOWN_QUERY - 1] + "…"


@attrs.frozen
class Match:
    """A chat found by name: its identity, the label that tells it apart from the other
    matches (``distinct_labels``), what matched (e.g. ``remark name “Alice (work)”``) and
    whether that name equals the text looked for (``exact``)."""

    ident: StoredIdentity
    label: str
    matched: str
    exact: bool


def _fields(profile: Profile, network: str) -> list[tuple[str, str]]:
    """The names a chat is found by: RemarkName, NickName, Alias (the WeChat ID) of a
    contact; a group's name (its topic, the group's NickName, PROTOCOL.md §3.5)."""
    if profile.kind is ChatKind.GROUP:
        return [("group name", profile.nick_name or profile.name), ("remark", profile.remark_name)]
    return [
        ("remark name", profile.remark_name),
        ("nickname", profile.nick_name),
        (f"{network} ID", profile.alias),
    ]


async def find_chats(session: LoginSession, text: str) -> list[Match]:
    """The chats of the current contact book (``LoginBook.identities``: contacts and groups,
    bound to one contact, not ambiguous) with a name containing ``text`` (case-insensitive;
    see ``_fields``). Chats with a name *equal* to ``text`` come first, then contacts before
    groups, then by label, so numbers in a list stay the same for the same contact book.
    Raises ``NotLoggedIn``."""
    if session.account is None:
        raise NotLoggedIn(f"you are not logged in to {session.network}; send `login` first")
    wanted = text.strip().casefold()
    if not wanted:
        raise BridgeError("say which name to look for")
    found: list[tuple[bool, StoredIdentity, str]] = []
    for ident in await session.store.identities.all(session.id):
        if ident.id not in session.book.identities or ident.address is None or ident.ambiguous:
            continue
        if ident.profile.is_self:
            continue
        hits = [
            (value.casefold() == wanted, f"{what} “{value}”")
            for what, value in _fields(ident.profile, session.network)
            if value and wanted in value.casefold()
        ]
        if hits:
            exact = any(e for e, _ in hits)
            found.append((exact, ident, next(m for e, m in hits if e == exact)))
    labels = distinct_labels([i for _, i, _ in found])
    found.sort(key=lambda f: (not f[0], f[1].kind is ChatKind.GROUP, labels[f[1].id].casefold()))
    return [Match(ident, labels[ident.id], matched, exact) for exact, ident, matched in found]


async def search_command(session: LoginSession, args: Sequence[str]) -> Reply:
    """``search <text>``: the chats ``find_chats`` finds, numbered, each with its portal
    (a matrix.to pill) or "no room yet"; no room is created. Raises ``BridgeError``."""
    if not args:
        raise BridgeError("usage: `search <name>` (part of a name, remark or WeChat ID)")
    query = " ".join(args)
    matches = await find_chats(session, query)
    if not matches:
        return _none_found(session, query)
    title = f"{session.network} chats matching “{_shown(query)}”:"
    text, markup = [title], [f"<b>{html.escape(title)}</b>"]
    for number, match in enumerate(matches[:SEARCH_LIMIT], 1):
        portal = await session.store.portals.get(match.ident.id)
        plain, rich = _line(number, match, portal.room if portal else None)
        text.append(plain)
        markup.append(rich)
    if len(matches) > SEARCH_LIMIT:
        more = f"… and {len(matches) - SEARCH_LIMIT} more: type more of the name."
        text.append(more)
        markup.append(html.escape(more))
    hint = f"Send `start-chat {_shown(query)} <n>` to open chat n."
    return Reply.from_lines([*text, hint], [*markup, _code_html(hint)])


def _line(number: int, match: Match, room: RoomId | None) -> tuple[str, str]:
    kind = "group" if match.ident.kind is ChatKind.GROUP else "contact"
    where = room_url(room) if room else "no room yet"
    plain = f"{number}. {match.label} ({kind}, {match.matched}) — {where}"
    shown = html.escape(match.label)
    rich = (
        f"{number}. {room_link(room, match.label) if room else shown} "
        f"<i>({kind}, {html.escape(match.matched)})</i>" + ("" if room else " — no room yet")
    )
    return plain, rich


def _none_found(session: LoginSession, query: str) -> Reply:
    text = (
        f"No {session.network} contact or group has a name, remark or {session.network} ID "
        f"containing “{_shown(query)}”. Send `list` to see them all."
    )
    return Reply(text, _code_html(text))


def _code_html(text: str) -> str:
    """``text`` escaped, its `backticked` parts as ``<code>``."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if n % 2 else p for n, p in enumerate(parts))


async def start_chat_command(session: LoginSession, args: Sequence[str]) -> Reply:
    """``start-chat <name> [<n>]`` (alias ``pm``): open the portal of the one chat
    ``find_chats`` finds for ``<name>`` (or its n-th match), creating it if it has none, and
    make sure the user is invited to it. Several matches: they are listed told apart, with
    how to pick one; none: said so. Raises ``BridgeError``."""
    if not args:
        raise BridgeError("usage: `start-chat <name>` (or `pm <name>`)")
    query = " ".join(args)
    matches = await find_chats(session, query)
    exact = [m for m in matches if m.exact]
    if len(exact) == 1:
        matches = exact
    elif len(args) > 1 and args[-1].isdigit():
        # ``start-chat Bob 2``: the second chat of the list ``start-chat Bob`` showed.
        rest, pick = " ".join(args[:-1]), int(args[-1])
        listed = await find_chats(session, rest)
        if len(listed) > 1 and 1 <= pick <= len(listed):
            matches = [listed[pick - 1]]
        elif len(listed) > 1 and not matches:
            raise BridgeError(
                f"“{_shown(rest)}” has {len(listed)} matches; pick 1 to {len(listed)}"
            )
    if not matches:
        return _none_found(session, query)
    if len(matches) > 1:
        return await _choose(session, query, matches)
    return await _open(session, matches[0])


async def _choose(session: LoginSession, query: str, matches: Sequence[Match]) -> Reply:
    title = f"Several {session.network} chats match “{_shown(query)}”:"
    text, markup = [title], [html.escape(title)]
    for number, match in enumerate(matches[:SEARCH_LIMIT], 1):
        portal = await session.store.portals.get(match.ident.id)
        plain, rich = _line(number, match, portal.room if portal else None)
        text.append(plain)
        markup.append(rich)
    hint = (
        f"Send `start-chat {_shown(query)} <n>` for chat n of this list, or more of the name "
        "(a remark name or WeChat ID tells namesakes apart)."
    )
    return Reply.from_lines([*text, hint], [*markup, _code_html(hint)])


async def _open(session: LoginSession, match: Match) -> Reply:
    room, created = await session.relay.ensure_portal(match.ident)
    invited = created
    if not created and isinstance(session.matrix, SupportsPortalInvite):
        invited = await session.matrix.invite_owner(Address(room))
    name = match.label
    if created:
        state = "created its room and invited you"
    elif invited:
        state = "invited you to its room again"
    else:
        state = "you are in its room already"
    text = f"Chat with {name}: {state}: {room_url(room)}"
    rich = f"Chat with {html.escape(name)}: {state}: {room_link(room, name)}"
    log.info("start-chat: portal %s of identity %s (created: %s)", room, match.ident.id, created)
    return Reply(text, rich)


async def delete_portal_command(
    logins: LoginManager, user: MatrixUserId, room: RoomId, *, admin: bool
) -> Reply | None:
    """``delete-portal``, sent in a portal (mautrix bridgev2's ``delete-portal``): the room
    is told, the portal forgotten (``PortalDirectory.forget``) and its room emptied and left
    (``SupportsPortalDeletion``), so the chat's next message opens a new room; the owner is
    told in the management room. Only the portal's owner, or an admin, may. Returns the
    reply where the command came from (None: said elsewhere). Raises ``BridgeError``."""
    network = logins.network.display_name
    portal = await logins.portals.by_room(room)
    if portal is None:
        raise BridgeError(
            f"this room is not a portal; send `delete-portal` in the room of a {network} chat"
        )
    if portal.owner != user and not admin:
        raise BridgeError("this portal belongs to another user's login")
    session = logins.session(portal.owner)
    if session is None or session.id != portal.login:
        raise BridgeError(f"the {network} login of this portal is not running")
    ident = await session.store.identities.get(portal.identity)
    name = ident.profile.display_name if ident is not None else "this chat"
    notice = (
        f"This portal is being deleted on {user}'s request: the bridge leaves and this room "
        f"is no longer bridged. A new message of {name} opens a new room."
    )
    try:
        await logins.hub.reply(room, notice, html=html.escape(notice))
    except Exception:
        log.exception("delete-portal: could not tell the room %s", room)
    await logins.portals.forget(portal.identity)
    cleaned = isinstance(session.matrix, SupportsPortalDeletion)
    if isinstance(session.matrix, SupportsPortalDeletion):
        await session.matrix.delete_portal(Address(room), reason="the portal was deleted")
    log.info("delete-portal: portal %s of identity %s deleted", room, portal.identity)
    done = f"Deleted the portal of {name}" + ("" if cleaned else f" (its room {room} stays)")
    await session.notices.say(f"{done}. A new message of {name} opens a new room.")
    return None

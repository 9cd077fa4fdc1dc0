"""The bot's chat commands: ``sync`` creates portals, ``list`` shows them, ``resolve``."""

from __future__ import annotations

import asyncio
import html
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import quote

import attrs

from bridge.errors import BridgeError, NotLoggedIn
from bridge.ids import RoomId
from bridge.logins import LoginSession
from bridge.model import Address, ChatKind, IdentityId, Profile
from bridge.relay.notices import differences, tell_apart
from bridge.store import StoredIdentity

log = logging.getLogger(__name__)

#: Portals ``sync`` creates at once (one at a time, 5,507 took 40 minutes).
SYNC_CONCURRENCY = 8
#: Called during ``sync`` with (chats done, chats in all).
Progress = Callable[[int, int], Awaitable[None]]

#: Resolving "none of these": the chat keeps its own identity, the candidates get new ones.
APART = "apart"


@attrs.frozen
class Reply:
    """A message of the bot: plain ``text``, optionally with an HTML rendering."""

    text: str
    html: str | None = None

    @classmethod
    def from_lines(cls, text: Sequence[str], markup: Sequence[str]) -> Reply:
        """One message of plain-text lines and their HTML twins."""
        return cls("\n".join(text), "<br>\n".join(markup))


@attrs.frozen
class SyncResult:
    """What ``sync`` did: ``total`` chats of the contact book, ``created`` new portals,
    ``failed`` chats whose portal could not be created (the last error in ``error``)."""

    total: int
    created: int
    failed: int = 0
    error: str = ""


async def sync_portals(session: LoginSession, progress: Progress, *, every: int = 10) -> SyncResult:
    """Create the portal of every chat of the current remote session's contact book
    (``LoginBook.identities``) that is still bound to its contact, ``SYNC_CONCURRENCY`` at a
    time; ``progress`` is awaited every ``every`` chats done. Raises ``NotLoggedIn``; a
    portal that cannot be created is counted in ``failed``."""
    if session.account is None:
        raise NotLoggedIn(f"not logged in to {session.network}; send `login` first")
    chats = [
        i
        for i in await session.store.identities.all(session.id)
        if i.id in session.book.identities and i.address is not None and not i.ambiguous
    ]
    created = failed = done = 0
    error = ""
    slots = asyncio.Semaphore(SYNC_CONCURRENCY)

    async def one(ident: StoredIdentity) -> None:
        nonlocal created, failed, done, error
        async with slots:
            try:
                made = await _ensure_portal(session, ident)
            except BridgeError as exc:
                failed += 1
                error = str(exc)
                log.warning("sync: no portal for identity %s: %s", ident.id, exc)
            else:
                created += made  # not `created += await ...`: that reads it before waiting
        done += 1
        if done % every == 0 and done < len(chats):
            await progress(done, len(chats))

    async with asyncio.TaskGroup() as group:
        for ident in chats:
            group.create_task(one(ident))
    return SyncResult(len(chats), created, failed, error)


async def _ensure_portal(session: LoginSession, ident: StoredIdentity) -> bool:
    # The relay records portals (one writer), so a message racing this sync shares the room.
    _, created = await session.relay.ensure_portal(ident)
    return created


def room_url(room: RoomId) -> str:
    """The matrix.to link of ``room`` (spec "Matrix URIs": matrix.to navigation)."""
    return f"https://matrix.to/#/{quote(room, safe='!:')}"


def room_link(room: RoomId, label: str | None = None) -> str:
    """An HTML link to ``room`` (matrix.to; room ids are opaque, spec "Room IDs") showing
    ``label`` (default: the room id), which clients show as a room pill."""
    shown = html.escape(room if label is None else label)
    return f'<a href="{html.escape(room_url(room), quote=True)}">{shown}</a>'


def distinct_labels(idents: Sequence[StoredIdentity]) -> dict[IdentityId, str]:
    """A label per chat that no other of ``idents`` shares: the name; for namesakes what
    tells them apart (``describe``); where even that is the same, the identity id too."""
    by_name = Counter(i.profile.display_name for i in idents)
    labels = {
        i.id: i.profile.display_name
        if by_name[i.profile.display_name] == 1
        else describe(i.profile)
        for i in idents
    }
    repeated = Counter(labels.values())
    return {
        ident: label if repeated[label] == 1 else f"{label} (id {ident})"
        for ident, label in labels.items()
    }


def describe(profile: Profile) -> str:
    """What tells a contact apart from a namesake: name, nickname, Alias, sex, place,
    signature."""
    parts = [profile.display_name]
    if profile.nick_name and profile.nick_name != profile.display_name:
        parts.append(f"nickname {profile.nick_name}")
    if profile.alias:
        parts.append(f"WeChat ID {profile.alias}")
    if profile.sex in (1, 2):
        parts.append("male" if profile.sex == 1 else "female")
    place = " ".join(p for p in (profile.province, profile.city) if p)
    if place:
        parts.append(place)
    if profile.signature:
        parts.append(f"“{profile.signature}”")
    if profile.kind is ChatKind.GROUP and profile.members:
        parts.append(f"{len(profile.members)} members")
    return " · ".join(parts)


async def chat_list(session: LoginSession) -> list[Reply]:
    """The ``list`` answer: contacts, then groups, each with its portal room or state;
    ambiguous chats are flagged. Long lists come as several messages."""
    idents = [i for i in await session.store.identities.all(session.id) if not i.profile.is_self]
    rooms = {}
    for ident in idents:
        portal = await session.store.portals.get(ident.id)
        if portal is not None:
            rooms[ident.id] = portal.room
    # Group members are identities too (the ghosts of who speaks in groups): list only the
    # contact book, and what has a room or waits for ``resolve``.
    idents = [i for i in idents if i.id in rooms or i.id in session.book.identities or i.ambiguous]
    who = f" (logged in as {session.account_name})" if session.account else " (not logged in)"
    title = f"Your {session.network} chats{who}:"
    text, markup = [title], [f"<b>{html.escape(title)}</b>"]
    for kind, title in ((ChatKind.DIRECT, "Contacts"), (ChatKind.GROUP, "Groups")):
        some = [i for i in idents if i.kind is kind]
        if not some:
            continue
        text.append(f"{title}:")
        markup.append(f"<b>{title}:</b>")
        labels = distinct_labels(some)
        for ident in some:
            plain, rich = _chat_line(ident, labels[ident.id], rooms.get(ident.id))
            text.append(plain)
            markup.append(rich)
    ambiguous = sum(1 for i in idents if i.ambiguous)
    summary = f"{len(idents)} chats, {len(rooms)} with a room"
    if ambiguous:
        summary += f", {ambiguous} ambiguous (send `resolve`)"
    text.append(summary + ".")
    markup.append(html.escape(summary) + ".")
    if len(idents) == 0:
        text[-1] = markup[-1] = "No chats yet. Send `sync` to create rooms for all of them."
    return _paginate(text, markup)


def _chat_line(ident: StoredIdentity, name: str, room: RoomId | None) -> tuple[str, str]:
    """A line of ``list``: the chat's ``name`` (its label there), linked to its portal."""
    if ident.ambiguous:
        names = ", ".join(tell_apart(ident.candidates)[0]) or "several contacts"
        state = f"ambiguous: could be {names}"
    elif ident.address is None:
        state = "not in the current contact list"
    else:
        state = ""
    plain = f"• {name} — " + (room_url(room) if room else "no room yet")
    plain += f" ({state})" if state else ""
    rich = "• " + (room_link(room, name) if room else f"{html.escape(name)} — no room yet")
    rich += f" <i>({html.escape(state)})</i>" if state else ""
    return ("⚠ " + plain[2:] if ident.ambiguous else plain), rich


def _paginate(text: Sequence[str], markup: Sequence[str], limit: int = 60) -> list[Reply]:
    return [
        Reply.from_lines(text[i : i + limit], markup[i : i + limit])
        for i in range(0, len(text), limit)
    ]


async def resolve_command(session: LoginSession, args: Sequence[str]) -> Reply:
    """``resolve``: without arguments, the ambiguous chats with numbered candidates; with
    ``<chat> <n>``, bind the chat to candidate ``n``; with ``<chat> apart``, keep it apart
    from all of them. ``<chat>`` is a number of that list, an identity id or a portal's room
    id. Raises ``BridgeError`` with a user-facing text."""
    ambiguous = await session.relay.ambiguities()
    if not args:
        return await _ambiguity_list(session, ambiguous)
    if len(args) != 2:
        raise BridgeError("usage: `resolve <chat> <n>` or `resolve <chat> apart`")
    ident = await _find(session, ambiguous, args[0])
    choice = args[1].lower()
    address: Address | None
    if choice == APART:
        address = None
    elif choice.isdigit() and 1 <= int(choice) <= len(ident.candidates):
        address = ident.candidates[int(choice) - 1].address
    else:
        raise BridgeError(
            f"{args[1]!r} is not a candidate of {ident.profile.display_name}: use 1 to "
            f"{len(ident.candidates)} or `apart`"
        )
    await session.relay.resolve(ident.id, address)
    name = ident.profile.display_name
    if address is None:
        line = f"{name} stays apart from its candidates; each of them gets its own chat."
    else:
        chosen = next(p for p in ident.candidates if p.address == address)
        line = f"{name} is now {describe(chosen)}; held messages are being delivered."
    return Reply(line)


async def _ambiguity_list(session: LoginSession, ambiguous: Sequence[StoredIdentity]) -> Reply:
    if not ambiguous:
        line = "No chat is ambiguous: every chat is bound to exactly one WeChat contact."
        return Reply(line)
    text = ["After the WeChat re-login, these chats could each be more than one contact:"]
    markup = [html.escape(text[0])]
    for number, ident in enumerate(ambiguous, 1):
        portal = await session.store.portals.get(ident.id)
        room = "no room"
        if ident.profile.member_of:  # a group member who is not a contact: its group says who
            group = await session.store.identities.get(ident.profile.member_of)
            room = f"a member of {group.profile.display_name if group else 'a group'}"
        where = portal.room if portal else room
        name = ident.profile.display_name
        text.append(f"{number}. {name} — {where} ({ident.id})")
        markup.append(
            f"<b>{number}. {html.escape(name)}</b> — "
            + (room_link(portal.room) if portal else html.escape(room))
            + f" ({html.escape(ident.id)})"
        )
        apart = _apart(ident.candidates)
        for n, candidate in enumerate(ident.candidates, 1):
            line = describe(candidate) + apart[n - 1]
            text.append(f"   {n}) {line}")
            markup.append(f"&nbsp;&nbsp;&nbsp;{n}) {html.escape(line)}")
    hint = (
        "Send `resolve <chat> <n>` to say the chat is candidate n, or `resolve <chat> apart` "
        "if it is none of them; <chat> is its number above, identity id or room id."
    )
    return Reply.from_lines([*text, hint], [*markup, html.escape(hint)])


def _apart(candidates: Sequence[Profile]) -> list[str]:
    """For each candidate, what tells it from the others that ``describe`` does not show
    (avatar, AttrStatus, remark, real id), as " — …" (or "")."""
    shown = ("avatar", "AttrStatus", "id ", "remark", "no remark")
    differing, _ = differences(candidates)
    extra = [[f for f in facts if f.startswith(shown)] for facts in differing]
    return [" — " + " · ".join(e) if e else "" for e in extra]


async def _find(
    session: LoginSession, ambiguous: Sequence[StoredIdentity], ref: str
) -> StoredIdentity:
    if ref.isdigit() and 1 <= int(ref) <= len(ambiguous):
        return ambiguous[int(ref) - 1]
    wanted: IdentityId | None = IdentityId(ref)
    if ref.startswith("!"):
        portal = await session.store.portals.by_room(RoomId(ref))
        wanted = portal.identity_id if portal else None
    found = next((i for i in ambiguous if i.id == wanted), None)
    if found is None:
        raise BridgeError(f"{ref!r} is not an ambiguous chat; send `resolve` for the list of those")
    return found

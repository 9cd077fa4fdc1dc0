"""Sorting a transaction's events: echoes, bot invites, portal messages and bot commands."""

from __future__ import annotations

import asyncio
import enum
import functools
import logging

from adapters.matrix import media, render
from adapters.matrix.errors import MatrixForbidden, MatrixNotFound
from adapters.matrix.ghosts import ghost_identity
from adapters.matrix.side import MatrixSide
from adapters.matrix.types import RoomEvent, RoomId, UserId
from bridge.hub import BotCommand, CommandHandler, is_command
from bridge.model import Address, Content, Message, RemoteId, Revocation
from bridge.relay.portals import PortalInfo, PortalLookup

logger = logging.getLogger(__name__)

__all__ = ["BRIDGED_TYPES", "BotCommand", "CommandHandler", "PortalInfo", "Route", "Router"]

BRIDGED_TYPES = frozenset({"m.room.message", "m.sticker", "m.room.redaction", "m.reaction"})


class Route(enum.Enum):
    """What the hub does with one event of a transaction."""

    DROP = "drop"
    INVITE = "invite"
    PORTAL = "portal"
    COMMAND = "command"
    ENCRYPTED = "encrypted"


class Router:
    """Classifies transaction events and converts portal events into the bridge's model.

    Events of the bot and the ghosts are echoes (dropped), as are the owner's double-puppeted
    posts. A text starting with the command prefix (``Config.command_prefix``) is a command
    in every room, portals included: it goes to the bot, never to a contact. Which rooms are
    portals the core answers (``portal_of``, asked once per event); which rooms the bot is in,
    the homeserver (cached until a membership event in the room).
    """

    def __init__(self, side: MatrixSide, portal_of: PortalLookup) -> None:
        self._side = side
        self._portal_of = portal_of
        self._bot_rooms: dict[RoomId, frozenset[UserId] | None] = {}

    def is_echo(self, event: RoomEvent) -> bool:
        """Whether ``event`` was posted by the bridge itself (bot, ghost, double puppet)."""
        if event.sender == self._side.bot or self._side.config.is_ghost(event.sender):
            return True
        return render.DOUBLE_PUPPET_KEY in event.content

    async def route(self, event: RoomEvent) -> tuple[Route, PortalInfo | None]:
        """Where ``event`` goes, and the portal it belongs to when that is ``PORTAL``."""
        if event.type == "m.room.member":
            self._bot_rooms.pop(event.room_id, None)
            if event.state_key == self._side.bot and event.membership == "invite":
                return Route.INVITE, None
            return Route.DROP, None
        if event.type == "m.room.encrypted" and not self.is_echo(event):
            # End-to-end encryption is not supported: the sender is told, never ignored.
            return Route.ENCRYPTED, None
        if event.type not in BRIDGED_TYPES or self.is_echo(event):
            return Route.DROP, None
        portal = await self._portal_of(event.room_id)
        if portal is not None:
            if self._is_command(event):
                # Answered by the bot, never relayed to the contact (issue 9 item 1).
                return Route.COMMAND, None
            if event.sender != portal.owner:
                logger.debug("event %s in portal %s not from its owner", event.event_id, portal)
                return Route.DROP, None
            return Route.PORTAL, portal
        # Not m.notice: bots post notices, and answering them could start a loop of bots.
        if event.type == "m.room.message" and event.msgtype == "m.text":
            return Route.COMMAND, None
        return Route.DROP, None

    def _is_command(self, event: RoomEvent) -> bool:
        body = event.content.get("body")
        return (
            event.type == "m.room.message"
            and event.msgtype == "m.text"
            and isinstance(body, str)
            and is_command(body, self._side.config.command_prefix)
        )

    def forget(self, room: RoomId) -> None:
        """Drop what is cached about ``room``."""
        self._bot_rooms.pop(room, None)

    async def bot_members(self, room: RoomId) -> frozenset[UserId] | None:
        """The joined members of ``room`` if the bot is one of them, else ``None``."""
        if room in self._bot_rooms:
            return self._bot_rooms[room]
        try:
            members = await self._side.api.get_members(room)
        except (MatrixForbidden, MatrixNotFound):
            result = None
        else:
            result = frozenset(m.user_id for m in members)
            if self._side.bot not in result:
                result = None
        self._bot_rooms[room] = result
        return result

    async def command(self, event: RoomEvent) -> BotCommand | None:
        """``event`` as a ``BotCommand`` if the bot is in its room, else ``None``."""
        body = event.content.get("body")
        if not isinstance(body, str):
            return None
        members = await self.bot_members(event.room_id)
        if members is None:
            return None
        return BotCommand(
            sender=event.sender,
            room=event.room_id,
            event_id=event.event_id,
            text=body.strip(),
            is_direct=members == {self._side.bot, event.sender},
        )

    async def to_bridge(self, event: RoomEvent, portal: PortalInfo) -> Message | Revocation:
        """The owner's portal event in the bridge's model. A file is not downloaded here:
        it becomes a reference (``adapters.matrix.media``) that the chat's own queue fetches.

        Raises ``render.UnbridgeableEvent`` for what cannot be carried.
        """
        chat, sender = Address(event.room_id), Address(event.sender)
        timestamp = event.timestamp_ms / 1000
        if event.type == "m.room.redaction":
            if event.redacts is None:
                raise render.UnbridgeableEvent("redaction without 'redacts'")
            return Revocation(chat, sender, RemoteId(event.redacts), timestamp)
        if render.is_media(event):
            content: Content = media.reference(event)
        elif event.msgtype == "m.location":
            content = render.parse_location(event)
        elif event.msgtype in render.TEXT_MSGTYPES:
            identity_of = functools.partial(ghost_identity, self._side.config)
            parse = functools.partial(render.parse_text, event, identity_of=identity_of)
            markup = event.content.get("formatted_body")
            # Parsing tens of KiB of HTML takes a while: off the event loop.
            big = isinstance(markup, str) and len(markup) > render.INLINE_HTML_CHARS
            content = await asyncio.to_thread(parse) if big else parse()
        else:
            raise render.UnbridgeableEvent(f"message type {event.msgtype!r}")
        reply = render.reply_target(event)
        return Message(
            chat=chat,
            sender=sender,
            remote_id=RemoteId(event.event_id),
            content=content,
            timestamp=timestamp,
            chat_kind=portal.kind,
            reply_to=None if reply is None else RemoteId(reply),
        )

"""Edits and reactions from Matrix, for networks that have neither (WeChat).

An edit (spec "Event replacements", ``m.replace``) made within ``edit_recall_window_s`` of
the original recalls the original and sends the new text, so the contact sees only the
corrected message (a ``Message`` with ``replaces``: the core keeps which network message
stands for the original, so a later edit, redaction or reply reaches it after a restart
too); later (or with ``edits: correction``) the new text goes as a reply to the original,
which the network shows quoted. A reaction (spec "Event annotations and
reactions", ``m.reaction``) becomes a short text quoting what it reacts to ("👍 to 「…」"),
by default in 1:1 chats only. Settings: the config's ``matrix`` section.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from typing import Any

import attrs

from adapters.matrix import render
from adapters.matrix.errors import MatrixRequestError
from adapters.matrix.side import MatrixSide
from adapters.matrix.types import EventId, RoomEvent
from bridge.config import Section
from bridge.errors import ConfigError
from bridge.model import Address, ChatKind, Event, Message, RemoteId, Text
from bridge.relay.portals import PortalInfo
from bridge.store import Side

logger = logging.getLogger(__name__)

#: WeChat recalls within 120 s (PROTOCOL.md §8): edits recall inside this.
DEFAULT_RECALL_WINDOW_S = 110.0
#: A reaction quotes at most this many characters of what it reacts to.
QUOTE_CHARS = 20


class EditMode(enum.Enum):
    """``matrix.edits``: what an edit of a bridged message does."""

    RECALL = "recall"  # recall + resend inside the window, else a quoted correction
    CORRECTION = "correction"  # always a quoted correction
    OFF = "off"  # not bridged (the sender gets a notice)


class ReactionMode(enum.Enum):
    """``matrix.reactions``: which chats get a text for a reaction."""

    DIRECT = "direct"  # 1:1 chats only
    ALL = "all"
    OFF = "off"


@attrs.frozen
class RelationOptions:
    """The ``matrix`` config section: ``edits``, ``edit_recall_window_s`` (seconds; WeChat
    recalls for 120 s, PROTOCOL.md §8, so the default keeps a margin) and
    ``reactions``."""

    edits: EditMode = EditMode.RECALL
    edit_recall_window_s: float = DEFAULT_RECALL_WINDOW_S
    reactions: ReactionMode = ReactionMode.DIRECT

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> RelationOptions:
        """Parse the raw ``matrix`` section. Raises ``ConfigError`` naming the bad key."""
        sec = Section(raw, "matrix")
        options = cls.from_section(sec)
        sec.warn_unknown()
        return options

    @classmethod
    def from_section(cls, sec: Section) -> RelationOptions:
        """Read this class's keys of the ``matrix`` section ``sec`` (its other keys are left
        to their readers). Raises ``ConfigError`` naming the bad key."""
        try:
            edits = EditMode(sec.string("edits", default=EditMode.RECALL.value))
        except ValueError:
            raise ConfigError("matrix.edits: expected recall, correction or off") from None
        try:
            reactions = ReactionMode(sec.string("reactions", default=ReactionMode.DIRECT.value))
        except ValueError:
            raise ConfigError("matrix.reactions: expected direct, all or off") from None
        window = sec.get("edit_recall_window_s")
        if window is None:
            window = DEFAULT_RECALL_WINDOW_S
        if isinstance(window, bool) or not isinstance(window, int | float) or window < 0:
            raise ConfigError("matrix.edit_recall_window_s: expected seconds (a number >= 0)")
        return cls(edits, float(window), reactions)


def relation(event: RoomEvent) -> tuple[str, EventId] | None:
    """``(rel_type, target event id)`` of an edit (``m.replace``) or a reaction
    (``m.annotation``), else ``None``."""
    relates = event.content.get("m.relates_to")
    if not isinstance(relates, Mapping):
        return None
    rel_type, target = relates.get("rel_type"), relates.get("event_id")
    if rel_type not in ("m.replace", "m.annotation") or not isinstance(target, str) or not target:
        return None
    return str(rel_type), EventId(target)


class Relations:
    """Converts the portal owner's edits and reactions into the bridge's model."""

    def __init__(self, side: MatrixSide, options: RelationOptions) -> None:
        self._side = side
        self.options = options

    async def to_bridge(self, event: RoomEvent, portal: PortalInfo) -> list[Event]:
        """The events ``event`` (an edit or a reaction, see ``relation``) stands for; empty
        when the settings leave it out. Raises ``render.UnbridgeableEvent`` when it cannot
        be carried (edits off, a malformed edit, an edit of someone else's message)."""
        found = relation(event)
        if found is None:
            raise render.UnbridgeableEvent("neither an edit nor a reaction")
        rel_type, target = found
        original = await self._original(event, target)
        if rel_type == "m.annotation":
            return self._reaction(event, portal, target, original)
        return await self._edit(event, portal, target, original)

    async def _original(self, event: RoomEvent, target: EventId) -> Mapping[str, Any]:
        try:
            return await self._side.api.get_event(event.room_id, target)
        except MatrixRequestError as exc:
            logger.info("original %s of %s not read: %s", target, event.event_id, exc)
            return {}

    def _reaction(
        self, event: RoomEvent, portal: PortalInfo, target: EventId, original: Mapping[str, Any]
    ) -> list[Event]:
        mode = self.options.reactions
        if mode is ReactionMode.OFF or (
            mode is ReactionMode.DIRECT and portal.kind is not ChatKind.DIRECT
        ):
            logger.debug("reaction %s left out (reactions: %s)", event.event_id, mode.value)
            return []
        relates = event.content.get("m.relates_to")
        key = relates.get("key") if isinstance(relates, Mapping) else None
        if not isinstance(key, str) or not key.strip():
            raise render.UnbridgeableEvent("a reaction without a key")
        text = f"{key.strip()[:16]} to 「{_quote(original)}」"
        return [self._message(event, portal, Text(text))]

    async def _edit(
        self, event: RoomEvent, portal: PortalInfo, target: EventId, original: Mapping[str, Any]
    ) -> list[Event]:
        if self.options.edits is EditMode.OFF:
            raise render.UnbridgeableEvent("edits are not bridged (matrix.edits: off)")
        if original and original.get("sender") != event.sender:
            raise render.UnbridgeableEvent("an edit of someone else's message")
        new = event.content.get("m.new_content")
        if not isinstance(new, Mapping):
            raise render.UnbridgeableEvent("an edit without m.new_content")
        replaced = attrs.evolve(event, content=new)
        if replaced.msgtype not in render.TEXT_MSGTYPES:
            raise render.UnbridgeableEvent(f"an edit to a {replaced.msgtype!r} message")
        text = render.parse_text(replaced)
        age_s = await self._age_s(event, portal, target, original)
        if (
            self.options.edits is EditMode.RECALL
            and age_s is not None
            and age_s <= self.options.edit_recall_window_s
        ):
            # The core recalls what stands for the original now (it or an earlier edit's
            # message, kept on disk) and sends the new text in its place.
            return [self._message(event, portal, text, replaces=target)]
        correction = attrs.evolve(text, body=f"✏️ {text.body}", formatted=None)
        return [self._message(event, portal, correction, reply_to=target)]

    async def _age_s(
        self, event: RoomEvent, portal: PortalInfo, target: EventId, original: Mapping[str, Any]
    ) -> float | None:
        """Seconds from when what stands for ``target`` on the network was sent (an earlier
        edit's message, as the core recorded it; else the original's ``origin_server_ts``)
        to ``event``; ``None`` when unknown."""
        earlier = await self._side.store.replacements.get(portal.login, Side.B, RemoteId(target))
        if earlier is not None:
            return event.timestamp_ms / 1000 - earlier.replaced_at
        sent_at = original.get("origin_server_ts")
        if isinstance(sent_at, int) and not isinstance(sent_at, bool):
            return (event.timestamp_ms - sent_at) / 1000
        return None

    def _message(
        self,
        event: RoomEvent,
        portal: PortalInfo,
        text: Text,
        reply_to: EventId | None = None,
        replaces: EventId | None = None,
    ) -> Message:
        return Message(
            chat=Address(event.room_id),
            sender=Address(event.sender),
            remote_id=RemoteId(event.event_id),
            content=text,
            timestamp=event.timestamp_ms / 1000,
            chat_kind=portal.kind,
            reply_to=None if reply_to is None else RemoteId(reply_to),
            replaces=None if replaces is None else RemoteId(replaces),
        )


def _quote(original: Mapping[str, Any]) -> str:
    """A short quote of the event JSON ``original``: its text cut to ``QUOTE_CHARS``, or
    its kind ("image"), or "a message" when it could not be read."""
    content = original.get("content")
    if not isinstance(content, Mapping):
        return "a message"
    msgtype = content.get("msgtype")
    body = content.get("body")
    if msgtype in render.TEXT_MSGTYPES and isinstance(body, str):
        text = " ".join(render.strip_reply_fallback(body).split())
        return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"
    if isinstance(msgtype, str) and msgtype.startswith("m."):
        return msgtype[2:]
    return "a message"

"""What the core needs from the Matrix side: the bot's room, its commands, per-login channels.

Implemented by ``adapters.matrix.hub.MatrixHub`` (entry point ``matrix`` of the
``chatbridge.adapters`` group); the core only knows these protocols.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, cast

import attrs

from bridge.channel import Channel, SupportsPortals
from bridge.config import Config
from bridge.errors import ConfigError
from bridge.ids import EventId, LoginId, MatrixUserId, RoomId
from bridge.plugins import MATRIX, load_adapter
from bridge.relay.portals import PortalLookup
from bridge.store import Store


@attrs.frozen
class BotCommand:
    """A text message to the bot (in a room that is not a portal, or prefixed anywhere): its
    sender, room, event id, the text (stripped), and whether the room is a DM of the sender
    with the bot."""

    sender: MatrixUserId
    room: RoomId
    event_id: EventId
    text: str
    is_direct: bool


def command_words(text: str) -> list[str]:
    """The words of a message to the bot; the quoted fallback of a reply (leading lines
    starting with ``>``, spec "Rich replies") is skipped."""
    lines = text.splitlines()
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return " ".join(lines).split()


def is_command(text: str, prefix: str) -> bool:
    """Whether ``text`` starts with the command ``prefix`` word (case-insensitive), e.g.
    ``!wechat ping``: such a message is for the bot in every room and never relayed."""
    words = command_words(text)
    return bool(words) and words[0].lower() == prefix


#: What the Matrix side calls for each ``BotCommand`` (in a task of its own).
CommandHandler = Callable[[BotCommand], Awaitable[None]]

#: The core's readiness, asked by the Matrix side's health check: None while the bridge can
#: take messages, else why not (e.g. the journal cannot be written).
Readiness = Callable[[], str | None]


class PortalChannel(Channel, SupportsPortals, Protocol):
    """The Matrix side of one login: a ``Channel`` that also creates portals."""


class Hub(Protocol):
    """The process's Matrix side as the core uses it: the bot's replies, images and
    redactions, each user's management room, and one ``PortalChannel`` per login.
    Room and event ids are Matrix ids (spec "Room IDs", "Event IDs")."""

    async def start(self) -> None:
        """Start serving the homeserver (appservice transactions). Raises ``OSError`` when
        the port is taken, ``BridgeError`` when the homeserver refuses the bridge."""

    async def stop(self) -> None:
        """Stop serving. Idempotent; never raises."""

    def channel_for(self, login: LoginId, owner: MatrixUserId) -> PortalChannel:
        """The Matrix channel of ``login`` owned by ``owner`` (the same object every call)."""
        ...

    def drop_channel(self, login: LoginId) -> None:
        """Forget ``login``'s channel (its stop is the caller's)."""

    async def management_room(self, user: MatrixUserId) -> RoomId:
        """``user``'s DM with the bot, created (with ``user`` invited) when there is none.
        Raises ``BridgeError``."""
        ...

    async def set_management_room(self, user: MatrixUserId, room: RoomId) -> None:
        """Make ``room`` ``user``'s management room, remembered across restarts (the room
        the user last used or chose). Raises ``BridgeError``."""

    async def reply(self, room: RoomId, text: str, *, html: str | None = None) -> EventId:
        """Post ``text`` (optional HTML) as a notice of the bot. Raises ``BridgeError``."""
        ...

    async def send_image(
        self, room: RoomId, image: bytes, *, body: str, filename: str = "qr.png"
    ) -> EventId:
        """Upload ``image`` (PNG, JPEG, GIF: any picture; its type and size are read from the
        bytes) and post it as an image of the bot with the caption ``body``. Raises
        ``BridgeError``."""
        ...

    async def redact(self, room: RoomId, event_id: EventId, reason: str = "") -> None:
        """Redact ``event_id`` in ``room`` as the bot. Raises ``BridgeError``."""


class HubFactory(Protocol):
    """What the ``matrix`` entry point names: builds the ``Hub`` for ``config`` on
    ``store``, calling ``on_command`` for every ``BotCommand`` and asking ``portal_of`` which
    portal a room is (the core's one ``PortalDirectory``, shared with every relay); its health
    check reports not ready while ``readiness`` gives a reason."""

    def __call__(
        self,
        config: Config,
        store: Store,
        *,
        on_command: CommandHandler,
        portal_of: PortalLookup,
        readiness: Readiness | None = None,
    ) -> Hub:
        """A new, unstarted hub."""
        ...


def load_hub_factory() -> HubFactory:
    """The Matrix side's factory (entry point ``matrix``). Raises ``ConfigError`` when it is
    not installed or not callable."""
    factory = load_adapter(MATRIX, key="(the Matrix side)")
    if not callable(factory):
        raise ConfigError(f"the {MATRIX!r} adapter is not a hub factory: {factory!r}")
    return cast(HubFactory, factory)

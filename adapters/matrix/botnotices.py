"""What the bot tells users in rooms on its own: greetings, events it could not carry, and
encrypted rooms while the config turns end-to-end encryption off."""

from __future__ import annotations

import logging

from adapters.matrix import content as mx
from adapters.matrix import render
from adapters.matrix.api import AppserviceAPI
from adapters.matrix.errors import MatrixNotFound, MatrixRequestError
from adapters.matrix.markdown import markdown_html
from adapters.matrix.receipts import DeliveryOptions, DeliveryReports
from adapters.matrix.types import RoomEvent, RoomId
from bridge.config import Config

logger = logging.getLogger(__name__)

#: Posted (in plaintext) once in a room where messages arrive end-to-end encrypted while
#: ``encryption.allow`` is false.
ENCRYPTION_UNSUPPORTED = (
    "⚠ This room is end-to-end encrypted, and end-to-end encryption is turned off on this "
    "bridge: nothing you send here reaches me or your contacts. Create a room with "
    "encryption turned off (in Element: New room, 'Enable end-to-end encryption' off) and "
    "invite me; there, send commands as `{prefix} help`. (The bridge's administrator can "
    "turn encryption on: `encryption: allow: true` in its config.)"
)


class BotNotices:
    """The bot's own notices through ``api`` (as the bot), each with a Markdown-rendered
    ``formatted_body``; a notice that cannot be posted is logged, never raised."""

    def __init__(
        self, config: Config, api: AppserviceAPI, reports: DeliveryReports | None = None
    ) -> None:
        self._config = config
        self._api = api
        self._reports = reports or DeliveryReports(api, config.network, DeliveryOptions())
        self._told_encrypted: set[RoomId] = set()

    async def notify(self, room: RoomId, text: str) -> None:
        """Post ``text`` (Markdown) as an ``m.notice`` of the bot; failures are logged."""
        try:
            await self._api.send_message(room, mx.text(text, html=markdown_html(text), notice=True))
        except MatrixRequestError as exc:
            logger.warning("cannot post a notice in %s: %s", room, exc)

    def _name(self) -> str:
        return self._config.appservice.bot.displayname or "the bridge bot"

    async def greet_management_room(self, room: RoomId) -> None:
        """The greeting in a new DM, which is now the user's management room."""
        await self.notify(
            room,
            f"Hello, I am {self._name()}. This room is your management room: my notices come "
            "here. Send `help` to see what I can do.",
        )

    async def greet_room(self, room: RoomId, management_room: RoomId | None) -> None:
        """The greeting in a room that is not a DM: the command prefix, and which room is
        the management room (a matrix.to link) when there is one."""
        prefix = self._config.command_prefix
        where = (
            f" Your management room is {render.room_url(management_room)}."
            if management_room
            else ""
        )
        await self.notify(
            room,
            f"Hello, I am {self._name()}. In this room, start commands with `{prefix}` "
            f"(e.g. `{prefix} help`).{where}",
        )

    async def not_carried(self, event: RoomEvent, why: str) -> None:
        """Tell the sender ``event`` was not delivered: a send status on it and a notice."""
        await self.failed_status(event, f"Not delivered: {why}")
        await self.notify(event.room_id, f"⚠ Not delivered: {why}")

    async def failed_status(self, event: RoomEvent, message: str) -> None:
        """A ``FAIL_PERMANENT`` ``com.beeper.message_send_status`` on ``event`` (clients that
        read it mark the message as not sent, as with mautrix bridges); posted through
        ``DeliveryReports``, so ``matrix.message_status_events`` applies. Never raises."""
        await self._reports.failed(event.room_id, event.event_id, message)

    async def is_encrypted(self, room: RoomId) -> bool:
        """Whether ``room`` has ``m.room.encryption`` state (False when it cannot be read)."""
        try:
            await self._api.get_state(room, "m.room.encryption")
        except MatrixNotFound:
            return False
        except MatrixRequestError as exc:
            logger.warning("cannot read the encryption state of %s: %s", room, exc)
            return False
        return True

    async def encrypted(self, event: RoomEvent) -> None:
        """An encrypted event: a send status on it, and the room's one notice."""
        await self.failed_status(
            event, "Not delivered: end-to-end encryption is turned off on this bridge"
        )
        await self.encrypted_room(event.room_id)

    async def encrypted_room(self, room: RoomId) -> None:
        """Tell ``room`` once (per process) that the bridge cannot read encrypted messages,
        in plaintext, and what to do instead."""
        if room in self._told_encrypted:
            return
        self._told_encrypted.add(room)
        await self.notify(room, ENCRYPTION_UNSUPPORTED.format(prefix=self._config.command_prefix))

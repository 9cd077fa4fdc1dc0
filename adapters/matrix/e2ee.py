"""Encrypted rooms for the hub: which rooms are encrypted, decrypting what transactions bring
(waiting for late room keys off the transaction path), encrypting what the bridge posts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from adapters.matrix.api import AppserviceAPI
from adapters.matrix.botnotices import BotNotices
from adapters.matrix.crypto import BotDevice, KeyMissing, Undecryptable, store_folder
from adapters.matrix.errors import MatrixForbidden, MatrixNotFound
from adapters.matrix.types import DeviceUpdates, RoomEvent, RoomId, UserId
from bridge.config import Config
from bridge.errors import ConfigError

logger = logging.getLogger(__name__)

NO_KEY = (
    "the bridge did not receive the key to decrypt it within {seconds:.0f} s "
    "(your client did not share it with the bridge bot's device)"
)
UNDECRYPTABLE = "the bridge could not decrypt it ({why})"

#: What the hub does with an event decrypted after its transaction was answered.
LateEvent = Callable[[RoomEvent], Awaitable[None]]


class Encryption:
    """End-to-end encryption as the hub sees it (``encryption`` config section).

    With ``encryption.allow`` the bot has a ``BotDevice`` (its keys in
    ``crypto.store_folder(database.path)``). An ``m.room.encrypted`` event from a
    transaction is decrypted at once when its room key is there, and routed by the hub like
    a plaintext one; otherwise it waits off the transaction path (so later transactions and
    events go on) up to ``encryption.key_wait_s`` for the key, then goes to ``late_event``,
    or its sender gets a failed ``com.beeper.message_send_status`` and a notice (a process
    stopping meanwhile drops the wait: the transaction was answered).

    Everything the bridge posts through ``api`` (the bot, and ghosts masqueraded with
    ``user_id=``) into an encrypted room is encrypted with the bot device's megolm session,
    as mautrix bridges do without devices for their ghosts: clients show such a message as
    sent by the ghost from a device it does not own (unverified). Files such messages carry
    are uploaded encrypted (``AppserviceAPI.encrypts``, ``adapters/matrix/uploads.py``).

    Without ``allow`` nothing is encrypted and an encrypted event gets the failed send
    status plus the room's one plaintext notice that encryption is off (``BotNotices``).
    """

    def __init__(
        self,
        config: Config,
        api: AppserviceAPI,
        notices: BotNotices,
        *,
        late_event: LateEvent,
    ) -> None:
        self._config = config
        self._api = api
        self._notices = notices
        self._late_event = late_event
        self.key_wait_s = config.encryption.key_wait_s
        self._device: BotDevice | None = None
        self._encrypted: dict[RoomId, bool] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        """Whether the bot reads and writes encrypted rooms (its device is running)."""
        return self._device is not None

    async def start(self) -> None:
        """Start the bot's device when ``encryption.allow``; if the homeserver refuses it,
        log why and go on without encryption (encrypted rooms get the notice)."""
        if not self._config.encryption.allow or self._device is not None:
            return
        device = BotDevice(
            self._config.homeserver.address,
            self._config.appservice.as_token,
            UserId(self._config.bot_user_id),
            store_folder(self._config.database.path),
        )
        try:
            await device.start()
        except ConfigError:
            raise
        except Exception as exc:
            # Plaintext rooms keep working; encrypted ones get the "encryption is off" notice.
            logger.error("end-to-end encryption is off: the bot's device did not start: %s", exc)
            await device.stop()
            return
        logger.info(
            "end-to-end encryption on; the homeserver must push to-device messages and "
            "device lists to the appservice (Synapse: experimental_features "
            "msc2409_to_device_messages_enabled, msc3202_transaction_extensions)"
        )
        self._device = device
        self._api.encryptor = self.outgoing
        self._api.room_encrypted = self.is_encrypted

    async def stop(self) -> None:
        """Stop waiting for keys and stop the device. Idempotent."""
        self._api.encryptor = None
        self._api.room_encrypted = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        device, self._device = self._device, None
        if device is not None:
            await device.stop()

    # ---- what transactions bring -------------------------------------------------------------

    def receive(self, updates: DeviceUpdates) -> None:
        """A transaction's to-device messages, device lists and key counts, for the bot's
        device (``BotDevice.receive``); called before its room events are routed, so that a
        room key arriving with its event is there to decrypt it."""
        if self._device is not None:
            self._device.receive(updates)

    def observe(self, event: RoomEvent) -> None:
        """Note what ``event`` (any event of a transaction) says about encryption: an
        ``m.room.encryption`` state event, or a membership change that the room's megolm
        session must follow (ghosts and the bot have no devices to share with)."""
        if event.type == "m.room.encryption" and event.state_key == "":
            self._encrypted[event.room_id] = True
        elif event.type == "m.room.member" and event.state_key and self._device is not None:
            user = UserId(event.state_key)
            ours = user == self._config.bot_user_id or self._config.is_ghost(user)
            self._device.members_changed(event.room_id, user, rotate=not ours)

    async def incoming(self, event: RoomEvent) -> RoomEvent | None:
        """The plaintext event inside the encrypted ``event``, or ``None`` when it is not
        available now: it waits for its key (``late_event`` gets it), or its sender was
        told it cannot be read. Never raises for the event's own faults."""
        device = self._device
        if device is None:
            await self._notices.encrypted(event)
            return None
        self._encrypted[event.room_id] = True
        try:
            return device.decrypt(event)
        except KeyMissing:
            logger.info("event %s waits for its room key", event.event_id)
            self._spawn(self._wait_for_key(device, event))
        except Undecryptable as exc:
            await self._not_decrypted(event, UNDECRYPTABLE.format(why=exc))
        return None

    async def _wait_for_key(self, device: BotDevice, event: RoomEvent) -> None:
        """Decrypt ``event`` once its key arrives (within ``key_wait_s``), and hand it on."""
        try:
            decrypted = await device.wait_and_decrypt(event, self.key_wait_s)
        except KeyMissing:
            logger.warning("event %s: no room key within %.0f s", event.event_id, self.key_wait_s)
            await self._not_decrypted(event, NO_KEY.format(seconds=self.key_wait_s))
            return
        except Undecryptable as exc:
            await self._not_decrypted(event, UNDECRYPTABLE.format(why=exc))
            return
        try:
            await self._late_event(decrypted)
        except Exception:
            # Its transaction was answered long ago: nobody repeats it, so the sender is told.
            logger.exception("decrypted event %s not handled", event.event_id)
            await self._notices.not_carried(event, "the bridge could not process it")

    async def _not_decrypted(self, event: RoomEvent, why: str) -> None:
        logger.info("event %s not decrypted: %s", event.event_id, why)
        await self._notices.not_carried(event, why)

    # ---- what the bridge posts ---------------------------------------------------------------

    async def outgoing(
        self,
        room: RoomId,
        event_type: str,
        content: Mapping[str, Any],
        as_user: UserId | None,
    ) -> tuple[str, Mapping[str, Any]]:
        """``(event_type, content)`` to post into ``room``: encrypted when the room is
        (``AppserviceAPI.encryptor``). Raises ``MatrixRequestError`` subclasses."""
        device = self._device
        if device is None or not await self.is_encrypted(room, as_user):
            return event_type, content
        return await device.encrypt(room, event_type, content)

    async def is_encrypted(self, room: RoomId, as_user: UserId | None = None) -> bool:
        """Whether ``room`` has ``m.room.encryption`` state (read once, then followed from
        transactions; encryption cannot be turned off again)."""
        known = self._encrypted.get(room)
        if known is not None:
            return known
        try:
            await self._api.get_state(room, "m.room.encryption", as_user=as_user)
        except MatrixForbidden:
            return False  # not in the room (yet): ask again next time
        except MatrixNotFound:
            self._encrypted.setdefault(room, False)
        else:
            self._encrypted[room] = True
        return self._encrypted[room]

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def encryption_state() -> dict[str, Any]:
    """The ``m.room.encryption`` initial state of an encrypted new room (megolm, spec
    "m.room.encryption")."""
    return {
        "type": "m.room.encryption",
        "state_key": "",
        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
    }

"""The bridge bot's end-to-end encryption device: matrix-nio's olm machine on vodozemac."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nio
from nio.crypto import ENCRYPTION_ENABLED

from adapters.matrix.crypto_store import (
    STORE_NAME,
    prepare_folder,
    save_device_id,
    saved_device_id,
    secure_files,
    store_folder,
)
from adapters.matrix.errors import MatrixRequestError, error_for
from adapters.matrix.transport import JsonResponse
from adapters.matrix.types import DeviceUpdates, RoomEvent, RoomId, UserId
from bridge.errors import ConfigError

logger = logging.getLogger(__name__)

# nio logs every response body at DEBUG (login tokens, claimed one-time keys) and peewee every
# SQL statement with its parameters (pickled olm and megolm keys): never, whatever level the
# bridge logs at.
for _chatty in ("nio.responses", "peewee"):
    logging.getLogger(_chatty).setLevel(logging.INFO)

#: The device's display name, shown in clients' device lists.
DEVICE_NAME = "chatbridge"
#: Passphrase of the pickled olm account and sessions in the store. The file's 0600 mode
#: protects them; a passphrase derived from the as_token would lose every key when the
#: token is rotated.
PICKLE_KEY = "chatbridge-e2ee"
#: To-device messages remembered (by digest) so that a transaction the homeserver repeats
#: does not feed an olm message to its session twice.
SEEN_TO_DEVICE = 4096


class KeyMissing(Exception):
    """The room key (megolm session) of an encrypted event has not arrived (yet)."""


class Undecryptable(Exception):
    """An encrypted event that cannot be decrypted, ever: malformed, an unknown algorithm, a
    replayed message index, or a payload for another room."""


class BotDevice:
    """The bot's device (Matrix spec "End-to-End Encryption"): an olm account, its olm and
    megolm sessions, and the other devices' keys, in matrix-nio's store (SQLite, in
    ``folder``: the folder 0700, its files 0600).

    ``start`` logs the bot in with the appservice login type (spec "Appservice Login":
    ``m.login.application_service``, the as_token as bearer) as the device whose id the
    folder remembers (a new one on the first start) and uploads its keys. Synapse refuses
    /sync to an appservice's bot, so what a /sync would bring comes in appservice
    transactions instead (``receive``): to-device messages (MSC2409) and device list
    changes and one-time key counts (MSC3202). Room events come in transactions too, and
    ``decrypt`` reads them. ``encrypt`` makes the ``m.room.encrypted`` content for a room
    with the bot's outbound megolm session, first shared (olm, to-device) with every device
    of the room's joined and invited members; nothing here does cryptography itself.
    """

    def __init__(self, homeserver: str, as_token: str, bot: UserId, folder: Path) -> None:
        if not ENCRYPTION_ENABLED:
            raise ConfigError(
                "encryption.allow is true but matrix-nio's end-to-end encryption is not "
                "installed: pip install 'matrix-nio[e2e]' (vodozemac)"
            )
        self.bot = bot
        self.folder = folder
        self._as_token = as_token
        config = nio.AsyncClientConfig(
            max_limit_exceeded=3,
            max_timeouts=2,
            request_timeout=30,
            max_timeout_retry_wait_time=10,
            encryption_enabled=True,
            store_name=STORE_NAME,
            pickle_key=PICKLE_KEY,
        )
        self._client = nio.AsyncClient(homeserver, user=bot, store_path=str(folder), config=config)
        self._keys_arrived = asyncio.Event()
        self._key_lock = asyncio.Lock()
        self._room_locks: dict[RoomId, asyncio.Lock] = {}
        self._stale: set[RoomId] = set()
        self._housekeeping: asyncio.Task[None] | None = None
        self._upkeep_wanted = False
        self._seen: dict[bytes, None] = {}

    @property
    def device_id(self) -> str:
        """The bot device's id (empty before ``start``)."""
        return str(self._client.device_id or "")

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in, load the store, upload the keys. Raises
        ``MatrixRequestError`` subclasses (or ``AppserviceRejected``) if the homeserver
        refuses, ``OSError`` if the folder cannot be written."""
        await asyncio.to_thread(prepare_folder, self.folder)
        device_id = await asyncio.to_thread(saved_device_id, self.folder)
        login: dict[str, Any] = {
            "type": "m.login.application_service",
            "identifier": {"type": "m.id.user", "user": self.bot},
            "initial_device_display_name": DEVICE_NAME,
        }
        if device_id:
            login["device_id"] = device_id
        self._client.access_token = self._as_token
        response = await self._client.login_raw(login)
        if isinstance(response, nio.ErrorResponse):
            self._client.access_token = ""
            raise _error("login", response)
        await asyncio.to_thread(secure_files, self.folder)
        if response.device_id != device_id:
            await asyncio.to_thread(save_device_id, self.folder, response.device_id)
        logger.info("end-to-end encryption: the bot is device %s", response.device_id)
        async with self._key_lock:
            await self._keys_housekeeping()

    async def stop(self) -> None:
        """End the key upkeep and close the store and the HTTP session. Idempotent."""
        task, self._housekeeping = self._housekeeping, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._client.close()
        store = self._client.store
        if store is not None:
            with contextlib.suppress(Exception):
                store.database.close()

    # ---- what transactions bring -------------------------------------------------------------

    def receive(self, updates: DeviceUpdates) -> None:
        """Take a transaction's to-device messages for this device (olm: room keys, olm
        session set-up), device list changes and one-time key counts (MSC2409, MSC3202), as
        nio takes them from a /sync, then start the key upload, query, claim and queued
        to-device sends they call for (in the background, one at a time). Never raises:
        what nio cannot read it logs."""
        olm = self._client.olm
        if olm is None or not updates:
            return
        counts = updates.one_time_key_counts.get(self.bot, {})
        mine = counts.get(self.device_id) if isinstance(counts, Mapping) else None
        if isinstance(mine, Mapping) and isinstance(mine.get("signed_curve25519"), int):
            olm.uploaded_key_count = mine["signed_curve25519"]
        changed = (updates.changed | updates.left) & set(olm.tracked_users)
        if changed:
            olm.add_changed_users(set(changed))
        new_keys = False
        for message in updates.to_device:
            if message.get("to_user_id") != self.bot or message.get("to_device_id") not in (
                self.device_id,
                "*",
            ):
                continue
            digest = hashlib.sha256(
                json.dumps(message, sort_keys=True, default=str).encode()
            ).digest()
            if digest in self._seen:
                continue
            self._seen[digest] = None
            while len(self._seen) > SEEN_TO_DEVICE:
                del self._seen[next(iter(self._seen))]
            new_keys |= self._to_device(message)
        if new_keys:
            # Room keys may have come: wake whoever waits for one.
            self._keys_arrived.set()
            self._keys_arrived = asyncio.Event()
        self._upkeep_wanted = True
        if self._housekeeping is None or self._housekeeping.done():
            self._housekeeping = asyncio.create_task(self._keys_in_background())

    def _to_device(self, message: Mapping[str, Any]) -> bool:
        """Feed one to-device message to the olm machine; True if it could carry a key."""
        fields = {k: v for k, v in message.items() if k not in ("to_user_id", "to_device_id")}
        event = nio.ToDeviceEvent.parse_event(fields)
        if event is None or isinstance(event, nio.UnknownBadEvent | nio.BadEvent):
            logger.info("to-device message of type %r not understood", message.get("type"))
            return False
        try:
            self._client.olm.handle_to_device_event(event)
        except Exception:
            logger.exception("to-device message of type %r failed", message.get("type"))
            return False
        return True

    async def _keys_in_background(self) -> None:
        try:
            while self._upkeep_wanted:
                self._upkeep_wanted = False
                async with self._key_lock:
                    await self._keys_housekeeping()
        except MatrixRequestError as exc:
            logger.warning("end-to-end encryption key upkeep failed (again next time): %s", exc)
        except Exception:
            logger.exception("end-to-end encryption key upkeep failed")

    async def _keys_housekeeping(self) -> None:
        """Upload keys, query changed devices, claim one-time keys for wedged sessions and
        send queued to-device messages, as nio's own sync loop does after each /sync.
        Raises ``MatrixRequestError`` subclasses."""
        client = self._client
        if client.should_upload_keys:
            _check("keys_upload", await client.keys_upload())
        if client.should_query_keys:
            _check("keys_query", await client.keys_query())
        if client.should_claim_keys:
            _check("keys_claim", await client.keys_claim(client.get_users_for_key_claiming()))
        for sent in await client.send_to_device_messages():
            _check("send_to_device", sent)

    # ---- decrypting --------------------------------------------------------------------------

    def decrypt(self, event: RoomEvent) -> RoomEvent:
        """The plaintext event inside the ``m.room.encrypted`` ``event`` (spec
        "m.megolm.v1.aes-sha2"), with ``event``'s id, sender, room and timestamp. Raises
        ``KeyMissing`` while its room key has not arrived, ``Undecryptable`` otherwise."""
        olm = self._client.olm
        content = dict(event.content)
        if content.get("algorithm") != "m.megolm.v1.aes-sha2":
            raise Undecryptable(f"algorithm {content.get('algorithm')!r} is not megolm")
        session_id = content.get("session_id")
        if not isinstance(session_id, str) or not isinstance(content.get("ciphertext"), str):
            raise Undecryptable("no session_id or ciphertext")
        sender_key = content.get("sender_key")
        if not isinstance(sender_key, str):
            # Deprecated since spec v1.3 and left out by newer clients: the session id alone
            # names the session.
            sender_key = _sender_key_of(olm, event.room_id, session_id)
            if sender_key is None:
                raise KeyMissing(session_id)
            content["sender_key"] = sender_key
        content.setdefault("device_id", "")
        if olm.inbound_group_store.get(event.room_id, sender_key, session_id) is None:
            raise KeyMissing(session_id)
        wire = {
            "type": event.type,
            "event_id": event.event_id,
            "sender": event.sender,
            "room_id": event.room_id,
            "origin_server_ts": event.timestamp_ms,
            "content": content,
        }
        megolm = nio.MegolmEvent.from_dict(wire)
        if not isinstance(megolm, nio.MegolmEvent):
            raise Undecryptable("malformed m.room.encrypted content")
        try:
            decrypted = olm.decrypt_megolm_event(megolm, event.room_id)
        except nio.EncryptionError as exc:
            raise Undecryptable(str(exc)) from None
        source = getattr(decrypted, "source", None)
        if not isinstance(source, Mapping):
            raise Undecryptable("the decrypted payload is not an event")
        if source.get("room_id", event.room_id) != event.room_id:
            raise Undecryptable("the decrypted payload belongs to another room")
        if source.get("type") == "m.room.encrypted":
            raise Undecryptable("an encrypted event inside an encrypted event")
        if "state_key" in source:
            # State events are never encrypted: one inside would forge room state.
            raise Undecryptable("a state event inside an encrypted event")
        try:
            return RoomEvent.from_wire({**source, "room_id": event.room_id})
        except ValueError as exc:
            raise Undecryptable(str(exc)) from None

    async def wait_and_decrypt(self, event: RoomEvent, within_s: float) -> RoomEvent:
        """``decrypt``, waiting up to ``within_s`` seconds for the room key to arrive in a
        transaction (``receive``). Raises ``KeyMissing`` when it has not by then,
        ``Undecryptable``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while True:
            arrived = self._keys_arrived
            try:
                return self.decrypt(event)
            except KeyMissing:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await arrived.wait()

    # ---- encrypting --------------------------------------------------------------------------

    def members_changed(self, room: RoomId, user: UserId, *, rotate: bool) -> None:
        """A membership of ``room`` changed: read its members again before the next
        ``encrypt``; with ``rotate`` (a person joined or left) start a new megolm session, so
        that who left cannot read on and who joined gets the key."""
        self._stale.add(room)
        if rotate and self._client.olm is not None:
            self._client.invalidate_outbound_session(room)

    async def encrypt(
        self, room: RoomId, event_type: str, content: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """``("m.room.encrypted", encrypted content)`` for posting ``content`` of type
        ``event_type`` into the encrypted ``room`` (by the bot or, masqueraded, a ghost).
        ``m.relates_to`` stays readable outside the ciphertext (spec "Mixing encrypted and
        unencrypted events"). Raises ``MatrixRequestError`` subclasses if reading members
        or keys, or sharing the session, fails."""
        async with self._room_locks.setdefault(room, asyncio.Lock()):
            await self._load_members(room)
            async with self._key_lock:
                if self._client.should_query_keys:
                    _check("keys_query", await self._client.keys_query())
                if self._client.olm.should_share_group_session(room):
                    await self._share(room)
            try:
                encrypted_type, encrypted = self._client.encrypt(room, event_type, dict(content))
            except (nio.LocalProtocolError, nio.EncryptionError) as exc:
                raise error_for("encrypt", "", 0, str(exc)) from None
            return str(encrypted_type), dict(encrypted)

    async def _load_members(self, room: RoomId) -> None:
        client = self._client
        if room in client.rooms and room not in self._stale:
            return
        self._stale.discard(room)
        path = f"/_matrix/client/v3/rooms/{quote(room, safe='')}/members?not_membership=leave"
        response = await client._send(JsonResponse, "GET", path)
        if isinstance(response, nio.ErrorResponse):
            self._stale.add(room)
            raise _error("get_members", response)
        state = response.content.get("chunk", [])
        matrix_room = nio.MatrixRoom(room, self.bot, encrypted=True)
        for member in state if isinstance(state, list) else []:
            user, membership = member.get("state_key"), member.get("content", {})
            kind = membership.get("membership") if isinstance(membership, dict) else None
            if isinstance(user, str) and kind in ("join", "invite"):
                matrix_room.add_member(user, None, None, invited=kind == "invite")
        matrix_room.members_synced = True
        client.rooms[room] = matrix_room
        client.olm.update_tracked_users(matrix_room)

    async def _share(self, room: RoomId) -> None:
        client = self._client
        missing = client.get_missing_sessions(room)
        if missing:
            _check("keys_claim", await client.keys_claim(missing))
        shared = await client.share_group_session(room, ignore_unverified_devices=True)
        _check("share_group_session", shared)


def _sender_key_of(olm: Any, room: RoomId, session_id: str) -> str | None:
    """The curve25519 key of whoever shared the inbound session ``session_id`` of ``room``."""
    for sender_key, sessions in olm.inbound_group_store[room].items():
        if session_id in sessions:
            return str(sender_key)
    return None


def _error(operation: str, response: Any) -> Exception:
    transport = getattr(response, "transport_response", None)
    status = transport.status if transport is not None else 0
    return error_for(
        operation,
        getattr(response, "status_code", "") or "",
        status,
        getattr(response, "message", "") or "",
        getattr(response, "retry_after_ms", None),
    )


def _check(operation: str, response: Any) -> None:
    """Raise the ``MatrixRequestError`` for a nio error value (nio returns errors)."""
    if isinstance(response, nio.ErrorResponse):
        raise _error(operation, response)


__all__ = ["BotDevice", "KeyMissing", "MatrixRequestError", "Undecryptable", "store_folder"]

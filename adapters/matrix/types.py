"""Matrix identifiers and the room events an appservice transaction carries."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NewType

import attrs

from bridge.ids import EventId, RoomId, TransactionId
from bridge.ids import MatrixUserId as UserId

__all__ = [
    "DeviceUpdates",
    "Download",
    "EphemeralEvent",
    "EventId",
    "MalformedEvent",
    "Member",
    "MxcUri",
    "RoomAlias",
    "RoomEvent",
    "RoomId",
    "Transaction",
    "TransactionId",
    "UserId",
]

#: ``#alias:server``.
RoomAlias = NewType("RoomAlias", str)
#: ``mxc://server/media_id`` content URI.
MxcUri = NewType("MxcUri", str)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class MalformedEvent(ValueError):
    """An event in a transaction lacks a required field or has one of the wrong type."""


def _required_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"event field {key!r} missing or not a string")
    return value


@attrs.frozen
class RoomEvent:
    """One event of a transaction (Matrix spec "Client-Server API: Room Events").

    ``content`` is the event's JSON content as received (read-only); ``state_key`` is ``None``
    for message events; ``redacts`` is set on ``m.room.redaction`` (from the top level in
    room versions < 11, from ``content`` since); ``timestamp_ms`` is ``origin_server_ts``.
    """

    event_id: EventId
    room_id: RoomId
    sender: UserId
    type: str
    content: Mapping[str, Any] = attrs.field(repr=False, default=_EMPTY)
    state_key: str | None = None
    timestamp_ms: int = 0
    redacts: EventId | None = None

    @classmethod
    def from_wire(cls, data: object) -> RoomEvent:
        """Build from the JSON object of a transaction's ``events`` list.

        Raises ``MalformedEvent`` if ``event_id``, ``room_id``, ``sender`` or ``type`` are not
        non-empty strings or ``content`` is not an object.
        """
        if not isinstance(data, Mapping):
            raise MalformedEvent("event is not a JSON object")
        content = data.get("content", {})
        if not isinstance(content, Mapping):
            raise MalformedEvent("event field 'content' is not an object")
        state_key = data.get("state_key")
        ts = data.get("origin_server_ts")
        redacts = data.get("redacts") or content.get("redacts")
        return cls(
            event_id=EventId(_required_str(data, "event_id")),
            room_id=RoomId(_required_str(data, "room_id")),
            sender=UserId(_required_str(data, "sender")),
            type=_required_str(data, "type"),
            content=MappingProxyType(dict(content)),
            state_key=state_key if isinstance(state_key, str) else None,
            timestamp_ms=ts if isinstance(ts, int) and not isinstance(ts, bool) else 0,
            redacts=EventId(redacts) if isinstance(redacts, str) and redacts else None,
        )

    @property
    def msgtype(self) -> str:
        """``content.msgtype`` of an ``m.room.message`` (``m.text``, ``m.image``, ...), else ''."""
        value = self.content.get("msgtype")
        return value if isinstance(value, str) else ""

    @property
    def membership(self) -> str:
        """``content.membership`` of an ``m.room.member`` (``invite``, ``join``, ...), else ''."""
        value = self.content.get("membership")
        return value if isinstance(value, str) else ""


@attrs.frozen
class EphemeralEvent:
    """One ephemeral event of a transaction (spec "Application Service API: Pushing
    ephemeral data", MSC2409): receipts, typing, presence. ``room_id`` is '' for presence;
    ``content`` is the JSON content as received (read-only)."""

    type: str
    room_id: RoomId
    content: Mapping[str, Any] = attrs.field(repr=False, default=_EMPTY)

    @classmethod
    def from_wire(cls, data: object) -> EphemeralEvent:
        """Build from one JSON object of a transaction's ``ephemeral`` list. Raises
        ``MalformedEvent`` if ``type`` is not a non-empty string or ``content`` (or a given
        ``room_id``) has the wrong type."""
        if not isinstance(data, Mapping):
            raise MalformedEvent("ephemeral event is not a JSON object")
        content = data.get("content", {})
        if not isinstance(content, Mapping):
            raise MalformedEvent("ephemeral event field 'content' is not an object")
        room_id = data.get("room_id", "")
        if not isinstance(room_id, str):
            raise MalformedEvent("ephemeral event field 'room_id' is not a string")
        return cls(
            type=_required_str(data, "type"),
            room_id=RoomId(room_id),
            content=MappingProxyType(dict(content)),
        )


@attrs.frozen
class DeviceUpdates:
    """What a transaction carries for end-to-end encryption besides room events:
    to-device messages for the appservice's devices (MSC2409, ``de.sorunome.msc2409.to_device``:
    each with ``to_user_id``/``to_device_id``), device list changes of users sharing a room
    with it and its devices' one-time key counts (MSC3202, ``org.matrix.msc3202.*``).
    Malformed parts are left out."""

    to_device: tuple[Mapping[str, Any], ...] = attrs.field(default=(), repr=False)
    changed: frozenset[str] = frozenset()
    left: frozenset[str] = frozenset()
    #: ``{user_id: {device_id: {algorithm: count}}}``.
    one_time_key_counts: Mapping[str, Any] = attrs.field(default=_EMPTY, repr=False)

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> DeviceUpdates:
        """Read the MSC2409/MSC3202 keys of a transaction body (absent ones: empty)."""
        raw = body.get("de.sorunome.msc2409.to_device") or body.get("to_device")
        to_device = tuple(m for m in raw if isinstance(m, Mapping)) if isinstance(raw, list) else ()
        lists = body.get("org.matrix.msc3202.device_lists")
        lists = lists if isinstance(lists, Mapping) else {}
        counts = body.get("org.matrix.msc3202.device_one_time_keys_count")
        return cls(
            to_device=to_device,
            changed=_user_ids(lists.get("changed")),
            left=_user_ids(lists.get("left")),
            one_time_key_counts=counts if isinstance(counts, Mapping) else _EMPTY,
        )

    def to_wire(self) -> dict[str, Any]:
        """The transaction body keys ``from_wire`` reads (none when empty)."""
        if not self:
            return {}
        return {
            "de.sorunome.msc2409.to_device": [dict(m) for m in self.to_device],
            "org.matrix.msc3202.device_lists": {
                "changed": sorted(self.changed),
                "left": sorted(self.left),
            },
            "org.matrix.msc3202.device_one_time_keys_count": dict(self.one_time_key_counts),
        }

    def __bool__(self) -> bool:
        return bool(self.to_device or self.changed or self.left or self.one_time_key_counts)


def _user_ids(value: object) -> frozenset[str]:
    return (
        frozenset(u for u in value if isinstance(u, str))
        if isinstance(value, list)
        else frozenset()
    )


@attrs.frozen
class Transaction:
    """A homeserver -> appservice transaction (spec "Pushing events").

    ``events`` holds the well-formed room events in order; ``skipped`` counts malformed ones
    that were logged and left out. ``ephemeral`` holds the ephemeral events (sent only to a
    registration with ``receive_ephemeral: true``); ``devices`` the end-to-end encryption
    parts (to-device messages, device lists, one-time key counts).
    """

    txn_id: TransactionId
    events: tuple[RoomEvent, ...]
    skipped: int = 0
    ephemeral: tuple[EphemeralEvent, ...] = ()
    devices: DeviceUpdates = DeviceUpdates()

    @property
    def dedupe_key(self) -> TransactionId:
        """``txnId`` plus a digest of the event ids: what a ``TransactionLog`` records.

        The txnId alone is not enough: Synapse on SQLite numbers transactions from the highest
        one still pending, so after a homeserver restart ids start again at 1. A retry carries
        the same events, hence the same key; a new transaction reusing an old id does not.
        """
        digest = hashlib.sha256("\n".join(e.event_id for e in self.events).encode())
        digest.update(str(self.skipped).encode())
        if self.ephemeral:
            # They carry no ids: a receipt-only transaction is known by what it says.
            seen = [[e.type, e.room_id, dict(e.content)] for e in self.ephemeral]
            digest.update(json.dumps(seen, sort_keys=True, default=str).encode())
        if self.devices:
            # A transaction of to-device messages only has no event ids to tell it apart.
            digest.update(json.dumps(self.devices.to_device, sort_keys=True, default=str).encode())
        return TransactionId(f"{self.txn_id}:{digest.hexdigest()[:32]}")


@attrs.frozen
class Member:
    """A joined member of a room: user id, display name and avatar (``None`` = unset)."""

    user_id: UserId
    displayname: str | None = None
    avatar_url: MxcUri | None = None


@attrs.frozen
class Download:
    """Downloaded media: the bytes, their content type and the server's filename (if any)."""

    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    content_type: str = "application/octet-stream"
    filename: str | None = None

"""Read receipts from Matrix, and what a sender is told about delivery: the bot's read
receipt and the ``com.beeper.message_send_status`` event, as mautrix bridges post them."""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from typing import Any

import attrs

from adapters.matrix import content as mx
from adapters.matrix.api import AppserviceAPI
from adapters.matrix.errors import MatrixRequestError
from adapters.matrix.types import EphemeralEvent, EventId, RoomId, UserId
from bridge.config import Section
from bridge.model import Address, ReadReceipt, RemoteId

logger = logging.getLogger(__name__)

#: The receipt type a read marks (spec "Receipts"). ``m.read.private`` is never sent to an
#: appservice for users outside its namespaces (Synapse 1.163 ``handlers/receipts.py``), so
#: a user who reads privately does not mark the chat read on the phone.
READ = "m.read"


class StatusReason(enum.Enum):
    """``reason`` codes of a failed send status (mautrix-go ``event/beeper.go``)."""

    UNSUPPORTED = "com.beeper.unsupported_event"
    NETWORK_ERROR = "m.foreign_network_error"
    GENERIC = "m.event_not_handled"


@attrs.frozen
class DeliveryOptions:
    """The ``matrix`` config keys of delivery reports (named as mautrix bridges name them):
    ``message_status_events`` posts a ``com.beeper.message_send_status`` event on each of
    the user's portal messages once its outcome is known (SUCCESS or FAIL_PERMANENT);
    ``delivery_receipts`` has the bot post a read receipt on a message delivered to the
    network. Both default to on."""

    message_status_events: bool = True
    delivery_receipts: bool = True

    @classmethod
    def from_section(cls, sec: Section) -> DeliveryOptions:
        """Read the keys from the ``matrix`` section. Raises ``ConfigError`` for a
        non-boolean value."""
        return cls(
            message_status_events=sec.boolean("message_status_events", default=True),
            delivery_receipts=sec.boolean("delivery_receipts", default=True),
        )


def read_receipts(event: EphemeralEvent, owner: UserId) -> list[ReadReceipt]:
    """The ``m.read`` receipts of ``owner`` in the ``m.receipt`` ephemeral event ``event``
    (spec "Receipts": ``content`` maps event ids to receipt types to user ids to ``{ts,
    thread_id?}``), as the bridge's ``ReadReceipt``s; other users' receipts, other types
    and malformed parts are left out. A threaded receipt counts: the event was read."""
    if event.type != "m.receipt" or not event.room_id:
        return []
    found: list[ReadReceipt] = []
    for event_id, kinds in event.content.items():
        if not isinstance(event_id, str) or not event_id.startswith("$"):
            continue
        receipt = _owner_receipt(kinds, owner)
        if receipt is None:
            continue
        ts = receipt.get("ts")
        timestamp = ts / 1000 if isinstance(ts, int | float) and not isinstance(ts, bool) else 0.0
        found.append(
            ReadReceipt(Address(event.room_id), Address(owner), RemoteId(event_id), timestamp)
        )
    # One room's receipts in the order they were made.
    return sorted(found, key=lambda r: r.timestamp)


def _owner_receipt(kinds: object, owner: UserId) -> Mapping[str, Any] | None:
    if not isinstance(kinds, Mapping):
        return None
    users = kinds.get(READ)
    if not isinstance(users, Mapping):
        return None
    receipt = users.get(owner)
    return receipt if isinstance(receipt, Mapping) else None


class DeliveryReports:
    """Posts, as the bot, what a sender's client shows about delivery: the one code path
    for every ``com.beeper.message_send_status`` of the bridge (success and failure) and
    the bot's read receipt after a delivery. ``network`` is the bridge's network id; what
    ``options`` turns off is not posted. Failures are logged, never raised."""

    def __init__(self, api: AppserviceAPI, network: str, options: DeliveryOptions) -> None:
        self._api = api
        self._network = network
        self.options = options

    async def delivered(self, room: RoomId, event_id: EventId) -> None:
        """``event_id`` reached the network: the bot's read receipt on it (as mautrix's
        ``delivery_receipts``: the bot, which is in every portal, not the contact's ghost,
        whose receipt would claim the contact read it) and a SUCCESS status."""
        if self.options.delivery_receipts:
            try:
                await self._api.send_receipt(room, event_id)
            except MatrixRequestError as exc:
                logger.warning("cannot post the delivery receipt on %s: %s", event_id, exc)
        await self.status(room, event_id, mx.SendStatus.SUCCESS)

    async def failed(
        self,
        room: RoomId,
        event_id: EventId,
        message: str,
        reason: StatusReason = StatusReason.UNSUPPORTED,
    ) -> None:
        """``event_id`` will never reach the network: a FAIL_PERMANENT status whose
        ``message`` (user-facing) clients show on the event."""
        await self.status(
            room, event_id, mx.SendStatus.FAIL_PERMANENT, reason=reason.value, message=message
        )

    async def status(
        self,
        room: RoomId,
        event_id: EventId,
        status: mx.SendStatus,
        *,
        reason: str = "",
        message: str = "",
    ) -> None:
        """Post a ``com.beeper.message_send_status`` on ``event_id`` (``content.send_status``)
        unless ``message_status_events`` is off."""
        if not self.options.message_status_events:
            return
        body = mx.send_status(
            event_id, network=self._network, status=status, reason=reason, message=message
        )
        try:
            await self._api.send_message(room, body, event_type=mx.SEND_STATUS_TYPE)
        except MatrixRequestError as exc:
            logger.warning("cannot post a send status in %s: %s", room, exc)

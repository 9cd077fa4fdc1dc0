"""Which receipts of an ``m.receipt`` ephemeral event the bridge relays: the portal owner's
``m.read`` ones only (spec "Receipts")."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from adapters.matrix.receipts import DeliveryOptions, read_receipts
from adapters.matrix.types import EphemeralEvent, RoomId, UserId
from bridge.config import Section
from bridge.errors import ConfigError
from bridge.model import ReadReceipt, RemoteId

OWNER = UserId("@alice:localhost")
ROOM = RoomId("!portal")


def _event(content: dict[str, object], type_: str = "m.receipt") -> EphemeralEvent:
    return EphemeralEvent(type_, ROOM, MappingProxyType(content))


def test_only_the_owners_read_receipts_count_in_the_order_they_were_made() -> None:
    event = _event(
        {
            "$later": {"m.read": {OWNER: {"ts": 2000, "thread_id": "main"}}},
            "$earlier": {"m.read": {OWNER: {"ts": 1000}}},
            "$private": {"m.read.private": {OWNER: {"ts": 3000}}},
            "$someone": {"m.read": {"@bob:localhost": {"ts": 4000}}},
            "$bad": {"m.read": {OWNER: "not an object"}},
            "not-an-event-id": {"m.read": {OWNER: {"ts": 5000}}},
            "$junk": ["m.read"],
        }
    )

    assert read_receipts(event, OWNER) == [
        ReadReceipt(ROOM, OWNER, RemoteId("$earlier"), 1.0),
        ReadReceipt(ROOM, OWNER, RemoteId("$later"), 2.0),
    ]


def test_typing_and_presence_are_no_receipts() -> None:
    assert read_receipts(_event({"user_ids": [OWNER]}, "m.typing"), OWNER) == []
    presence = EphemeralEvent("m.presence", RoomId(""), MappingProxyType({"presence": "online"}))
    assert read_receipts(presence, OWNER) == []


def test_delivery_options_default_on_and_refuse_non_booleans() -> None:
    assert DeliveryOptions.from_section(Section({}, "matrix")) == DeliveryOptions(True, True)
    off = {"message_status_events": False, "delivery_receipts": False}
    assert DeliveryOptions.from_section(Section(off, "matrix")) == DeliveryOptions(False, False)
    with pytest.raises(ConfigError, match=r"matrix\.delivery_receipts"):
        DeliveryOptions.from_section(Section({"delivery_receipts": "sometimes"}, "matrix"))

"""End-to-end encryption's pieces that need no homeserver: the ``encryption`` config section,
what a transaction body carries for the bot's device (MSC2409/MSC3202), the registration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.matrix.crypto import store_folder
from adapters.matrix.types import DeviceUpdates, Transaction, TransactionId
from bridge.config import Config, EncryptionConfig
from bridge.errors import ConfigError
from bridge.registration import registration_for
from tests.matrix.test_config import example


def _with_encryption(section: Any) -> Config:
    data = example()
    data["encryption"] = section
    return Config.from_mapping(data, base_dir=Path("/srv/bridge"))


def test_the_example_config_allows_encryption_and_a_missing_section_does_not() -> None:
    assert Config.from_mapping(example()).encryption == EncryptionConfig(
        allow=True, default=False, key_wait_s=30.0
    )
    data = example()
    del data["encryption"]
    assert Config.from_mapping(data).encryption == EncryptionConfig(allow=False, default=False)


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"allow": "yes"}, "encryption.allow"),
        ({"allow": False, "default": True}, "encryption.default"),
        ({"allow": True, "key_wait_seconds": 0}, "encryption.key_wait_seconds"),
        ({"allow": True, "key_wait_seconds": "soon"}, "encryption.key_wait_seconds"),
        ("on", "encryption"),
    ],
)
def test_bad_encryption_settings_name_the_key(section: Any, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        _with_encryption(section)


def test_the_keys_live_beside_the_database() -> None:
    config = _with_encryption({"allow": True, "default": True, "key_wait_seconds": 5})
    assert config.encryption == EncryptionConfig(allow=True, default=True, key_wait_s=5.0)
    assert store_folder(config.database.path) == Path("/srv/bridge/chatbridge.db-crypto")


def test_the_registration_asks_for_to_device_messages_and_device_lists() -> None:
    registration = registration_for(Config.from_mapping(example()))
    assert registration["receive_ephemeral"] is True
    assert registration["org.matrix.msc3202"] is True


MESSAGE = {
    "type": "m.room.encrypted",
    "sender": "@alice:example.com",
    "to_user_id": "@wechatbot:example.com",
    "to_device_id": "BOTDEVICE",
    "content": {"algorithm": "m.olm.v1.curve25519-aes-sha2", "ciphertext": {}},
}


def test_device_updates_are_read_from_a_transaction_body_and_back() -> None:
    body = {
        "events": [],
        "de.sorunome.msc2409.to_device": [MESSAGE],
        "org.matrix.msc3202.device_lists": {"changed": ["@alice:example.com"], "left": []},
        "org.matrix.msc3202.device_one_time_keys_count": {
            "@wechatbot:example.com": {"BOTDEVICE": {"signed_curve25519": 12}}
        },
    }
    updates = DeviceUpdates.from_wire(body)
    assert updates.to_device == (MESSAGE,)
    assert updates.changed == {"@alice:example.com"}
    assert DeviceUpdates.from_wire(updates.to_wire()) == updates
    assert not DeviceUpdates.from_wire({"events": []})
    assert DeviceUpdates().to_wire() == {}


@pytest.mark.parametrize(
    "body",
    [
        {"de.sorunome.msc2409.to_device": "not a list"},
        {"de.sorunome.msc2409.to_device": [1, "x", None]},
        {"org.matrix.msc3202.device_lists": ["@a:b"]},
        {"org.matrix.msc3202.device_lists": {"changed": [1, None], "left": "x"}},
        {"org.matrix.msc3202.device_one_time_keys_count": 3},
    ],
)
def test_malformed_device_updates_are_left_out(body: dict[str, Any]) -> None:
    assert not DeviceUpdates.from_wire(body)


def test_transactions_of_to_device_messages_only_are_told_apart() -> None:
    # Synapse on SQLite numbers transactions anew after a restart: two transactions with
    # the same id and no events must not look like one repeated.
    first = Transaction(TransactionId("7"), (), devices=DeviceUpdates(to_device=(MESSAGE,)))
    other = {**MESSAGE, "content": {**MESSAGE["content"], "ciphertext": {"k": "v"}}}
    second = Transaction(TransactionId("7"), (), devices=DeviceUpdates(to_device=(other,)))
    assert first.dedupe_key != second.dedupe_key
    assert first.dedupe_key == Transaction(TransactionId("7"), (), devices=first.devices).dedupe_key
    # Without device updates the key is what it always was.
    assert Transaction(TransactionId("7"), ()).dedupe_key.startswith("7:")

"""Config loading and registration generation, through the files an operator edits."""

from __future__ import annotations

import re
import stat
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.matrix.relations import EditMode, ReactionMode, RelationOptions
from bridge.config import Config, PermissionLevel, RetentionConfig
from bridge.errors import ConfigError
from bridge.plugins import load_network
from bridge.registration import generate_registration

EXAMPLE = files("bridge").joinpath("example-config.yaml").read_text(encoding="utf-8")


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE)
    data["appservice"]["as_token"] = "a" * 20
    data["appservice"]["hs_token"] = "h" * 20
    return data


def test_example_config_loads() -> None:
    config = Config.from_mapping(yaml.safe_load(EXAMPLE), allow_placeholder_tokens=True)
    assert config.homeserver.domain == "example.com"
    assert config.appservice.port == 29350
    assert config.bot_user_id == "@wechatbot:example.com"
    assert config.double_puppet is None
    assert config.network == "wechat"
    assert config.network_config == {
        "base_url": "",
        "uos": True,
        "reconnect_max_s": 60,
        "probe_interval_s": 5,
    }
    assert config.retention == RetentionConfig(
        journal_s=7 * 86400.0, message_map_s=30 * 86400.0, interval_s=3600.0
    )
    perms = config.permissions
    assert perms.permission_for("@admin:example.com") is PermissionLevel.ADMIN
    assert perms.permission_for("@bob:example.com") is PermissionLevel.USER
    assert perms.permission_for("@eve:elsewhere.org") is PermissionLevel.NONE


def test_placeholder_tokens_are_refused_at_run_time() -> None:
    with pytest.raises(ConfigError, match=r"appservice\.as_token: not generated yet"):
        Config.from_mapping(yaml.safe_load(EXAMPLE))


def test_secrets_stay_out_of_reprs() -> None:
    data = example()
    data["double_puppet"] = {"secret": "dp-secret-value"}
    text = repr(Config.from_mapping(data))
    assert "aaaaaaaa" not in text and "hhhhhhhh" not in text and "dp-secret-value" not in text


@pytest.mark.parametrize(
    ("section", "key", "value", "named"),
    [
        ("homeserver", "address", "localhost:8008", "homeserver.address"),
        ("homeserver", "domain", "exa mple.com", "homeserver.domain"),
        ("homeserver", "domain", None, "homeserver.domain"),
        ("appservice", "port", "29350", "appservice.port"),
        ("appservice", "port", 70000, "appservice.port"),
        ("appservice", "username_template", "wechat_", "appservice.username_template"),
        ("appservice", "username_template", "WeChat_{identity}", "appservice.username_template"),
        ("appservice", "displayname_template", "{nick}", "appservice.displayname_template"),
        ("appservice", "hs_token", "a" * 20, "appservice.hs_token"),
        ("appservice", "id", "has space", "appservice.id"),
        ("appservice", "long_text", "truncate", "appservice.long_text"),
        ("appservice", "bot", {"username": "Bot!"}, "appservice.bot.username"),
        ("appservice", "bot", {"username": "wechat_bot"}, "appservice.bot.username"),
        ("permissions", "@admin:example.com", "superuser", "permissions.@admin:example.com"),
        ("permissions", "not a server", "user", "permissions.not a server"),
        ("logging", "level", "LOUD", "logging.level"),
        ("retention", "journal_days", 0, "retention.journal_days"),
        ("retention", "interval_minutes", "often", "retention.interval_minutes"),
        ("retention", "message_map_days", 3, "retention.message_map_days"),
    ],
)
def test_bad_values_name_the_key(section: str, key: str, value: object, named: str) -> None:
    data = example()
    data[section][key] = value
    with pytest.raises(ConfigError) as err:
        Config.from_mapping(data)
    assert str(err.value).startswith(named + ":")


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("uos", "yes", "wechat.uos"),
        ("base_url", "ftp://x", "wechat.base_url"),
        ("reconnect_max_s", -1, "wechat.reconnect_max_s"),
        ("probe_interval_s", "soon", "wechat.probe_interval_s"),
    ],
)
def test_the_networks_own_section_is_checked_by_its_adapter(
    key: str, value: object, named: str
) -> None:
    data = example()
    data["wechat"][key] = value
    config = Config.from_mapping(data)  # the core passes the section through
    with pytest.raises(ConfigError) as err:
        load_network(config)
    assert str(err.value).startswith(named + ":")


def test_a_config_without_network_runs_wechat_with_uos() -> None:
    data = example()
    del data["network"], data["wechat"]
    network = load_network(Config.from_mapping(data))
    assert (network.name, network.display_name) == ("wechat", "WeChat")
    channel = network.open_login(Path("session.json"))
    assert channel.settings.uos is True  # the one default: wechat.uos


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ("telegramx", "network: no adapter 'telegramx' is installed"),
        ("matrix", "network: 'matrix' is a section of the bridge"),
        ("Bad Name", "network: expected an adapter name"),
    ],
)
def test_an_unknown_network_is_a_config_error(network: str, message: str) -> None:
    data = example()
    data["network"] = network
    with pytest.raises(ConfigError, match=message):
        load_network(Config.from_mapping(data))


def test_missing_section_and_unreadable_files(tmp_path: Path) -> None:
    data = example()
    del data["homeserver"]
    with pytest.raises(ConfigError, match=r"^homeserver: missing section"):
        Config.from_mapping(data)
    with pytest.raises(ConfigError, match="not found"):
        Config.from_file(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("homeserver: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        Config.from_file(bad)


def test_database_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    config = Config.from_mapping(example(), base_dir=tmp_path)
    assert config.database.path == tmp_path / "chatbridge.db"


def test_ghost_ids_escape_what_a_localpart_cannot_hold() -> None:
    config = Config.from_mapping(example())
    assert config.ghost_user_id("abc123") == "@wechat_abc123:example.com"
    assert config.ghost_user_id("Ab_c") == "@wechat__ab__c:example.com"
    assert config.ghost_user_id("x y") == "@wechat_x=20y:example.com"
    assert config.ghost_user_id("王") == "@wechat_=e7=8e=8b:example.com"
    assert config.ghost_displayname("Zhang San") == "Zhang San (WeChat)"


def test_registration_is_generated_and_tokens_written_back(tmp_path: Path) -> None:
    config_path = tmp_path / "config.yaml"
    config_path.write_text(EXAMPLE)
    registration_path = tmp_path / "registration.yaml"

    generate_registration(config_path, registration_path)

    registration = yaml.safe_load(registration_path.read_text())
    config = Config.from_file(config_path)
    assert registration["as_token"] == config.appservice.as_token
    assert registration["hs_token"] == config.appservice.hs_token
    assert len(config.appservice.as_token) >= 32
    assert config.appservice.as_token != config.appservice.hs_token
    assert registration["id"] == "wechat"
    assert registration["url"] == "http://localhost:29350"
    assert registration["sender_localpart"] == "wechatbot"
    assert registration["rate_limited"] is False
    assert registration["receive_ephemeral"] is True  # read receipts reach the bridge
    assert stat.S_IMODE(registration_path.stat().st_mode) == 0o600
    # Comments survive the write-back.
    assert "# Who may use the bridge." in config_path.read_text()

    [ghosts, bot] = registration["namespaces"]["users"]
    assert ghosts["exclusive"] and bot["exclusive"]
    regex = re.compile(ghosts["regex"])
    assert regex.match(config.ghost_user_id("abc"))
    assert regex.match(config.ghost_user_id("Ab_c 王"))
    others = ["@alice:example.com", "@wechat_abc:example.org", "@wechat_abc:exampleXcom"]
    others += ["@xwechat_abc:example.com", "@wechatbot:example.com", "@wechat_:example.com"]
    for other in others:
        assert not regex.match(other), other
    assert re.match(bot["regex"], "@wechatbot:example.com")

    # A second run keeps the tokens the homeserver already has.
    generate_registration(config_path, registration_path)
    assert yaml.safe_load(registration_path.read_text()) == registration


def test_registration_adds_missing_token_keys(tmp_path: Path) -> None:
    data = example()
    del data["appservice"]["as_token"]
    del data["appservice"]["hs_token"]
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(data))

    generate_registration(config_path, tmp_path / "registration.yaml")

    config = Config.from_file(config_path)
    assert len(config.appservice.as_token) >= 32 and len(config.appservice.hs_token) >= 32


def test_the_matrix_section_sets_edits_and_reactions() -> None:
    config = Config.from_mapping(yaml.safe_load(EXAMPLE), allow_placeholder_tokens=True)
    example = RelationOptions.from_config(config.matrix_config)
    assert example == RelationOptions(EditMode.RECALL, 110.0, ReactionMode.DIRECT)
    assert RelationOptions.from_config({}) == example
    custom = {"edits": "correction", "reactions": "all", "edit_recall_window_s": 30}
    assert RelationOptions.from_config(custom) == RelationOptions(
        EditMode.CORRECTION, 30.0, ReactionMode.ALL
    )
    bad_values = [
        ({"edits": "rewrite"}, "matrix.edits"),
        ({"reactions": 1}, "matrix.reactions"),
        ({"edit_recall_window_s": "soon"}, "matrix.edit_recall_window_s"),
    ]
    for bad, key in bad_values:
        with pytest.raises(ConfigError, match=key):
            RelationOptions.from_config(bad)

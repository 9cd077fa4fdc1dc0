"""The bridge's YAML configuration, validated into frozen values (``Config``).

The parts live beside it and are re-exported here, so ``from bridge.config import X`` keeps
working: the permission model in ``bridge.permissions``, the section values in
``bridge.config_values``, YAML reading and key-by-key validation in ``bridge.config_reader``,
localpart escaping in ``bridge.localpart``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from bridge.config_reader import SERVER_NAME, TOKEN_PLACEHOLDERS, Section, as_mapping, read_yaml
from bridge.config_values import (
    DEFAULT_NETWORK,
    LONG_TEXT_MODES,
    AppserviceConfig,
    BotConfig,
    DatabaseConfig,
    DoublePuppetConfig,
    EncryptionConfig,
    HomeserverConfig,
    RetentionConfig,
)
from bridge.errors import ConfigError
from bridge.localpart import LOCALPART_CHARS, escape_localpart, unescape_localpart
from bridge.permissions import REFUSAL, PermissionLevel, Permissions

__all__ = [
    "DEFAULT_NETWORK",
    "LONG_TEXT_MODES",
    "REFUSAL",
    "TOKEN_PLACEHOLDERS",
    "AppserviceConfig",
    "BotConfig",
    "Config",
    "DatabaseConfig",
    "DoublePuppetConfig",
    "EncryptionConfig",
    "HomeserverConfig",
    "PermissionLevel",
    "Permissions",
    "RetentionConfig",
    "Section",
    "escape_localpart",
    "read_yaml",
    "unescape_localpart",
]

_APPSERVICE_ID = re.compile(r"[A-Za-z0-9_.\-]+")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ADAPTER_NAME = re.compile(r"[a-z][a-z0-9_]*")
_CORE_SECTIONS = frozenset(
    {"homeserver", "appservice", "database", "permissions", "double_puppet", "logging", "retention"}
) | {"network", "matrix", "encryption"}


def _encryption(sec: Section) -> EncryptionConfig:
    allow = sec.boolean("allow", default=False)
    default = sec.boolean("default", default=False)
    if default and not allow:
        raise ConfigError(f"{sec.key('default')}: true needs encryption.allow: true as well")
    key_wait_s = _seconds(sec, "key_wait_seconds", 1.0, EncryptionConfig().key_wait_s)
    sec.warn_unknown()
    return EncryptionConfig(allow=allow, default=default, key_wait_s=key_wait_s)


def _seconds(sec: Section, name: str, unit_s: float, default: float) -> float:
    """A positive number of ``unit_s`` (e.g. days) under ``name``, in seconds."""
    value = sec.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{sec.key(name)}: expected a positive number, got {value!r}")
    return float(value) * unit_s


def _retention(sec: Section) -> RetentionConfig:
    default = RetentionConfig()
    journal_s = _seconds(sec, "journal_days", 86400.0, default.journal_s)
    map_s = _seconds(sec, "message_map_days", 86400.0, default.message_map_s)
    interval_s = _seconds(sec, "interval_minutes", 60.0, default.interval_s)
    if map_s < journal_s:
        raise ConfigError(
            f"{sec.key('message_map_days')}: must be at least journal_days, so that a message "
            "still in the journal stays recognised when it arrives again"
        )
    sec.warn_unknown()
    return RetentionConfig(journal_s=journal_s, message_map_s=map_s, interval_s=interval_s)


def _read_only(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy of ``mapping``."""
    return MappingProxyType(dict(mapping))


@attrs.frozen
class Config:
    """The whole configuration file. Build with ``Config.from_file`` or ``Config.from_mapping``."""

    homeserver: HomeserverConfig
    appservice: AppserviceConfig
    database: DatabaseConfig
    permissions: Permissions
    double_puppet: DoublePuppetConfig | None = None
    log_level: str = "INFO"
    #: The remote network's adapter (an entry-point name, ``bridge.plugins``).
    network: str = DEFAULT_NETWORK
    #: The raw config section named after ``network`` ({} when absent); the adapter parses
    #: it (``bridge.plugins.load_network``).
    network_config: Mapping[str, Any] = attrs.field(factory=dict, converter=_read_only, hash=False)
    #: The raw ``matrix`` section ({} when absent); the Matrix side parses it.
    matrix_config: Mapping[str, Any] = attrs.field(factory=dict, converter=_read_only, hash=False)
    retention: RetentionConfig = attrs.field(factory=RetentionConfig)
    encryption: EncryptionConfig = attrs.field(factory=EncryptionConfig)

    @classmethod
    def from_file(cls, path: str | Path, *, allow_placeholder_tokens: bool = False) -> Config:
        """Read and validate the YAML file at ``path``.

        ``allow_placeholder_tokens`` accepts ``as_token``/``hs_token`` that are still to be
        generated (registration generation only). Raises ``ConfigError`` naming the bad key.
        """
        path = Path(path)
        return cls.from_mapping(
            read_yaml(path), base_dir=path.parent, allow_placeholder_tokens=allow_placeholder_tokens
        )

    @classmethod
    def from_mapping(
        cls,
        data: object,
        *,
        base_dir: Path = Path(),
        allow_placeholder_tokens: bool = False,
    ) -> Config:
        """Validate already-parsed YAML ``data``. Raises ``ConfigError`` naming the bad key."""
        root = Section(as_mapping(data, "(top level)"), "")
        hs = root.section("homeserver")
        homeserver = HomeserverConfig(address=hs.url("address"), domain=hs.server_name("domain"))
        appservice = _appservice(root.section("appservice"), allow_placeholder_tokens)
        db = root.section("database", optional=True)
        db_path = Path(db.string("path", default="chatbridge.db"))
        database = DatabaseConfig(path=db_path if db_path.is_absolute() else base_dir / db_path)
        permissions = _permissions(root, homeserver.domain)
        network = root.string("network", default=DEFAULT_NETWORK)
        if not _ADAPTER_NAME.fullmatch(network):
            raise ConfigError(f"network: expected an adapter name like wechat, got {network!r}")
        if network in _CORE_SECTIONS:
            raise ConfigError(f"network: {network!r} is a section of the bridge, not a network")
        network_config = as_mapping(root.get(network) or {}, network)
        matrix_config = as_mapping(root.get("matrix") or {}, "matrix")
        dp = root.section("double_puppet", optional=True)
        secret = dp.string("secret", default="")
        log = root.section("logging", optional=True)
        level = log.string("level", default="INFO").upper()
        if level not in _LOG_LEVELS:
            raise ConfigError(f"logging.level: must be one of {', '.join(_LOG_LEVELS)}")
        retention = _retention(root.section("retention", optional=True))
        encryption = _encryption(root.section("encryption", optional=True))
        for section in (root, hs, db, dp, log):
            section.warn_unknown()
        return cls(
            homeserver=homeserver,
            appservice=appservice,
            database=database,
            permissions=permissions,
            network=network,
            network_config=network_config,
            matrix_config=matrix_config,
            double_puppet=DoublePuppetConfig(secret) if secret else None,
            log_level=level,
            retention=retention,
            encryption=encryption,
        )

    @property
    def double_puppet_tokens_path(self) -> Path:
        """The 0600 file of the access tokens users gave with ``login-matrix`` (per-user
        double puppeting): beside the database and named after it, e.g. ``chatbridge.db`` ->
        ``chatbridge.double-puppets.json``; never inside the database."""
        db = self.database.path
        return db.with_name(f"{db.stem}.double-puppets.json")

    @property
    def command_prefix(self) -> str:
        """The prefix of bot commands outside a DM with the bot (optional inside one, and
        heard in portals too): ``!`` and the network's adapter name, e.g. ``!wechat``."""
        return f"!{self.network}"

    # ---- user ids ----------------------------------------------------------------------------

    @property
    def bot_user_id(self) -> str:
        """The bridge bot's Matrix user id, ``@<bot.username>:<domain>``."""
        return f"@{self.appservice.bot.username}:{self.homeserver.domain}"

    def ghost_user_id(self, identity: str) -> str:
        """The ghost user id for ``identity``; characters a localpart cannot hold are escaped
        as the Matrix spec appendix "Mapping from other character sets" suggests."""
        localpart = self.appservice.username_template.format(identity=escape_localpart(identity))
        return f"@{localpart}:{self.homeserver.domain}"

    @property
    def ghost_regex(self) -> str:
        """Anchored regex matching every ghost user id (and only those) of this bridge."""
        prefix, _, suffix = self.appservice.username_template.partition("{identity}")
        return f"^@{re.escape(prefix)}.+{re.escape(suffix)}:{re.escape(self.homeserver.domain)}$"

    def is_ghost(self, user_id: str) -> bool:
        """Whether ``user_id`` is one of this bridge's ghosts."""
        return re.fullmatch(self.ghost_regex, user_id) is not None

    def ghost_displayname(self, name: str) -> str:
        """A ghost's display name from the contact's ``name``, per ``displayname_template``."""
        return self.appservice.displayname_template.format(name=name)


def _appservice(sec: Section, allow_placeholder_tokens: bool) -> AppserviceConfig:
    bot_sec = sec.section("bot", optional=True)
    bot = BotConfig(
        username=bot_sec.localpart("username", default="wechatbot"),
        displayname=bot_sec.string("displayname", default="WeChat bridge bot"),
        avatar=bot_sec.string("avatar", default=""),
    )
    appservice_id = sec.string("id", default="wechat")
    if not _APPSERVICE_ID.fullmatch(appservice_id):
        raise ConfigError(f"{sec.key('id')}: use letters, digits, '_', '.' and '-' only")
    username_template = sec.string("username_template", default="wechat_{identity}")
    prefix, found, suffix = username_template.partition("{identity}")
    rest = prefix + suffix
    if not found or "{identity}" in suffix or (rest and not LOCALPART_CHARS.fullmatch(rest)):
        raise ConfigError(
            f"{sec.key('username_template')}: must contain {{identity}} once, around "
            f"localpart characters (e.g. wechat_{{identity}}), got {username_template!r}"
        )
    if bot.username.startswith(prefix) and bot.username.endswith(suffix):
        raise ConfigError(
            f"{sec.key('bot.username')}: {bot.username!r} falls inside the ghost namespace "
            f"of username_template {username_template!r}; rename one of them"
        )
    displayname_template = sec.string("displayname_template", default="{name} (WeChat)")
    try:
        displayname_template.format(name="x")
    except (KeyError, IndexError, ValueError):
        raise ConfigError(
            f"{sec.key('displayname_template')}: may use only the placeholder {{name}}"
        ) from None
    long_text = sec.string("long_text", default="split")
    if long_text not in LONG_TEXT_MODES:
        raise ConfigError(f"{sec.key('long_text')}: must be one of {', '.join(LONG_TEXT_MODES)}")
    as_token = sec.token("as_token", allow_placeholder=allow_placeholder_tokens)
    hs_token = sec.token("hs_token", allow_placeholder=allow_placeholder_tokens)
    if as_token == hs_token and as_token not in TOKEN_PLACEHOLDERS:
        raise ConfigError(f"{sec.key('hs_token')}: must differ from as_token")
    config = AppserviceConfig(
        address=sec.url("address"),
        hostname=sec.string("hostname", default="127.0.0.1"),
        port=sec.port("port", default=29350),
        id=appservice_id,
        bot=bot,
        as_token=as_token,
        hs_token=hs_token,
        username_template=username_template,
        displayname_template=displayname_template,
        long_text=long_text,
    )
    bot_sec.warn_unknown()
    sec.warn_unknown()
    return config


def _permissions(root: Section, domain: str) -> Permissions:
    value = root.get("permissions")
    if value is None:
        # Without rules, only users of the bridge's own homeserver may use it.
        return Permissions(rules=((domain, PermissionLevel.USER),))
    rules: list[tuple[str, PermissionLevel]] = []
    for who, level in as_mapping(value, "permissions").items():
        key = f"permissions.{who!s}"
        who = str(who)
        if not (
            who == "*"
            or SERVER_NAME.fullmatch(who)
            or (who.startswith("@") and ":" in who and len(who) > 3)
        ):
            raise ConfigError(f"{key}: expected '*', a server name or a user id like @me:server")
        try:
            rules.append((who, PermissionLevel[str(level).upper()]))
        except KeyError:
            raise ConfigError(f"{key}: expected user, admin or none, got {level!r}") from None
    return Permissions(rules=tuple(rules))

"""The bridge's YAML configuration, validated into frozen values."""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import attrs
import yaml

from bridge.errors import ConfigError

logger = logging.getLogger(__name__)

#: Token values meaning "generate me" (``-g`` writes generated tokens back into the file).
TOKEN_PLACEHOLDERS = frozenset({"", "generate"})

# Matrix spec "User Identifiers": characters allowed in a user localpart.
_LOCALPART_CHARS = re.compile(r"[a-z0-9._=\-/+]+")
_SERVER_NAME = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_APPSERVICE_ID = re.compile(r"[A-Za-z0-9_.\-]+")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ADAPTER_NAME = re.compile(r"[a-z][a-z0-9_]*")
_CORE_SECTIONS = frozenset(
    {"homeserver", "appservice", "database", "permissions", "double_puppet", "logging", "retention"}
) | {"network", "matrix", "encryption"}

#: The remote network of a config without a ``network`` key.
DEFAULT_NETWORK = "wechat"

#: What the bot says to a user whose permission is below ``user`` (the one refusal text).
REFUSAL = (
    "Sorry, you are not allowed to use this bridge. Ask its administrator to give your "
    "Matrix account (or your homeserver) 'user' in the permissions section of its config."
)


class PermissionLevel(enum.IntEnum):
    """What a Matrix user may do with the bridge; ordered, so ``level >= USER`` works."""

    NONE = 0
    USER = 1
    ADMIN = 2


@attrs.frozen
class HomeserverConfig:
    """``homeserver``: where the homeserver's client API is (``address``, a URL without a
    trailing slash) and its server name (``domain``, the part after ``:`` in user ids)."""

    address: str
    domain: str


@attrs.frozen
class BotConfig:
    """``appservice.bot``: the bridge bot's localpart and profile."""

    username: str
    displayname: str = "WeChat bridge bot"
    avatar: str = ""


@attrs.frozen
class AppserviceConfig:
    """``appservice``: how the homeserver reaches us and how our users are named.

    ``address`` is the URL the homeserver uses to reach the appservice; ``hostname``/``port``
    is where the appservice HTTP server listens. ``username_template`` contains ``{identity}``
    once; ``displayname_template`` contains ``{name}``.
    """

    address: str
    hostname: str
    port: int
    id: str
    bot: BotConfig
    as_token: str = attrs.field(repr=False)
    hs_token: str = attrs.field(repr=False)
    username_template: str = "wechat_{identity}"
    displayname_template: str = "{name} (WeChat)"
    #: A text too long for one Matrix event: ``split`` into several, or sent as a ``file``.
    long_text: str = "split"


@attrs.frozen
class DatabaseConfig:
    """``database``: the SQLite file (``path`` is resolved against the config file's folder)."""

    path: Path


@attrs.frozen
class Permissions:
    """``permissions``: rules keyed by ``*``, a server name, or a full user id.

    The most specific rule wins: user id, then server name, then ``*``; no rule = ``NONE``.
    """

    rules: tuple[tuple[str, PermissionLevel], ...] = ()

    def permission_for(self, user_id: str) -> PermissionLevel:
        """The level of the Matrix user ``user_id`` (``@localpart:server``)."""
        table = dict(self.rules)
        if user_id in table:
            return table[user_id]
        _, sep, server = user_id.partition(":")
        if sep and server in table:
            return table[server]
        return table.get("*", PermissionLevel.NONE)

    def allows(self, user_id: str, level: PermissionLevel = PermissionLevel.USER) -> bool:
        """Whether ``user_id`` has ``level`` or above: the one permission check of the
        bridge (bot commands, invites of the bot). Refuse with ``REFUSAL``."""
        return self.permission_for(user_id) >= level


@attrs.frozen
class DoublePuppetConfig:
    """``double_puppet``: the secret used to log in as the Matrix user's own account
    (an ``as_token:...`` appservice token or a shared-secret-auth secret)."""

    secret: str = attrs.field(repr=False)


@attrs.frozen
class EncryptionConfig:
    """``encryption``: end-to-end encryption (Matrix spec "End-to-End Encryption"), as
    mautrix bridges' ``encryption`` section. ``allow``: the bot logs in as a device and reads
    and writes encrypted rooms (else an encrypted room gets one plaintext notice saying
    encryption is off). ``default``: new portals are created encrypted (needs ``allow``).
    ``key_wait_s``: how long an encrypted event waits for its room key before its sender is
    told it was not delivered, in seconds."""

    allow: bool = False
    default: bool = False
    key_wait_s: float = 30.0


def _encryption(sec: Section) -> EncryptionConfig:
    allow = sec.boolean("allow", default=False)
    default = sec.boolean("default", default=False)
    if default and not allow:
        raise ConfigError(f"{sec.key('default')}: true needs encryption.allow: true as well")
    key_wait_s = _seconds(sec, "key_wait_seconds", 1.0, EncryptionConfig().key_wait_s)
    sec.warn_unknown()
    return EncryptionConfig(allow=allow, default=default, key_wait_s=key_wait_s)


@attrs.frozen
class RetentionConfig:
    """``retention``: how long the bridge keeps what it relayed, applied while it runs
    (every ``interval_s``) and at each login's start. Seconds throughout.

    ``journal_s``: delivered and failed journal entries older than this are deleted
    (undelivered ones never are). ``message_map_s``: the message map, which recalls,
    replies and de-duplication of late repeats look up, keeps a message this long; it is at
    least ``journal_s``, so every journaled id stays de-duplicated.
    """

    journal_s: float = 7 * 86400.0
    message_map_s: float = 30 * 86400.0
    interval_s: float = 3600.0


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
    retention: RetentionConfig = RetentionConfig()
    encryption: EncryptionConfig = EncryptionConfig()

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
        root = Section(_mapping(data, "(top level)"), "")
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
        network_config = _mapping(root.get(network) or {}, network)
        matrix_config = _mapping(root.get("matrix") or {}, "matrix")
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


def escape_localpart(text: str) -> str:
    """Encode ``text`` into localpart-safe characters, reversibly: ``A``->``_a``, ``_``->``__``,
    other characters outside ``[a-z0-9.=-/+]`` -> ``=xx`` per UTF-8 byte (lowercase hex)."""
    out: list[str] = []
    for ch in text:
        if ch == "_":
            out.append("__")
        elif "A" <= ch <= "Z":
            out.append("_" + ch.lower())
        elif ch == "=" or not _LOCALPART_CHARS.fullmatch(ch):
            out.extend(f"={b:02x}" for b in ch.encode())
        else:
            out.append(ch)
    return "".join(out)


def unescape_localpart(text: str) -> str | None:
    """The ``text`` that ``escape_localpart`` turned into ``text``; ``None`` when ``text`` is
    no output of it (a lone ``_``, a bad ``=xx``, invalid UTF-8)."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "_":
            nxt = text[i + 1 : i + 2]
            if nxt == "_":
                out += b"_"
            elif "a" <= nxt <= "z":
                out += nxt.upper().encode()
            else:
                return None
            i += 2
        elif ch == "=":
            code = text[i + 1 : i + 3]
            if len(code) != 2 or code.strip("0123456789abcdef"):
                return None
            out.append(int(code, 16))
            i += 3
        else:
            out += ch.encode()
            i += 1
    try:
        return out.decode()
    except UnicodeDecodeError:
        return None


def read_yaml(path: Path) -> Any:
    """Parse the YAML file at ``path`` with ``safe_load``. Raises ``ConfigError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None


def _mapping(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a mapping of keys to values")
    return value


class Section:
    """One mapping of the config file, read key by key with validation; public so an
    adapter parses its own section with it (``bridge.plugins.Network.configure``).

    ``path`` is the section's dotted name; every ``ConfigError`` starts with the dotted key
    (``wechat.uos: expected true or false``). Keys never read are warned about by
    ``warn_unknown``.
    """

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self._data = data
        self._path = path
        self._read: set[str] = set()

    def key(self, name: str) -> str:
        """The dotted name of key ``name`` of this section."""
        return f"{self._path}.{name}" if self._path else name

    def get(self, name: str) -> Any:
        """The raw value of ``name`` (None when absent), marked read."""
        self._read.add(name)
        return self._data.get(name)

    def section(self, name: str, *, optional: bool = False) -> Section:
        """The sub-section ``name`` ({} when absent and ``optional``)."""
        value = self.get(name)
        if value is None:
            if not optional:
                raise ConfigError(f"{self.key(name)}: missing section")
            value = {}
        return Section(_mapping(value, self.key(name)), self.key(name))

    def string(self, name: str, *, default: str | None = None) -> str:
        """A scalar as text; ``default`` None makes it required."""
        value = self.get(name)
        if value is None:
            if default is None:
                raise ConfigError(f"{self.key(name)}: missing")
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(f"{self.key(name)}: expected a string")
        return str(value)

    def url(self, name: str, *, default: str | None = None) -> str:
        """An http(s) URL without a trailing slash (``default`` may be \"\")."""
        value = self.string(name, default=default).rstrip("/")
        if not value and default is not None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{self.key(name)}: expected an http(s) URL, got {value!r}")
        return value

    def server_name(self, name: str) -> str:
        """A Matrix server name (spec \"Server Name\")."""
        value = self.string(name)
        if not _SERVER_NAME.fullmatch(value):
            raise ConfigError(
                f"{self.key(name)}: expected a server name like example.com, got {value!r}"
            )
        return value

    def port(self, name: str, *, default: int) -> int:
        """A TCP port number 1-65535."""
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise ConfigError(f"{self.key(name)}: expected a port number 1-65535, got {value!r}")
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        """``true`` or ``false`` (YAML booleans only)."""
        value = self.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(f"{self.key(name)}: expected true or false, got {value!r}")
        return value

    def localpart(self, name: str, *, default: str | None = None) -> str:
        """A Matrix user localpart (spec \"User Identifiers\")."""
        value = self.string(name, default=default)
        if not _LOCALPART_CHARS.fullmatch(value):
            raise ConfigError(
                f"{self.key(name)}: {value!r} is not a valid user localpart "
                "(lowercase a-z, 0-9 and . _ = - / + only)"
            )
        return value

    def token(self, name: str, *, allow_placeholder: bool) -> str:
        """A secret token; a placeholder (``generate``) only if allowed."""
        value = self.string(name, default="")
        if value in TOKEN_PLACEHOLDERS and not allow_placeholder:
            raise ConfigError(
                f"{self.key(name)}: not generated yet; generate the registration first "
                "(python -m bridge -c CONFIG -g -r registration.yaml)"
            )
        return value

    def warn_unknown(self) -> None:
        """Log a warning for every key of this section that was never read."""
        for name in self._data:
            if name not in self._read:
                logger.warning("config: unknown key %s ignored", self.key(str(name)))


#: Values of ``appservice.long_text``.
LONG_TEXT_MODES = ("split", "file")


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
    if not found or "{identity}" in suffix or (rest and not _LOCALPART_CHARS.fullmatch(rest)):
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
    for who, level in _mapping(value, "permissions").items():
        key = f"permissions.{who!s}"
        who = str(who)
        if not (
            who == "*"
            or _SERVER_NAME.fullmatch(who)
            or (who.startswith("@") and ":" in who and len(who) > 3)
        ):
            raise ConfigError(f"{key}: expected '*', a server name or a user id like @me:server")
        try:
            rules.append((who, PermissionLevel[str(level).upper()]))
        except KeyError:
            raise ConfigError(f"{key}: expected user, admin or none, got {level!r}") from None
    return Permissions(rules=tuple(rules))

"""The frozen values of the config file's sections (``homeserver``, ``appservice``, ...)."""

from __future__ import annotations

from pathlib import Path

import attrs

#: The remote network of a config without a ``network`` key.
DEFAULT_NETWORK = "wechat"

#: Values of ``appservice.long_text``.
LONG_TEXT_MODES = ("split", "file")


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

"""The bridge service, the composition root: the store, the Matrix side and the remote network
(both found by entry-point name, ``bridge.plugins``), the bot and the logins, started and
stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import TextIO

from bridge.commands import Bot
from bridge.config import Config
from bridge.hub import BotCommand, Hub, load_hub_factory
from bridge.login_manager import LoginManager
from bridge.plugins import load_network
from bridge.relay import RetryPolicy
from bridge.relay.portals import PortalDirectory
from bridge.store import Store

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_QUERY_SECRETS = re.compile(r"(access_token|pass_ticket|skey|wxsid|sid)=[^&\s\"']+", re.IGNORECASE)


class RedactingFormatter(logging.Formatter):
    """A formatter that masks ``secrets`` and secret-looking query parameters (access_token,
    pass_ticket, skey, wxsid) anywhere in a formatted record, tracebacks included."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._secrets = [s for s in secrets if len(s) >= 8]

    def format(self, record: logging.LogRecord) -> str:
        """The record formatted, secrets replaced by ``<redacted>``."""
        text = _QUERY_SECRETS.sub(r"\1=<redacted>", super().format(record))
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return text


def configure_logging(config: Config, stream: TextIO | None = None) -> None:
    """Log to ``stream`` (stderr) at ``config.log_level`` through a ``RedactingFormatter``
    that knows the config's tokens; replaces the root logger's handlers."""
    secrets = [config.appservice.as_token, config.appservice.hs_token]
    if config.double_puppet is not None:
        secrets.append(config.double_puppet.secret)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter(LOG_FORMAT, secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.log_level)


class BridgeService:
    """The running bridge for ``config``: loads the remote network ``config.network`` and
    the Matrix side (entry points of ``chatbridge.adapters``, see ``bridge.plugins``), opens
    the store (``database.path``), the Matrix hub with the bot as its command handler, and
    the login manager; ``start()`` restores every login, ``stop()`` ends everything
    (idempotent). ``run()`` does both around SIGINT/SIGTERM.

    ``qr_terminal`` also gets QR codes as text
    (the CLI passes stdout when it is a terminal); ``retry`` is the relays' retry policy;
    ``resume_grace_s`` how long a restored login may take to resume before its user is told
    it did not.
    Per-login files (the adapter's sessions) live next to the database.
    """

    def __init__(
        self,
        config: Config,
        *,
        qr_terminal: TextIO | None = None,
        retry: RetryPolicy | None = None,
        resume_grace_s: float = 30.0,
    ) -> None:
        self.config = config
        self._resume_grace_s = resume_grace_s
        self._qr_terminal = qr_terminal
        self._retry = retry
        self._store: Store | None = None
        self._hub: Hub | None = None
        self._logins: LoginManager | None = None
        self._bot: Bot | None = None
        self._started = False
        self._stopped = False
        self._stop_requested = asyncio.Event()

    @property
    def store(self) -> Store:
        """The open store. Raises ``RuntimeError`` before ``start()``."""
        if self._store is None:
            raise RuntimeError("the bridge service is not started")
        return self._store

    @property
    def hub(self) -> Hub:
        """The Matrix hub. Raises ``RuntimeError`` before ``start()``."""
        if self._hub is None:
            raise RuntimeError("the bridge service is not started")
        return self._hub

    @property
    def logins(self) -> LoginManager:
        """The login manager. Raises ``RuntimeError`` before ``start()``."""
        if self._logins is None:
            raise RuntimeError("the bridge service is not started")
        return self._logins

    @property
    def bot(self) -> Bot:
        """The bot. Raises ``RuntimeError`` before ``start()``."""
        if self._bot is None:
            raise RuntimeError("the bridge service is not started")
        return self._bot

    async def start(self) -> None:
        """Load and configure the adapters, open the store, start the hub (the appservice
        listens from here on) and restore every login. Idempotent. On failure everything
        started is stopped again and the error raised: ``ConfigError`` (an adapter is missing
        or its section is wrong), ``StoreError``, ``BridgeError``, ``OSError`` (the
        appservice port is taken)."""
        if self._started:
            return
        self._started = True
        config = self.config
        try:
            network = load_network(config)
            hub_factory = load_hub_factory()
            data_dir = config.database.path.parent
            data_dir.mkdir(parents=True, exist_ok=True)
            self._store = await Store.open(config.database.path)
            # One directory of portals for the hub and every relay (one cache, one writer).
            portals = PortalDirectory(self._store)
            self._hub = hub_factory(
                config,
                self._store,
                on_command=self._on_command,
                portal_of=portals.by_room,
                readiness=self._not_ready,
            )
            self._logins = LoginManager(
                config,
                self._store,
                self._hub,
                network,
                portals=portals,
                data_dir=data_dir,
                retry=self._retry,
                qr_terminal=self._qr_terminal,
                resume_grace_s=self._resume_grace_s,
            )
            self._bot = Bot(config, self._hub, self._logins)
            await self._hub.start()
            await self._logins.restore()
        except BaseException:
            await self.stop()
            raise
        log.info("bridge started as %s (network: %s)", config.bot_user_id, config.network)

    def _not_ready(self) -> str | None:
        """Why the bridge cannot take messages now (the hub's health check), or None."""
        return self._logins.not_ready() if self._logins is not None else None

    async def _on_command(self, command: BotCommand) -> None:
        if self._bot is not None:
            await self._bot.handle(command)

    def request_stop(self) -> None:
        """Make ``run()`` stop the bridge (safe from a signal handler)."""
        self._stop_requested.set()

    async def stop(self) -> None:
        """Stop the bot, every login (sessions stay resumable), the hub and the store.
        Idempotent; never raises."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_requested.set()
        if self._bot is not None:
            await _quietly("bot", self._bot.stop)
        if self._logins is not None:
            await _quietly("logins", self._logins.stop)
        if self._hub is not None:
            await _quietly("Matrix hub", self._hub.stop)
        if self._store is not None:
            await _quietly("store", self._store.close)
        log.info("bridge stopped")

    async def run(self) -> None:
        """Start, serve until SIGINT/SIGTERM (or ``request_stop()``), stop. Raises what
        ``start()`` raises."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.start()
            await self._stop_requested.wait()
            log.info("stop requested")
        finally:
            for sig in signals:
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)
            await self.stop()


async def _quietly(name: str, stop: Callable[[], Awaitable[None]]) -> None:
    try:
        await stop()
    except Exception:
        log.exception("stopping the %s failed", name)

"""A local Synapse homeserver in a folder of its own (demo, tests): its config, its process and
shared-secret registration of users.

The plain Matrix client (:class:`MatrixUser`, :class:`MatrixError`, the ``wait_*`` helpers)
lives in ``adapters.matrix.localclient`` and is re-exported here, so
``from adapters.matrix.localsynapse import X`` keeps working for every X."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import hmac
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import yaml

from adapters.matrix.localclient import (
    Event,
    MatrixError,
    MatrixUser,
    accept_invite,
    events_after,
    wait_for_event,
    wait_for_message,
    wait_until,
)

__all__ = [
    "SERVER_NAME",
    "Event",
    "MatrixError",
    "MatrixUser",
    "Synapse",
    "accept_invite",
    "events_after",
    "free_port",
    "port_is_free",
    "synapse_installed",
    "wait_for_event",
    "wait_for_message",
    "wait_until",
]

#: The server name of a local homeserver unless told otherwise (user ids ``@x:localhost``).
SERVER_NAME = "localhost"

# Every rate limiter of synapse/config/ratelimiting.py (1.163) a scripted client could hit.
_RATE_LIMITS = (
    "rc_message", "rc_registration", "rc_login.address", "rc_login.account",
    "rc_login.failed_attempts", "rc_joins.local", "rc_joins.remote", "rc_joins_per_room",
    "rc_invites.per_room", "rc_invites.per_user", "rc_invites.per_issuer", "rc_room_creation",
    "rc_admin_redaction", "rc_media_create", "rc_profile", "rc_presence.per_user",
    "rc_3pid_validation", "rc_user_directory", "rc_delayed_event_mgmt", "rc_reports",
    "rc_key_requests",
)  # fmt: skip


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a TCP server could listen on ``host``:``port`` now (a port whose last
    connections are still in TIME_WAIT counts as free, as it does for servers)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def synapse_installed() -> bool:
    """Whether the ``synapse`` package (matrix-synapse, the ``test`` extra) can be run."""
    return importlib.util.find_spec("synapse") is not None


def _rate_limits() -> dict[str, Any]:
    unlimited = {"per_second": 10000, "burst_count": 10000}
    config: dict[str, Any] = {}
    for key in _RATE_LIMITS:
        section, _, sub = key.partition(".")
        if sub:
            config.setdefault(section, {})[sub] = dict(unlimited)
        else:
            config[section] = dict(unlimited)
    return config


class Synapse:
    """One Synapse process serving ``server_name`` on 127.0.0.1:``port`` from ``workdir``.

    ``start()`` writes the config (SQLite, no federation, presence off, rate limits raised so
    scripted clients are never throttled, ``app_service_config_files`` loaded: a registration
    with ``receive_ephemeral: true``, as ``bridge.registration`` writes it, gets read receipts;
    MSC2409 to-device messages and MSC3202 device lists in appservice transactions for the
    bot's end-to-end encryption device) and generates
    the signing key on first use, then starts Synapse and waits until the client API answers.
    ``stop()`` ends it (SIGTERM, SIGKILL after a timeout) keeping its data, so ``start()``
    again resumes with the same users, rooms and queued appservice transactions; a new
    ``Synapse`` on the same ``workdir`` reuses the config written there (and its shared
    secret). The process runs in a session of its own, so a Ctrl-C in the terminal reaches
    only our process, which stops it; it is killed at interpreter exit if still running.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        app_service_config_files: Sequence[Path] = (),
        port: int | None = None,
        server_name: str = SERVER_NAME,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server_name = server_name
        self._config_path = workdir / "homeserver.yaml"
        #: The ``registration_shared_secret``: whoever knows it may create users.
        self.shared_secret = self._existing_secret() or secrets.token_hex(16)
        self._app_service_config_files = [str(p) for p in app_service_config_files]
        self._proc: asyncio.subprocess.Process | None = None
        atexit.register(self._kill)

    def _existing_secret(self) -> str | None:
        if not self._config_path.exists():
            return None
        config = yaml.safe_load(self._config_path.read_text())
        secret = config.get("registration_shared_secret") if isinstance(config, dict) else None
        return secret if isinstance(secret, str) else None

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.returncode is None

    @property
    def log_path(self) -> Path:
        """Synapse's own log file (look here when something fails)."""
        return self.workdir / "homeserver.log"

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log_config = {
            "version": 1,
            "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "plain",
                    "filename": str(self.log_path),
                }
            },
            "root": {"level": "INFO", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        (self.workdir / "log.yaml").write_text(yaml.safe_dump(log_config))
        config = {
            "server_name": self.server_name,
            "pid_file": str(self.workdir / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(self.workdir / "homeserver.db")},
            },
            "log_config": str(self.workdir / "log.yaml"),
            "media_store_path": str(self.workdir / "media_store"),
            "signing_key_path": str(self.workdir / "signing.key"),
            "report_stats": False,
            "registration_shared_secret": self.shared_secret,
            "macaroon_secret_key": secrets.token_hex(16),
            "form_secret": secrets.token_hex(16),
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            "enable_metrics": False,
            "app_service_config_files": self._app_service_config_files,
            # The bridge bot's end-to-end encryption device gets its to-device messages
            # (MSC2409) and device list changes and one-time key counts (MSC3202) in
            # appservice transactions: Synapse does not let an appservice's bot /sync.
            "experimental_features": {
                "msc2409_to_device_messages_enabled": True,
                "msc3202_transaction_extensions": True,
            },
            **_rate_limits(),
        }
        self._config_path.write_text(yaml.safe_dump(config))
        os.chmod(self._config_path, 0o600)  # it holds the shared secret
        subprocess.run(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self._config_path),
             "--generate-keys"],
            cwd=self.workdir, check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def _open_output(self) -> BinaryIO:
        return open(self.workdir / "synapse.out", "ab")  # closed after spawn

    async def start(self, ready_within_s: float = 60.0) -> None:
        """Start Synapse and wait until ``/_matrix/client/versions`` answers 200.

        Raises ``RuntimeError`` if Synapse is not installed, or with the end of its output
        if it exits or is not ready within ``ready_within_s`` seconds.
        """
        if self.running:
            return
        if not synapse_installed():
            raise RuntimeError(
                "Synapse is not installed in this Python environment; install chatbridge "
                "with its test extra (scripts/bootstrap.sh does)"
            )
        if not self._config_path.exists():
            await asyncio.to_thread(self._write_config)
        with self._open_output() as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "synapse.app.homeserver", "-c", str(self._config_path),
                cwd=self.workdir, stdout=out, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self._proc = proc
        try:
            async with asyncio.timeout(ready_within_s), aiohttp.ClientSession() as session:
                while not await self._answers(session):
                    if proc.returncode is not None:
                        raise RuntimeError(f"Synapse exited during start-up:\n{self._tail()}")
                    await asyncio.sleep(0.05)
        except TimeoutError:
            await self.stop()
            raise RuntimeError(
                f"Synapse not ready after {ready_within_s} s:\n{self._tail()}"
            ) from None

    async def _answers(self, session: aiohttp.ClientSession) -> bool:
        try:
            async with session.get(f"{self.url}/_matrix/client/versions") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    async def stop(self, kill_after_s: float = 15.0) -> None:
        """Stop Synapse: SIGTERM, then SIGKILL if it is still alive after ``kill_after_s``.
        Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            async with asyncio.timeout(kill_after_s):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def outage(self, seconds: float) -> None:
        """Take the homeserver down for ``seconds`` (after it has stopped), then start it."""
        await self.stop()
        await asyncio.sleep(seconds)
        await self.start()

    def _kill(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGKILL)

    def _tail(self, lines: int = 40) -> str:
        texts = []
        for name in ("synapse.out", "homeserver.log"):
            path = self.workdir / name
            if path.exists():
                texts.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(texts)

    async def register_user(
        self, localpart: str, password: str | None = None, *, admin: bool = False
    ) -> MatrixUser:
        """Create a user with the shared-secret registration admin API (Synapse's
        ``/_synapse/admin/v1/register``: nonce, then an HMAC-SHA1 of nonce, user, password and
        admin flag) and return it logged in. ``password`` defaults to a random one. Raises
        ``RuntimeError`` if Synapse refuses (e.g. the user exists)."""
        password = password or secrets.token_hex(8)
        url = f"{self.url}/_synapse/admin/v1/register"
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as resp:
                resp.raise_for_status()
                nonce = (await resp.json())["nonce"]
            mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
            mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode(),
                                     b"admin" if admin else b"notadmin"]))  # fmt: skip
            body = {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            }
            async with session.post(url, json=body) as resp:
                data = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"registering {localpart} failed: {resp.status} {data}")
        return MatrixUser(self.url, data["user_id"], data["access_token"])

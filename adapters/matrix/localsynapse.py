"""A local Synapse homeserver in a folder of its own (demo, tests) and a plain Matrix client."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import hmac
import importlib.util
import itertools
import os
import secrets
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import aiohttp
import yaml

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


_sync_numbers = itertools.count(1)


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


class MatrixError(Exception):
    """A client-server API call of :class:`MatrixUser` failed: HTTP ``status``, JSON ``body``
    and its ``errcode`` (``M_FORBIDDEN``...) when there is one."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        self.errcode = body.get("errcode") if isinstance(body, dict) else None
        super().__init__(f"HTTP {status}: {body}")


class MatrixUser:
    """A logged-in Matrix user talking the plain client-server API (Matrix spec "Client-Server
    API") as any Matrix client would: no appservice, no masquerading. Every call raises
    :class:`MatrixError` on a non-200 answer and ``aiohttp.ClientError`` if the homeserver
    cannot be reached; each opens its own short HTTP session, so nothing needs closing."""

    def __init__(self, homeserver: str, user_id: str, access_token: str) -> None:
        self.homeserver = homeserver
        self.user_id = user_id
        self._headers = {"Authorization": f"Bearer {access_token}"}

    async def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """Call ``path`` (under ``/_matrix/client``); returns the JSON answer or raises."""
        url = f"{self.homeserver}/_matrix/client{path}"
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.request(method, url, json=body, params=params, headers=self._headers) as resp,
        ):
            data = await resp.json(content_type=None)
            if resp.status != 200:
                raise MatrixError(resp.status, data)
            return data

    async def create_room(self, **body: Any) -> str:
        """``createRoom`` with ``body``; returns the room id."""
        room_id: str = (await self.request("POST", "/v3/createRoom", body))["room_id"]
        return room_id

    async def join(self, room: str) -> str:
        """Join (or accept the invite to) ``room``; returns the room id."""
        room_id: str = (await self.request("POST", f"/v3/join/{quote(room, safe='')}", {}))[
            "room_id"
        ]
        return room_id

    async def invite(self, room_id: str, user_id: str) -> None:
        """Invite ``user_id`` to ``room_id``."""
        await self.request("POST", f"/v3/rooms/{quote(room_id)}/invite", {"user_id": user_id})

    async def send(
        self, room_id: str, content: dict[str, Any], event_type: str = "m.room.message"
    ) -> str:
        """Send an event; returns its event id."""
        path = f"/v3/rooms/{quote(room_id)}/send/{event_type}/{uuid.uuid4().hex}"
        event_id: str = (await self.request("PUT", path, content))["event_id"]
        return event_id

    async def send_text(self, room_id: str, body: str) -> str:
        """Send an ``m.text`` message; returns its event id."""
        return await self.send(room_id, {"msgtype": "m.text", "body": body})

    async def redact(self, room_id: str, event_id: str) -> str:
        """Redact ``event_id``; returns the redaction's event id."""
        path = f"/v3/rooms/{quote(room_id)}/redact/{quote(event_id)}/{uuid.uuid4().hex}"
        redaction_id: str = (await self.request("PUT", path, {}))["event_id"]
        return redaction_id

    async def messages(self, room_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The last ``limit`` events of the room timeline, oldest first."""
        data = await self.request(
            "GET", f"/v3/rooms/{quote(room_id)}/messages", dir="b", limit=str(limit)
        )
        return list(reversed(data["chunk"]))

    async def event(self, room_id: str, event_id: str) -> dict[str, Any]:
        """One event as this user sees it now (redacted events come back stripped)."""
        data: dict[str, Any] = await self.request(
            "GET", f"/v3/rooms/{quote(room_id)}/event/{quote(event_id)}"
        )
        return data

    async def state(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any]:
        """The content of a state event."""
        path = f"/v3/rooms/{quote(room_id)}/state/{event_type}/{quote(state_key, safe='')}"
        data: dict[str, Any] = await self.request("GET", path)
        return data

    async def display_names(self, room_id: str) -> dict[str, str]:
        """Joined members of ``room_id`` to their display names in it (the user id when a
        member has none)."""
        data = await self.request("GET", f"/v3/rooms/{quote(room_id)}/joined_members")
        joined: dict[str, Any] = data.get("joined", {})
        return {user: str(info.get("display_name") or user) for user, info in joined.items()}

    async def set_displayname(self, name: str) -> None:
        """Set this user's display name."""
        path = f"/v3/profile/{quote(self.user_id)}/displayname"
        await self.request("PUT", path, {"displayname": name})

    async def invites(self) -> list[str]:
        """Ids of the rooms this user is invited to now (from an initial ``/sync``)."""
        # Synapse answers a repeated identical /sync from its response cache for minutes: a
        # new ``timeout`` each time makes each request new (an initial sync returns at once).
        data = await self.request("GET", "/v3/sync", timeout=str(next(_sync_numbers)))
        return list(data.get("rooms", {}).get("invite", {}))

    async def upload(self, data: bytes, *, mimetype: str, filename: str) -> str:
        """Upload ``data`` to the media repository; returns its ``mxc://`` URI."""
        url = f"{self.homeserver}/_matrix/media/v3/upload"
        headers = {**self._headers, "Content-Type": mimetype}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=data, headers=headers, params={"filename": filename}) as resp,
        ):
            body = await resp.json(content_type=None)
            if resp.status != 200:
                raise MatrixError(resp.status, body)
            mxc: str = body["content_uri"]
            return mxc

    async def download(self, mxc: str) -> bytes:
        """Fetch ``mxc://server/id`` through the authenticated media API."""
        server, _, media_id = mxc.removeprefix("mxc://").partition("/")
        url = f"{self.homeserver}/_matrix/client/v1/media/download/{server}/{media_id}"
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, headers=self._headers) as resp,
        ):
            if resp.status != 200:
                raise MatrixError(resp.status, await resp.text())
            return await resp.read()


# ---- waiting for what a user sees ------------------------------------------------------------

#: A client-server API event as JSON.
Event = dict[str, Any]


async def wait_until(check: Callable[[], Awaitable[Any]], *, within_s: float = 30.0) -> Any:
    """Poll the async ``check`` every 0.1 s until it returns something truthy; return that.
    Raises ``TimeoutError`` after ``within_s`` seconds."""
    async with asyncio.timeout(within_s):
        while not (result := await check()):  # noqa: ASYNC110 (polling the homeserver)
            await asyncio.sleep(0.1)
        return result


def events_after(events: Sequence[Event], event_id: str | None) -> Sequence[Event]:
    """The events that follow ``event_id`` (all of them when it is None, none when absent)."""
    if event_id is None:
        return events
    ids = [e.get("event_id") for e in events]
    return events[ids.index(event_id) + 1 :] if event_id in ids else []


async def wait_for_event(
    user: MatrixUser,
    room: str,
    check: Callable[[Event], bool],
    *,
    after: str | None = None,
    within_s: float = 30.0,
) -> Event:
    """The first event of ``room``'s last 100 (as ``user`` sees them, after event ``after``)
    for which ``check`` is true, waiting for it. Raises ``TimeoutError``."""

    async def find() -> Event | None:
        events = events_after(await user.messages(room, limit=100), after)
        return next((e for e in events if check(e)), None)

    found: Event = await wait_until(find, within_s=within_s)
    return found


async def wait_for_message(
    user: MatrixUser,
    room: str,
    *,
    from_: str | None = None,
    contains: str = "",
    msgtype: str | None = None,
    after: str | None = None,
    within_s: float = 30.0,
) -> Event:
    """The first ``m.room.message`` in ``room`` (as ``user`` sees it, after event ``after``)
    sent by ``from_``, whose body contains ``contains`` and whose msgtype is ``msgtype``."""

    def check(event: Event) -> bool:
        content = event.get("content", {})
        return (
            event.get("type") == "m.room.message"
            and (from_ is None or event.get("sender") == from_)
            and contains in str(content.get("body", ""))
            and (msgtype is None or content.get("msgtype") == msgtype)
        )

    return await wait_for_event(user, room, check, after=after, within_s=within_s)


async def accept_invite(user: MatrixUser, known: set[str], *, within_s: float = 30.0) -> str:
    """Wait for an invite of ``user`` to a room not in ``known``, join it, add it to ``known``
    and return its id."""

    async def new_invite() -> str | None:
        fresh = [r for r in await user.invites() if r not in known]
        return fresh[0] if fresh else None

    room: str = await wait_until(new_invite, within_s=within_s)
    await user.join(room)
    known.add(room)
    return room

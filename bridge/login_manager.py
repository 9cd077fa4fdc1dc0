"""The login manager: every login of the bridge, restored at start, created by ``login``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TextIO

import attrs

from bridge.channel import LoginChannel
from bridge.config import Config
from bridge.errors import BridgeError
from bridge.hub import Hub
from bridge.ids import LoginId, MatrixUserId, RoomId
from bridge.logins import LoginSession
from bridge.plugins import ConfiguredNetwork
from bridge.relay import RetryPolicy
from bridge.relay.portals import PortalDirectory
from bridge.store import Login, LoginState, Store

log = logging.getLogger(__name__)


class LoginManager:
    """Every login of the bridge on its remote network ``network``: at most one account
    per Matrix user.

    Session files live in ``<data_dir>/sessions/<login id>.json`` (0600, written by the
    adapter; the folder is 0700). ``restore()`` resumes every login of the store made on
    this network. Every login's relay records and looks up portals through ``portals``, the
    directory the hub asks as well.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        hub: Hub,
        network: ConfiguredNetwork,
        *,
        portals: PortalDirectory,
        data_dir: Path,
        retry: RetryPolicy | None = None,
        qr_terminal: TextIO | None = None,
        resume_grace_s: float = 30.0,
    ) -> None:
        self.config = config
        self.store = store
        self.hub = hub
        self.network = network
        self.portals = portals
        self.sessions_dir = data_dir / "sessions"
        self._retry = retry
        self._terminal = qr_terminal
        self._resume_grace_s = resume_grace_s
        self._sessions: dict[MatrixUserId, LoginSession] = {}
        self._lock = asyncio.Lock()

    def session(self, user: MatrixUserId) -> LoginSession | None:
        """The running login of Matrix user ``user``, or None."""
        return self._sessions.get(user)

    @property
    def sessions(self) -> list[LoginSession]:
        """Every running login."""
        return list(self._sessions.values())

    def not_ready(self) -> str | None:
        """Why a login cannot take messages now (its relay cannot write the journal:
        ``Relay.intake_stalled``), or None when all can."""
        stalled = [s.id for s in self._sessions.values() if s.relay.intake_stalled]
        if stalled:
            return f"cannot write the journal (database) of {len(stalled)} login(s)"
        return None

    async def restore(self) -> int:
        """Start every login of the store on this network (saved sessions resume without a
        login) whose user the config still ``allows``; returns how many. The login of a user
        whose permission was withdrawn is not started (its data is kept) and the user is
        told once (``revoked``). Raises ``StoreError``."""
        records = [r for r in await self.store.logins.all() if r.channel == self.network.name]
        allowed = self.config.permissions.allows
        for record in records:
            await self._note_permission(record, allowed(record.matrix_user))
        records = [r for r in records if allowed(r.matrix_user)]
        async with self._lock:
            started = [self._open(r) for r in records if r.matrix_user not in self._sessions]
        results = await asyncio.gather(*(s.start() for s in started), return_exceptions=True)
        for session, result in zip(started, results, strict=True):
            if isinstance(result, BaseException):
                log.error("login %s not restored", session.id, exc_info=result)
        log.info("restored %d login(s)", len(started))
        return len(started)

    async def login(self, user: MatrixUserId, room: RoomId | None = None) -> str:
        """Start a login for ``user`` (creating their login record on first use); returns the
        reply for the user. Raises ``StoreError``."""
        async with self._lock:
            session = self._sessions.get(user)
            if session is None:
                record = await self.store.logins.create(user, self.network.name)
                path = self._session_path(record.id)
                await self.store.logins.set_session_path(record.id, str(path))
                session = self._open(attrs.evolve(record, session_path=str(path)))
                await session.start()
        return await session.login(room)

    async def logout(self, user: MatrixUserId) -> str | None:
        """Log ``user`` out of the network; see ``LoginSession.logout``."""
        session = self._sessions.get(user)
        if session is None:
            return f"You are not logged in to {self.network.display_name}."
        return await session.logout()

    async def _note_permission(self, record: Login, allowed: bool) -> None:
        """Tell the owner of ``record`` once that their login stays stopped because their
        permission was withdrawn; the marker file ``<sessions>/<login id>.revoked`` remembers
        it was said until the permission is back."""
        marker = self.sessions_dir / f"{record.id}.revoked"
        if allowed:
            marker.unlink(missing_ok=True)
            return
        if record.state is LoginState.LOGGED_OUT or marker.exists():
            log.info("login %s not started: its user is not allowed", record.id)
            return
        log.warning("login %s not started: its user's permission was withdrawn", record.id)
        name = self.network.display_name
        try:
            room = await self.hub.management_room(record.matrix_user)
            await self.hub.reply(
                room,
                f"Your permission to use this bridge was withdrawn, so your {name} login is "
                "stopped and nothing is bridged for you (your chats' data is kept). Ask the "
                "bridge's administrator to restore your permission or to log you out.",
            )
        except Exception:
            log.exception("login %s: could not tell its user that it is stopped", record.id)
            return
        self.sessions_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        marker.touch(mode=0o600)

    async def logout_user(self, user: MatrixUserId) -> str:
        """Log ``user``'s account out of the network on an admin's request, whether its login
        runs or was stopped (permission withdrawn): a stopped one is resumed on its own,
        without relaying, only to log out (the saved session is forgotten either way).
        Returns the reply for the admin. Raises ``StoreError``."""
        name = self.network.display_name
        session = self._sessions.get(user)
        if session is not None:
            reply = await session.logout()
            return reply or f"Logging {user} out of {name}."
        records = [
            r
            for r in await self.store.logins.all()
            if r.channel == self.network.name and r.matrix_user == user
        ]
        if not records or all(r.state is LoginState.LOGGED_OUT for r in records):
            return f"{user} is not logged in to {name}."
        for record in records:
            remote = self.network.open_login(
                Path(record.session_path) if record.session_path else self._session_path(record.id)
            )
            drain = asyncio.create_task(_discard_events(remote), name=f"logout-{record.id}")
            try:
                await remote.start()
                await remote.logout()
            except BridgeError as exc:
                # The saved session is dead already (expired or ended elsewhere).
                log.info("login %s: admin logout found no live session: %s", record.id, exc)
            finally:
                await remote.stop()
                await asyncio.gather(drain, return_exceptions=True)
            await self.store.logins.set_state(record.id, LoginState.LOGGED_OUT)
            (self.sessions_dir / f"{record.id}.revoked").unlink(missing_ok=True)
        try:
            room = await self.hub.management_room(user)
            await self.hub.reply(room, f"The bridge's administrator logged you out of {name}.")
        except Exception:
            log.exception("could not tell %s about the admin logout", user)
        return f"Logged {user} out of {name}."

    async def stop(self) -> None:
        """Stop every login (their sessions stay resumable). Idempotent; never raises."""
        async with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.stop() for s in sessions))

    def _session_path(self, login: LoginId) -> Path:
        return self.sessions_dir / f"{login}.json"

    def _open(self, record: Login) -> LoginSession:
        self.sessions_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = Path(record.session_path) if record.session_path else self._session_path(record.id)
        session = LoginSession(
            record,
            self.store,
            self.hub,
            self.network.open_login(path),
            network=self.network.display_name,
            portals=self.portals,
            retry=self._retry,
            qr_terminal=self._terminal,
            resume_grace_s=self._resume_grace_s,
            retention=self.config.retention,
        )
        self._sessions[record.matrix_user] = session
        return session


async def _discard_events(remote: LoginChannel) -> None:
    """Consume ``remote``'s events without acknowledging them (a login only resumed to be
    logged out relays nothing)."""
    async for _ in remote.events():
        pass

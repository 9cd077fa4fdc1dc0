"""The login manager: each Matrix user's account on the remote network, relayed to their portals."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import attrs
import qrcode
import qrcode.constants

from bridge.channel import LoginChannel, SupportsContactBook
from bridge.config import Config, RetentionConfig
from bridge.errors import BridgeError, StoreError
from bridge.hub import Hub, PortalChannel
from bridge.ids import EventId, LoginId, MatrixUserId, RoomId
from bridge.model import (
    Address,
    ConfirmOnPhone,
    Disconnected,
    IdentityId,
    InputKind,
    InputNeeded,
    IntakeResumed,
    IntakeStalled,
    LoggedIn,
    LoggedOut,
    LoginStep,
    Profile,
    QRCodeNeeded,
    StateEvent,
)
from bridge.outage import Gap, Outage
from bridge.plugins import ConfiguredNetwork
from bridge.relay import Relay, RetryPolicy
from bridge.relay.portals import PortalDirectory
from bridge.store import Login, LoginState, Side, Store

log = logging.getLogger(__name__)


def qr_terminal_text(payload: str) -> str:
    """The QR code of ``payload`` as lines of half-block characters for a terminal (light
    modules drawn, so it scans on a dark background)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(payload)
    code.make(fit=True)
    out = io.StringIO()
    code.print_ascii(out=out, tty=False, invert=True)
    return out.getvalue().replace("\xa0", " ")


class LoginSession:
    """One login at work: its account on the remote network (side A, e.g. WeChat) relayed to
    Matrix (side B) for the Matrix user ``owner``, and what the user is shown of its state
    and login steps in the management room.

    ``network`` names the remote network for the user ("WeChat"). The management room is the
    DM the user last sent ``login`` in, else the hub's ``management_room(owner)``.
    ``qr_terminal``, if given, also gets every QR code as text. ``portals`` is the core's one
    ``PortalDirectory`` (the hub asks it too). ``retention`` is passed to the relay.
    """

    def __init__(
        self,
        record: Login,
        store: Store,
        hub: Hub,
        remote: LoginChannel,
        *,
        network: str,
        portals: PortalDirectory,
        retry: RetryPolicy | None = None,
        qr_terminal: TextIO | None = None,
        resume_grace_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        retention: RetentionConfig | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.record = record
        self.owner = record.matrix_user
        self.store = store
        self.hub = hub
        self.remote = remote
        self.network = network
        self.matrix: PortalChannel = hub.channel_for(record.id, record.matrix_user)
        self.relay = Relay(
            store,
            record.id,
            remote,
            self.matrix,
            owner=Address(record.matrix_user),
            portals=portals,
            retry=retry,
            on_state=self.on_state,
            retention=retention,
        )
        self.account: Profile | None = None
        #: The identities of the contact book of the current remote session.
        self.book: frozenset[IdentityId] = frozenset()
        self.logging_in = False
        #: The login step shown last while ``logging_in``.
        self.step: LoginStep | None = None
        self.outage = Outage()
        self.room: RoomId | None = None
        self._qr: tuple[RoomId, EventId] | None = None
        self._qr_count = 0
        self._announce = False
        self._terminal = qr_terminal
        self._resume_grace_s = resume_grace_s
        self._resume_check: asyncio.Task[None] | None = None
        self._heard = False  # a LoggedIn or LoggedOut arrived since the start
        self._clock = clock
        self._wall_clock = wall_clock
        self._logout_requested = False

    @property
    def id(self) -> LoginId:
        """The login's id."""
        return self.record.id

    @property
    def account_name(self) -> str:
        """The remote account's name, '' while not logged in."""
        return self.account.display_name if self.account is not None else ""

    @property
    def awaiting_input(self) -> InputNeeded | None:
        """The ``InputNeeded`` step the login waits for an answer to, or None."""
        return self.step if self.logging_in and isinstance(self.step, InputNeeded) else None

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start both channels and the relay; a saved session resumes without a login. A
        session the network cannot resume is reported to the user, not raised: at once when
        the network cannot be reached, else when no ``LoggedIn`` came ``resume_grace_s``
        after the start of a login that was logged in before."""
        await self.matrix.start()
        await self.relay.start()
        try:
            await self.remote.start()
        except BridgeError as exc:
            log.warning("login %s: session not resumed: %s", self.id, exc)
            await self.say(
                f"Your {self.network} session could not be resumed ({exc}). "
                "Send `login` to log in again."
            )
            return
        if self.record.state is LoginState.ACTIVE:
            # A resumed session's LoggedIn is on its way through the relay; a refused one
            # sends nothing at all.
            self._resume_check = asyncio.create_task(
                self._check_resumed(), name=f"resume-check-{self.id}"
            )

    async def _check_resumed(self) -> None:
        await asyncio.sleep(self._resume_grace_s)
        if self._heard or self.logging_in:
            return
        log.info("login %s: the saved session was not resumed", self.id)
        try:
            await self.store.logins.set_state(self.id, LoginState.LOGGED_OUT)
        except StoreError:
            log.exception("login %s: state not recorded", self.id)
        await self.say(
            f"Your {self.network} session could not be resumed after the bridge restarted "
            f"({self.network} ended it). Send `login` to log in again."
        )

    async def stop(self) -> None:
        """Stop the relay (deliveries in progress may finish), then both channels. Never
        raises."""
        if self._resume_check is not None:
            self._resume_check.cancel()
            await asyncio.gather(self._resume_check, return_exceptions=True)
        await self.relay.stop()
        for channel in (self.remote, self.matrix):
            try:
                await channel.stop()
            except Exception:
                log.exception("login %s: stopping %s failed", self.id, channel.name)
        self.hub.drop_channel(self.id)

    # ---- commands ----------------------------------------------------------------------------

    async def login(self, room: RoomId | None = None) -> str:
        """Start a login (unless logged in with a working connection: while the connection
        fails the session may have ended unnoticed, so a login is started, which resumes it
        if it lives); returns the reply for the user. The login's steps and its outcome
        arrive later as state events (``on_state``)."""
        if room is not None:
            self.room = room
        if self.account is not None and not self.outage.ongoing(self._clock()):
            return (
                f"You are already logged in to {self.network} as {self.account_name}. "
                "Send `logout` first to switch accounts."
            )
        again = self.logging_in
        self.logging_in = self._announce = True
        try:
            # Idempotent while a login runs; starts a new one if the previous one died.
            await self.remote.login()
        except BridgeError as exc:
            self.logging_in = False
            return f"Could not start the {self.network} login: {exc}"
        if again:
            return f"A login is already in progress: {self._next_move()}."
        return f"Starting the {self.network} login…"

    def _next_move(self) -> str:
        match self.step:
            case QRCodeNeeded():
                return "scan the QR code I sent"
            case ConfirmOnPhone():
                return f"confirm it in {self.network} on your phone"
            case InputNeeded(kind=kind):
                return f"send me the {_input_name(kind)} I asked for"
            case _:
                return "follow the steps I send"

    async def submit_input(self, value: str) -> str | None:
        """Pass the user's answer to the awaited ``InputNeeded`` step to the network;
        returns a reply, or None when the next step (a state event) says it all."""
        asked = self.awaiting_input
        if asked is None:
            return "No login is waiting for an answer. Send `login` to log in."
        self.step = None  # the next step, arriving as an event, sets it again
        try:
            await self.remote.submit_login_input(value)
        except BridgeError as exc:
            if self.step is None:
                self.step = asked  # still waiting for an answer
            return f"The {self.network} login did not take the answer: {exc}"
        return None

    async def logout(self) -> str | None:
        """Log out of the network; returns a reply, or None when the ``LoggedOut`` notice
        that follows says it all."""
        if self.account is None and not self.logging_in:
            return f"You are not logged in to {self.network}."
        self._logout_requested = True
        try:
            await self.remote.logout()
        except BridgeError as exc:
            self._logout_requested = False
            return f"Could not log out of {self.network}: {exc}"
        return None

    def status(self) -> str:
        """One line on the login and connection state, e.g. ``Logged in as X; receiving.``"""
        if self.account is None:
            if self.logging_in:
                return f"Not logged in: a login is in progress, {self._next_move()}."
            return f"Not logged in to {self.network}. Send `login` to log in."
        if self.outage.ongoing(self._clock()):
            return (
                f"Logged in as {self.account_name}; the connection to {self.network} is "
                f"failing ({self.outage.reason}), retrying."
            )
        return f"Logged in as {self.account_name}; receiving."

    # ---- state events ------------------------------------------------------------------------

    async def on_state(self, side: Side, event: StateEvent) -> None:
        """Show a state event of the remote side to the user (the relay's ``on_state``):
        login steps, the login's outcome, outages."""
        match event:
            case IntakeStalled(reason=reason):
                log.warning("login %s: intake of side %s stalled: %s", self.id, side.value, reason)
                await self.say(
                    f"The bridge cannot write its database ({reason}). Nothing is acknowledged "
                    "or lost meanwhile, and it keeps retrying."
                )
                return
            case IntakeResumed():
                await self.say("The bridge can write its database again; messages flow again.")
                return
        if side is not Side.A:
            log.info("login %s: Matrix side reports %s", self.id, type(event).__name__)
            return
        match event:
            case QRCodeNeeded() | ConfirmOnPhone() | InputNeeded():
                await self._show_step(event)
            case LoggedIn(account=account):
                self.account, self.logging_in, self._heard = account, False, True
                self._logout_requested = False
                self.step = None
                self.outage.clear()
                # The relay stored the ContactBook that came with LoggedIn before passing
                # it on. (A resumed session also keeps the bindings of group members.)
                bound = await self.store.identities.bound_addresses(self.id)
                if isinstance(self.remote, SupportsContactBook):
                    contacts = self.remote.contact_addresses
                    self.book = frozenset(i for a, i in bound.items() if a in contacts)
                else:
                    self.book = frozenset(bound.values())
                await self._drop_qr("logged in")
                log.info("login %s: logged in", self.id)
                if self._announce:
                    await self.say(f"Logged in to {self.network} as {self.account_name}.")
                    held = await self.store.identities.count_ambiguous(self.id)
                    if held:
                        await self.say(
                            f"{held} chat(s) could be more than one {self.network} contact now; "
                            "their messages wait. Send `resolve` to say who is who (`audit` "
                            "shows why)."
                        )
                self._announce = False
            case LoggedOut(reason=reason):
                forced = self.account is not None and not self._logout_requested
                gap_since = self.outage.since if self.outage.ongoing(self._clock()) else None
                self.account, self.logging_in, self._announce = None, False, False
                self.step = None
                self._heard = True
                self._logout_requested = False
                self.book = frozenset()
                self.outage.clear()
                await self._drop_qr("login ended")
                log.info("login %s: logged out", self.id)
                await self.say(
                    f"Logged out of {self.network}: {reason}. Send `login` to log in again."
                )
                if forced:
                    await self._tell_gap(gap_since)
            case Disconnected(reason=reason, retry_in_s=retry_in_s):
                log.info("login %s: connection failed (%s)", self.id, reason)
                now, wall = self._clock(), self._wall_clock()
                if self.outage.disconnected(reason, retry_in_s, now, wall):
                    await self.say(
                        f"The connection to {self.network} is failing ({reason}); "
                        "the bridge keeps retrying."
                    )

    async def _tell_gap(self, since: float | None) -> None:
        """After a logout the network forced: messages sent meanwhile may be lost for good
        (web WeChat cannot fetch a past session's messages, PROTOCOL.md §5). ``since`` is
        when the connection began failing (T1), None when it did not fail before; the
        logout (T2) is now. Each portal with bridged traffic from T1 to T2 gets a notice,
        the management room one for all chats (``bridge.outage.Gap``)."""
        gap = Gap(since, self._wall_clock(), self.network)
        rooms: list[RoomId] = []
        if since is not None:
            try:
                rooms = await self.store.messages.rooms_between(self.id, gap.start, gap.end)
            except StoreError:
                log.exception("login %s: portals with traffic in the gap not found", self.id)
        for room in rooms:
            try:
                await self.hub.reply(room, gap.portal_notice())
            except Exception:
                log.exception("login %s: could not post the gap notice in a portal", self.id)
        await self.say(gap.user_notice())

    async def _show_step(self, step: LoginStep) -> None:
        """Render one login step in the management room (mautrix bridgev2's login steps:
        display-and-wait, user input)."""
        self.logging_in = True
        self.step = step
        match step:
            case QRCodeNeeded(payload=payload, png=png, hint=hint):
                await self._show_qr(payload, png, hint)
            case ConfirmOnPhone(hint=hint):
                await self.say(
                    f"{self.network} asked your phone to confirm the login: open "
                    f"{self.network} on your phone and confirm it." + (f" {hint}" if hint else "")
                )
            case InputNeeded(kind=kind, prompt=prompt):
                await self._drop_qr("the login moved on")
                after = (
                    " I delete your message once I have read it."
                    if kind is InputKind.PASSWORD
                    else ""
                )
                await self.say(
                    f"{prompt.rstrip()} Send the {_input_name(kind)} here as a message.{after}"
                )

    async def _show_qr(self, payload: str, png: bytes, hint: str) -> None:
        if self._terminal is not None:
            text = qr_terminal_text(payload)
            print(
                f"{self.network} login for {self.owner}: scan this QR code\n{text}",
                file=self._terminal,
            )
            self._terminal.flush()
        room = await self.management_room()
        self._qr_count += 1
        if self._qr_count == 1:
            where = f" ({hint})" if hint else ""
            await self.say(
                f"Scan this QR code with the {self.network} app on your phone{where} and "
                "confirm the login there. A new code replaces it when it expires."
            )
        previous = self._qr
        event_id = await self.hub.send_image(
            room,
            png,
            body=f"{self.network} login QR code",
            filename=f"{self.record.channel}-login-qr.png",
        )
        self._qr = (room, event_id)
        if previous is not None:
            await self._redact(previous, "the QR code expired")

    async def _drop_qr(self, reason: str) -> None:
        previous, self._qr = self._qr, None
        self._qr_count = 0
        if previous is not None:
            await self._redact(previous, reason)

    async def _redact(self, posted: tuple[RoomId, EventId], reason: str) -> None:
        try:
            await self.hub.redact(posted[0], posted[1], reason)
        except Exception:
            log.exception("login %s: could not redact the old QR code", self.id)

    async def management_room(self) -> RoomId:
        """Where this login's notices go (found or created once)."""
        if self.room is None:
            self.room = await self.hub.management_room(self.owner)
        return self.room

    async def say(self, text: str) -> None:
        """A notice to the user in the management room; failures are logged."""
        try:
            await self.hub.reply(await self.management_room(), text)
        except Exception:
            log.exception("login %s: could not send a notice to its user", self.id)


async def _discard_events(remote: LoginChannel) -> None:
    """Consume ``remote``'s events without acknowledging them (a login only resumed to be
    logged out relays nothing)."""
    async for _ in remote.events():
        pass


def _input_name(kind: InputKind) -> str:
    return {InputKind.CODE: "code", InputKind.PASSWORD: "password"}.get(kind, "answer")


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

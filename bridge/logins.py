"""One login at work: a Matrix user's account on the remote network, relayed to their portals."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TextIO

from bridge.channel import (
    LoginChannel,
    SupportsLoginCancel,
)
from bridge.config import RetentionConfig
from bridge.errors import BridgeError, StoreError
from bridge.hub import Hub, PortalChannel
from bridge.ids import LoginId, RoomId
from bridge.login_book import LoginBook
from bridge.login_notices import LoginNotices
from bridge.login_steps import LoginSteps
from bridge.model import (
    Address,
    ConfirmOnPhone,
    Disconnected,
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
from bridge.outage import Outage
from bridge.relay import Relay, RetryPolicy
from bridge.relay.portals import PortalDirectory
from bridge.store import Login, LoginState, Side, Store

log = logging.getLogger(__name__)


class LoginSession:
    """One login at work: its account on the remote network (side A, e.g. WeChat) relayed to
    Matrix (side B) for the Matrix user ``owner``, and what the user is shown of its state
    and login steps in the management room.

    ``network`` names the remote network for the user ("WeChat"). What the user is told goes
    to the management room (``notices``, a ``LoginNotices``); the contact book of the current
    remote session is ``book`` (a ``LoginBook``).
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
        #: The management room and what is said there.
        self.notices = LoginNotices(
            record.id, record.matrix_user, hub, store, network=network, wall_clock=wall_clock
        )
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
            tell_user=self.notices.tell,
        )
        self.account: Profile | None = None
        #: The contact book of the current remote session.
        self.book = LoginBook(record.id, store, remote, network=network, say=self.notices.say)
        self.logging_in = False
        #: The login step shown last while ``logging_in``.
        self.step: LoginStep | None = None
        self.outage = Outage()
        #: What the user is shown of the login steps (QR codes, prompts).
        self.steps = LoginSteps(
            record,
            hub,
            network=network,
            management_room=self.notices.management_room,
            say=self.notices.say,
            terminal=qr_terminal,
        )
        self._announce = False
        self._resume_grace_s = resume_grace_s
        self._resume_check: asyncio.Task[None] | None = None
        self._heard = False  # a LoggedIn or LoggedOut arrived since the start
        self._clock = clock
        self._wall_clock = wall_clock
        self._logout_requested = False
        #: The next ``LoggedOut`` ends a login the user replaced or cancelled: not announced.
        self._quiet_logout = False
        #: Set by every ``LoggedOut`` (``relogin`` waits for the old session's).
        self._logged_out = asyncio.Event()

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
            await self.notices.say(
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
        await self.notices.say(
            f"Your {self.network} session could not be resumed after the bridge restarted "
            f"({self.network} ended it). Send `login` to log in again."
        )

    async def stop(self) -> None:
        """Stop the relay (deliveries in progress may finish), then both channels. Never
        raises."""
        if self._resume_check is not None:
            self._resume_check.cancel()
            await asyncio.gather(self._resume_check, return_exceptions=True)
        await self.book.stop()
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
            self.notices.room = room
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
            return f"A login is already in progress: {self.steps.next_move(self.step)}."
        return f"Starting the {self.network} login…"

    async def cancel_login(self) -> str:
        """Cancel the login in progress (mautrix bridgev2's ``cancel``): the network stops
        it (``SupportsLoginCancel``, else ``logout``), the QR code shown is redacted and
        later steps of it are not shown. Returns the reply for the user."""
        if not self.logging_in:
            return f"No {self.network} login is in progress; nothing to cancel."
        # ``_announce`` stays: a login the network finished meanwhile is still announced.
        self.logging_in = False
        self.step = None
        had_qr = self.steps.qr_shown
        await self.steps.drop_qr("login cancelled")
        if isinstance(self.remote, SupportsLoginCancel):
            await self.remote.cancel_login()
        else:
            self._quiet_logout = True
            try:
                await self.remote.logout()
            except BridgeError as exc:
                self._quiet_logout = False
                log.info("login %s: no logout to end the cancelled login: %s", self.id, exc)
        log.info("login %s: login cancelled", self.id)
        void = ": the QR code I sent no longer works" if had_qr else ""
        return f"{self.network} login cancelled{void}. Send `login` to start again."

    async def relogin(self, room: RoomId | None = None, *, wait_s: float = 15.0) -> str:
        """Log out of the network and start a new login in one step (mautrix bridgev2's
        ``relogin``), for a session that broke: a login in progress is cancelled, a logged
        in session logged out (its ``LoggedOut`` is awaited up to ``wait_s`` s and not
        announced; a logout the network refuses is logged and the login started anyway).
        Returns the reply for the user; the new login's steps follow as for ``login``."""
        if self.logging_in:
            await self.cancel_login()
        was_in = self.account is not None
        if was_in:
            self._logout_requested = self._quiet_logout = True
            self._logged_out.clear()
            try:
                await self.remote.logout()
                await asyncio.wait_for(self._logged_out.wait(), wait_s)
            except (BridgeError, TimeoutError) as exc:
                log.warning("login %s: old session not logged out cleanly: %s", self.id, exc)
                self._quiet_logout = self._logout_requested = False
                self.account = None
                self.book.identities = frozenset()
        started = await self.login(room)
        return f"Logged out of {self.network}. {started}" if was_in else started

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
                return f"Not logged in: a login is in progress, {self.steps.next_move(self.step)}."
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
                await self.notices.say(
                    f"The bridge cannot write its database ({reason}). Nothing is acknowledged "
                    "or lost meanwhile, and it keeps retrying."
                )
                return
            case IntakeResumed():
                await self.notices.say(
                    "The bridge can write its database again; messages flow again."
                )
                return
        if side is not Side.A:
            log.info("login %s: Matrix side reports %s", self.id, type(event).__name__)
            return
        match event:
            case QRCodeNeeded() | ConfirmOnPhone() | InputNeeded() if not self.logging_in:
                # A step of a cancelled login, already queued when it was cancelled.
                log.info("login %s: step of a cancelled login not shown", self.id)
            case QRCodeNeeded() | ConfirmOnPhone() | InputNeeded():
                self.logging_in = True
                self.step = event
                await self.steps.show(event)
            case LoggedIn(account=account):
                self.account, self.logging_in, self._heard = account, False, True
                self._logout_requested = False
                self.step = None
                self.outage.clear()
                await self.steps.drop_qr("logged in")
                log.info("login %s: logged in", self.id)
                announce, self._announce = self._announce, False
                if announce:
                    await self.notices.say(f"Logged in to {self.network} as {self.account_name}.")
                await self.book.logged_in(announce)
            case LoggedOut(reason=reason):
                forced = self.account is not None and not self._logout_requested
                gap_since = self.outage.since if self.outage.ongoing(self._clock()) else None
                self.account, self.logging_in, self._announce = None, False, False
                self.step = None
                self._heard = True
                self._logout_requested = False
                self.book.logged_out()
                self.outage.clear()
                await self.steps.drop_qr("login ended")
                log.info("login %s: logged out", self.id)
                quiet, self._quiet_logout = self._quiet_logout, False
                self._logged_out.set()
                if not quiet:
                    await self.notices.say(
                        f"Logged out of {self.network}: {reason}. Send `login` to log in again."
                    )
                if forced:
                    await self.notices.tell_gap(gap_since)
            case Disconnected(reason=reason, retry_in_s=retry_in_s):
                log.info("login %s: connection failed (%s)", self.id, reason)
                now, wall = self._clock(), self._wall_clock()
                if self.outage.disconnected(reason, retry_in_s, now, wall):
                    await self.notices.say(
                        f"The connection to {self.network} is failing ({reason}); "
                        "the bridge keeps retrying."
                    )

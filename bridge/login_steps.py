"""What the user is shown of a login's steps: QR codes (in the management room and, if asked,
on a terminal), confirm-on-phone and input prompts (mautrix bridgev2's login steps:
display-and-wait, user input). ``bridge.logins.LoginSession`` owns one ``LoginSteps``."""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable
from typing import TextIO

import qrcode
import qrcode.constants

from bridge.hub import Hub
from bridge.ids import EventId, RoomId
from bridge.model import ConfirmOnPhone, InputKind, InputNeeded, LoginStep, QRCodeNeeded
from bridge.store import Login

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


class LoginSteps:
    """Renders the login steps of the login ``record`` for its Matrix user: notices through
    ``say``, the QR code as an image in ``management_room()`` (a new code replaces and
    redacts the previous one), and every QR code as text on ``terminal`` if given.
    ``network`` names the remote network for the user ("WeChat"). Failures to post or redact
    are logged, never raised."""

    def __init__(
        self,
        record: Login,
        hub: Hub,
        *,
        network: str,
        management_room: Callable[[], Awaitable[RoomId]],
        say: Callable[[str], Awaitable[None]],
        terminal: TextIO | None = None,
    ) -> None:
        self.record = record
        self.hub = hub
        self.network = network
        self._management_room = management_room
        self._say = say
        self._terminal = terminal
        self._qr: tuple[RoomId, EventId] | None = None
        self._qr_count = 0

    @property
    def qr_shown(self) -> bool:
        """A QR code is posted in the management room and not yet redacted."""
        return self._qr is not None

    def next_move(self, step: LoginStep | None) -> str:
        """What the user does next for the awaited ``step``, e.g. ``scan the QR code I sent``."""
        match step:
            case QRCodeNeeded():
                return "scan the QR code I sent"
            case ConfirmOnPhone():
                return f"confirm it in {self.network} on your phone"
            case InputNeeded(kind=kind):
                return f"send me the {_input_name(kind)} I asked for"
            case _:
                return "follow the steps I send"

    async def show(self, step: LoginStep) -> None:
        """Render one login step in the management room (mautrix bridgev2's login steps:
        display-and-wait, user input)."""
        match step:
            case QRCodeNeeded(payload=payload, png=png, hint=hint):
                await self._show_qr(payload, png, hint)
            case ConfirmOnPhone(hint=hint):
                await self._say(
                    f"{self.network} asked your phone to confirm the login: open "
                    f"{self.network} on your phone and confirm it." + (f" {hint}" if hint else "")
                )
            case InputNeeded(kind=kind, prompt=prompt):
                await self.drop_qr("the login moved on")
                after = (
                    " I delete your message once I have read it."
                    if kind is InputKind.PASSWORD
                    else ""
                )
                await self._say(
                    f"{prompt.rstrip()} Send the {_input_name(kind)} here as a message.{after}"
                )

    async def _show_qr(self, payload: str, png: bytes, hint: str) -> None:
        if self._terminal is not None:
            text = qr_terminal_text(payload)
            print(
                f"{self.network} login for {self.record.matrix_user}: scan this QR code\n{text}",
                file=self._terminal,
            )
            self._terminal.flush()
        room = await self._management_room()
        self._qr_count += 1
        if self._qr_count == 1:
            where = f" ({hint})" if hint else ""
            await self._say(
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

    async def drop_qr(self, reason: str) -> None:
        """Redact the QR code shown, if any (with ``reason``); the next one is announced as
        the first."""
        previous, self._qr = self._qr, None
        self._qr_count = 0
        if previous is not None:
            await self._redact(previous, reason)

    async def _redact(self, posted: tuple[RoomId, EventId], reason: str) -> None:
        try:
            await self.hub.redact(posted[0], posted[1], reason)
        except Exception:
            log.exception("login %s: could not redact the old QR code", self.record.id)


def _input_name(kind: InputKind) -> str:
    return {InputKind.CODE: "code", InputKind.PASSWORD: "password"}.get(kind, "answer")

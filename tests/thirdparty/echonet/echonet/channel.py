"""``EchoChannel``: one Echonet account as a chatbridge ``Channel`` that can log in.

Echonet is a toy network: its "servers" are a world folder (``echonet.world``). Logging in
asks for a code, then a password (``InputNeeded`` steps); the account's contacts answer
every text with ``echo: <text>`` when ``echo`` is on. Addresses (contact names) are
stable, so the core needs no identity matching.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from functools import partial
from pathlib import Path

import attrs

from bridge.channel import EventBatch
from bridge.errors import BridgeError, NotLoggedIn, RevokeRefused
from bridge.model import (
    Address,
    ChatKind,
    ContactBook,
    Content,
    Event,
    InputKind,
    InputNeeded,
    LoggedIn,
    LoggedOut,
    Message,
    Profile,
    RemoteId,
    SentMessage,
    Text,
)
from echonet.world import World

log = logging.getLogger(__name__)

ME = Address("me")


@attrs.frozen
class EchoSettings:
    """``world``: the world folder; ``code``/``password``: what a login must be given;
    ``contacts``: address -> name; ``echo``: whether contacts echo texts; ``poll_s``: how
    often the inbox is read; ``session_path``: where a login is remembered (0600)."""

    world: Path
    code: str = "123456"
    password: str = "echo"
    contacts: Mapping[str, str] = attrs.field(
        factory=lambda: {"alice": "Alice Echo", "bob": "Bob Echo"}, hash=False
    )
    echo: bool = True
    poll_s: float = 0.1
    session_path: Path | None = None


class EchoChannel:
    """An Echonet account: ``Channel`` + ``SupportsLogin`` + ``SupportsRevoke``."""

    name = "echonet"
    stable_addresses = True

    def __init__(self, settings: EchoSettings) -> None:
        self.settings = settings
        self.world = World(settings.world)
        self._queue: asyncio.Queue[EventBatch | None] = asyncio.Queue()
        self._emitted: set[str] = set()
        self._poller: asyncio.Task[None] | None = None
        self._step: InputKind | None = None
        self.logged_in = False
        self._started = False
        self._stopped = False

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume a remembered login, start reading the inbox. Idempotent."""
        if self._started:
            return
        self._started = True
        path = self.settings.session_path
        if path is not None and path.exists():
            await self._logged_in()
        self._poller = asyncio.create_task(self._poll(), name="echonet-inbox")

    async def stop(self) -> None:
        """Stop reading and end ``events()``. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[EventBatch]:
        """Login steps and inbound messages in order, until ``stop()``."""
        while not (self._stopped and self._queue.empty()):
            batch = await self._queue.get()
            if batch is None:
                return
            yield batch

    async def _emit(self, *events: Event) -> None:
        await self._queue.put(EventBatch(tuple(events)))

    async def _poll(self) -> None:
        while True:
            if self.logged_in:
                for item in self.world.waiting():
                    if item.id in self._emitted:
                        continue
                    self._emitted.add(item.id)
                    message = Message(
                        chat=Address(item.chat),
                        sender=Address(item.sender),
                        remote_id=RemoteId(item.id),
                        content=Text(item.text),
                        timestamp=item.timestamp,
                        chat_kind=ChatKind.DIRECT,
                    )
                    ack = partial(self._ack, item.path)
                    await self._queue.put(EventBatch((message,), ack=ack))
            await asyncio.sleep(self.settings.poll_s)

    async def _ack(self, path: Path) -> None:
        _forget(path)

    # ---- login -----------------------------------------------------------------------------

    async def login(self) -> None:
        """Ask for the login code (an ``InputNeeded`` step)."""
        if self.logged_in:
            return
        self._step = InputKind.CODE
        await self._emit(InputNeeded(InputKind.CODE, "Echonet sent a login code to your phone."))

    async def submit_login_input(self, value: str) -> None:
        """Check the code, then the password; a wrong code is asked again, a wrong password
        ends the login. Raises ``BridgeError`` when nothing is asked."""
        match self._step:
            case InputKind.CODE if value.strip() == self.settings.code:
                self._step = InputKind.PASSWORD
                await self._emit(InputNeeded(InputKind.PASSWORD, "Now your Echonet password."))
            case InputKind.CODE:
                await self._emit(InputNeeded(InputKind.CODE, "That code is wrong; try again."))
            case InputKind.PASSWORD if value == self.settings.password:
                self._step = None
                self._remember()
                await self._logged_in()
            case InputKind.PASSWORD:
                self._step = None
                await self._emit(LoggedOut("Echonet refused the password"))
            case _:
                raise BridgeError("no Echonet login is waiting for input")

    def _remember(self) -> None:
        path = self.settings.session_path
        if path is None:
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({"account": ME, "since": time.time()}, file)

    async def _logged_in(self) -> None:
        self.logged_in = True
        contacts = tuple(self._contact(a) for a in self.settings.contacts)
        await self._emit(LoggedIn(self._me()), ContactBook(contacts))

    async def logout(self) -> None:
        """Forget the login; ``LoggedOut`` follows."""
        self.logged_in = False
        self._step = None
        if self.settings.session_path is not None:
            _forget(self.settings.session_path)
        await self._emit(LoggedOut("logged out on request"))

    # ---- sending ---------------------------------------------------------------------------

    async def send(
        self, chat: Address, content: Content, *, sender: Profile | None = None
    ) -> SentMessage:
        """Send a text (other content as its text form); a contact echoes it back."""
        if not self.logged_in:
            raise NotLoggedIn("not logged in to Echonet; send 'login' to the bot")
        if chat not in self.settings.contacts:
            raise BridgeError(f"Echonet has no chat {chat!r}")
        text = content.body if isinstance(content, Text) else f"[{type(content).__name__}]"
        remote_id = RemoteId(f"out{uuid.uuid4().hex[:12]}")
        self.world.record({"id": remote_id, "chat": chat, "text": text})
        if self.settings.echo:
            self.world.deliver(chat, f"echo: {text}")
        return SentMessage(remote_id, text=text)

    async def revoke(self, chat: Address, message: SentMessage) -> None:
        """Recall a message this account sent. Raises ``RevokeRefused`` for any other."""
        remote_id = message.remote_id
        if not any(s.id == remote_id for s in self.world.sent()):
            raise RevokeRefused("Echonet knows no such message of yours")
        self.world.record({"revoke": remote_id})

    async def get_profile(self, address: Address) -> Profile:
        """A contact's or the account's own profile. Raises ``BridgeError`` otherwise."""
        if address == ME:
            return self._me()
        if address in self.settings.contacts:
            return self._contact(address)
        raise BridgeError(f"Echonet knows no {address!r}")

    def _me(self) -> Profile:
        return Profile(ME, name="Echo User", is_self=True)

    def _contact(self, address: str) -> Profile:
        return Profile(Address(address), ChatKind.DIRECT, name=self.settings.contacts[address])


def _forget(path: Path) -> None:
    """Delete ``path`` if it is there."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()

"""What an adapter provides so the contract suite can drive it: the harness and its helpers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import attrs

from bridge.channel import Channel, EventBatch
from bridge.model import Address, Content, Event, RemoteId


@attrs.frozen
class Observed:
    """A message as the remote side saw it: its id there, content (media with its bytes),
    the id it replies to, and whether it was revoked / redacted since."""

    remote_id: RemoteId
    content: Content
    reply_to: RemoteId | None = None
    revoked: bool = False


class ContractHarness(Protocol):
    """Drives one adapter's remote side for the contract checks.

    ``channel`` is constructed but not started; the checks start it and call ``ready()``.
    ``chat`` is a direct chat the remote side knows; inbound messages in it come from ``peer``.
    ``group`` is a group chat with members (or None), ``owner`` the local user who owns portals
    (or None when the adapter has no portals). ``timeout_s`` bounds every wait of a check.
    """

    @property
    def channel(self) -> Channel: ...
    @property
    def chat(self) -> Address: ...
    @property
    def peer(self) -> Address: ...
    @property
    def group(self) -> Address | None: ...
    @property
    def owner(self) -> Address | None: ...
    @property
    def timeout_s(self) -> float: ...

    async def ready(self) -> None:
        """After ``channel.start()``: bring the channel to where it sends and receives (for
        instance, scan the QR code on the simulated phone). Returns when it is ready."""

    async def make_inbound_text(self, chat: Address, text: str) -> None:
        """Make the remote side send ``text`` into ``chat`` (from ``peer``)."""

    async def observe_sent(self, chat: Address) -> Sequence[Observed]:
        """Every message the channel delivered to ``chat`` so far, oldest first."""
        ...

    async def restart(self) -> Channel | None:
        """Stop the channel and return a started, ready channel that shares its persisted
        state (the same object or a new one), or None if the adapter cannot be restarted."""
        ...


HarnessFactory = Callable[[], AbstractAsyncContextManager[ContractHarness]]


class ContractViolation(AssertionError):
    """The channel broke a promise of the ``Channel`` contract; the message says which."""


class NotApplicable(Exception):
    """The check does not apply to this adapter (a capability it does not declare)."""


# ---- consuming events ------------------------------------------------------------------------


class EventTap:
    """Consumes ``channel.events()`` in a background task, records each batch and, unless
    told otherwise, acknowledges it as the core would."""

    def __init__(self, channel: Channel, timeout_s: float, *, ack: bool = True) -> None:
        self.batches: list[EventBatch] = []
        self.ended = asyncio.Event()
        self._ack = ack
        self._timeout_s = timeout_s
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run(channel))

    async def _run(self, channel: Channel) -> None:
        try:
            async for batch in channel.events():
                self.batches.append(batch)
                if self._ack:
                    await batch.ack()
                self._changed.set()
        finally:
            self.ended.set()
            self._changed.set()

    def events(self) -> list[Event]:
        """Every event seen so far, in order."""
        return [e for b in self.batches for e in b.events]

    async def wait_for(self, match: Callable[[Event], bool], what: str) -> tuple[Event, int]:
        """The first event (and the index of its batch) for which ``match`` is true.
        Raises ``ContractViolation`` naming ``what`` if none comes within the timeout."""
        try:
            async with asyncio.timeout(self._timeout_s):
                while True:
                    for index, batch in enumerate(self.batches):
                        for event in batch.events:
                            if match(event):
                                return event, index
                    if self.ended.is_set():
                        raise ContractViolation(f"events() ended before {what}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise ContractViolation(f"no {what} within {self._timeout_s} s") from None

    async def wait_ended(self, what: str) -> None:
        """Wait until ``events()`` ended; ``ContractViolation`` naming ``what`` otherwise."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self.ended.wait()
        except TimeoutError:
            raise ContractViolation(what) from None
        await self._task  # re-raises what events() raised

    async def close(self) -> None:
        """Stop consuming."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def running(h: ContractHarness, *, ack: bool = True) -> AsyncIterator[EventTap]:
    """Start ``h.channel``, tap its events, wait for ``ready()``; stop it on exit."""
    await h.channel.start()
    tap = EventTap(h.channel, h.timeout_s, ack=ack)
    try:
        async with asyncio.timeout(h.timeout_s):
            await h.ready()
        yield tap
    finally:
        await tap.close()
        await h.channel.stop()

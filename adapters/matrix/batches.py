"""The inbound side of ``MatrixChannel`` (``adapters/matrix/channel.py``): the owner's events
the hub hands over per appservice transaction, yielded as ``EventBatch``es whose ``ack`` lets
the hub answer the transaction."""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import AsyncIterator, Iterable

import attrs

from bridge.channel import EventBatch
from bridge.errors import BridgeError
from bridge.model import Event


@attrs.define
class _Pending:
    events: tuple[Event, ...]
    acked: asyncio.Future[None]


class Batches:
    """``start``, ``stop`` and ``events`` of ``MatrixChannel``, fed by the hub (``deliver``,
    ``abandon``). Un-acked batches come again after ``stop()`` and ``start()``."""

    def __init__(self) -> None:
        self._pending: dict[int, _Pending] = {}
        self._numbers = itertools.count(1)
        self._queue: asyncio.Queue[int | None] = asyncio.Queue()
        self._running = False
        self._stopped = False

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin yielding batches, every un-acked one first. Idempotent."""
        if self._running:
            return
        while not self._queue.empty():
            self._queue.get_nowait()
        for number in self._pending:
            self._queue.put_nowait(number)
        self._running = True
        self._stopped = False

    async def stop(self) -> None:
        """End ``events()``; un-acked batches wait for the next ``start()``. Idempotent."""
        if not self._running:
            return
        self._running = False
        self._stopped = True
        self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[EventBatch]:
        """The owner's portal events, one batch per appservice transaction, in order."""
        if self._stopped and not self._running:
            return
        while True:
            number = await self._queue.get()
            if number is None:
                return
            pending = self._pending.get(number)
            if pending is not None:
                yield EventBatch(pending.events, ack=functools.partial(self._ack, number))

    async def _ack(self, number: int) -> None:
        pending = self._pending.pop(number, None)
        if pending is not None and not pending.acked.done():
            pending.acked.set_result(None)

    # ---- from the hub ------------------------------------------------------------------------

    def deliver(self, events: Iterable[Event]) -> tuple[int, asyncio.Future[None]]:
        """Queue ``events`` as one batch; returns its number and a future done when the batch
        is acked (the hub then answers the transaction)."""
        number = next(self._numbers)
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[number] = _Pending(tuple(events), acked)
        if self._running:
            self._queue.put_nowait(number)
        return number, acked

    def abandon(self, number: int | None = None, reason: str = "abandoned") -> None:
        """Forget batch ``number`` (``None``: every one), failing its future: the hub gave
        up waiting and the homeserver will repeat the transaction."""
        numbers = list(self._pending) if number is None else [number]
        for n in numbers:
            pending = self._pending.pop(n, None)
            if pending is not None and not pending.acked.done():
                pending.acked.set_exception(BridgeError(f"batch not acknowledged: {reason}"))

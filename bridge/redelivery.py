"""Inbound batches yielded until they are acknowledged: what a ``Channel``'s ``start``,
``stop`` and ``events`` promise the core (``bridge/channel.py``: ``EventBatch.ack``)."""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from bridge.channel import EventBatch
from bridge.model import Event


class Redelivery:
    """Batches ``add``ed by a channel, yielded by ``events()`` in order while started; a
    batch stays pending until its ``ack`` runs, and after ``stop()`` and ``start()`` every
    pending one comes again, oldest first. A batch's ``ack`` calls ``ack(number)``, by default
    ``acknowledge``; a channel that does more on an ack passes its own, which calls
    ``acknowledge``. ``start`` and ``stop`` are idempotent and never raise."""

    def __init__(self, ack: Callable[[int], Awaitable[None]] | None = None) -> None:
        self._ack = ack or self._acknowledged
        self._pending: dict[int, tuple[Event, ...]] = {}
        self._numbers = itertools.count(1)
        self._queue: asyncio.Queue[int | None] = asyncio.Queue()
        self._running = False
        self._stopped = False

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._running

    @property
    def pending(self) -> tuple[int, ...]:
        """Numbers of the batches not acknowledged yet, oldest first."""
        return tuple(self._pending)

    async def start(self) -> None:
        """Begin yielding batches, every pending one first."""
        if self._running:
            return
        while not self._queue.empty():  # stale items and the end marker of the previous run
            self._queue.get_nowait()
        for number in self._pending:
            self._queue.put_nowait(number)
        self._running = True
        self._stopped = False

    async def stop(self) -> None:
        """End ``events()``; pending batches wait for the next ``start()``."""
        if not self._running:
            return
        self._running = False
        self._stopped = True
        self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[EventBatch]:
        """The batches in order, each with an ``ack``. Waits for ``start()`` if not started;
        ends after ``stop()``."""
        if self._stopped and not self._running:
            return
        while True:
            number = await self._queue.get()
            if number is None:
                return
            events = self._pending.get(number)
            if events is not None:  # None: acknowledged or discarded meanwhile
                yield EventBatch(events, ack=functools.partial(self._ack, number))

    def acknowledge(self, number: int) -> bool:
        """Batch ``number`` is taken in: it is not yielded again. False if it was not
        pending (acknowledged before, or discarded)."""
        return self._pending.pop(number, None) is not None

    async def _acknowledged(self, number: int) -> None:
        self.acknowledge(number)

    def add(self, events: Iterable[Event]) -> int:
        """Queue ``events`` as one batch; returns its number (1, 2, ...)."""
        number = next(self._numbers)
        self._pending[number] = tuple(events)
        if self._running:
            self._queue.put_nowait(number)
        return number

    def discard(self, number: int) -> bool:
        """Forget batch ``number`` without acknowledging it; False if it was not pending."""
        return self._pending.pop(number, None) is not None

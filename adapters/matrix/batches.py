"""The inbound side of ``MatrixChannel`` (``adapters/matrix/channel.py``): the owner's events
the hub hands over per appservice transaction, yielded as ``EventBatch``es whose ``ack`` lets
the hub answer the transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from bridge.channel import EventBatch
from bridge.errors import BridgeError
from bridge.model import Event
from bridge.redelivery import Redelivery


class Batches:
    """``start``, ``stop`` and ``events`` of ``MatrixChannel``, fed by the hub (``deliver``,
    ``abandon``). Un-acked batches come again after ``stop()`` and ``start()``
    (``bridge.redelivery.Redelivery``)."""

    def __init__(self) -> None:
        self._batches = Redelivery(ack=self._ack)
        self._acks: dict[int, asyncio.Future[None]] = {}

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin yielding batches, every un-acked one first. Idempotent."""
        await self._batches.start()

    async def stop(self) -> None:
        """End ``events()``; un-acked batches wait for the next ``start()``. Idempotent."""
        await self._batches.stop()

    def events(self) -> AsyncIterator[EventBatch]:
        """The owner's portal events, one batch per appservice transaction, in order."""
        return self._batches.events()

    async def _ack(self, number: int) -> None:
        self._batches.acknowledge(number)
        acked = self._acks.pop(number, None)
        if acked is not None and not acked.done():
            acked.set_result(None)

    # ---- from the hub ------------------------------------------------------------------------

    def deliver(self, events: Iterable[Event]) -> tuple[int, asyncio.Future[None]]:
        """Queue ``events`` as one batch; returns its number and a future done when the batch
        is acked (the hub then answers the transaction)."""
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        number = self._batches.add(events)
        self._acks[number] = acked
        return number, acked

    def abandon(self, number: int | None = None, reason: str = "abandoned") -> None:
        """Forget batch ``number`` (``None``: every one), failing its future: the hub gave
        up waiting and the homeserver will repeat the transaction."""
        numbers = list(self._acks) if number is None else [number]
        for n in numbers:
            self._batches.discard(n)
            acked = self._acks.pop(n, None)
            if acked is not None and not acked.done():
                acked.set_exception(BridgeError(f"batch not acknowledged: {reason}"))

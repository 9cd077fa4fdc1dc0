"""Transaction intake of the appservice server: bounded parsing next to plain ``json.loads``,
and whole transactions over HTTP, for the sizes Synapse sends.

Run: ``.venv/bin/python benchmarks/appservice_bench.py``. Bodies: 100 text events of 15 KB
(1.5 MB), 100 events of 64 KiB of non-ASCII text ASCII-escaped as Synapse sends them (~13 MB),
and the 200,000-deep nesting the server refuses. Times are the best of 5 runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.matrix.appservice import MAX_JSON_DEPTH, AppserviceServer, MemoryTransactionLog
from adapters.matrix.boundedjson import loads_bounded
from adapters.matrix.types import Transaction

TOKEN = "bench-hs-token"


def transaction(events: int, body: str) -> bytes:
    """A transaction body of ``events`` text events whose body is ``body``, as Synapse
    encodes it (ASCII-escaped JSON)."""
    return json.dumps(
        {
            "events": [
                {
                    "event_id": f"$e{n}",
                    "room_id": "!room",
                    "sender": "@user:localhost",
                    "type": "m.room.message",
                    "origin_server_ts": 1,
                    "content": {"msgtype": "m.text", "body": body},
                }
                for n in range(events)
            ]
        }
    ).encode()


def best_ms(run: Callable[[], Any], repeat: int = 5) -> float:
    """The fastest of ``repeat`` runs of ``run``, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


async def over_http(bodies: dict[str, bytes]) -> dict[str, tuple[int, float]]:
    """Each body PUT to a running ``AppserviceServer``: (HTTP status, best ms of 5)."""

    async def accept(txn: Transaction) -> None:
        return None

    server = AppserviceServer(TOKEN, accept, MemoryTransactionLog())
    port = await server.start("127.0.0.1", 0)
    results: dict[str, tuple[int, float]] = {}
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    try:
        async with aiohttp.ClientSession() as http:
            for name, body in bodies.items():
                times, status = [], 0
                for n in range(5):
                    url = f"http://127.0.0.1:{port}/_matrix/app/v1/transactions/{name}-{n}"
                    start = time.perf_counter()
                    async with http.put(url, data=body, headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                    times.append(time.perf_counter() - start)
                results[name] = (status, min(times) * 1000)
    finally:
        await server.stop()
    return results


def main() -> None:
    bodies = {
        "1.5MB": transaction(100, "y" * 15_000),
        "13MB": transaction(100, "é" * 32_000),
        "deep": b'{"events": [' + b"[" * 200_000 + b"]" * 200_000 + b"]}",
    }
    print(f"{'body':<6} {'bytes':>11} {'json.loads ms':>14} {'bounded ms':>11} "
          f"{'HTTP status':>12} {'HTTP ms':>8}")  # fmt: skip
    logging.disable(logging.WARNING)  # the server logs each refused body
    http = asyncio.run(over_http(bodies))
    for name, body in bodies.items():
        try:
            plain = f"{best_ms(lambda b=body: json.loads(b)):14.1f}"
        except RecursionError:
            plain = f"{'RecursionError':>14}"
        try:
            bounded = f"{best_ms(lambda b=body: loads_bounded(b, max_depth=MAX_JSON_DEPTH)):11.1f}"
        except ValueError:
            bounded = f"{'refused':>11}"
        status, ms = http[name]
        print(f"{name:<6} {len(body):>11,} {plain} {bounded} {status:>12} {ms:8.1f}")


if __name__ == "__main__":
    main()

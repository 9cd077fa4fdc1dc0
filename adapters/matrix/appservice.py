"""The appservice HTTP server the homeserver pushes transactions to."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from adapters.matrix.boundedjson import JsonTooDeep, loads_bounded
from adapters.matrix.types import (
    DeviceUpdates,
    EphemeralEvent,
    MalformedEvent,
    RoomAlias,
    RoomEvent,
    Transaction,
    TransactionId,
    UserId,
)

logger = logging.getLogger(__name__)

#: Called with each new transaction; the transaction is answered 200 only once it returns.
TransactionHandler = Callable[[Transaction], Awaitable[None]]
#: Called for ``GET /users/{userId}``: True if the user now exists (create the ghost first).
UserQuery = Callable[[UserId], Awaitable[bool]]
#: Called for ``GET /rooms/{alias}``: True if the alias now exists (create the room first).
RoomQuery = Callable[[RoomAlias], Awaitable[bool]]

PREFIX = "/_matrix/app/v1"

#: What one transaction may carry (Synapse 1.163 ``synapse/appservice/scheduler.py``): 100 room
#: events, 100 ephemeral events and 100 to-device messages.
MAX_TRANSACTION_ITEMS = 300
#: Bytes one item may take on the wire: a room event is at most 64 KiB as canonical UTF-8 JSON
#: (Synapse ``MAX_PDU_SIZE``), but Synapse sends it ASCII-escaped (a 4-byte character becomes
#: the 12 bytes of a surrogate pair) and adds ``unsigned`` (``prev_content`` of a state event
#: can be as large again): 2 x 3 x 64 KiB.
MAX_ITEM_BYTES = 2 * 3 * 65536
#: The largest request body read: every item at its largest (112.5 MiB, vs aiohttp's default
#: 1 MiB that a flood of invites with long reasons exceeds). Only read after the hs_token
#: matched, so only the homeserver can make the bridge buffer this much.
MAX_TRANSACTION_BYTES = MAX_TRANSACTION_ITEMS * MAX_ITEM_BYTES
#: Deepest JSON nesting accepted in a request body. Synapse refuses events nested more than
#: ~127 levels (measured: M_BAD_JSON "Invalid event JSON" at 126 levels under ``content``),
#: so twice that covers every transaction it can send; Python's recursive parser stays far
#: from its recursion limit.
MAX_JSON_DEPTH = 256
#: Bodies larger than this are parsed in a worker thread so the event loop keeps serving.
_PARSE_IN_THREAD_BYTES = 256 * 1024


class TransactionLog(Protocol):
    """Durable record of the transactions already processed, so a retry is not replayed.

    The server passes ``Transaction.dedupe_key`` (txnId plus a digest of its event ids), not
    the bare txnId. ``bridge.store``'s ``TransactionRepo`` satisfies this protocol.
    """

    async def seen(self, txn_id: TransactionId) -> bool:
        """Whether ``txn_id`` was added before."""
        ...

    async def add(self, txn_id: TransactionId) -> None:
        """Remember ``txn_id`` as processed (idempotent)."""
        ...


class MemoryTransactionLog:
    """A ``TransactionLog`` in memory, for tests; forgets everything on restart."""

    def __init__(self) -> None:
        self._seen: set[TransactionId] = set()

    async def seen(self, txn_id: TransactionId) -> bool:
        """Whether ``txn_id`` was added before."""
        return txn_id in self._seen

    async def add(self, txn_id: TransactionId) -> None:
        """Remember ``txn_id``."""
        self._seen.add(txn_id)


async def _no_user(user_id: UserId) -> bool:
    return False


async def _no_room(alias: RoomAlias) -> bool:
    return False


def _error(status: int, errcode: str, message: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": message}, status=status)


#: Where a transaction carries ephemeral events: the stable key (spec v1.x, Synapse's
#: ``receive_ephemeral``) and MSC2409's unstable one (``de.sorunome.msc2409.push_ephemeral``).
EPHEMERAL_KEYS = ("ephemeral", "de.sorunome.msc2409.ephemeral")


def _ephemeral(txn_id: TransactionId, body: Mapping[str, Any] | None) -> tuple[EphemeralEvent, ...]:
    """The well-formed ephemeral events of a transaction body (the first key of
    ``EPHEMERAL_KEYS`` present); malformed ones are logged and skipped."""
    raw: object = None
    for key in EPHEMERAL_KEYS:
        if body is not None and key in body:
            raw = body[key]
            break
    if raw is None:
        return ()
    if not isinstance(raw, list):
        logger.warning("transaction %s: ephemeral is not a list; ignored", txn_id)
        return ()
    found: list[EphemeralEvent] = []
    for item in raw:
        try:
            found.append(EphemeralEvent.from_wire(item))
        except MalformedEvent as exc:
            logger.warning("transaction %s: skipped a malformed ephemeral event: %s", txn_id, exc)
    return tuple(found)


class _PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log without query strings: legacy homeservers put ``access_token`` there."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug(
            "%s %s -> %d in %.1f ms", request.method, request.path, response.status, time * 1000
        )


class AppserviceServer:
    """aiohttp server for the homeserver -> appservice API (Matrix spec "Application Service
    API", v1 paths plus the legacy unprefixed ones).

    Every request except ``/health`` must carry ``hs_token`` as ``Authorization: Bearer``
    (compared in constant time); otherwise 403 ``M_FORBIDDEN``. ``PUT .../transactions/{txnId}``
    parses the events (malformed ones are logged and skipped; a malformed body is 400), calls
    ``on_transaction`` once per new transaction (``Transaction.dedupe_key``, not the bare
    txnId) and answers 200 after it returns, 500 if it raised so the homeserver retries.
    Transactions are processed one at a time, in arrival order. ``GET /health`` answers
    200 ``{"status": "ok"}``, or 503 ``{"status": "not ready", "reason": ...}`` while
    ``readiness()`` gives a reason (the bridge cannot journal what it would accept).
    """

    def __init__(
        self,
        hs_token: str,
        on_transaction: TransactionHandler,
        txn_log: TransactionLog,
        *,
        user_query: UserQuery = _no_user,
        room_query: RoomQuery = _no_room,
        readiness: Callable[[], str | None] | None = None,
    ) -> None:
        self._hs_token = hs_token.encode()
        self._readiness = readiness
        self._on_transaction = on_transaction
        self._txn_log = txn_log
        self._user_query = user_query
        self._room_query = room_query
        self._txn_lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self.app = web.Application(
            middlewares=[self._auth_middleware], client_max_size=MAX_TRANSACTION_BYTES
        )
        for prefix in (PREFIX, ""):
            self.app.router.add_put(prefix + "/transactions/{txn_id}", self._transaction)
            self.app.router.add_get(prefix + "/users/{user_id}", self._user)
            self.app.router.add_get(prefix + "/rooms/{alias}", self._room)
        self.app.router.add_post(PREFIX + "/ping", self._ping)
        self.app.router.add_get("/health", self._health)

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port`` (0 = any free port); returns the bound port.

        Raises ``OSError`` if the address is taken.
        """
        runner = web.AppRunner(self.app, access_log_class=_PathOnlyAccessLogger)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound: int = runner.addresses[0][1]
        logger.info("appservice listening on %s:%d", host, bound)
        return bound

    async def stop(self) -> None:
        """Stop listening. Idempotent; never raises."""
        runner, self._runner = self._runner, None
        if runner is not None:
            try:
                await runner.cleanup()
            except Exception:
                logger.exception("appservice server did not shut down cleanly")

    @web.middleware
    async def _auth_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path == "/health":
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            # Spec before v1.4: the token travelled as a query parameter.
            token = request.query.get("access_token", "")
        if not hmac.compare_digest(token.encode(), self._hs_token):
            logger.warning("refused %s %s: missing or wrong hs_token", request.method, request.path)
            return _error(403, "M_FORBIDDEN", "bad or missing hs_token")
        return await handler(request)

    async def _json_body(self, request: web.Request) -> dict[str, Any] | None:
        """The request's JSON object, or ``None`` (logged) if it is not one, nests deeper
        than ``MAX_JSON_DEPTH`` or exceeds ``MAX_TRANSACTION_BYTES`` (aiohttp's 413)."""
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            logger.error("%s %s: refused a body over %d bytes, more than a homeserver sends",
                         request.method, request.path, MAX_TRANSACTION_BYTES)  # fmt: skip
            raise
        try:
            if len(raw) > _PARSE_IN_THREAD_BYTES:
                body = await asyncio.to_thread(loads_bounded, raw, max_depth=MAX_JSON_DEPTH)
            else:
                body = loads_bounded(raw, max_depth=MAX_JSON_DEPTH)
        except JsonTooDeep as exc:
            logger.warning("%s %s: refused a body of %d bytes: %s", request.method,
                           request.path, len(raw), exc)  # fmt: skip
            return None
        except (ValueError, UnicodeDecodeError):
            return None
        return body if isinstance(body, dict) else None

    async def _transaction(self, request: web.Request) -> web.StreamResponse:
        txn_id = TransactionId(request.match_info["txn_id"])
        body = await self._json_body(request)
        raw_events = body.get("events") if body is not None else None
        if not isinstance(raw_events, list):
            logger.warning("transaction %s: body is not an object with an events list", txn_id)
            return _error(400, "M_BAD_JSON", "expected a JSON object with an 'events' list")
        events: list[RoomEvent] = []
        for raw in raw_events:
            try:
                events.append(RoomEvent.from_wire(raw))
            except MalformedEvent as exc:
                logger.warning("transaction %s: skipped a malformed event: %s", txn_id, exc)
        ephemeral = _ephemeral(txn_id, body)
        txn = Transaction(
            txn_id,
            tuple(events),
            skipped=len(raw_events) - len(events),
            ephemeral=ephemeral,
            devices=DeviceUpdates.from_wire(body or {}),
        )
        async with self._txn_lock:
            if await self._txn_log.seen(txn.dedupe_key):
                logger.debug("transaction %s: already processed", txn_id)
                return web.json_response({})
            try:
                await self._on_transaction(txn)
            except Exception:
                logger.exception("transaction %s failed; the homeserver will retry", txn_id)
                return _error(500, "M_UNKNOWN", "the bridge could not process the transaction")
            await self._txn_log.add(txn.dedupe_key)
        logger.debug("transaction %s: %d events processed", txn_id, len(events))
        return web.json_response({})

    async def _user(self, request: web.Request) -> web.StreamResponse:
        user_id = UserId(request.match_info["user_id"])
        try:
            exists = await self._user_query(user_id)
        except Exception:
            logger.exception("user query for %s failed", user_id)
            return _error(500, "M_UNKNOWN", "the bridge could not answer the user query")
        if exists:
            return web.json_response({})
        return _error(404, "M_NOT_FOUND", "no such user")

    async def _room(self, request: web.Request) -> web.StreamResponse:
        alias = RoomAlias(request.match_info["alias"])
        try:
            exists = await self._room_query(alias)
        except Exception:
            logger.exception("room query for %s failed", alias)
            return _error(500, "M_UNKNOWN", "the bridge could not answer the room query")
        if exists:
            return web.json_response({})
        return _error(404, "M_NOT_FOUND", "no such room alias")

    async def _ping(self, request: web.Request) -> web.StreamResponse:
        body = await self._json_body(request)
        if body is None:
            logger.warning("ping: body is not a JSON object")
            return _error(400, "M_BAD_JSON", "expected a JSON object")
        logger.debug("ping from the homeserver (transaction_id %r)", body.get("transaction_id"))
        return web.json_response({})

    async def _health(self, request: web.Request) -> web.StreamResponse:
        listening = self._runner is not None
        reason = self._readiness() if self._readiness is not None else None
        if reason is not None:
            body = {"status": "not ready", "reason": reason, "listening": listening}
            return web.json_response(body, status=503)
        return web.json_response({"status": "ok", "listening": listening})

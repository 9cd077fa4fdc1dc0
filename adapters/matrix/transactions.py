"""Appservice transactions: routing each event, ephemeral events, the encrypted hand-over."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from adapters.matrix import render
from adapters.matrix.api import AppserviceAPI
from adapters.matrix.botnotices import BotNotices
from adapters.matrix.channel import MatrixChannel
from adapters.matrix.e2ee import Encryption
from adapters.matrix.errors import MatrixRequestError, MatrixUnavailable
from adapters.matrix.puppet import DoublePuppets
from adapters.matrix.receipts import read_receipts
from adapters.matrix.relations import Relations, relation
from adapters.matrix.router import BotCommand, CommandHandler, Route, Router
from adapters.matrix.types import (
    EphemeralEvent,
    EventId,
    RoomEvent,
    RoomId,
    Transaction,
    TransactionId,
    UserId,
)
from bridge.config import REFUSAL, Config
from bridge.errors import BridgeError, RateLimited, StoreError
from bridge.ids import LoginId, MatrixUserId
from bridge.model import Event
from bridge.relay.portals import PortalInfo, PortalLookup
from bridge.store import Store

# Records of this module keep the logger name they had inside ``adapters.matrix.hub``.
logger = logging.getLogger("adapters.matrix.hub")

#: Times one event may fail with a passing error (homeserver unavailable, rate limited)
#: before it is skipped: Synapse repeats a failed transaction with backoff (1 s, 2 s, 4 s...),
#: holding back every later one, so this is about a minute of waiting.
MAX_EVENT_FAILURES = 6
GAVE_UP = "⚠ Not delivered: the bridge could not process this message (it kept failing)."
NO_LOGIN = (
    "⚠ Not delivered: the account this chat belongs to is not running on the bridge. "
    "Log in again through the bridge bot."
)


class TransactionRouting:
    """How ``MatrixHub`` (which extends this class and sets the attributes declared below in
    its ``__init__``) handles what the homeserver pushes.

    Transactions (Matrix spec "Application Service API: Pushing events") are routed event by
    event: echoes of the bot, the ghosts and double puppets are dropped; an invite of the bot
    is accepted (a user without ``user`` permission gets a refusal, then the bot leaves);
    the owner's messages, stickers and redactions in a portal go to that login's channel as
    one ``EventBatch`` per transaction; text in any other room the bot is in goes to
    ``on_command`` as a ``BotCommand`` (each in its own task, once the transaction is done).
    A transaction is answered 200 only after every batch it produced is acked (journaled),
    or 500 after ``ack_timeout_s`` (or a database / homeserver failure) so the homeserver
    repeats it; meanwhile the homeserver holds back the appservice's later transactions, so a
    login whose relay stops consuming delays everyone until ``drop_channel`` or the timeout.
    Processed transactions are remembered in ``store.transactions`` by
    ``Transaction.dedupe_key``, and commands by event id (``store.matrix.claim_command``), so
    one arriving again under another transaction id is not executed twice.
    Ephemeral events (the registration's ``receive_ephemeral``): the portal owner's ``m.read``
    receipts go into the same batch as ``ReadReceipt``s (``receipts.read_receipts``).
    Encrypted events are decrypted by ``Encryption`` and routed as if they had come in
    plaintext; one whose room key came late arrives through ``_late_event``.
    Events that cannot be bridged get a notice in their room;
    malformed ones are logged and skipped. Portal events of a login without a channel get
    the ``NO_LOGIN`` notice.
    """

    config: Config
    store: Store
    ack_timeout_s: float
    _api: AppserviceAPI
    _on_command: CommandHandler
    _portal_of: PortalLookup
    _router: Router
    _relations: Relations
    _puppets: DoublePuppets
    _notices: BotNotices
    _e2ee: Encryption
    _channels: dict[LoginId, MatrixChannel]
    _tasks: set[asyncio.Task[None]]
    _event_failures: dict[str, int]

    async def set_management_room(self, user: MatrixUserId, room: RoomId) -> None:
        """Remember ``room`` as ``user``'s management room (``MatrixHub`` implements it)."""
        raise NotImplementedError

    async def handle_transaction(self, txn: Transaction) -> None:
        """Route ``txn``'s events (see the class doc) and return once every batch it produced
        is acked. Raises (so the homeserver repeats the transaction) when an ack does not come
        within ``ack_timeout_s``, or the database or the homeserver fails for now. Files are not
        downloaded here: they are journaled as references (``adapters.matrix.media``)."""
        batches: dict[LoginId, list[Event]] = {}
        commands: list[BotCommand] = []
        self._e2ee.receive(txn.devices)
        for event in txn.events:
            try:
                await self._route(event, batches, commands)
                self._event_failures.pop(event.event_id, None)
            except StoreError:
                raise  # passing: the homeserver repeats the transaction later
            except (MatrixUnavailable, RateLimited) as exc:
                if not await self._give_up_on(event, exc):
                    raise  # passing: the homeserver repeats the transaction later
            except Exception:
                logger.exception("event %s of transaction %s skipped", event.event_id, txn.txn_id)
        for ephemeral in txn.ephemeral:
            try:
                await self._ephemeral(ephemeral, batches)
            except StoreError:
                raise  # passing: the homeserver repeats the transaction later
            except Exception:
                logger.exception("an ephemeral event of transaction %s skipped", txn.txn_id)
        await self._hand_over(batches)
        for command in commands:
            # By event id, not transaction: a homeserver may send an event again under a new
            # transaction id (Synapse renumbers after a restart). At most once: claimed first.
            if await self.store.matrix.claim_command(command.event_id):
                self._spawn(self._run_command(command))
            else:
                logger.info("command %s executed before; not again", command.event_id)

    async def _give_up_on(self, event: RoomEvent, exc: Exception) -> bool:
        """Whether ``event``, failing with a passing error again, has failed
        ``MAX_EVENT_FAILURES`` times: then it is skipped (logged, its room told) so that the
        homeserver stops repeating its transaction, which would hold back every later one."""
        failures = self._event_failures.get(event.event_id, 0) + 1
        self._event_failures[event.event_id] = failures
        if failures < MAX_EVENT_FAILURES:
            logger.warning("event %s failed (%d): %s", event.event_id, failures, exc)
            return False
        del self._event_failures[event.event_id]
        logger.error("event %s skipped after %d failures: %s", event.event_id, failures, exc)
        await self._notify(event.room_id, GAVE_UP)
        return True

    async def _route(
        self, event: RoomEvent, batches: dict[LoginId, list[Event]], commands: list[BotCommand]
    ) -> None:
        self._e2ee.observe(event)
        route, portal = await self._router.route(event)
        match route:
            case Route.INVITE:
                await self._invited(event)
            case Route.PORTAL if portal is not None:
                await self._portal_event(event, portal, batches)
            case Route.ENCRYPTED:
                decrypted = await self._e2ee.incoming(event)
                if decrypted is not None:  # routed as if it had come in plaintext
                    await self._route(decrypted, batches, commands)
            case Route.COMMAND:
                command = await self._router.command(event)
                if command is not None:
                    commands.append(command)
            case _:
                pass

    async def _portal_event(
        self, event: RoomEvent, portal: PortalInfo, batches: dict[LoginId, list[Event]]
    ) -> None:
        if portal.login not in self._channels:
            logger.warning("event %s in portal of login %s: no channel", event.event_id, portal)
            await self._notify(event.room_id, NO_LOGIN)
            return
        try:
            if relation(event) is not None:
                converted: list[Event] = await self._relations.to_bridge(event, portal)
            else:
                converted = [await self._router.to_bridge(event, portal)]
        except render.UnbridgeableEvent as exc:
            logger.info("event %s not bridged: %s", event.event_id, exc)
            await self._notices.not_carried(event, f"the bridge cannot carry it ({exc})")
            return
        except MatrixRequestError as exc:
            if exc.retryable:
                raise
            logger.warning("event %s not bridged: %s", event.event_id, exc)
            await self._notices.not_carried(event, f"the homeserver refused a request ({exc})")
            return
        batches.setdefault(portal.login, []).extend(converted)

    async def _ephemeral(self, event: EphemeralEvent, batches: dict[LoginId, list[Event]]) -> None:
        """The portal owner's read receipts go to the login's channel (``receipts``); the
        core marks the chat read on the network. Receipts the bridge posted itself through
        the double puppet are dropped. Typing and presence are not bridged."""
        if event.type != "m.receipt" or not event.room_id:
            return
        portal = await self._portal_of(event.room_id)
        if portal is None or portal.login not in self._channels:
            return
        owner, room = UserId(portal.owner), RoomId(event.room_id)
        # A receipt the bridge itself posted through the double puppet (a read on the phone,
        # ``DoublePuppets.mark_read``) is an echo, not a read to carry back to the network.
        receipts = [
            r
            for r in read_receipts(event, owner)
            if not self._puppets.posted_receipt(owner, room, EventId(r.remote_id))
        ]
        if receipts:
            batches.setdefault(portal.login, []).extend(receipts)

    async def _hand_over(self, batches: dict[LoginId, list[Event]]) -> None:
        waits: list[tuple[MatrixChannel, int, asyncio.Future[None]]] = []
        for login, events in batches.items():
            channel = self._channels.get(login)
            if channel is not None:
                number, acked = channel.deliver(events)
                waits.append((channel, number, acked))
        if not waits:
            return
        try:
            async with asyncio.timeout(self.ack_timeout_s):
                await asyncio.gather(*(acked for _, _, acked in waits))
        except TimeoutError:
            for channel, number, _ in waits:
                channel.abandon(number, reason=f"no ack within {self.ack_timeout_s} s")
            raise BridgeError(
                f"batches not journaled within {self.ack_timeout_s} s; the homeserver will retry"
            ) from None

    async def _invited(self, event: RoomEvent) -> None:
        room, inviter = event.room_id, event.sender
        try:
            await self._api.join(room)
        except MatrixRequestError as exc:
            logger.warning("cannot join %s on %s's invite: %s", room, inviter, exc)
            return
        self._router.forget(room)
        if self.config.is_ghost(inviter):
            # A ghost creating a portal: permissions are for people, not the bridge's own users.
            logger.info("joined portal %s on a ghost's invite", room)
            return
        if not self.config.permissions.allows(inviter):
            logger.info("refused %s's invite to %s: not permitted", inviter, room)
            await self._notify(room, REFUSAL)
            try:
                await self._api.leave(room)
            except MatrixRequestError as exc:
                logger.warning("cannot leave %s: %s", room, exc)
            return
        logger.info("joined %s on %s's invite", room, inviter)
        if not self._e2ee.enabled and await self._notices.is_encrypted(room):
            await self._notices.encrypted_room(room)
        elif event.content.get("is_direct") is True:
            # The user opened a new DM with the bot: it is where they will look (issue 9).
            await self.set_management_room(MatrixUserId(inviter), room)
            await self._notices.greet_management_room(room)
        else:
            known = await self.store.matrix.management_room(inviter)
            await self._notices.greet_room(room, known)

    async def _late_event(self, event: RoomEvent) -> None:
        """An event decrypted after its transaction was answered (its room key came late):
        handled as a transaction of its own."""
        await self.handle_transaction(
            Transaction(TransactionId(f"late:{event.event_id}"), (event,))
        )

    async def _notify(self, room: RoomId, text: str) -> None:
        await self._notices.notify(room, text)

    async def _run_command(self, command: BotCommand) -> None:
        try:
            await self._on_command(command)
        except Exception:
            logger.exception("command in %s from %s failed", command.room, command.sender)

    async def drain_commands(self) -> None:
        """Wait until every ``on_command`` call started so far has returned."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

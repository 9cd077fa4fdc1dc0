"""The ``Relay``: journal-first, per-chat ordered delivery between two channels of one login."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from bridge.channel import Channel, EventBatch, SupportsAvatars, display_name
from bridge.config import RetentionConfig
from bridge.errors import BridgeError, DeliveryFailed, StoreError
from bridge.ids import LoginId, RoomId
from bridge.model import (
    Address,
    IdentityId,
    IntakeResumed,
    IntakeStalled,
    Message,
    Notice,
    Revocation,
    StateEvent,
)
from bridge.relay import identities, media
from bridge.relay.avatars import AvatarFetcher
from bridge.relay.decisions import resolve_identity
from bridge.relay.deliver import Deliverer
from bridge.relay.ingest import Ingestor
from bridge.relay.keys import QueueKey, is_held
from bridge.relay.notices import HeldChat, UserNotice, not_delivered, not_revoked
from bridge.relay.notify import Notifier
from bridge.relay.portals import PortalDirectory
from bridge.relay.receipts import Receipts
from bridge.relay.retry import RetryPolicy
from bridge.store import CodecError, JournalEntry, Side, Store, StoredIdentity

log = logging.getLogger(__name__)

StateHandler = Callable[[Side, StateEvent], Awaitable[None]]


class Relay:
    """Relays one login's chats between side ``a`` (the remote network, e.g. WeChat) and side
    ``b`` (where portals live, e.g. Matrix), durably.

    Every inbound batch is committed to the journal in one transaction before its ``ack()``
    is called. Entries are delivered by one task per chat (so a chat keeps its order while
    chats proceed in parallel), retried per ``retry``, and resumed in order after a restart.
    A delivered entry is marked together with its message-map row, and inbound ids already
    mapped or journaled are skipped, so replays and echoes of the bridge's own sends are not
    relayed twice. What cannot be delivered or revoked ends in a notice to its origin chat.

    ``owner`` is the local user's address on side B (their Matrix user id); ``on_state``
    receives the state events (QR code, logged in/out, disconnected) of both sides in order.
    ``portals`` records and looks up the login's portals (by default a ``PortalDirectory``
    of ``store``; pass the one side B's adapter asks, so that both share its cache).
    The caller starts and stops the channels; ``start()`` begins consuming their events.
    ``retention`` (the config's ``retention`` section) is applied at start and then every
    ``retention.interval_s`` while the relay runs: old delivered or failed journal entries
    and old message-map rows are deleted, undelivered entries never.
    ``tell_user`` posts a ``UserNotice`` in the user's management room: a chat whose
    messages are held is announced there once, its candidates described by what tells them
    apart, their avatars below when side A can fetch them (``SupportsAvatars``; without
    ``tell_user``, a short notice goes to each portal involved).

    Files never enter the journal: an inbound ``Media`` with its bytes is spooled to
    ``store.media`` and journaled by name; one that is only a reference (``Media.ref``) is
    fetched by its chat's queue when delivered (``Deliverer``). When the journal cannot be
    written, intake stops acknowledging, says so once (``IntakeStalled`` to ``on_state``),
    retries the same batch per ``intake_retry`` and says ``IntakeResumed`` when it works.
    """

    #: How long ``stop()`` lets deliveries in progress finish, in seconds.
    stop_timeout_s = 10.0
    #: Spooled files older than this (seconds) that no undelivered entry names are removed
    #: at start (left behind by a crash between a delivery and the file's removal).
    orphan_age_s = 3600.0
    #: A chat's queue stopped by a database error is woken again after this many seconds.
    queue_resume_s = 10.0

    def __init__(
        self,
        store: Store,
        login: LoginId,
        a: Channel,
        b: Channel,
        *,
        owner: Address,
        retry: RetryPolicy | None = None,
        on_state: StateHandler | None = None,
        clock: Callable[[], float] = time.time,
        portals: PortalDirectory | None = None,
        retention: RetentionConfig | None = None,
        tell_user: Callable[[UserNotice], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self.store = store
        self._tell_user = tell_user
        self.retention = retention or RetentionConfig()
        self.login = login
        self.retry = retry or RetryPolicy()
        #: Waits between attempts to journal a batch the database refused (never gives up).
        self.intake_retry = RetryPolicy(attempts=0, first_delay_s=1.0, max_delay_s=30.0)
        #: True while a batch waits because the journal cannot be written.
        self.intake_stalled = False
        self.portals = portals or PortalDirectory(store)
        self._notifier = Notifier(store, login, a, b)
        self._deliverer = Deliverer(
            store, login, a, b, owner=owner, portals=self.portals, notifier=self._notifier
        )
        self._receipts = Receipts(store, login, self._deliverer)
        #: Fetches the avatars that tell look-alikes apart (side A ``SupportsAvatars``).
        self.avatars = AvatarFetcher(a) if isinstance(a, SupportsAvatars) else None
        self._ingestor = Ingestor(
            login,
            self.portals,
            a_stable=a.stable_addresses,
            a_name=display_name(a),
            avatars=self.avatars,
        )
        self._on_state = on_state
        self._clock = clock
        self._queues: dict[QueueKey, asyncio.Task[None]] = {}
        self._pokes: dict[QueueKey, int] = {}
        self._pumps: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._busy: set[QueueKey] = set()
        self._started = False
        self._stopped = False

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume undelivered journal entries, then consume both channels' events.
        Idempotent. Raises ``StoreError`` if the journal cannot be read."""
        if self._started:
            return
        self._started = True
        await self.prune()
        await media.sweep(self.store, self.orphan_age_s)
        for key in await self.store.journal.pending_keys(self.login):
            self._wake(QueueKey(key))
        for side in Side:
            self._pumps.append(self._spawn(self._pump(side), f"relay-{self.login}-pump-{side}"))
        self._pumps.append(self._spawn(self._prune_periodically(), f"relay-{self.login}-prune"))

    async def stop(self) -> None:
        """Stop consuming and delivering; what is not delivered stays in the journal.

        A delivery in progress may finish (at most ``stop_timeout_s``), so that a message
        that reached the other side is also recorded as delivered. Idempotent; never raises.
        """
        if self._stopped:
            return
        self._stopped = True
        busy = [t for key, t in self._queues.items() if key in self._busy]
        idle = [t for key, t in self._queues.items() if key not in self._busy]
        for task in [*self._pumps, *idle, *self._background]:
            task.cancel()
        if busy:
            await asyncio.wait(busy, timeout=self.stop_timeout_s)
        tasks = [*self._pumps, *self._queues.values(), *self._background, *busy]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self) -> None:
        """Wait until no delivery (retries included) or notice is in progress. Batches the
        channels have not handed over yet are not waited for."""
        while tasks := [*self._queues.values(), *self._background]:
            await asyncio.wait(tasks)

    async def prune(self) -> None:
        """Apply ``retention`` now: delete delivered and failed journal entries older than
        ``retention.journal_s`` and message-map rows older than ``retention.message_map_s``
        (of every login: the tables are shared). Raises ``StoreError``."""
        now = self._clock()
        journal = await self.store.journal.prune(now - self.retention.journal_s)
        mapped = await self.store.messages.prune(now - self.retention.message_map_s)
        mapped += await self.store.replacements.prune(now - self.retention.message_map_s)
        if journal or mapped:
            log.info("retention: pruned %d journal entries, %d message-map rows", journal, mapped)

    async def _prune_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.retention.interval_s)
            try:
                await self.prune()
            except StoreError:
                log.exception(
                    "retention: pruning failed; tried again in %.0f s", self.retention.interval_s
                )

    # ---- intake ------------------------------------------------------------------------------

    async def _pump(self, side: Side) -> None:
        channel = self._deliverer.channel(side)
        async for batch in channel.events():
            # The next batch is not taken (so the channel stops fetching) until this one
            # is journaled: acknowledging a later batch would make the source forget it.
            await self._ingest_until_journaled(side, batch)
        log.info("%s stopped producing events", channel.name)

    async def _ingest_until_journaled(self, side: Side, batch: EventBatch) -> None:
        failures = 0
        while True:
            try:
                await self.ingest(side, batch)
            except CodecError:
                # A bug, not the disk: the same batch would fail forever and block the rest.
                log.exception("a batch from side %s cannot be encoded; skipped", side.value)
                return
            except StoreError as e:
                failures += 1
                delay = self.intake_retry.delay(failures)
                log.error(
                    "cannot journal a batch from side %s (%s); nothing acknowledged, "
                    "retry in %.0f s",
                    side.value,
                    e,
                    delay,
                )
                if not self.intake_stalled:
                    self.intake_stalled = True
                    await self._pass_state(side, IntakeStalled(str(e), retry_in_s=delay))
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("journaling works again; intake of side %s resumed", side.value)
            if self.intake_stalled:
                self.intake_stalled = False
                await self._pass_state(side, IntakeResumed())
            return

    async def ingest(self, side: Side, batch: EventBatch) -> None:
        """Commit ``batch`` from ``side`` to the journal, then ``ack()`` it, then start its
        deliveries. Files in it are spooled first (``store.media``), the journal names them;
        contact books are matched and long runs of profile updates applied before the
        transaction (``Ingestor.prepare``). Raises ``StoreError`` (and does not ack) if the
        spool or the commit fails."""
        events, spooled = await media.spool_events(self.store, batch.events)
        prepared = await self._ingestor.prepare(self.store, side, events)
        if spooled:
            async with self.store.media.lock:
                async with self.store.transaction() as tx:
                    result = await self._ingestor.ingest(tx, side, events, prepared)
                # A redelivered batch journals nothing new: its copies are not needed.
                await media.discard_unused(self.store, spooled)
        else:
            async with self.store.transaction() as tx:
                result = await self._ingestor.ingest(tx, side, events, prepared)
        try:
            await batch.ack()
        except Exception:
            # Not fatal: the source redelivers the batch and the journal de-duplicates it.
            log.exception("acknowledging a batch from side %s failed", side.value)
        for key in sorted(result.keys):
            self._wake(key)
        if result.receipts:
            self._run_in_background(self._receipts.relay(side, result.receipts))
        if self._tell_user is not None:
            for held in result.held:
                self._run_in_background(self._tell_held(held))
        else:
            for room, text in result.notices:
                notice = Notice(text)
                self._run_in_background(self._notifier.notify(Side.B, Address(room), notice))
        for state in result.states:
            await self._pass_state(side, state)

    async def _pass_state(self, side: Side, state: StateEvent) -> None:
        if self._on_state is None:
            log.info("side %s: %s", side.value, type(state).__name__)
            return
        try:
            await self._on_state(side, state)
        except Exception:
            log.exception("state handler failed for %s", type(state).__name__)

    # ---- per-chat queues ---------------------------------------------------------------------

    def _wake(self, key: QueueKey) -> None:
        self._pokes[key] = self._pokes.get(key, 0) + 1
        if self._stopped or is_held(key):
            return
        task = self._queues.get(key)
        if task is None or task.done():
            self._queues[key] = self._spawn(self._run_queue(key), f"relay-{self.login}-{key}")

    async def _run_queue(self, key: QueueKey) -> None:
        try:
            while not self._stopped:
                poke = self._pokes.get(key, 0)
                mark = self._notifier.notice_mark()
                entry = await self.store.journal.next_pending(self.login, key)
                if entry is None:
                    if self._pokes.get(key, 0) != poke:
                        continue  # entries were added while we looked
                    return
                wait = entry.next_attempt_at - self._clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                self._busy.add(key)
                try:
                    await self._attempt(entry, mark)
                finally:
                    self._busy.discard(key)
        except StoreError:
            log.exception(
                "queue %s stopped on a database error; resumes in %.0f s or on the next event",
                key,
                self.queue_resume_s,
            )
            asyncio.get_running_loop().call_later(self.queue_resume_s, self._wake, key)
        finally:
            if self._queues.get(key) is asyncio.current_task():
                del self._queues[key]

    async def _attempt(self, entry: JournalEntry, mark: int | None) -> None:
        try:
            if await self._deliverer.deliver(entry, mark=mark):
                self._report(entry, None)
        except CodecError:
            log.exception("journal entry %d is corrupt; dropped", entry.id)
            await self.store.journal.mark_failed(entry.id, "corrupt journal entry")
        except DeliveryFailed as e:
            if e.retryable:
                await self._retry_later(entry, e.reason)
            else:
                await self._fail(entry, e.reason)
        except BridgeError as e:
            await self._retry_later(entry, str(e))
        except Exception as e:
            log.exception("delivering journal entry %d failed unexpectedly", entry.id)
            await self._retry_later(entry, f"internal error ({type(e).__name__})")

    async def _retry_later(self, entry: JournalEntry, reason: str) -> None:
        failures = entry.attempts + 1
        if failures >= self.retry.attempts:
            await self._fail(entry, reason)
            return
        delay = self.retry.delay(failures)
        await self.store.journal.schedule_retry(entry.id, self._clock() + delay, reason)
        log.info(
            "entry %d: attempt %d failed (%s); retry in %.1f s", entry.id, failures, reason, delay
        )

    async def _fail(self, entry: JournalEntry, reason: str) -> None:
        await self.store.journal.mark_failed(entry.id, reason)
        await media.release(self.store, entry)
        log.warning("entry %d from side %s not delivered: %s", entry.id, entry.source.value, reason)
        try:
            event = entry.event()
            if not isinstance(event, Message | Revocation):
                return  # a rename the portal missed is no news for the people in the chat
            if isinstance(event, Message):
                self._report(entry, reason)
            content = await self._notifier.origin_content(entry)
            chat = await self._notifier.origin_chat(entry)
        except (CodecError, StoreError):
            log.exception("cannot tell the origin of entry %d about its failure", entry.id)
            return
        if chat is None:
            log.warning("entry %d: its origin chat has no address now; no notice", entry.id)
            return
        target = display_name(self._deliverer.channel(entry.source.other))
        notice = (
            not_revoked(content, target, reason)
            if isinstance(event, Revocation)
            else not_delivered(content, target, reason)
        )
        await self._notifier.notify(entry.source, chat, notice)

    def _report(self, entry: JournalEntry, error: str | None) -> None:
        """Tell the side the message of ``entry`` came from that it was delivered (``error``
        ``None``) or never will be (``SupportsDeliveryReports``), in the background."""
        if not self._receipts.reports_to(entry.source):
            return
        event = entry.event()
        if isinstance(event, Message):
            report = self._receipts.report(entry.source, entry.chat, event.remote_id, error)
            self._run_in_background(report)

    # ---- identities --------------------------------------------------------------------------

    async def ambiguities(self) -> list[StoredIdentity]:
        """The identities of this login waiting for the user to say which contact they are."""
        return [i for i in await self.store.identities.all(self.login) if i.ambiguous]

    async def resolve(self, identity: IdentityId, address: Address | None) -> None:
        """Say that ``identity`` is the side-A contact at ``address`` (one of its candidates),
        or, with ``None``, none of them: each candidate no identity claims any more becomes a
        new identity. Held messages whose addresses are no longer ambiguous are delivered,
        in order. Raises ``BridgeError`` for an unknown identity or address."""
        async with self.store.transaction() as tx:
            await resolve_identity(tx, self.login, identity, address)
            woken = await identities.release_held(tx, self.login)
        for key in sorted(woken):
            self._wake(key)

    async def _tell_held(self, held: HeldChat) -> None:
        """A newly held chat's notice for the user, with its candidates' avatars."""
        assert self._tell_user is not None
        images = await self.avatars.pictures(held.avatars) if self.avatars else ()
        await self._tell_user(UserNotice(held.text, images))

    # ---- portals -----------------------------------------------------------------------------

    async def ensure_portal(self, ident: StoredIdentity) -> tuple[RoomId, bool]:
        """The portal room of ``ident`` (of this login), created on side B and recorded if it
        has none; and whether it was created now. Raises ``BridgeError``."""
        return await self._deliverer.ensure_portal(ident)

    # ---- tasks -------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_failure)
        return task

    def _run_in_background(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._stopped:
            coro.close()
            return
        task = self._spawn(coro, f"relay-{self.login}-notice")
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s failed", task.get_name(), exc_info=task.exception())

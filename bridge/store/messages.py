"""Repositories of the message map, the journal and processed appservice transactions."""

from __future__ import annotations

from collections.abc import Callable

from bridge.errors import StoreError
from bridge.ids import EntryId, EventId, LoginId, RoomId, TransactionId
from bridge.model import Address, Event, IdentityId, RemoteId, SentMessage
from bridge.store.codec import encode
from bridge.store.db import Executor
from bridge.store.records import EntryState, JournalEntry, MessageLink, Origin, Side

Clock = Callable[[], float]

#: How much of a message's text the message map keeps for quoting it in a reply, in
#: characters: quotes show an excerpt, and the map keeps no full copy of what people wrote.
QUOTE_TEXT_CHARS = 200


class MessageMapRepo:
    """The ``message_map`` table: side-A id (WeChat MsgId) <-> side-B id (Matrix event id).

    Look-ups work from either side, so revocations and replies survive a restart.
    """

    def __init__(self, db: Executor, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add(
        self,
        login_id: LoginId,
        *,
        origin: Origin,
        sender: str,
        remote_id: RemoteId | None,
        event_id: EventId | None,
        identity_id: IdentityId | None = None,
        room: RoomId | None = None,
        timestamp: float | None = None,
        sent: SentMessage | None = None,
        quote_text: str | None = None,
    ) -> MessageLink:
        """Record a bridged message. ``timestamp`` (unix s) defaults to now; ``sent`` is what
        the bridge's send of it returned (its send time and revoke data are kept, and its
        text as ``quote_text`` unless that is given). Of ``quote_text`` the first
        ``QUOTE_TEXT_CHARS`` characters are kept.

        Raises ``StoreError`` if either id is mapped already.
        """
        ts = self._clock() if timestamp is None else timestamp
        revoke_data = sent_at = None
        if sent is not None:
            revoke_data, sent_at = sent.revoke_data or None, sent.timestamp
            quote_text = quote_text if quote_text is not None else sent.text or None
        if quote_text is not None:
            quote_text = quote_text[:QUOTE_TEXT_CHARS]
        row = await self._db.fetchone(
            "INSERT INTO message_map (login_id, remote_id, revoke_data, event_id, identity_id,"
            " room, sender, origin, timestamp, sent_at, quote_text)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            login_id,
            remote_id,
            revoke_data,
            event_id,
            identity_id,
            room,
            sender,
            origin.value,
            ts,
            sent_at,
            quote_text,
        )
        if row is None:
            raise StoreError("message map insert returned no id")
        return MessageLink(
            row["id"],
            login_id,
            remote_id,
            revoke_data,
            event_id,
            identity_id,
            room,
            sender,
            origin,
            ts,
            False,
            sent_at,
            quote_text,
        )

    async def by_remote_id(self, login_id: LoginId, remote_id: RemoteId) -> MessageLink | None:
        """The message whose side-A id is ``remote_id``, or ``None``."""
        row = await self._db.fetchone(
            "SELECT * FROM message_map WHERE login_id = $1 AND remote_id = $2",
            login_id,
            remote_id,
        )
        return None if row is None else MessageLink.from_row(row)

    async def by_event_id(self, login_id: LoginId, event_id: EventId) -> MessageLink | None:
        """The message whose side-B id is ``event_id``, or ``None``."""
        row = await self._db.fetchone(
            "SELECT * FROM message_map WHERE login_id = $1 AND event_id = $2",
            login_id,
            event_id,
        )
        return None if row is None else MessageLink.from_row(row)

    async def by_side(self, login_id: LoginId, side: Side, id_: RemoteId) -> MessageLink | None:
        """The message whose id on ``side`` is ``id_``, or ``None``."""
        if side is Side.A:
            return await self.by_remote_id(login_id, id_)
        return await self.by_event_id(login_id, EventId(id_))

    async def rooms_between(self, login_id: LoginId, start: float, end: float) -> list[RoomId]:
        """The side-B rooms (portals) of ``login_id`` with a bridged message (either way)
        timestamped from ``start`` to ``end`` (unix s), in order of their first one."""
        rows = await self._db.fetchall(
            "SELECT room, MIN(timestamp) AS first FROM message_map WHERE login_id = $1"
            " AND room IS NOT NULL AND timestamp BETWEEN $2 AND $3 GROUP BY room ORDER BY first",
            login_id,
            start,
            end,
        )
        return [RoomId(r["room"]) for r in rows]

    async def newest_event(self, login_id: LoginId, room: RoomId) -> EventId | None:
        """The side-B event id of the message (or notice) of ``login_id`` bridged last into
        ``room``, revoked ones left out; ``None`` when there is none."""
        row = await self._db.fetchone(
            "SELECT event_id FROM message_map WHERE login_id = $1 AND room = $2"
            " AND event_id IS NOT NULL AND revoked = 0 ORDER BY id DESC LIMIT 1",
            login_id,
            room,
        )
        return None if row is None else EventId(row["event_id"])

    async def prune(self, before: float) -> int:
        """Delete messages bridged before ``before`` (unix s); returns how many. A recall
        or reply of such a message is then no longer bridged as one."""
        return await self._db.execute("DELETE FROM message_map WHERE timestamp < $1", before)

    async def mark_revoked(self, link_id: int) -> None:
        """Note that the message was revoked, so the revocation's echo is not relayed."""
        await self._db.execute("UPDATE message_map SET revoked = 1 WHERE id = $1", link_id)


class JournalRepo:
    """The ``journal`` table: inbound events of both sides until they are delivered.

    Entries of one ``chat_key`` are delivered in ``id`` order (arrival order).
    """

    def __init__(self, db: Executor, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def append(
        self,
        login_id: LoginId,
        source: Side,
        chat: Address,
        event: Event,
        *,
        chat_key: str,
        sender_key: str | None = None,
        dedup_key: str | None = None,
        state: EntryState = EntryState.PENDING,
    ) -> EntryId | None:
        """Add ``event``; returns its id, or ``None`` if ``dedup_key`` was journaled before.

        Raises ``CodecError`` if the event cannot be encoded, ``StoreError`` on a write error.
        """
        now = self._clock()
        row = await self._db.fetchone(
            "INSERT INTO journal (login_id, source, chat, chat_key, sender_key, dedup_key,"
            " payload, state, next_attempt_at, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
            " ON CONFLICT DO NOTHING RETURNING id",
            login_id,
            source.value,
            chat,
            chat_key,
            sender_key,
            dedup_key,
            encode(event),
            state.value,
            now,
        )
        return None if row is None else EntryId(row["id"])

    async def get(self, entry_id: EntryId) -> JournalEntry | None:
        """The entry ``entry_id``, or ``None``."""
        row = await self._db.fetchone("SELECT * FROM journal WHERE id = $1", entry_id)
        return None if row is None else JournalEntry.from_row(row)

    async def next_pending(self, login_id: LoginId, chat_key: str) -> JournalEntry | None:
        """The oldest ``PENDING`` entry of queue ``chat_key``, or ``None``. Its ``mapped``
        says whether its message (dedup key ``msg:<id on its source side>``) is in the
        message map already: the same statement answers both."""
        row = await self._db.fetchone(
            "SELECT j.*, CASE"
            " WHEN j.dedup_key IS NULL OR substr(j.dedup_key, 1, 4) <> 'msg:' THEN 0"
            " WHEN j.source = $4 THEN EXISTS (SELECT 1 FROM message_map m"
            "  WHERE m.login_id = j.login_id AND m.remote_id = substr(j.dedup_key, 5))"
            " ELSE EXISTS (SELECT 1 FROM message_map m"
            "  WHERE m.login_id = j.login_id AND m.event_id = substr(j.dedup_key, 5))"
            " END AS mapped"
            " FROM journal j WHERE j.login_id = $1 AND j.state = $2 AND j.chat_key = $3"
            " ORDER BY j.id LIMIT 1",
            login_id,
            EntryState.PENDING.value,
            chat_key,
            Side.A.value,
        )
        return None if row is None else JournalEntry.from_row(row)

    async def pending_keys(self, login_id: LoginId) -> list[str]:
        """The queues of ``login_id`` with ``PENDING`` entries, oldest entry first."""
        rows = await self._db.fetchall(
            "SELECT chat_key, MIN(id) AS first FROM journal WHERE login_id = $1 AND state = $2"
            " GROUP BY chat_key ORDER BY first",
            login_id,
            EntryState.PENDING.value,
        )
        return [r["chat_key"] for r in rows]

    async def entries(
        self, login_id: LoginId, state: EntryState | None = None
    ) -> list[JournalEntry]:
        """Entries of ``login_id`` (all, or in ``state``), oldest first."""
        if state is None:
            rows = await self._db.fetchall(
                "SELECT * FROM journal WHERE login_id = $1 ORDER BY id", login_id
            )
        else:
            rows = await self._db.fetchall(
                "SELECT * FROM journal WHERE login_id = $1 AND state = $2 ORDER BY id",
                login_id,
                state.value,
            )
        return [JournalEntry.from_row(r) for r in rows]

    async def find(self, login_id: LoginId, source: Side, dedup_key: str) -> JournalEntry | None:
        """The entry with ``dedup_key`` from ``source``, or ``None``."""
        row = await self._db.fetchone(
            "SELECT * FROM journal WHERE login_id = $1 AND source = $2 AND dedup_key = $3",
            login_id,
            source.value,
            dedup_key,
        )
        return None if row is None else JournalEntry.from_row(row)

    async def contains(self, login_id: LoginId, source: Side, dedup_key: str) -> bool:
        """Whether an entry with ``dedup_key`` from ``source`` was journaled."""
        return await self.find(login_id, source, dedup_key) is not None

    async def mark_delivered(self, entry_id: EntryId) -> None:
        """The entry reached the other side (or needed nothing delivered)."""
        await self._set_state(entry_id, EntryState.DELIVERED, None)

    async def mark_failed(self, entry_id: EntryId, error: str) -> None:
        """The entry will never be delivered; ``error`` says why (user-facing)."""
        await self._set_state(entry_id, EntryState.FAILED, error)

    async def _set_state(self, entry_id: EntryId, state: EntryState, error: str | None) -> None:
        await self._db.execute(
            "UPDATE journal SET state = $2, last_error = COALESCE($3, last_error) WHERE id = $1",
            entry_id,
            state.value,
            error,
        )

    async def schedule_retry(self, entry_id: EntryId, at: float, error: str) -> int:
        """Count a failed attempt and retry no earlier than ``at`` (unix s); returns the number
        of attempts made so far."""
        await self._db.execute(
            "UPDATE journal SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3"
            " WHERE id = $1",
            entry_id,
            at,
            error,
        )
        row = await self._db.fetchone("SELECT attempts FROM journal WHERE id = $1", entry_id)
        return 0 if row is None else int(row["attempts"])

    async def set_event(self, entry_id: EntryId, event: Event) -> None:
        """Replace the entry's event (e.g. a file reference by the spooled file's name).
        Raises ``CodecError``, ``StoreError``."""
        await self._db.execute(
            "UPDATE journal SET payload = $2 WHERE id = $1", entry_id, encode(event)
        )

    async def readdress(self, entry_id: EntryId, event: Event, chat_key: str) -> None:
        """Replace a ``HELD`` entry's event by ``event`` (the same one under its chat's
        address in a later session) and its queue by ``chat_key``; other entries are left
        alone. Raises ``CodecError``, ``StoreError``."""
        chat = getattr(event, "chat", "")
        await self._db.execute(
            "UPDATE journal SET payload = $2, chat = $3, chat_key = $4 WHERE id = $1"
            " AND state = $5",
            entry_id,
            encode(event),
            chat,
            chat_key,
            EntryState.HELD.value,
        )

    async def refers_to(self, text: str) -> bool:
        """Whether an entry not yet delivered (``PENDING`` or ``HELD``, any login) has
        ``text`` (a spooled file's SHA-256 name) in its payload."""
        row = await self._db.fetchone(
            # login_id IN (...) lets the queue index find the undelivered entries.
            "SELECT 1 AS found FROM journal WHERE login_id IN (SELECT id FROM logins)"
            " AND state IN ($1, $2) AND instr(payload, $3) > 0 LIMIT 1",
            EntryState.PENDING.value,
            EntryState.HELD.value,
            text,
        )
        return row is not None

    async def release(self, entry_id: EntryId, chat_key: str, sender_key: str | None) -> None:
        """Turn a ``HELD`` entry ``PENDING`` in queue ``chat_key``."""
        await self._db.execute(
            "UPDATE journal SET state = $2, chat_key = $3, sender_key = $4 WHERE id = $1"
            " AND state = $5",
            entry_id,
            EntryState.PENDING.value,
            chat_key,
            sender_key,
            EntryState.HELD.value,
        )

    async def prune(self, before: float) -> int:
        """Delete ``DELIVERED`` and ``FAILED`` entries created before ``before`` (unix s);
        returns how many. De-duplication then relies on the message map."""
        return await self._db.execute(
            "DELETE FROM journal WHERE created_at < $1 AND state IN ($2, $3)",
            before,
            EntryState.DELIVERED.value,
            EntryState.FAILED.value,
        )


class TransactionRepo:
    """The ``appservice_transactions`` table: ids of transactions already processed, so a
    homeserver's retry of a transaction is answered without handling it twice."""

    def __init__(self, db: Executor, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def seen(self, txn_id: TransactionId) -> bool:
        """Whether ``txn_id`` was processed before."""
        row = await self._db.fetchone(
            "SELECT 1 AS found FROM appservice_transactions WHERE txn_id = $1", txn_id
        )
        return row is not None

    async def add(self, txn_id: TransactionId) -> None:
        """Record ``txn_id`` as processed (idempotent)."""
        await self._db.execute(
            "INSERT INTO appservice_transactions (txn_id, processed_at) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            txn_id,
            self._clock(),
        )

    async def prune(self, before: float) -> int:
        """Forget transactions processed before ``before`` (unix s); returns how many."""
        return await self._db.execute(
            "DELETE FROM appservice_transactions WHERE processed_at < $1", before
        )

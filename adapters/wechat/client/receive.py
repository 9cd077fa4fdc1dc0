"""The receive loop: synccheck long poll, webwxsync, batches the caller commits (§4, §5)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any

import attrs

from adapters.wechat.client import calls, contacts
from adapters.wechat.client.connection import Connection
from adapters.wechat.client.errors import ApiError, ProtocolError, SessionInvalid, WeChatError
from adapters.wechat.client.results import SyncResponse
from adapters.wechat.client.types import Contact, SyncKey, UserName
from adapters.wechat.client.wire import SyncCheck, parse_synccheck

log = logging.getLogger(__name__)

LOGGED_OUT_CODES = {
    1100: "the session no longer exists (logged out on the phone, or expired)",
    1101: "the session was invalidated (logged in to web WeChat elsewhere)",
    1102: "the session cookies were refused (quit on the phone, or web login blocked)",
}


@attrs.frozen
class SyncBatch:
    """What one webwxsync returned (PROTOCOL.md §5), in order of arrival.

    ``seq`` numbers batches of this client (1, 2, …). ``messages`` are raw ``AddMsgList``
    objects (may repeat after a crash: de-duplicate on MsgId), ``mod_contacts`` the
    ``ModContactList`` entries, ``del_contacts`` the UserNames of ``DelContactList``,
    ``profile`` the self ``Profile`` when it changed. ``sync_key``/``sync_check_key`` are the
    keys this batch leads to: ``WeChatClient.commit(batch)`` persists them.
    """

    seq: int
    messages: tuple[Mapping[str, Any], ...] = attrs.field(eq=False)
    mod_contacts: tuple[Contact, ...]
    del_contacts: tuple[UserName, ...]
    sync_key: SyncKey
    sync_check_key: SyncKey
    selector: int = 0
    profile: Mapping[str, Any] | None = attrs.field(default=None, eq=False)

    @property
    def is_empty(self) -> bool:
        """True when the batch carries no message and no contact change (keys only)."""
        return not (self.messages or self.mod_contacts or self.del_contacts or self.profile)


@attrs.frozen
class SessionEnded:
    """The server ended the web session (synccheck retcode or webwxsync Ret 1100/1101/1102,
    PROTOCOL.md §4): log in again (push login or QR). ``code`` is the retcode."""

    code: int
    reason: str


ReceiveEvent = SyncBatch | SessionEnded


@attrs.frozen
class _Failure:
    """A non-fatal bad answer of the receive loop: ``code`` is the Ret/retcode (-1 when the
    answer could not be parsed)."""

    endpoint: str
    code: int


class Receiver:
    """Runs synccheck/webwxsync on a ``Connection`` and hands out ``SyncBatch``es.

    Durability: the keys of a batch are used in memory for the next poll at once but written
    to the session file only by ``commit(batch)``, so a crash before the commit makes the
    server deliver the batch again.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._seq = 0
        self._committed = 0
        self._pending: deque[SyncBatch] = deque()
        self.ended: SessionEnded | None = None
        #: webwxsync answers in a row whose SyncKey was missing or malformed.
        self.bad_keys = 0
        #: webwxinit re-inits done since the last usable SyncKey.
        self.reinits = 0

    async def sync(self, selector: int = 0) -> SyncBatch:
        """One webwxsync with the in-memory SyncKey; adopts the returned keys in memory.

        Raises ``SessionInvalid``, ``TooFrequent``, ``ApiError``, ``NetworkError``.
        """
        conn = self._conn
        call = calls.webwxsync(conn.creds(), conn.sync_key, ms=calls.now_ms())
        result = SyncResponse.from_wire(await conn.call_json(call))
        if result.key_problem:
            self.bad_keys += 1
            log.warning(
                "webwxsync: %s; keeping the last good keys (%d such answers in a row)",
                result.key_problem,
                self.bad_keys,
            )
        else:
            self.bad_keys = self.reinits = 0
        conn.apply_sync_keys(result.sync_key, result.sync_check_key)
        if result.skey:
            conn.credentials = attrs.evolve(conn.creds(), skey=result.skey)
        self._seq += 1
        log.debug(
            "webwxsync: %d messages, %d contact changes, %d deletions",
            len(result.messages),
            len(result.mod_contacts),
            len(result.del_contacts),
        )
        return SyncBatch(
            seq=self._seq,
            messages=result.messages,
            mod_contacts=result.mod_contacts,
            del_contacts=result.del_contacts,
            sync_key=conn.sync_key,
            sync_check_key=conn.sync_check_key,
            selector=selector,
            profile=result.profile,
        )

    def hold(self, batch: SyncBatch) -> None:
        """Queue ``batch`` to be yielded first by ``events()`` (the resume probe's result)."""
        self._pending.append(batch)

    async def synccheck(self) -> SyncCheck:
        """One synccheck long poll with the SyncCheckKey (SyncKey until there is one) (§4).

        Raises ``NetworkError`` after the bounded retries, ``ProtocolError``.
        """
        conn = self._conn
        key = conn.sync_check_key or conn.sync_key
        call = calls.synccheck(conn.creds(), key, ms=calls.now_ms(), counter=conn.next_counter())
        reply = await conn.http.send(call, conn.hosts, time_limit=conn.config.long_poll_timeout)
        check = parse_synccheck(reply.text())
        log.debug("synccheck: retcode %d selector %d", check.retcode, check.selector)
        return check

    async def probe(self, time_limit: float) -> bool:
        """Whether WeChat answers a synccheck (§4) within ``time_limit`` seconds, asked once
        (no retries): the cheap check of a reconnect backoff. A session that has ended
        answers at once (its retcode), as does one with news; a live session with nothing new
        holds the poll, so False means "unreachable, or nothing to fetch yet". The keys are
        not advanced. Never raises for a failed request."""
        conn = self._conn
        key = conn.sync_check_key or conn.sync_key
        call = calls.synccheck(conn.creds(), key, ms=calls.now_ms(), counter=conn.next_counter())
        try:
            reply = await conn.http.send(call, conn.hosts, time_limit=time_limit, retry=False)
        except WeChatError as exc:
            log.debug("synccheck probe: no answer (%s)", type(exc).__name__)
            return False
        log.debug("synccheck probe: answered (%d bytes)", len(reply.body))
        return True

    async def events(self) -> AsyncIterator[ReceiveEvent]:
        """Batches as they arrive, forever, or until a final ``SessionEnded`` (yielded again,
        alone, by any later call).

        A 1205 answer (synccheck or webwxsync) waits ``rate_limit_wait`` seconds, doubled per
        repeat; other non-zero or unparseable answers (logged) wait like transport retries
        and, repeated ``retry.attempts`` times in a row, raise ``ApiError``. Raises
        ``NetworkError`` when the server stays unreachable. Every webwxsync yields a batch,
        even an empty one (its keys still need committing).

        A webwxsync answer whose SyncKey is missing or malformed still yields its messages;
        the last good keys stay in use (so the server may deliver them again: de-duplicate on
        MsgId). After ``retry.attempts`` such answers in a row the loop waits like a transport
        retry and re-initialises (webwxinit, §3.1) for fresh keys; when that fails, or the
        keys are still unusable ``retry.attempts`` answers after a re-init, it raises
        (``ProtocolError``, or the error of webwxinit) so the caller can tell the user and
        call ``events()`` again, which tries again.
        """
        conn = self._conn
        limited = failures = 0
        if self.ended is not None:
            yield self.ended
            return
        while True:
            while self._pending:
                yield self._pending.popleft()
            if self.bad_keys >= conn.config.retry.attempts:
                ended = await self._reinit()
                if ended is not None:
                    yield ended
                    return
            outcome = await self._poll()
            if isinstance(outcome, SessionEnded):
                yield outcome
                return
            if not isinstance(outcome, _Failure):
                limited = failures = 0
                if outcome is not None:
                    yield outcome
                continue
            if outcome.code == 1205:
                wait = min(
                    conn.config.rate_limit_wait * 2**limited, conn.config.rate_limit_wait_max
                )
                limited += 1
                log.warning("rate limited (1205): waiting %.1f s", wait)
                await asyncio.sleep(wait)
                continue
            failures += 1
            if failures >= conn.config.retry.attempts:
                raise ApiError(outcome.endpoint, outcome.code)
            wait = min(conn.config.retry.wait * 2 ** (failures - 1), conn.config.retry.wait_max)
            log.warning("%s answered %d, retrying in %.1f s", outcome.endpoint, outcome.code, wait)
            await asyncio.sleep(wait)

    async def _poll(self) -> SyncBatch | SessionEnded | _Failure | None:
        """One synccheck and, on news, one webwxsync; None when there was nothing new."""
        try:
            check = await self.synccheck()
        except ProtocolError as exc:
            log.warning("synccheck: unusable answer (%s)", exc)
            return _Failure("synccheck", -1)
        if check.retcode in LOGGED_OUT_CODES:
            return self._ended(check.retcode)
        if check.retcode != 0:
            return _Failure("synccheck", check.retcode)
        if check.selector == 0:
            return None
        try:
            return await self.sync(check.selector)
        except SessionInvalid as exc:
            return self._ended(exc.ret)
        except ApiError as exc:
            return _Failure("webwxsync", exc.ret)
        except ProtocolError as exc:
            log.warning("webwxsync: unusable answer (%s)", exc)
            return _Failure("webwxsync", -1)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # An answer shape nobody foresaw: one bad envelope must not end the loop.
            log.warning("webwxsync: unexpected answer shape (%s)", type(exc).__name__)
            return _Failure("webwxsync", -1)

    async def _reinit(self) -> SessionEnded | None:
        """Back off, then webwxinit for fresh keys after repeated unusable SyncKeys (§3.1).

        Returns the ``SessionEnded`` when webwxinit says the session is gone. Raises
        ``ProtocolError`` when a re-init already failed to cure the keys, and what webwxinit
        raises (``ApiError``, ``NetworkError``) — the counters stay, so the next ``events()``
        tries again.
        """
        conn = self._conn
        if self.reinits >= 1:
            self.bad_keys = self.reinits = 0
            raise ProtocolError("webwxsync keeps answering without a usable SyncKey after re-init")
        retry = conn.config.retry
        wait = min(retry.wait * 2 ** (retry.attempts - 1), retry.wait_max)
        log.warning(
            "%d webwxsync answers without a usable SyncKey: re-initialising in %.1f s",
            self.bad_keys,
            wait,
        )
        await asyncio.sleep(wait)
        try:
            await contacts.init(conn)
        except SessionInvalid as exc:
            return self._ended(exc.ret)
        self.reinits += 1
        self.bad_keys = 0
        return None

    def _ended(self, code: int) -> SessionEnded:
        reason = LOGGED_OUT_CODES.get(code, f"code {code}")
        log.warning("WeChat session ended: retcode %d (%s)", code, reason)
        self.ended = SessionEnded(code, reason)
        return self.ended

    async def commit(self, batch: SyncBatch) -> None:
        """Persist the keys ``batch`` leads to. Committing an older batch after a newer one
        does nothing. Raises ``OSError`` if the session file cannot be written."""
        if batch.seq <= self._committed:
            return
        self._committed = batch.seq
        await self._conn.persist(batch.sync_key, batch.sync_check_key)

"""The appservice HTTP server over the wire: authentication, transactions, queries, bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest

from adapters.matrix.appservice import AppserviceServer, MemoryTransactionLog
from adapters.matrix.types import RoomAlias, Transaction, UserId

HS_TOKEN = "hs-secret-token"

EVENT = {
    "event_id": "$abc",
    "room_id": "!opaque-room-id",
    "sender": "@alice:localhost",
    "type": "m.room.message",
    "origin_server_ts": 1700000000000,
    "content": {"msgtype": "m.text", "body": "hello"},
}


@attrs.define
class Harness:
    """A running server with a handler that records transactions and fails on demand."""

    url: str
    received: list[Transaction] = attrs.Factory(list)
    failures_left: int = 0

    async def handle(self, txn: Transaction) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("journal unavailable")
        self.received.append(txn)

    async def put(
        self, txn_id: str, body: Any, token: str | None = HS_TOKEN
    ) -> aiohttp.ClientResponse:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        data = body if isinstance(body, bytes) else None
        async with aiohttp.ClientSession() as session:
            resp = await session.put(
                f"{self.url}/_matrix/app/v1/transactions/{txn_id}",
                json=None if data is not None else body,
                data=data,
                headers=headers,
            )
            await resp.read()
            return resp

    async def call(
        self, method: str, path: str, token: str | None = HS_TOKEN, **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with aiohttp.ClientSession() as session:
            resp = await session.request(method, f"{self.url}{path}", headers=headers, **kw)
            return resp.status, await resp.json(content_type=None)


async def _known_user(user_id: UserId) -> bool:
    return user_id == "@wechat_known:localhost"


async def _known_room(alias: RoomAlias) -> bool:
    return alias == "#known:localhost"


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness(url="")
    server = AppserviceServer(
        HS_TOKEN, h.handle, MemoryTransactionLog(), user_query=_known_user, room_query=_known_room
    )
    port = await server.start("127.0.0.1", 0)
    h.url = f"http://127.0.0.1:{port}"
    yield h
    await server.stop()
    await server.stop()  # idempotent


async def test_missing_or_wrong_token_is_refused(harness: Harness) -> None:
    for token in (None, "wrong", ""):
        resp = await harness.put("t1", {"events": [EVENT]}, token=token)
        assert resp.status == 403
    status, body = await harness.call("GET", "/_matrix/app/v1/users/@x:localhost", token="nope")
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    assert harness.received == []


async def test_transaction_reaches_the_handler_once(harness: Harness) -> None:
    resp = await harness.put("t1", {"events": [EVENT]})
    assert resp.status == 200
    assert len(harness.received) == 1
    txn = harness.received[0]
    assert txn.txn_id == "t1"
    [event] = txn.events
    assert (event.event_id, event.room_id, event.sender) == (
        "$abc",
        "!opaque-room-id",
        "@alice:localhost",
    )
    assert event.msgtype == "m.text" and event.content["body"] == "hello"

    again = await harness.put("t1", {"events": [EVENT]})
    assert again.status == 200
    assert len(harness.received) == 1


async def test_handler_failure_answers_500_and_the_retry_succeeds(harness: Harness) -> None:
    harness.failures_left = 1
    first = await harness.put("t2", {"events": [EVENT]})
    assert first.status == 500
    assert harness.received == []
    retry = await harness.put("t2", {"events": [EVENT]})
    assert retry.status == 200
    assert [t.txn_id for t in harness.received] == ["t2"]


async def test_malformed_bodies_are_400_and_the_server_keeps_going(harness: Harness) -> None:
    bodies: list[Any] = [b"not json", b"[1, 2]", {"events": "nope"}, {"no_events": []}]
    for body in bodies:
        resp = await harness.put("bad", body)
        assert resp.status == 400
    resp = await harness.put("good", {"events": [EVENT]})
    assert resp.status == 200


async def test_malformed_events_are_skipped(harness: Harness) -> None:
    broken = [{"type": "m.room.message"}, "text", {**EVENT, "content": []}]
    resp = await harness.put("t3", {"events": [*broken, EVENT]})
    assert resp.status == 200
    [txn] = harness.received
    assert [e.event_id for e in txn.events] == ["$abc"]
    assert txn.skipped == 3


async def test_user_and_room_queries(harness: Harness) -> None:
    assert (await harness.call("GET", "/_matrix/app/v1/users/@wechat_known:localhost"))[0] == 200
    status, body = await harness.call("GET", "/_matrix/app/v1/users/@wechat_other:localhost")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    assert (await harness.call("GET", "/_matrix/app/v1/rooms/%23known:localhost"))[0] == 200
    assert (await harness.call("GET", "/_matrix/app/v1/rooms/%23other:localhost"))[0] == 404


async def test_legacy_paths_ping_and_health(harness: Harness) -> None:
    status, _ = await harness.call("PUT", "/transactions/legacy", json={"events": [EVENT]})
    assert status == 200
    assert [t.txn_id for t in harness.received] == ["legacy"]
    status, _ = await harness.call(
        "GET", "/users/@wechat_known:localhost", token=None, params={"access_token": HS_TOKEN}
    )
    assert status == 200
    status, body = await harness.call("POST", "/_matrix/app/v1/ping", json={"transaction_id": "p1"})
    assert (status, body) == (200, {})
    status, body = await harness.call("GET", "/health", token=None)
    assert status == 200 and body["status"] == "ok"


async def test_a_reused_txn_id_with_new_events_is_processed(harness: Harness) -> None:
    # Synapse on SQLite numbers transactions again from 1 after a restart.
    assert (await harness.put("1", {"events": [EVENT]})).status == 200
    later = {**EVENT, "event_id": "$after-restart"}
    assert (await harness.put("1", {"events": [later]})).status == 200
    assert (await harness.put("1", {"events": [later]})).status == 200
    assert [e.event_id for t in harness.received for e in t.events] == ["$abc", "$after-restart"]


async def test_the_largest_transaction_synapse_sends_is_accepted(harness: Harness) -> None:
    # 100 events of 64 KiB each (Synapse's MAX_PDU_SIZE), non-ASCII so that the ASCII-escaped
    # form Synapse sends is twice as long: ~13 MB, 13 times aiohttp's default body limit.
    events = [
        {**EVENT, "event_id": f"$big{n}", "content": {"msgtype": "m.text", "body": "é" * 32000}}
        for n in range(100)
    ]
    resp = await harness.put("big", {"events": events, "ephemeral": []})
    assert resp.status == 200
    [txn] = harness.received
    assert len(txn.events) == 100 and txn.events[99].content["body"] == "é" * 32000


async def test_deep_nesting_is_400_not_a_crash_and_auth_comes_first(harness: Harness) -> None:
    deep = b'{"events": [' + b"[" * 200_000 + b"]" * 200_000 + b"]}"
    assert (await harness.put("deep", deep, token="wrong")).status == 403
    resp = await harness.put("deep", deep)
    assert resp.status == 400
    nested: dict[str, Any] = {}
    node = nested
    for _ in range(125):  # as deep as Synapse lets into an event's content
        node["a"] = {}
        node = node["a"]
    ok = {**EVENT, "content": {"msgtype": "m.text", "body": "deep", "n": nested}}
    assert (await harness.put("ok", {"events": [ok]})).status == 200
    assert [t.txn_id for t in harness.received] == ["ok"]


def _receipt(event_id: str, user: str = "@alice:localhost") -> dict[str, Any]:
    return {
        "type": "m.receipt",
        "room_id": "!opaque-room-id",
        "content": {event_id: {"m.read": {user: {"ts": 1700000000000}}}},
    }


async def test_ephemeral_events_are_parsed_under_either_key_and_bad_ones_skipped(
    harness: Harness,
) -> None:
    stable = {"events": [], "ephemeral": [_receipt("$a"), "junk", {"content": {}}]}
    unstable = {"events": [], "de.sorunome.msc2409.ephemeral": [_receipt("$b")]}
    assert (await harness.put("e1", stable)).status == 200
    assert (await harness.put("e2", unstable)).status == 200

    first, second = harness.received
    [receipt] = first.ephemeral  # the malformed two were logged and skipped
    assert (receipt.type, receipt.room_id) == ("m.receipt", "!opaque-room-id")
    assert "$a" in receipt.content
    assert "$b" in second.ephemeral[0].content


async def test_receipt_only_transactions_are_told_apart_by_what_they_carry(
    harness: Harness,
) -> None:
    # Synapse on SQLite numbers transactions from 1 again after a restart: a new receipt
    # under an old txnId is a new transaction, a repeat of the same one is not.
    await harness.put("7", {"events": [], "ephemeral": [_receipt("$a")]})
    await harness.put("7", {"events": [], "ephemeral": [_receipt("$a")]})
    await harness.put("7", {"events": [], "ephemeral": [_receipt("$b")]})

    assert [t.ephemeral[0].content.keys() for t in harness.received] == [{"$a"}, {"$b"}]

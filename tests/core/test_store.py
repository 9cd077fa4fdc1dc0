"""The store on real SQLite files: migrations, reopening, message map, journal, identities."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bridge.errors import SchemaTooNew, StoreError
from bridge.ids import EventId, LoginId, MatrixUserId, RoomId, TransactionId
from bridge.model import (
    Address,
    ChatKind,
    IdentityId,
    Message,
    Profile,
    RemoteId,
    SentMessage,
    Text,
)
from bridge.store import (
    EntryState,
    IdentityState,
    Login,
    LoginState,
    Origin,
    Side,
    SqliteDatabase,
    Store,
    migrate,
    schema_version,
)
from bridge.store.migrate import Migration, load_migrations

LATEST = len(load_migrations("sqlite"))


def _message(chat: str, remote_id: str, body: str = "hi") -> Message:
    return Message(
        chat=Address(chat),
        sender=Address(chat),
        remote_id=RemoteId(remote_id),
        content=Text(body),
        timestamp=1700000000.5,
    )


def _raw(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(sql).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


async def test_migrates_an_empty_file_in_wal_mode_with_foreign_keys(db_path: Path) -> None:
    store = await Store.open(db_path, synchronous="NORMAL")
    try:
        assert await schema_version(store.db) == LATEST >= 1
        assert await store.db.fetchone("PRAGMA journal_mode") == {"journal_mode": "wal"}
        assert await store.db.fetchone("PRAGMA foreign_keys") == {"foreign_keys": 1}
    finally:
        await store.close()
    tables = {r[0] for r in _raw(db_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "schema_version",
        "logins",
        "identities",
        "identity_candidates",
        "portals",
        "message_map",
        "journal",
        "appservice_transactions",
    } <= tables


async def test_reopening_a_migrated_file_does_not_migrate_again(db_path: Path) -> None:
    for _ in range(2):
        store = await Store.open(db_path, synchronous="NORMAL")
        await store.close()
    assert _raw(db_path, "SELECT version FROM schema_version") == [(LATEST,)]


async def test_an_old_schema_is_upgraded_with_its_data(db_path: Path) -> None:
    db = await SqliteDatabase.open(db_path, synchronous="NORMAL")
    try:
        assert await migrate(db, load_migrations("sqlite")[:1]) == 1
        await db.execute(
            "INSERT INTO logins (id, matrix_user, channel, state, created_at, updated_at)"
            " VALUES ('l1', '@a:hs', 'wechat', 'active', 1, 1)"
        )
    finally:
        await db.close()

    store = await Store.open(db_path, synchronous="NORMAL")
    try:
        assert await schema_version(store.db) == LATEST
        login = await store.logins.get(LoginId("l1"))
        assert login is not None and login.state is LoginState.ACTIVE
    finally:
        await store.close()


async def test_refuses_a_schema_newer_than_the_code_and_leaves_it_alone(db_path: Path) -> None:
    store = await Store.open(db_path, synchronous="NORMAL")
    await store.close()
    _raw(db_path, "UPDATE schema_version SET version = 99")

    with pytest.raises(SchemaTooNew) as caught:
        await Store.open(db_path)

    assert (caught.value.found, caught.value.supported) == (99, LATEST)
    assert "upgrade chatbridge" in str(caught.value)
    assert _raw(db_path, "SELECT version FROM schema_version") == [(99,)]


async def test_a_failing_migration_leaves_the_previous_version(db_path: Path) -> None:
    db = await SqliteDatabase.open(db_path, synchronous="NORMAL")
    steps = (
        Migration(1, "one", "CREATE TABLE a (x INTEGER);"),
        Migration(2, "two", "CREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);"),
    )
    try:
        with pytest.raises(StoreError, match="migration 2"):
            await migrate(db, steps)
        assert await schema_version(db) == 1
        names = await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")
        assert {r["name"] for r in names} == {"schema_version", "a"}
    finally:
        await db.close()


async def test_everything_survives_closing_and_reopening(
    db_path: Path, store: Store, login: Login
) -> None:
    ident = await store.identities.create(
        login.id, Profile(Address("@u1"), nick_name="Bob", alias="bob88"), address=Address("@u1")
    )
    await store.portals.set(ident.id, RoomId("!room1"))
    await store.messages.add(
        login.id,
        origin=Origin.A,
        sender=ident.id,
        remote_id=RemoteId("1001"),
        event_id=EventId("$e1"),
        identity_id=ident.id,
        room=RoomId("!room1"),
        timestamp=1700000000.0,
    )
    await store.journal.append(
        login.id, Side.A, Address("@u1"), _message("@u1", "1002"), chat_key=ident.id
    )
    await store.logins.set_state(login.id, LoginState.ACTIVE, account="wxid_alice")
    await store.logins.set_session_path(login.id, "/var/lib/chatbridge/login-1.session")
    await store.transactions.add(TransactionId("txn-1"))
    await store.close()

    again = await Store.open(db_path, synchronous="NORMAL")
    try:
        reloaded = await again.logins.get(login.id)
        assert reloaded is not None
        assert reloaded.state is LoginState.ACTIVE
        assert reloaded.account == "wxid_alice"
        assert reloaded.session_path == "/var/lib/chatbridge/login-1.session"
        assert await again.identities.by_address(login.id, Address("@u1")) == ident
        portal = await again.portals.by_room(RoomId("!room1"))
        assert portal is not None and portal.identity_id == ident.id
        link = await again.messages.by_remote_id(login.id, RemoteId("1001"))
        assert link is not None and link.event_id == "$e1"
        [entry] = await again.journal.entries(login.id)
        assert entry.event() == _message("@u1", "1002")
        assert await again.transactions.seen(TransactionId("txn-1"))
        assert not await again.transactions.seen(TransactionId("txn-2"))
    finally:
        await again.close()


async def test_message_map_looks_up_both_directions(store: Store, login: Login) -> None:
    other = await store.logins.create(MatrixUserId("@bob:localhost"), "wechat")
    link = await store.messages.add(
        login.id,
        origin=Origin.B,
        sender="@alice:localhost",
        remote_id=RemoteId("7001"),
        event_id=EventId("$ev"),
        room=RoomId("!r"),
        sent=SentMessage(RemoteId("7001"), 1700000000.5, "17000000000000123", "hi"),
    )

    assert await store.messages.by_remote_id(login.id, RemoteId("7001")) == link
    assert await store.messages.by_event_id(login.id, EventId("$ev")) == link
    assert await store.messages.by_side(login.id, Side.B, RemoteId("$ev")) == link
    assert link.id_on(Side.A) == "7001" and link.id_on(Side.B) == "$ev"
    assert (link.revoke_data, link.sent_at, link.quote_text) == (
        "17000000000000123",
        1700000000.5,
        "hi",
    )
    assert await store.messages.by_remote_id(other.id, RemoteId("7001")) is None

    with pytest.raises(StoreError):
        await store.messages.add(
            login.id, origin=Origin.A, sender="x", remote_id=RemoteId("7001"), event_id=None
        )

    await store.messages.mark_revoked(link.id)
    revoked = await store.messages.by_event_id(login.id, EventId("$ev"))
    assert revoked is not None and revoked.revoked


async def test_journal_dedups_and_resumes_in_order_after_reopen(
    db_path: Path, store: Store, login: Login
) -> None:
    ids = []
    for n, chat in enumerate(["c1", "c2", "c1", "c2", "c1"]):
        entry_id = await store.journal.append(
            login.id,
            Side.A,
            Address(chat),
            _message(chat, f"m{n}"),
            chat_key=chat,
            dedup_key=f"msg:m{n}",
        )
        ids.append(entry_id)
    again = await store.journal.append(
        login.id, Side.A, Address("c1"), _message("c1", "m0"), chat_key="c1", dedup_key="msg:m0"
    )
    assert again is None
    assert await store.journal.contains(login.id, Side.A, "msg:m0")
    assert not await store.journal.contains(login.id, Side.B, "msg:m0")
    assert None not in ids

    await store.journal.mark_delivered(ids[0])
    attempts = await store.journal.schedule_retry(ids[1], 1234.0, "rate limited")
    assert attempts == 1
    await store.close()

    reopened = await Store.open(db_path, synchronous="NORMAL")
    try:
        assert await reopened.journal.pending_keys(login.id) == ["c2", "c1"]
        first_c1 = await reopened.journal.next_pending(login.id, "c1")
        assert first_c1 is not None and first_c1.event() == _message("c1", "m2")
        first_c2 = await reopened.journal.next_pending(login.id, "c2")
        assert first_c2 is not None
        assert (first_c2.attempts, first_c2.next_attempt_at, first_c2.last_error) == (
            1,
            1234.0,
            "rate limited",
        )
        await reopened.journal.mark_failed(first_c2.id, "gave up")
        nxt = await reopened.journal.next_pending(login.id, "c2")
        assert nxt is not None and nxt.event() == _message("c2", "m3")
        states = [e.state for e in await reopened.journal.entries(login.id)]
        assert states == [
            EntryState.DELIVERED,
            EntryState.FAILED,
            EntryState.PENDING,
            EntryState.PENDING,
            EntryState.PENDING,
        ]
    finally:
        await reopened.close()


async def test_held_entries_wait_until_released(store: Store, login: Login) -> None:
    held = await store.journal.append(
        login.id,
        Side.A,
        Address("@x"),
        _message("@x", "h1"),
        chat_key="addr:@x",
        state=EntryState.HELD,
    )
    assert held is not None
    assert await store.journal.next_pending(login.id, "addr:@x") is None
    assert await store.journal.pending_keys(login.id) == []

    await store.journal.release(held, "id-1", "id-1")

    entry = await store.journal.next_pending(login.id, "id-1")
    assert entry is not None and entry.id == held and entry.sender_key == "id-1"


async def test_a_failed_transaction_writes_nothing(store: Store, login: Login) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.journal.append(
                login.id, Side.A, Address("c"), _message("c", "m1"), chat_key="c"
            )
            await tx.messages.add(
                login.id, origin=Origin.A, sender="s", remote_id=RemoteId("m1"), event_id=None
            )
            raise RuntimeError("crash before commit")

    assert await store.journal.entries(login.id) == []
    assert await store.messages.by_remote_id(login.id, RemoteId("m1")) is None


async def test_identities_bind_become_ambiguous_and_resolve(store: Store, login: Login) -> None:
    bob = await store.identities.create(
        login.id, Profile(Address("@old1"), nick_name="Bob"), address=Address("@old1")
    )
    group = await store.identities.create(
        login.id, Profile(Address("@@g"), kind=ChatKind.GROUP, name="Team"), address=None
    )
    assert group.kind is ChatKind.GROUP and group.address is None

    await store.identities.unbind_all(login.id)
    assert await store.identities.by_address(login.id, Address("@old1")) is None

    cands = [Profile(Address("@n1"), nick_name="Bob"), Profile(Address("@n2"), nick_name="Bob")]
    await store.identities.mark_ambiguous(bob.id, cands)
    ambiguous = await store.identities.get(bob.id)
    assert ambiguous is not None and ambiguous.ambiguous
    assert ambiguous.candidates == tuple(cands)
    assert await store.identities.claimants(login.id, Address("@n2")) == [bob.id]

    await store.identities.bind(bob.id, Address("@n2"))
    resolved = await store.identities.get(bob.id)
    assert resolved is not None
    assert (resolved.state, resolved.address, resolved.candidates) == (
        IdentityState.NORMAL,
        "@n2",
        (),
    )
    assert await store.identities.claimants(login.id, Address("@n2")) == []

    # Binding an address moves it: the previous holder is unbound, never two at once.
    await store.identities.bind(group.id, Address("@n2"))
    holder = await store.identities.by_address(login.id, Address("@n2"))
    assert holder is not None and holder.id == group.id
    unbound = await store.identities.get(bob.id)
    assert unbound is not None and unbound.address is None


async def test_deleting_a_login_deletes_what_belongs_to_it(store: Store, login: Login) -> None:
    ident = await store.identities.create(login.id, Profile(Address("@u")), address=Address("@u"))
    await store.portals.set(ident.id, RoomId("!r"))
    await store.journal.append(login.id, Side.A, Address("@u"), _message("@u", "1"), chat_key="k")

    await store.logins.delete(login.id)

    assert await store.identities.get(ident.id) is None
    assert await store.portals.by_room(RoomId("!r")) is None
    assert await store.journal.entries(login.id) == []
    assert await store.logins.for_matrix_user(MatrixUserId("@alice:localhost")) == []


async def test_an_unknown_login_id_is_refused(store: Store) -> None:
    with pytest.raises(StoreError):
        await store.identities.create(
            LoginId("nope"), Profile(Address("@u")), address=Address("@u")
        )
    assert await store.identities.all(LoginId("nope")) == []
    assert await store.identities.get(IdentityId("id-missing")) is None


async def test_pruning_forgets_old_finished_entries_only(db_path: Path, login: Login) -> None:
    now = [1000.0]
    store = await Store.open(db_path, synchronous="NORMAL", clock=lambda: now[0])
    try:
        old_done = await store.journal.append(
            login.id, Side.A, Address("c"), _message("c", "1"), chat_key="c"
        )
        old_pending = await store.journal.append(
            login.id, Side.A, Address("c"), _message("c", "2"), chat_key="c"
        )
        assert old_done is not None and old_pending is not None
        await store.journal.mark_delivered(old_done)
        await store.transactions.add(TransactionId("t-old"))
        now[0] = 5000.0
        await store.journal.append(login.id, Side.A, Address("c"), _message("c", "3"), chat_key="c")

        assert await store.journal.prune(before=2000.0) == 1
        assert await store.transactions.prune(before=2000.0) == 1
        left = [e.event() for e in await store.journal.entries(login.id)]
        assert left == [_message("c", "2"), _message("c", "3")]
        assert not await store.transactions.seen(TransactionId("t-old"))
    finally:
        await store.close()

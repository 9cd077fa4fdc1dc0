"""Schema 3: what a later revoke or reply needs is kept with the message map, and a database
of schema 2 is migrated without losing its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bridge.ids import EventId, LoginId, MatrixUserId, RoomId
from bridge.model import RemoteId, SentMessage
from bridge.store import Origin, SqliteDatabase, Store
from bridge.store.messages import QUOTE_TEXT_CHARS
from bridge.store.migrate import load_migrations, migrate


async def test_a_schema_2_message_map_row_survives_the_migration(db_path: Path) -> None:
    db = await SqliteDatabase.open(db_path, synchronous="NORMAL")
    await migrate(db, load_migrations(db.dialect)[:2])
    await db.close()
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "INSERT INTO logins (id, matrix_user, channel, state, created_at, updated_at)"
            " VALUES ('l1', '@a:hs', 'wechat', 'active', 0, 0)"
        )
        conn.execute(
            "INSERT INTO message_map (login_id, remote_id, event_id, room, sender, origin,"
            " timestamp) VALUES ('l1', '42', '$e', '!r', '@a:hs', 'b', 1700000000)"
        )

    store = await Store.open(db_path, synchronous="NORMAL")
    try:
        link = await store.messages.by_remote_id(LoginId("l1"), RemoteId("42"))
        assert link is not None and link.event_id == "$e"
        assert (link.revoke_data, link.sent_at, link.quote_text) == (None, None, None)
    finally:
        await store.close()


async def test_what_a_send_returned_is_kept_and_a_given_quote_text_wins(store: Store) -> None:
    login = await store.logins.create(MatrixUserId("@a:hs"), "wechat")
    sent = SentMessage(RemoteId("7"), 1700000100.25, revoke_data="1700000100250", text="hi")
    await store.messages.add(
        login.id,
        origin=Origin.B,
        sender="@a:hs",
        remote_id=sent.remote_id,
        event_id=EventId("$b"),
        room=RoomId("!r"),
        sent=sent,
    )
    inbound = SentMessage(RemoteId("$a"), 1700000200.0)
    await store.messages.add(
        login.id,
        origin=Origin.A,
        sender="id-1",
        remote_id=RemoteId("8"),
        event_id=EventId(inbound.remote_id),
        sent=inbound,
        quote_text="what WeChat showed" + "." * 300,
    )

    b = await store.messages.by_event_id(login.id, EventId("$b"))
    a = await store.messages.by_remote_id(login.id, RemoteId("8"))
    assert b is not None and a is not None
    assert (b.revoke_data, b.sent_at, b.quote_text) == ("1700000100250", 1700000100.25, "hi")
    assert (a.revoke_data, a.sent_at) == (None, 1700000200.0)
    assert a.quote_text == ("what WeChat showed" + "." * 300)[:QUOTE_TEXT_CHARS]

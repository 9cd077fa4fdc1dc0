"""The identity repository on a real SQLite file: match-key columns (migration 5), indexed
look-ups, and the bulk writes a whole contact book uses."""

from __future__ import annotations

from pathlib import Path

from bridge.ids import LoginId
from bridge.model import Address, ChatKind, IdentityId, Profile
from bridge.store import Login, SqliteDatabase, Store, migrate
from bridge.store.codec import encode
from bridge.store.migrate import load_migrations


async def test_migration_5_indexes_the_keys_of_existing_identities(db_path: Path) -> None:
    old = Profile(Address("@u1"), nick_name="Bob", remark_name="Boss", real_id="wxid_b")
    db = await SqliteDatabase.open(db_path, synchronous="NORMAL")
    try:
        assert await migrate(db, load_migrations("sqlite")[:2]) == 2
        await db.execute(
            "INSERT INTO logins (id, matrix_user, channel, state, created_at, updated_at)"
            " VALUES ('l1', '@a:hs', 'wechat', 'active', 1, 1)"
        )
        await db.execute(
            "INSERT INTO identities (id, login_id, kind, fingerprint, address, state,"
            " created_at, updated_at) VALUES ('id-1', 'l1', 'direct', $1, NULL, 'normal', 1, 1)",
            encode(old),
        )
    finally:
        await db.close()

    store = await Store.open(db_path, synchronous="NORMAL")
    try:
        login = LoginId("l1")
        for keys in ({"real_ids": ["wxid_b"]}, {"remark_names": ["Boss"]}, {"topics": ["Bob"]}):
            found = await store.identities.related(login, ChatKind.DIRECT, **keys)  # type: ignore[arg-type]
            assert [(i.id, i.profile) for i in found] == [("id-1", old)]
        assert await store.identities.related(login, ChatKind.GROUP, topics=["Bob"]) == []
        assert await store.identities.display_names(login) == {"id-1": "Boss"}
    finally:
        await store.close()


async def test_bulk_writes_equal_one_by_one_writes(store: Store, login: Login) -> None:
    people = [
        Profile(Address(f"@a{n}"), nick_name=f"P{n}", remark_name=f"R{n}", members=frozenset())
        for n in range(5)
    ]
    ids = [IdentityId(f"id-{n}") for n in range(5)]
    await store.identities.create_many(login.id, list(zip(ids, people, strict=True)))
    await store.identities.bind_many(login.id, [(ids[0], Address("@x")), (ids[1], Address("@y"))])
    # Moving addresses between identities in one call: no unique-index clash.
    await store.identities.bind_many(login.id, [(ids[0], Address("@y")), (ids[1], Address("@x"))])
    renamed = Profile(Address("@y"), nick_name="Renamed", alias="al")
    await store.identities.update_profiles([(ids[0], renamed)])
    await store.identities.mark_ambiguous_many([(ids[2], people[3:5]), (ids[3], people[4:5])])

    by_id = {i.id: i for i in await store.identities.all(login.id)}
    assert by_id[ids[0]].address == "@y" and by_id[ids[0]].profile == renamed
    assert by_id[ids[1]].address == "@x"
    assert [c.address for c in by_id[ids[2]].candidates] == ["@a3", "@a4"]
    assert by_id[ids[3]].ambiguous and by_id[ids[3]].candidates == (people[4],)
    assert [i.id for i in await store.identities.claiming(login.id, [Address("@a4")])] == ids[2:4]
    assert await store.identities.held_with_remark(login.id, "R4") == [people[4]]
    aliased = await store.identities.related(login.id, ChatKind.DIRECT, aliases=["al"], bound=True)
    assert [i.id for i in aliased] == [ids[0]]
    assert (
        await store.identities.related(login.id, ChatKind.DIRECT, aliases=["al"], bound=False) == []
    )

"""The identity repositories: ``identities`` with their match keys and candidates, and the
audit of identity decisions (PROTOCOL.md §11)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence

from bridge.ids import LoginId
from bridge.model import Address, ChatKind, IdentityId, Profile
from bridge.store.accounts import Clock, new_identity_id
from bridge.store.codec import decode_profile, encode
from bridge.store.db import Executor, Row
from bridge.store.records import IdentityState, StoredIdentity

#: From this many identities, ``IdentityRepo`` decodes fingerprints in a worker thread.
_DECODE_IN_THREAD = 500
#: Identities per query of ``IdentityRepo.all``.
_PAGE = 400


class IdentityRepo:
    """The ``identities`` and ``identity_candidates`` tables.

    Every write of a fingerprint also writes its match keys (real id, Alias, RemarkName,
    topic) to indexed columns, so that ``related`` finds the identities a contact could be
    without reading the others (PROTOCOL.md §11). The ``*_many`` methods write many rows in
    one statement each (a JSON array bound as one parameter), for whole contact books.
    """

    def __init__(self, db: Executor, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def _load(self, rows: list[Row]) -> list[StoredIdentity]:
        """Identities of ``rows`` with their candidates (one query for all of them)."""
        ambiguous = [str(r["id"]) for r in rows if r["state"] == IdentityState.AMBIGUOUS.value]
        candidates: dict[str, list[Profile]] = {}
        if ambiguous:
            cand_rows = await self._db.fetchall(
                "SELECT identity_id, profile FROM identity_candidates"
                " WHERE identity_id IN (SELECT value FROM json_each($1))"
                " ORDER BY identity_id, address",
                json.dumps(ambiguous),
            )
            for r in cand_rows:
                candidates.setdefault(r["identity_id"], []).append(decode_profile(r["profile"]))

        def build() -> list[StoredIdentity]:
            return [StoredIdentity.from_row(r, tuple(candidates.get(r["id"], ()))) for r in rows]

        if len(rows) < _DECODE_IN_THREAD:
            return build()
        # A whole contact book: decode it off the event loop, which goes on serving.
        return await asyncio.to_thread(build)

    async def get(self, identity_id: IdentityId) -> StoredIdentity | None:
        """The identity ``identity_id`` with its candidates, or ``None``."""
        rows = await self._db.fetchall("SELECT * FROM identities WHERE id = $1", identity_id)
        found = await self._load(rows)
        return found[0] if found else None

    async def by_address(self, login_id: LoginId, address: Address) -> StoredIdentity | None:
        """The identity currently bound to ``address`` in ``login_id``, or ``None``."""
        rows = await self._db.fetchall(
            "SELECT * FROM identities WHERE login_id = $1 AND address = $2", login_id, address
        )
        found = await self._load(rows)
        return found[0] if found else None

    async def all(self, login_id: LoginId) -> list[StoredIdentity]:
        """Every identity of ``login_id``, oldest first. Read in pages of ``_PAGE`` with the
        event loop free in between (a whole contact book in one query holds it for most of a
        second): a caller that needs one consistent reading compares ``generation()`` before
        and after."""
        found: list[StoredIdentity] = []
        rows = await self._db.fetchall(
            "SELECT * FROM identities WHERE login_id = $1 ORDER BY created_at, id LIMIT $2",
            login_id,
            _PAGE,
        )
        while True:
            found.extend(await self._load(rows))
            if len(rows) < _PAGE:
                return found
            await asyncio.sleep(0)
            last = rows[-1]
            rows = await self._db.fetchall(
                "SELECT * FROM identities WHERE login_id = $1 AND (created_at, id) > ($2, $3)"
                " ORDER BY created_at, id LIMIT $4",
                login_id,
                last["created_at"],
                last["id"],
                _PAGE,
            )

    async def generation(self) -> int:
        """A number that changes whenever any identity or candidate is written (triggers of
        schema 5): equal readings mean nothing changed in between."""
        row = await self._db.fetchone("SELECT n FROM identity_generation")
        return 0 if row is None else int(row["n"])

    async def count_ambiguous(self, login_id: LoginId) -> int:
        """How many identities of ``login_id`` wait for the user to say which contact they
        are."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n FROM identities WHERE login_id = $1 AND state = $2",
            login_id,
            IdentityState.AMBIGUOUS.value,
        )
        return 0 if row is None else int(row["n"])

    async def bound_addresses(self, login_id: LoginId) -> dict[Address, IdentityId]:
        """Address -> identity id of every identity of ``login_id`` bound now (nothing is
        decoded: cheap for a whole contact book)."""
        rows = await self._db.fetchall(
            "SELECT id, address FROM identities WHERE login_id = $1 AND address IS NOT NULL",
            login_id,
        )
        return {Address(r["address"]): IdentityId(r["id"]) for r in rows}

    async def display_names(
        self, login_id: LoginId, *, with_portal: bool = False
    ) -> dict[IdentityId, str]:
        """``profile.display_name`` of every unambiguous identity of ``login_id``, read from
        the key columns (no fingerprint is decoded); ``with_portal``: only of those that have
        a portal (a big account's 50,000 group members mostly have none)."""
        portal = " AND id IN (SELECT identity_id FROM portals)" if with_portal else ""
        rows = await self._db.fetchall(
            "SELECT id, COALESCE(NULLIF(remark_name, ''), NULLIF(topic, ''),"
            " json_extract(fingerprint, '$.value.address')) AS name"
            " FROM identities WHERE login_id = $1 AND state = $2" + portal,
            login_id,
            IdentityState.NORMAL.value,
        )
        return {IdentityId(r["id"]): str(r["name"]) for r in rows}

    async def related(
        self,
        login_id: LoginId,
        kind: ChatKind,
        *,
        real_ids: Sequence[str] = (),
        aliases: Sequence[str] = (),
        remark_names: Sequence[str] = (),
        topics: Sequence[str] = (),
        bound: bool | None = None,
    ) -> list[StoredIdentity]:
        """The identities of ``login_id`` and ``kind`` whose real id, Alias, RemarkName or
        topic is one of the given (empty values are ignored), oldest first; ``bound`` True
        or False keeps only those bound to an address or not. Indexed look-ups only."""
        keys = {
            "real_id": [v for v in real_ids if v],
            "alias": [v for v in aliases if v],
            "remark_name": [v for v in remark_names if v],
            "topic": [v for v in topics if v],
        }
        # "<> ''" lets SQLite use the partial indexes (an OR of index look-ups, no scan).
        parts = [
            f"({column} <> '' AND {column} IN (SELECT value FROM json_each(${n})))"
            for n, column in enumerate(keys, start=3)
        ]
        rows = await self._db.fetchall(
            "SELECT * FROM identities WHERE login_id = $1 AND kind = $2"
            f" AND ({' OR '.join(parts)})"
            + ("" if bound is None else " AND address IS " + ("NOT NULL" if bound else "NULL"))
            + " ORDER BY created_at, id",
            login_id,
            kind.value,
            *(json.dumps(v) for v in keys.values()),
        )
        return await self._load(rows)

    async def claiming(
        self, login_id: LoginId, addresses: Sequence[Address]
    ) -> list[StoredIdentity]:
        """The ambiguous identities of ``login_id`` with any of ``addresses`` among their
        candidates, oldest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM identities WHERE login_id = $1 AND state = $2 AND id IN"
            " (SELECT identity_id FROM identity_candidates"
            "  WHERE address IN (SELECT value FROM json_each($3)))"
            " ORDER BY created_at, id",
            login_id,
            IdentityState.AMBIGUOUS.value,
            json.dumps(list(addresses)),
        )
        return await self._load(rows)

    async def held_with_remark(self, login_id: LoginId, remark_name: str) -> list[Profile]:
        """Profiles of held candidates of ``login_id`` whose RemarkName is ``remark_name``."""
        if not remark_name:
            return []
        rows = await self._db.fetchall(
            "SELECT DISTINCT c.address, c.profile FROM identity_candidates c"
            " JOIN identities i ON i.id = c.identity_id"
            " WHERE c.remark_name <> '' AND c.remark_name = $2 AND i.login_id = $1"
            " AND i.state = $3",
            login_id,
            remark_name,
            IdentityState.AMBIGUOUS.value,
        )
        return [decode_profile(r["profile"]) for r in rows]

    async def create(
        self,
        login_id: LoginId,
        profile: Profile,
        *,
        address: Address | None,
        identity_id: IdentityId | None = None,
    ) -> StoredIdentity:
        """Add an identity with fingerprint ``profile``, bound to ``address`` (or unbound).

        Raises ``StoreError`` if ``address`` is bound to another identity already.
        """
        identity_id = identity_id or new_identity_id()
        now = self._clock()
        await self._db.execute(
            "INSERT INTO identities (id, login_id, kind, fingerprint, address, state,"
            " created_at, updated_at, real_id, alias, remark_name, topic)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11)",
            identity_id,
            login_id,
            profile.kind.value,
            encode(profile),
            address,
            IdentityState.NORMAL.value,
            now,
            *match_keys(profile),
        )
        return StoredIdentity(
            identity_id, login_id, profile.kind, profile, address, IdentityState.NORMAL
        )

    async def create_many(
        self,
        login_id: LoginId,
        identities: Sequence[tuple[IdentityId, Profile]],
        encoded: Mapping[IdentityId, str] | None = None,
    ) -> None:
        """Add unbound identities (id, fingerprint) in one statement. ``encoded``: fingerprints
        already encoded (``codec.encode``) by identity id, e.g. in a worker thread."""
        if not identities:
            return
        done = encoded or {}
        rows = [[i, p.kind.value, done.get(i) or encode(p), *match_keys(p)] for i, p in identities]
        await self._db.execute(
            "INSERT INTO identities (id, login_id, kind, fingerprint, address, state,"
            " created_at, updated_at, real_id, alias, remark_name, topic)"
            " SELECT value ->> 0, $1, value ->> 1, value ->> 2, NULL, $3, $4, $4,"
            " value ->> 3, value ->> 4, value ->> 5, value ->> 6 FROM json_each($2)",
            login_id,
            json.dumps(rows, ensure_ascii=False),
            IdentityState.NORMAL.value,
            self._clock(),
        )

    async def update_profile(self, identity_id: IdentityId, profile: Profile) -> None:
        """Replace the fingerprint of ``identity_id`` (its kind follows ``profile.kind``)."""
        await self._db.execute(
            "UPDATE identities SET fingerprint = $2, kind = $3, updated_at = $4,"
            " real_id = $5, alias = $6, remark_name = $7, topic = $8 WHERE id = $1",
            identity_id,
            encode(profile),
            profile.kind.value,
            self._clock(),
            *match_keys(profile),
        )

    async def update_profiles(
        self,
        updates: Sequence[tuple[IdentityId, Profile]],
        encoded: Mapping[IdentityId, str] | None = None,
    ) -> None:
        """``update_profile`` for many identities in one statement (``encoded``: as for
        ``create_many``)."""
        if not updates:
            return
        done = encoded or {}
        rows = [[i, p.kind.value, done.get(i) or encode(p), *match_keys(p)] for i, p in updates]
        await self._db.execute(
            "UPDATE identities SET fingerprint = v.fingerprint, kind = v.kind,"
            " updated_at = $2, real_id = v.real_id, alias = v.alias,"
            " remark_name = v.remark_name, topic = v.topic"
            " FROM (SELECT value ->> 0 AS id, value ->> 1 AS kind, value ->> 2 AS fingerprint,"
            "  value ->> 3 AS real_id, value ->> 4 AS alias, value ->> 5 AS remark_name,"
            "  value ->> 6 AS topic FROM json_each($1)) AS v WHERE identities.id = v.id",
            json.dumps(rows, ensure_ascii=False),
            self._clock(),
        )

    async def bind(self, identity_id: IdentityId, address: Address | None) -> None:
        """Bind ``identity_id`` to ``address`` (``None``: unbind); it becomes ``NORMAL`` and
        loses its candidates. Whatever identity held ``address`` before is unbound."""
        now = self._clock()
        if address is not None:
            await self._db.execute(
                "UPDATE identities SET address = NULL, updated_at = $3"
                " WHERE address = $2 AND id <> $1"
                " AND login_id = (SELECT login_id FROM identities WHERE id = $1)",
                identity_id,
                address,
                now,
            )
        await self._db.execute(
            "UPDATE identities SET address = $2, state = $3, updated_at = $4 WHERE id = $1",
            identity_id,
            address,
            IdentityState.NORMAL.value,
            now,
        )
        await self._db.execute(
            "DELETE FROM identity_candidates WHERE identity_id = $1", identity_id
        )

    async def bind_many(
        self, login_id: LoginId, bindings: Sequence[tuple[IdentityId, Address | None]]
    ) -> None:
        """``bind`` for many (identity, address or None) pairs of ``login_id``, in three
        statements. The addresses must be distinct."""
        if not bindings:
            return
        now = self._clock()
        pairs = json.dumps([[i, a] for i, a in bindings], ensure_ascii=False)
        await self._db.execute(
            "UPDATE identities SET address = NULL, updated_at = $3"
            " WHERE login_id = $1 AND address IS NOT NULL AND address IN"
            " (SELECT value ->> 1 FROM json_each($2)) AND id NOT IN"
            " (SELECT value ->> 0 FROM json_each($2) WHERE value ->> 1 = identities.address)",
            login_id,
            pairs,
            now,
        )
        await self._db.execute(
            "UPDATE identities SET address = NULL WHERE login_id = $1 AND id IN"
            " (SELECT value ->> 0 FROM json_each($2))",
            login_id,
            pairs,
        )
        await self._db.execute(
            "UPDATE identities SET address = v.address, state = $3, updated_at = $4"
            " FROM (SELECT value ->> 0 AS id, value ->> 1 AS address FROM json_each($2)) AS v"
            " WHERE identities.id = v.id AND identities.login_id = $1",
            login_id,
            pairs,
            IdentityState.NORMAL.value,
            now,
        )
        await self._db.execute(
            "DELETE FROM identity_candidates WHERE identity_id IN"
            " (SELECT value ->> 0 FROM json_each($1))",
            pairs,
        )

    async def unbind_all(self, login_id: LoginId) -> None:
        """Forget every address of ``login_id`` (they expired with the old session)."""
        await self._db.execute(
            "UPDATE identities SET address = NULL, updated_at = $2"
            " WHERE login_id = $1 AND address IS NOT NULL",
            login_id,
            self._clock(),
        )

    async def mark_ambiguous(self, identity_id: IdentityId, candidates: Sequence[Profile]) -> None:
        """Make ``identity_id`` ``AMBIGUOUS`` between ``candidates`` (by their addresses)."""
        await self.mark_ambiguous_many([(identity_id, candidates)])

    async def mark_ambiguous_many(
        self, items: Sequence[tuple[IdentityId, Sequence[Profile]]]
    ) -> None:
        """``mark_ambiguous`` for many identities, in three statements."""
        if not items:
            return
        ids = json.dumps([i for i, _ in items])
        await self._db.execute(
            "UPDATE identities SET address = NULL, state = $2, updated_at = $3"
            " WHERE id IN (SELECT value FROM json_each($1))",
            ids,
            IdentityState.AMBIGUOUS.value,
            self._clock(),
        )
        await self._db.execute(
            "DELETE FROM identity_candidates WHERE identity_id IN"
            " (SELECT value FROM json_each($1))",
            ids,
        )
        rows = [
            [i, p.address, encode(p), p.remark_name]
            for i, candidates in items
            for p in {c.address: c for c in candidates}.values()
        ]
        if rows:
            await self._db.execute(
                "INSERT INTO identity_candidates (identity_id, address, profile, remark_name)"
                " SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each($1)",
                json.dumps(rows, ensure_ascii=False),
            )

    async def remove_candidate(self, identity_id: IdentityId, address: Address) -> None:
        """Strike ``address`` off the candidates of ``identity_id``."""
        await self._db.execute(
            "DELETE FROM identity_candidates WHERE identity_id = $1 AND address = $2",
            identity_id,
            address,
        )

    async def claimants(self, login_id: LoginId, address: Address) -> list[IdentityId]:
        """The ambiguous identities of ``login_id`` that ``address`` could be."""
        rows = await self._db.fetchall(
            "SELECT c.identity_id FROM identity_candidates c"
            " JOIN identities i ON i.id = c.identity_id"
            " WHERE i.login_id = $1 AND c.address = $2 AND i.state = $3 ORDER BY c.identity_id",
            login_id,
            address,
            IdentityState.AMBIGUOUS.value,
        )
        return [IdentityId(r["identity_id"]) for r in rows]


def match_keys(profile: Profile) -> tuple[str, str, str, str]:
    """The indexed match keys of a fingerprint: real id, Alias, RemarkName, topic
    (NickName, else name)."""
    return (
        profile.real_id,
        profile.alias,
        profile.remark_name,
        profile.nick_name or profile.name,
    )

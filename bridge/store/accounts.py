"""Repositories of logins, identities and portals."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from bridge.ids import LoginId, MatrixUserId, RoomId
from bridge.model import Address, IdentityId, Profile
from bridge.store.codec import decode_profile, encode
from bridge.store.db import Executor, Row
from bridge.store.records import (
    IdentityState,
    Login,
    LoginState,
    Portal,
    StoredIdentity,
)

Clock = Callable[[], float]


def new_identity_id() -> IdentityId:
    """A fresh random identity id (``id-`` + 16 hex digits)."""
    return IdentityId(f"id-{secrets.token_hex(8)}")


class LoginRepo:
    """The ``logins`` table: one row per Matrix user's remote account."""

    def __init__(self, db: Executor, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def create(
        self, matrix_user: MatrixUserId, channel: str, *, login_id: LoginId | None = None
    ) -> Login:
        """Add a login in state ``PENDING``; ``login_id`` defaults to a random one."""
        now = self._clock()
        login_id = login_id or LoginId(f"login-{secrets.token_hex(6)}")
        await self._db.execute(
            "INSERT INTO logins (id, matrix_user, channel, state, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $5)",
            login_id,
            matrix_user,
            channel,
            LoginState.PENDING.value,
            now,
        )
        return Login(login_id, matrix_user, channel, "", None, LoginState.PENDING, now, now)

    async def get(self, login_id: LoginId) -> Login | None:
        """The login ``login_id``, or ``None``."""
        row = await self._db.fetchone("SELECT * FROM logins WHERE id = $1", login_id)
        return None if row is None else Login.from_row(row)

    async def for_matrix_user(self, matrix_user: MatrixUserId) -> list[Login]:
        """Every login of ``matrix_user``, oldest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM logins WHERE matrix_user = $1 ORDER BY created_at, id", matrix_user
        )
        return [Login.from_row(r) for r in rows]

    async def all(self) -> list[Login]:
        """Every login, oldest first."""
        rows = await self._db.fetchall("SELECT * FROM logins ORDER BY created_at, id")
        return [Login.from_row(r) for r in rows]

    async def set_state(
        self, login_id: LoginId, state: LoginState, *, account: str | None = None
    ) -> None:
        """Record a login state change, and the remote account id if given."""
        await self._db.execute(
            "UPDATE logins SET state = $2, account = COALESCE($3, account), updated_at = $4"
            " WHERE id = $1",
            login_id,
            state.value,
            account,
            self._clock(),
        )

    async def set_session_path(self, login_id: LoginId, path: str | None) -> None:
        """Record where the session blob of ``login_id`` lives (``None``: no session)."""
        await self._db.execute(
            "UPDATE logins SET session_path = $2, updated_at = $3 WHERE id = $1",
            login_id,
            path,
            self._clock(),
        )

    async def delete(self, login_id: LoginId) -> None:
        """Forget a login with its identities, portals, message map and journal."""
        await self._db.execute("DELETE FROM logins WHERE id = $1", login_id)


class IdentityRepo:
    """The ``identities`` and ``identity_candidates`` tables."""

    def __init__(self, db: Executor, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def _load(self, rows: list[Row]) -> list[StoredIdentity]:
        result = []
        for row in rows:
            candidates: tuple[Profile, ...] = ()
            if row["state"] == IdentityState.AMBIGUOUS.value:
                cand_rows = await self._db.fetchall(
                    "SELECT profile FROM identity_candidates WHERE identity_id = $1"
                    " ORDER BY address",
                    str(row["id"]),
                )
                candidates = tuple(decode_profile(r["profile"]) for r in cand_rows)
            result.append(StoredIdentity.from_row(row, candidates))
        return result

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
        """Every identity of ``login_id``, oldest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM identities WHERE login_id = $1 ORDER BY created_at, id", login_id
        )
        return await self._load(rows)

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
            " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            identity_id,
            login_id,
            profile.kind.value,
            encode(profile),
            address,
            IdentityState.NORMAL.value,
            now,
        )
        return StoredIdentity(
            identity_id, login_id, profile.kind, profile, address, IdentityState.NORMAL
        )

    async def update_profile(self, identity_id: IdentityId, profile: Profile) -> None:
        """Replace the fingerprint of ``identity_id`` (its kind follows ``profile.kind``)."""
        await self._db.execute(
            "UPDATE identities SET fingerprint = $2, kind = $3, updated_at = $4 WHERE id = $1",
            identity_id,
            encode(profile),
            profile.kind.value,
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
        await self._db.execute(
            "UPDATE identities SET address = NULL, state = $2, updated_at = $3 WHERE id = $1",
            identity_id,
            IdentityState.AMBIGUOUS.value,
            self._clock(),
        )
        await self._db.execute(
            "DELETE FROM identity_candidates WHERE identity_id = $1", identity_id
        )
        for profile in candidates:
            await self._db.execute(
                "INSERT INTO identity_candidates (identity_id, address, profile)"
                " VALUES ($1, $2, $3)",
                identity_id,
                profile.address,
                encode(profile),
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


class PortalRepo:
    """The ``portals`` table: identity <-> side-B chat (Matrix room)."""

    def __init__(self, db: Executor, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def get(self, identity_id: IdentityId) -> Portal | None:
        """The portal of ``identity_id``, or ``None``."""
        row = await self._db.fetchone("SELECT * FROM portals WHERE identity_id = $1", identity_id)
        return None if row is None else Portal.from_row(row)

    async def by_room(self, room: RoomId) -> Portal | None:
        """The portal whose room is ``room``, or ``None``."""
        row = await self._db.fetchone("SELECT * FROM portals WHERE room = $1", room)
        return None if row is None else Portal.from_row(row)

    async def set(self, identity_id: IdentityId, room: RoomId) -> Portal:
        """Record (or replace) the room of ``identity_id``'s portal."""
        await self._db.execute(
            "INSERT INTO portals (identity_id, room, created_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (identity_id) DO UPDATE SET room = excluded.room",
            identity_id,
            room,
            self._clock(),
        )
        return Portal(identity_id, room)

    async def delete(self, identity_id: IdentityId) -> None:
        """Forget the portal of ``identity_id``."""
        await self._db.execute("DELETE FROM portals WHERE identity_id = $1", identity_id)

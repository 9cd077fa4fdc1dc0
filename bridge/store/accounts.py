"""Repositories of logins and portals (identities: ``bridge.store.identities``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from bridge.ids import LoginId, MatrixUserId, RoomId
from bridge.model import IdentityId
from bridge.store.db import Executor
from bridge.store.records import (
    Login,
    LoginState,
    Portal,
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

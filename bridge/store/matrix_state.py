"""Repository of the Matrix hub's own state: management rooms, ghost profiles, commands seen."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from bridge.ids import EventId, MatrixUserId, RoomId
from bridge.store.db import Executor, Row

Clock = Callable[[], float]


@attrs.frozen
class MatrixProfile:
    """What the bridge last set on a Matrix user's profile: ``displayname``, and the avatar
    ``avatar_mxc`` uploaded from the remote URL ``avatar_source`` (both '' = none)."""

    user_id: MatrixUserId
    displayname: str = ""
    avatar_source: str = ""
    avatar_mxc: str = ""

    @classmethod
    def from_row(cls, row: Row) -> MatrixProfile:
        """Build from a ``matrix_profiles`` row."""
        return cls(
            user_id=MatrixUserId(row["user_id"]),
            displayname=row["displayname"],
            avatar_source=row["avatar_source"],
            avatar_mxc=row["avatar_mxc"],
        )


class MatrixStateRepo:
    """The ``matrix_management_rooms`` and ``matrix_profiles`` tables (schema 2) and
    ``matrix_command_events`` (schema 4)."""

    def __init__(self, db: Executor, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def management_room(self, user: MatrixUserId) -> RoomId | None:
        """The room remembered as ``user``'s direct chat with the bot, or ``None``."""
        row = await self._db.fetchone(
            "SELECT room FROM matrix_management_rooms WHERE matrix_user = $1", user
        )
        return None if row is None else RoomId(row["room"])

    async def set_management_room(self, user: MatrixUserId, room: RoomId) -> None:
        """Remember (or replace) ``room`` as ``user``'s direct chat with the bot."""
        await self._db.execute(
            "INSERT INTO matrix_management_rooms (matrix_user, room, created_at)"
            " VALUES ($1, $2, $3)"
            " ON CONFLICT (matrix_user) DO UPDATE SET room = excluded.room,"
            " created_at = excluded.created_at",
            user,
            room,
            self._clock(),
        )

    async def profile(self, user_id: MatrixUserId) -> MatrixProfile | None:
        """What the bridge last set on ``user_id``'s profile, or ``None`` if nothing yet."""
        row = await self._db.fetchone("SELECT * FROM matrix_profiles WHERE user_id = $1", user_id)
        return None if row is None else MatrixProfile.from_row(row)

    async def set_profile(self, profile: MatrixProfile) -> None:
        """Record what was set on ``profile.user_id``'s profile (replacing the old record)."""
        await self._db.execute(
            "INSERT INTO matrix_profiles (user_id, displayname, avatar_source, avatar_mxc,"
            " updated_at) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (user_id) DO UPDATE SET displayname = excluded.displayname,"
            " avatar_source = excluded.avatar_source, avatar_mxc = excluded.avatar_mxc,"
            " updated_at = excluded.updated_at",
            profile.user_id,
            profile.displayname,
            profile.avatar_source,
            profile.avatar_mxc,
            self._clock(),
        )

    async def claim_command(self, event_id: EventId) -> bool:
        """Record that the bot command ``event_id`` is being executed; False if it was
        recorded before (a replay: do not execute it again)."""
        changed = await self._db.execute(
            "INSERT INTO matrix_command_events (event_id, seen_at) VALUES ($1, $2)"
            " ON CONFLICT (event_id) DO NOTHING",
            event_id,
            self._clock(),
        )
        return changed == 1

    async def prune_commands(self, before: float) -> int:
        """Forget commands recorded before ``before`` (unix s); returns how many."""
        return await self._db.execute(
            "DELETE FROM matrix_command_events WHERE seen_at < $1", before
        )

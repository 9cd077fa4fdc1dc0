"""Repository of ``message_replacements``: the message an edit put in place of another."""

from __future__ import annotations

import attrs

from bridge.ids import LoginId
from bridge.model import RemoteId
from bridge.store.db import Executor
from bridge.store.records import Side


@attrs.frozen
class Replacement:
    """The edit ``replacement`` (an id on the edit's side) whose message stands for an edited
    one on the other side since ``replaced_at`` (unix s, when the other side accepted it)."""

    replacement: RemoteId
    replaced_at: float


class ReplacementRepo:
    """The ``message_replacements`` table (schema 7), one row per edited message: a network
    without edits gets an edit as a recall plus a new message, and revocations, replies and
    further edits of the original go to that new message, across restarts."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def put(
        self,
        login_id: LoginId,
        source: Side,
        original: RemoteId,
        replacement: RemoteId,
        replaced_at: float,
    ) -> None:
        """Record that the message of ``replacement`` now stands for ``original`` (both ids
        on ``source``), replacing an earlier edit's row. Raises ``StoreError``."""
        await self._db.execute(
            "INSERT INTO message_replacements (login_id, source, original, replacement,"
            " replaced_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (login_id, source, original)"
            " DO UPDATE SET replacement = excluded.replacement,"
            " replaced_at = excluded.replaced_at",
            login_id,
            source.value,
            original,
            replacement,
            replaced_at,
        )

    async def get(self, login_id: LoginId, source: Side, original: RemoteId) -> Replacement | None:
        """What stands for ``original`` (an id on ``source``) now, or ``None`` if it was
        never replaced. Raises ``StoreError``."""
        row = await self._db.fetchone(
            "SELECT replacement, replaced_at FROM message_replacements"
            " WHERE login_id = $1 AND source = $2 AND original = $3",
            login_id,
            source.value,
            original,
        )
        if row is None:
            return None
        return Replacement(RemoteId(row["replacement"]), float(row["replaced_at"]))

    async def current(self, login_id: LoginId, source: Side, id_: RemoteId) -> RemoteId:
        """The id on ``source`` whose message stands for ``id_`` now: its replacement, or
        ``id_`` itself. Raises ``StoreError``."""
        found = await self.get(login_id, source, id_)
        return id_ if found is None else found.replacement

    async def prune(self, before: float) -> int:
        """Forget replacements made before ``before`` (unix s), as the message map forgets
        its rows; returns how many."""
        return await self._db.execute(
            "DELETE FROM message_replacements WHERE replaced_at < $1", before
        )

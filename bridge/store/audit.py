"""The audit of identity decisions: chats held or bound on evidence weaker than an identifier,
the user's ``resolve`` and ``split`` (the ``identity_audit`` table)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import attrs

from bridge.ids import LoginId
from bridge.model import IdentityId, Profile
from bridge.store.accounts import Clock
from bridge.store.codec import decode_profile, encode
from bridge.store.db import Executor


@attrs.frozen
class Decision:
    """One identity decision for the audit: ``decision`` is ``bound``, ``held``, ``resolved``,
    ``split`` or ``unbound``; ``evidence`` what it rested on; ``contact`` the display name of
    the contact it concerned; ``before`` the identity's fingerprint before it (if changed);
    ``at`` unix seconds (0 until stored)."""

    identity_id: IdentityId
    decision: str
    evidence: str
    contact: str = ""
    before: Profile | None = None
    at: float = 0.0


class AuditRepo:
    """The ``identity_audit`` table: identity decisions, newest last."""

    def __init__(self, db: Executor, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def record(self, login_id: LoginId, decisions: Sequence[Decision]) -> None:
        """Store ``decisions`` (one statement)."""
        if not decisions:
            return
        rows = [
            [d.identity_id, d.decision, d.evidence, d.contact, d.before and encode(d.before)]
            for d in decisions
        ]
        await self._db.execute(
            "INSERT INTO identity_audit (login_id, identity_id, decision, evidence, contact,"
            " before, created_at) SELECT $1, value ->> 0, value ->> 1, value ->> 2,"
            " value ->> 3, value ->> 4, $3 FROM json_each($2)",
            login_id,
            json.dumps(rows, ensure_ascii=False),
            self._clock(),
        )

    async def recent(
        self, login_id: LoginId, limit: int = 20, *, identity_id: IdentityId | None = None
    ) -> list[Decision]:
        """The last ``limit`` decisions of ``login_id`` (of ``identity_id`` only, if given),
        oldest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM identity_audit WHERE login_id = $1"
            " AND ($2 IS NULL OR identity_id = $2) ORDER BY id DESC LIMIT $3",
            login_id,
            identity_id,
            limit,
        )
        return [
            Decision(
                IdentityId(r["identity_id"]),
                r["decision"],
                r["evidence"],
                r["contact"],
                None if r["before"] is None else decode_profile(r["before"]),
                float(r["created_at"]),
            )
            for r in reversed(rows)
        ]

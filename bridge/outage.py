"""A remote connection's outages as the user hears of them, and the gap a forced logout leaves."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import attrs


@attrs.define
class Outage:
    """A run of ``Disconnected`` events of one remote connection, so that the user hears of
    an outage once, and only if it lasts.

    The adapter reports every failed attempt, ``retry_in_s`` apart (its backoff); an event
    within ``retry_in_s + gap_s`` of the previous one belongs to the same outage. The user is
    told once an outage has lasted ``notice_after_s``. Times are monotonic seconds.
    """

    notice_after_s: float = 30.0
    gap_s: float = 60.0
    started_at: float | None = None
    #: Unix time of the outage's first ``Disconnected`` (for the user: "messages since").
    since: float = 0.0
    last_at: float = 0.0
    last_retry_s: float = 0.0
    reason: str = ""
    told: bool = False

    def disconnected(
        self, reason: str, retry_in_s: float, now: float, wall: float | None = None
    ) -> bool:
        """Record a ``Disconnected`` at ``now`` (``wall``: the same moment in unix time);
        True when the user should be told now."""
        if self.started_at is None or not self.ongoing(now):
            self.started_at = now
            self.since = time.time() if wall is None else wall
            self.told = False
        self.last_at, self.last_retry_s, self.reason = now, retry_in_s, reason
        if not self.told and now - self.started_at >= self.notice_after_s:
            self.told = True
            return True
        return False

    def ongoing(self, now: float) -> bool:
        """Whether the connection is (probably) still failing at ``now``."""
        return self.started_at is not None and now - self.last_at <= self.last_retry_s + self.gap_s

    def clear(self) -> None:
        """The connection works again."""
        self.started_at = None
        self.told = False


def utc(unix_s: float) -> str:
    """``unix_s`` as the user reads it, e.g. ``2026-12-02 01:40:05 UTC``."""
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@attrs.frozen
class Gap:
    """What a logout forced by ``network`` may have lost: messages since ``since`` (unix s;
    None when the connection had not been failing) to ``end`` (the logout), and after it
    until the next login, which web WeChat cannot fetch again (PROTOCOL.md §5)."""

    since: float | None
    end: float
    network: str

    @property
    def start(self) -> float:
        """T1: since when messages may be missing."""
        return self.end if self.since is None else self.since

    def portal_notice(self) -> str:
        """The notice for a portal with traffic in the gap."""
        return (
            f"⚠ Messages in this chat between {utc(self.start)} and {utc(self.end)} may be "
            f"missing: {self.network} ended the session, and web {self.network} cannot "
            "fetch them again."
        )

    def user_notice(self) -> str:
        """The notice for the management room (every chat)."""
        if self.since is None:
            window = f"from {utc(self.end)} until you log in again"
        else:
            window = f"between {utc(self.start)} and {utc(self.end)}, and until you log in again,"
        return (
            f"Messages sent to you {window} may be missing in every chat: web {self.network} "
            "cannot fetch them again."
        )

"""Everything one simulator instance knows: accounts, logins, sessions, media, faults, clock."""

from __future__ import annotations

import time
from typing import Any

import attrs

from .model import Account, Login, Media, Session, SimulatorOptions, StoredMessage


@attrs.define(eq=False)
class Fault:
    """An injected failure for ``count`` requests to ``endpoint`` (None count = forever).

    ``body``: a JSON value answered verbatim (``text/plain``, HTTP 200) instead of the real
    answer, e.g. a malformed webwxsync envelope.
    """

    endpoint: str
    status: int | None = None
    retcode: int | None = None
    delay_s: float | None = None
    drop: bool = False
    count: int | None = 1
    body: Any = None


@attrs.define(eq=False)
class Upload:
    """A chunked upload in progress, keyed by (wxsid, ClientMediaId)."""

    total: int
    chunks: int
    filename: str
    mime: str
    media_type: str
    md5: str
    parts: dict[int, bytes] = attrs.field(factory=dict)


class World:
    """Everything one simulator instance knows; lives on one event loop, so no locks."""

    def __init__(self, options: SimulatorOptions) -> None:
        self.options = options
        self.clock_offset = 0.0
        self.accounts: dict[str, Account] = {}
        self.logins: dict[str, Login] = {}
        self.sessions: dict[str, Session] = {}
        self.media: dict[str, Media] = {}
        self.uploads: dict[tuple[str, str], Upload] = {}
        self.faults: list[Fault] = []

    def now(self) -> float:
        """The simulator clock: wall time plus what ``/_sim/clock`` advanced."""
        return time.time() + self.clock_offset

    def find_message(self, msg_id: str) -> tuple[Account, StoredMessage] | None:
        """The account and stored message with this MsgId, if any."""
        for account in self.accounts.values():
            stored = account.messages.get(msg_id)
            if stored is not None:
                return account, stored
        return None

    def newest_login(self, account: Account | None = None) -> Login | None:
        """The newest login still waiting for the phone (for push logins: of ``account``)."""
        for login in reversed(self.logins.values()):
            if login.consumed or login.code not in (408, 201):
                continue
            if login.push and login.account is not account:
                continue
            return login
        return None

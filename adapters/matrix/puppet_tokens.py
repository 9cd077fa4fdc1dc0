"""The access tokens users gave with ``login-matrix``, kept in a 0600 file beside the database."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from pathlib import Path

from adapters.matrix.types import UserId
from bridge.secretfiles import write_secret_file

logger = logging.getLogger(__name__)

#: Bumped when the file's layout changes incompatibly.
FORMAT = 1


class TokenFile:
    """Per-user double-puppet access tokens (Matrix user id -> access token) in the JSON file
    ``path``: ``{"format": 1, "tokens": {"@user:server": "<access token>"}}``.

    Why a file of its own and not the database: the database holds no secret of a user
    (tests check it), backups of it are made and shared for debugging, and a token is a
    password to the user's whole account. Why plaintext at mode 0600 and not encrypted: the
    key of an encrypted file would sit in another 0600 file beside it, readable by exactly
    whoever can read this one (the bridge's own user), so it would protect nothing more; the
    WeChat session files are kept the same way. Every write is atomic (a new 0600 file,
    fsynced, renamed over the old one), so a crash leaves the old or the new set, never half.

    A missing file is an empty set; an unreadable or malformed one is logged (without its
    content) and treated as empty, so the bridge starts and users can ``login-matrix``
    again. Methods that write raise ``OSError``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tokens: dict[UserId, str] = self._read()
        self._lock = asyncio.Lock()

    def _read(self) -> dict[UserId, str]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            logger.error("cannot read the double-puppet token file %s: %s", self.path, exc)
            return {}
        try:
            data = json.loads(raw)
            tokens = data["tokens"] if isinstance(data, dict) else None
            if not isinstance(tokens, dict):
                raise ValueError("no 'tokens' object")
        except (ValueError, KeyError) as exc:
            # Never the content: it holds tokens.
            logger.error(
                "the double-puppet token file %s is malformed (%s); ignored",
                self.path,
                type(exc).__name__,
            )
            return {}
        return {
            UserId(user): token
            for user, token in tokens.items()
            if isinstance(user, str) and isinstance(token, str) and token
        }

    def get(self, user: UserId) -> str | None:
        """``user``'s stored token, or ``None``."""
        return self._tokens.get(user)

    @property
    def users(self) -> frozenset[UserId]:
        """The users with a stored token."""
        return frozenset(self._tokens)

    async def put(self, user: UserId, token: str) -> None:
        """Store ``token`` as ``user``'s (replacing an older one) and write the file."""
        async with self._lock:
            tokens = {**self._tokens, user: token}
            await asyncio.to_thread(_write, self.path, tokens)
            self._tokens = tokens

    async def forget(self, user: UserId, token: str | None = None) -> bool:
        """Remove ``user``'s token (only if it is still ``token``, when given) and write the
        file; returns whether one was removed."""
        async with self._lock:
            stored = self._tokens.get(user)
            if stored is None or (token is not None and stored != token):
                return False
            tokens = {u: t for u, t in self._tokens.items() if u != user}
            await asyncio.to_thread(_write, self.path, tokens)
            self._tokens = tokens
            return True


def _write(path: Path, tokens: Mapping[UserId, str]) -> None:
    """Write ``tokens`` to ``path`` atomically and 0600 (``secretfiles.write_secret_file``)."""
    data = json.dumps({"format": FORMAT, "tokens": dict(sorted(tokens.items()))}, indent=1)
    write_secret_file(path, data.encode("utf-8"))

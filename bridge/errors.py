"""The bridge's error hierarchy; adapters translate protocol errors into it at their boundary."""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the core and the adapters raise across the ``Channel`` boundary."""


class ConfigError(BridgeError):
    """The configuration file is missing, unreadable or has an invalid value."""


class StoreError(BridgeError):
    """The database could not be opened, migrated or written."""


class SchemaTooNew(StoreError):
    """The database was written by a newer chatbridge; refuse to touch it.

    Attributes: ``found`` and ``supported`` schema versions (ints).
    """

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"database schema version {found} is newer than this chatbridge supports "
            f"({supported}); upgrade chatbridge or restore a backup"
        )


class NotLoggedIn(BridgeError):
    """The remote account is not logged in; log in (bot command ``login``) first."""


class DeliveryFailed(BridgeError):
    """A message could not be delivered to the remote side. ``reason`` is user-facing text."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        self.reason = reason
        self.retryable = retryable
        super().__init__(reason)


class RateLimited(DeliveryFailed):
    """The remote side asked us to slow down; retry after backoff."""

    def __init__(self, reason: str = "the remote service is rate limiting") -> None:
        super().__init__(reason, retryable=True)


class Unsupported(DeliveryFailed):
    """The target adapter cannot carry this kind of content or operation."""


class RevokeRefused(DeliveryFailed):
    """A revocation could not be carried out (e.g. WeChat's 2-minute limit)."""


class AmbiguousIdentity(DeliveryFailed):
    """Sending refused: the portal's identity matches more than one contact after a re-login.

    ``candidates`` lists the contacts' display names; resolve with the bot's ``resolve`` command.
    """

    def __init__(self, identity: str, candidates: tuple[str, ...]) -> None:
        self.identity = identity
        self.candidates = candidates
        names = ", ".join(candidates) or "several contacts"
        super().__init__(
            f"not sent: this chat could be any of {names} after WeChat re-assigned its ids; "
            "use the bot's 'resolve' command to say which one it is"
        )

"""Matrix client-server API failures, translated into ``bridge.errors`` by errcode."""

from __future__ import annotations

from bridge.errors import ConfigError, DeliveryFailed, RateLimited, Unsupported


class MatrixRequestError(DeliveryFailed):
    """A client-server API request failed.

    Attributes: ``operation`` (what we tried, e.g. ``"send_message"``), ``errcode`` (Matrix
    ``errcode`` or ``""``), ``status`` (HTTP status, 0 if no response), ``message`` (the
    homeserver's ``error`` text).
    """

    retryable_default = False

    def __init__(self, operation: str, errcode: str, status: int, message: str) -> None:
        self.operation = operation
        self.errcode = errcode
        self.status = status
        self.message = message
        code = errcode or "no errcode"
        detail = f": {message}" if message else ""
        super().__init__(
            f"Matrix {operation} failed with {code} (HTTP {status}){detail}",
            retryable=self.retryable_default,
        )


class MatrixForbidden(MatrixRequestError):
    """``M_FORBIDDEN``: not allowed (not in the room, lacking power level, ...)."""


class MatrixNotFound(MatrixRequestError):
    """``M_NOT_FOUND``: no such room, event, user or media."""


class MatrixTooLarge(MatrixRequestError):
    """``M_TOO_LARGE``: the media or event exceeds the homeserver's limit."""


class MatrixUserInUse(MatrixRequestError):
    """``M_USER_IN_USE``: registering a user id that already exists."""


class MatrixUnavailable(MatrixRequestError):
    """The homeserver could not be reached, timed out, or answered 5xx; retry later."""

    retryable_default = True


class MatrixUnsupported(MatrixRequestError, Unsupported):
    """``M_UNRECOGNIZED``: the homeserver does not know this endpoint or method."""


class MatrixRateLimited(RateLimited):
    """``M_LIMIT_EXCEEDED`` after the bounded retries. ``retry_after_ms`` when the homeserver
    said (else ``None``)."""

    def __init__(
        self, operation: str, errcode: str, status: int, message: str, retry_after_ms: int | None
    ) -> None:
        self.operation = operation
        self.errcode = errcode
        self.status = status
        self.retry_after_ms = retry_after_ms
        super().__init__(f"Matrix {operation} rate limited by the homeserver")


class AppserviceRejected(ConfigError):
    """The homeserver rejected the appservice itself: unknown ``as_token``, or a user outside
    the registration's namespace. The registration and the config disagree; regenerate it.
    """

    def __init__(self, operation: str, errcode: str, status: int, message: str) -> None:
        self.operation = operation
        self.errcode = errcode
        self.status = status
        super().__init__(
            f"Matrix {operation} refused with {errcode} (HTTP {status}): {message}; check that "
            "the homeserver loaded the registration generated from this config"
        )


_BY_ERRCODE: dict[str, type[MatrixRequestError]] = {
    "M_FORBIDDEN": MatrixForbidden,
    "M_NOT_FOUND": MatrixNotFound,
    "M_TOO_LARGE": MatrixTooLarge,
    "M_USER_IN_USE": MatrixUserInUse,
    "M_UNRECOGNIZED": MatrixUnsupported,
}
_APPSERVICE_ERRCODES = frozenset({"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_EXCLUSIVE"})


def error_for(
    operation: str,
    errcode: str,
    status: int,
    message: str,
    retry_after_ms: int | None = None,
) -> MatrixRequestError | MatrixRateLimited | AppserviceRejected:
    """The exception for a failed request: by ``errcode`` first, then by HTTP ``status``
    (429 -> rate limited, 5xx or 0 -> unavailable), else a plain ``MatrixRequestError``."""
    if errcode == "M_LIMIT_EXCEEDED" or status == 429:
        return MatrixRateLimited(operation, errcode, status, message, retry_after_ms)
    if errcode in _APPSERVICE_ERRCODES:
        return AppserviceRejected(operation, errcode, status, message)
    cls = _BY_ERRCODE.get(errcode)
    if cls is None:
        cls = MatrixUnavailable if status == 0 or status >= 500 else MatrixRequestError
    return cls(operation, errcode, status, message)

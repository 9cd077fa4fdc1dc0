"""The errcode -> exception table of the Matrix adapter's edge."""

from __future__ import annotations

import pytest

from adapters.matrix.errors import (
    AppserviceRejected,
    MatrixRateLimited,
    MatrixRequestError,
    MatrixUnavailable,
    MatrixUnsupported,
    error_for,
)
from bridge.errors import ConfigError, RateLimited, Unsupported


@pytest.mark.parametrize(
    ("errcode", "status", "expected"),
    [
        ("M_LIMIT_EXCEEDED", 429, MatrixRateLimited),
        ("", 429, MatrixRateLimited),
        ("M_UNKNOWN_TOKEN", 401, AppserviceRejected),
        ("M_EXCLUSIVE", 400, AppserviceRejected),
        ("M_UNRECOGNIZED", 404, MatrixUnsupported),
        ("", 502, MatrixUnavailable),
        ("", 0, MatrixUnavailable),
        ("M_UNKNOWN", 400, MatrixRequestError),
    ],
)
def test_errcode_table(errcode: str, status: int, expected: type[Exception]) -> None:
    error = error_for("send_message", errcode, status, "text from the homeserver", 1500)
    assert type(error) is expected
    if isinstance(error, MatrixRateLimited):
        assert isinstance(error, RateLimited) and error.retry_after_ms == 1500
    if isinstance(error, AppserviceRejected):
        assert isinstance(error, ConfigError) and "registration" in str(error)
    if isinstance(error, MatrixUnsupported):
        assert isinstance(error, Unsupported)

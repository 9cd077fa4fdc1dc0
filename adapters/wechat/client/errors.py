"""Errors raised by the WeChat web-protocol client (PROTOCOL.md §1 "BaseResponse.Ret codes")."""

from __future__ import annotations


class WeChatError(Exception):
    """Base of every error the client raises. Messages never contain skey, tickets or cookies."""


class NetworkError(WeChatError):
    """The server could not be reached or timed out after the bounded retries."""


class ProtocolError(WeChatError):
    """A response did not have the shape PROTOCOL.md describes (unparseable JSON/XML/JS)."""


class HttpStatusError(ProtocolError):
    """The server answered an unexpected HTTP status (e.g. 404 for an unknown media id).

    Attributes: ``endpoint`` (e.g. ``"webwxgetmsgimg"``) and ``status`` (int).
    """

    def __init__(self, endpoint: str, status: int) -> None:
        self.endpoint = endpoint
        self.status = status
        super().__init__(f"{endpoint} answered HTTP {status}")


class AnswerTooLarge(ProtocolError):
    """An answer was larger than the client accepts (``ClientConfig.max_answer_bytes``, or
    ``max_download_bytes`` for a media download); what arrived of it is dropped.

    Attributes: ``endpoint`` and ``limit`` (bytes).
    """

    def __init__(self, endpoint: str, limit: int) -> None:
        self.endpoint = endpoint
        self.limit = limit
        super().__init__(f"{endpoint} answered more than {limit} bytes; answer dropped")


class NoSession(WeChatError):
    """An API that needs a session was called while the client has none: before login, or
    after a logout or the end of the session. (The bridge's ``NotLoggedIn`` is what the
    channel raises for it.)"""


class ApiError(WeChatError):
    """A JSON API answered with a non-zero ``BaseResponse.Ret``.

    Attributes: ``endpoint`` (e.g. ``"webwxsendmsg"``), ``ret`` (int), ``errmsg`` (server text).
    """

    def __init__(self, endpoint: str, ret: int, errmsg: str = "") -> None:
        self.endpoint = endpoint
        self.ret = ret
        self.errmsg = errmsg
        detail = f": {errmsg}" if errmsg else ""
        super().__init__(f"{endpoint} failed with Ret {ret}{detail}")


class SessionInvalid(ApiError):
    """The session is no longer valid: Ret/retcode 1100, 1101 or 1102 (PROTOCOL.md §4, §5),
    e.g. logged out on the phone or by another web login. Log in again. (The receive loop
    reports it as its ``SessionEnded`` event.)"""


class TooFrequent(ApiError):
    """Ret/retcode 1205, "operation too frequent" (PROTOCOL.md §12). Back off and retry later
    (the channel raises the bridge's ``RateLimited`` for it)."""


class NotAFriend(ApiError):
    """Ret 1204: the target is not a friend or the login state is bad (PROTOCOL.md §12)."""


class LoginError(WeChatError):
    """The login flow failed (PROTOCOL.md §2)."""


class LoginRefused(LoginError):
    """webwxnewloginpage answered ``ret`` 1203: web login refused for this account (§2.4).

    ``message`` carries the server's explanation. The UOS desktop mode is the known workaround.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(f"web login refused by WeChat (ret 1203): {message}")


class QRExpired(LoginError):
    """The QR code expired (login poll code 400) or the login poll failed (500)."""


class LoginCancelled(LoginError):
    """The user cancelled the login on the phone (login poll code 202)."""


#: Ret code -> exception class, used at every JSON API boundary.
RET_ERRORS: dict[int, type[ApiError]] = {
    1100: SessionInvalid,
    1101: SessionInvalid,
    1102: SessionInvalid,
    1204: NotAFriend,
    1205: TooFrequent,
}


def api_error(endpoint: str, ret: int, errmsg: str = "") -> ApiError:
    """Build the ApiError subclass that matches ``ret`` (see ``RET_ERRORS``)."""
    return RET_ERRORS.get(ret, ApiError)(endpoint, ret, errmsg)

"""User-facing bridge errors for the WeChat client's failures (PROTOCOL.md §1, §8, §12)."""

from __future__ import annotations

from adapters.wechat.client.errors import (
    ApiError,
    NetworkError,
    NotAFriend,
    SessionInvalid,
    TooFrequent,
    WeChatError,
)
from bridge.errors import BridgeError, DeliveryFailed, NotLoggedIn, RateLimited


def delivery_error(exc: WeChatError) -> BridgeError:
    """Translate a protocol error into the bridge hierarchy, with a user-facing reason."""
    match exc:
        case SessionInvalid():
            return NotLoggedIn("WeChat logged this session out; send 'login' to the bot")
        case TooFrequent():
            return RateLimited("WeChat says the account is sending too fast (1205)")
        case NotAFriend():
            return DeliveryFailed("WeChat refused it: the recipient is not a friend (1204)")
        case NetworkError():
            return DeliveryFailed(f"WeChat could not be reached: {exc}", retryable=True)
    return DeliveryFailed(f"WeChat refused it: {exc}")


def revoke_refusal(exc: WeChatError) -> str:
    """Why a recall failed, for the user. WeChat refusing one (a non-zero Ret) almost always
    means its 2-minute limit, which our own check misses when the message was sent before a
    restart or the clocks differ; its ErrMsg is Chinese, so the limit is named (§8)."""
    if isinstance(exc, ApiError) and not isinstance(exc, SessionInvalid):
        detail = exc.errmsg or f"Ret {exc.ret}"
        return (
            "WeChat refused the recall: it only allows recalling a message within 2 minutes "
            f"of sending it ({detail})"
        )
    return f"WeChat did not recall the message: {exc}"

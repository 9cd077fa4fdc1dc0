"""What every per-login Matrix channel shares with the hub: config, store, clients, avatars."""

from __future__ import annotations

import hashlib
import logging
from urllib.parse import urlsplit

import aiohttp
import attrs

from adapters.matrix.api import AppserviceAPI
from adapters.matrix.types import UserId
from bridge.config import Config
from bridge.relay import delivery_key
from bridge.store import Store

logger = logging.getLogger(__name__)

#: Largest remote avatar the bridge fetches, in bytes.
AVATAR_MAX_BYTES = 5 * 1024 * 1024
#: How long fetching a remote avatar may take, in seconds.
AVATAR_TIMEOUT_S = 10.0


@attrs.frozen
class Avatar:
    """A fetched remote avatar: its bytes and content type."""

    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    mimetype: str


class MatrixSide:
    """The Matrix side of the process: ``config``, ``store``, the appservice client ``api``
    (bot and ghosts) and an HTTP ``session`` for remote avatars and double-puppet logins.
    One per hub; every ``MatrixChannel`` uses it."""

    def __init__(self, config: Config, store: Store, api: AppserviceAPI) -> None:
        self.config = config
        self.store = store
        self.api = api
        self.bot = UserId(config.bot_user_id)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session for avatars and double-puppet logins (created on first use)."""
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=30)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def close(self) -> None:
        """Close the HTTP session. Idempotent."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def fetch_avatar(self, url: str) -> Avatar | None:
        """Best effort: the image at the remote ``url`` (http/https only, at most
        ``AVATAR_MAX_BYTES``, within ``AVATAR_TIMEOUT_S``), or ``None`` if it cannot be had
        (WeChat avatar URLs often need the web session's cookies). Never raises."""
        if urlsplit(url).scheme not in ("http", "https"):
            return None
        try:
            timeout = aiohttp.ClientTimeout(total=AVATAR_TIMEOUT_S)
            async with self.session.get(url, timeout=timeout) as resp:
                mimetype = resp.content_type or ""
                if resp.status != 200 or not mimetype.startswith("image/"):
                    logger.info("avatar not fetched: HTTP %d, %s", resp.status, mimetype)
                    return None
                data = await resp.content.read(AVATAR_MAX_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.info("avatar not fetched: %s", type(exc).__name__)
            return None
        if not data or len(data) > AVATAR_MAX_BYTES:
            return None
        return Avatar(data, mimetype)


def txn_id(operation: str) -> str | None:
    """The Matrix ``txnId`` of ``operation`` in the relay delivery in progress, or ``None``
    (a random one) outside deliveries.

    Derived from ``bridge.relay.delivery_key``, so a delivery repeated after a crash reuses
    its txnId and the homeserver answers with the first event instead of sending it again
    (spec "Transaction identifiers"). Synapse keys an appservice's txnIds by request path
    only, so the key also covers ``operation`` to keep two sends of one delivery apart.
    """
    key = delivery_key.get()
    if key is None:
        return None
    return "cb" + hashlib.sha256(f"{key}\n{operation}".encode()).hexdigest()[:40]

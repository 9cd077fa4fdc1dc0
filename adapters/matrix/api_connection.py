"""The request plumbing of ``AppserviceAPI``: one nio client and one aiohttp session for the bot
and every ghost, identity assertion (spec "Application Service API: Identity assertion"), errors
mapped to ``adapters/matrix/errors.py``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
import nio

from adapters.matrix.errors import error_for
from adapters.matrix.transport import StatelessClient, read_timeout
from adapters.matrix.types import RoomId, UserId

logger = logging.getLogger(__name__)

#: Turns (room, event type, content, as_user) into the event type and content to post: the
#: ``m.room.encrypted`` form in an encrypted room (``adapters/matrix/e2ee.py``).
Encryptor = Callable[
    [RoomId, str, Mapping[str, Any], UserId | None], Awaitable[tuple[str, Mapping[str, Any]]]
]
#: Whether (room, as_user)'s room is encrypted (``e2ee.Encryption.is_encrypted``).
RoomEncrypted = Callable[[RoomId, UserId | None], Awaitable[bool]]


class ApiConnection:
    """How ``AppserviceAPI`` reaches the homeserver (its constructor and ``_call``); the calls
    themselves are in ``RoomCalls`` and ``AppserviceAPI``."""

    def __init__(
        self,
        homeserver: str,
        as_token: str,
        bot_user_id: UserId,
        *,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = 30.0,
        media_timeout: float = 300.0,
        max_retries: int = 3,
    ) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.bot_user_id = bot_user_id
        self._media_timeout = media_timeout
        config = nio.AsyncClientConfig(
            max_limit_exceeded=max_retries,
            max_timeouts=max_retries,
            request_timeout=request_timeout,
            max_timeout_retry_wait_time=10,
        )
        self._owns_session = session is None
        self._session = session or aiohttp.ClientSession(timeout=read_timeout(request_timeout))
        self._nio = StatelessClient(self.homeserver, user=bot_user_id, config=config)
        self._nio.access_token = as_token
        self._nio.client_session = self._session
        # For requests that must not be sent twice: 429s are repeated (not done), timeouts not.
        once = nio.AsyncClientConfig(
            max_limit_exceeded=max_retries, max_timeouts=0, request_timeout=request_timeout
        )
        self._nio_once = StatelessClient(self.homeserver, user=bot_user_id, config=once)
        self._nio_once.access_token = as_token
        self._nio_once.client_session = self._session
        self._token = as_token
        #: Set while end-to-end encryption runs: every ``send_message`` goes through it.
        self.encryptor: Encryptor | None = None
        #: Set with ``encryptor``: which rooms it encrypts (see ``encrypts``).
        self.room_encrypted: RoomEncrypted | None = None

    async def close(self) -> None:
        """Close the HTTP session if this object created it. Idempotent."""
        if self._owns_session and not self._session.closed:
            await self._session.close()

    # ---- plumbing ----------------------------------------------------------------------------

    def _masquerade(self, path: str, as_user: UserId | None) -> str:
        if as_user is None or as_user == self.bot_user_id:
            return path
        return f"{path}{'&' if '?' in path else '?'}{urlencode({'user_id': as_user})}"

    async def _call(
        self,
        operation: str,
        response_class: type,
        method: str,
        path: str,
        data: Any = None,
        *,
        as_user: UserId | None = None,
        response_data: tuple[Any, ...] | None = None,
        content_type: str | None = None,
        media: bool = False,
        once: bool = False,
    ) -> Any:
        """Send one request through nio; returns its nio response or raises our error.
        ``once``: not repeated after a timeout or a dropped connection."""
        client = self._nio_once if once else self._nio
        try:
            resp = await client._send(
                response_class,
                method,
                self._masquerade(path, as_user),
                data,
                response_data,
                content_type=content_type,
                timeout=self._media_timeout if media else None,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The path holds the as_token in its query: name only the exception type.
            raise error_for(
                operation, "", 0, f"{type(exc).__name__}: homeserver unreachable"
            ) from exc
        if isinstance(resp, nio.ErrorResponse):
            transport = resp.transport_response
            status = transport.status if transport is not None else 0
            logger.debug(
                "%s as %s failed: HTTP %d %s", operation, as_user, status, resp.status_code
            )
            raise error_for(
                operation, resp.status_code or "", status, resp.message or "", resp.retry_after_ms
            )
        return resp

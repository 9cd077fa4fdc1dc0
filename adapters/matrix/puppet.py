"""Double puppeting: acting as the Matrix user's own account for what they sent from the phone."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any

import aiohttp

from adapters.matrix.api import AppserviceAPI
from adapters.matrix.errors import error_for
from adapters.matrix.side import MatrixSide
from adapters.matrix.types import UserId

logger = logging.getLogger(__name__)

AS_TOKEN_PREFIX = "as_token:"
_SHARED_SECRET_LOGIN = "com.devture.shared_secret_auth"


class DoublePuppets:
    """Clients that act as a local Matrix user himself, per ``config.double_puppet``.

    ``as_token:<token>``: the token of an appservice whose namespace holds the user; requests
    masquerade with ``user_id=`` (spec "Identity assertion"). Any other secret: the shared
    secret of the homeserver's shared-secret-auth module; the bridge logs in once per user and
    process (``com.devture.shared_secret_auth``, falling back to ``m.login.password`` with the
    HMAC-SHA512 of the user id as password) and keeps the access token in memory only.
    """

    def __init__(self, side: MatrixSide) -> None:
        self._side = side
        puppet = side.config.double_puppet
        self._secret = puppet.secret if puppet is not None else ""
        self._clients: dict[UserId, tuple[AppserviceAPI, UserId | None]] = {}
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        """Whether double puppeting is configured."""
        return bool(self._secret)

    async def client_for(self, user: UserId) -> tuple[AppserviceAPI, UserId | None]:
        """A client acting as ``user`` and the ``as_user`` to pass to its calls.

        Raises ``MatrixRequestError`` or ``AppserviceRejected`` if the login is refused,
        ``ValueError`` if double puppeting is not configured.
        """
        if not self.enabled:
            raise ValueError("double puppeting is not configured")
        async with self._lock:
            found = self._clients.get(user)
            if found is not None:
                return found
            homeserver = self._side.config.homeserver.address
            session = self._side.session
            if self._secret.startswith(AS_TOKEN_PREFIX):
                token = self._secret.removeprefix(AS_TOKEN_PREFIX)
                # Any bot id other than ``user`` makes the client masquerade as ``user``.
                api = AppserviceAPI(homeserver, token, self._side.bot, session=session)
                client: tuple[AppserviceAPI, UserId | None] = (api, user)
            else:
                token = await self._login(user)
                client = (AppserviceAPI(homeserver, token, user, session=session), None)
            self._clients[user] = client
            logger.info("double puppeting enabled for %s", user)
            return client

    async def _login(self, user: UserId) -> str:
        digest = hmac.new(self._secret.encode(), user.encode(), hashlib.sha512).hexdigest()
        identifier = {"type": "m.id.user", "user": user}
        attempts: list[dict[str, Any]] = [
            {"type": _SHARED_SECRET_LOGIN, "identifier": identifier, "token": digest},
            {"type": "m.login.password", "identifier": identifier, "password": digest},
        ]
        url = f"{self._side.config.homeserver.address}/_matrix/client/v3/login"
        failure: tuple[str, int, str] = ("", 0, "")
        for body in attempts:
            body["initial_device_display_name"] = "chatbridge double puppet"
            try:
                async with self._side.session.post(url, json=body) as resp:
                    data = await resp.json(content_type=None)
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise error_for("double_puppet_login", "", 0, type(exc).__name__) from exc
            if (
                status == 200
                and isinstance(data, dict)
                and isinstance(data.get("access_token"), str)
            ):
                token: str = data["access_token"]
                return token
            data = data if isinstance(data, dict) else {}
            failure = (str(data.get("errcode", "")), status, str(data.get("error", "")))
            logger.info(
                "double puppet login for %s with %s refused: %s", user, body["type"], failure
            )
        raise error_for("double_puppet_login", *failure)

    async def close(self) -> None:
        """Forget the clients (their HTTP session belongs to the hub)."""
        self._clients.clear()

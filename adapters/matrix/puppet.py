"""Double puppeting: acting as the Matrix user's own account for what they did on the phone."""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp
import attrs

from adapters.matrix.api import AppserviceAPI
from adapters.matrix.errors import (
    AppserviceRejected,
    MatrixForbidden,
    MatrixRequestError,
    error_for,
)
from adapters.matrix.puppet_tokens import TokenFile
from adapters.matrix.side import MatrixSide
from adapters.matrix.types import EventId, RoomId, UserId
from bridge.errors import BridgeError

logger = logging.getLogger(__name__)

AS_TOKEN_PREFIX = "as_token:"
_SHARED_SECRET_LOGIN = "com.devture.shared_secret_auth"
#: How long one whoami, receipt or logout request may take, in seconds.
REQUEST_TIMEOUT_S = 30.0

#: Called once when a user's stored token stopped working and was dropped.
TokenDropped = Callable[[UserId], Awaitable[None]]


class PuppetSource(enum.Enum):
    """Where a user's double puppet comes from (first match wins): the access token the user
    gave with ``login-matrix``, the config-wide ``double_puppet.secret``, or nowhere."""

    USER_TOKEN = "user_token"
    CONFIG = "config"
    NONE = "none"


class PuppetRefused(BridgeError):
    """A ``login-matrix`` token was not taken; ``str()`` is user-facing and never holds the
    token. ``owner`` is whose token it is when the homeserver said (someone else's)."""

    def __init__(self, reason: str, owner: UserId | None = None) -> None:
        self.owner = owner
        super().__init__(reason)


@attrs.frozen
class Puppet:
    """A client acting as one user: ``api`` with the ``as_user`` to pass to its calls,
    where it came from, and whether the bridge created its device (a shared-secret login,
    logged out when forgotten) or the user gave its token (never logged out by the bridge)."""

    api: AppserviceAPI
    as_user: UserId | None
    source: PuppetSource
    token: str = attrs.field(repr=False, default="")
    bridge_device: bool = False


class DoublePuppets:
    """Clients that act as a local Matrix user himself.

    Precedence per user: the access token they gave with ``login-matrix`` (kept in
    ``tokens``, a 0600 file beside the database, never in the database; checked with
    ``/account/whoami``, spec "GET /_matrix/client/v3/account/whoami"), else the config-wide
    ``double_puppet.secret``, else none. The secret is either ``as_token:<token>``, the
    token of an appservice whose namespace holds the user (requests masquerade with
    ``user_id=``, spec "Identity assertion"), or the shared secret of the homeserver's
    shared-secret-auth module: the bridge then logs in once per user and process
    (``com.devture.shared_secret_auth``, falling back to ``m.login.password`` with the
    HMAC-SHA512 of the user id as password) and keeps that token in memory only.

    A user token the homeserver no longer knows (401 ``M_UNKNOWN_TOKEN``) is dropped from
    the file and ``on_dropped`` is called once for that user (the hub tells them in their
    management room). Tokens are never logged.
    """

    def __init__(
        self, side: MatrixSide, tokens: TokenFile, *, on_dropped: TokenDropped | None = None
    ) -> None:
        self._side = side
        self._tokens = tokens
        self._on_dropped = on_dropped
        puppet = side.config.double_puppet
        self._secret = puppet.secret if puppet is not None else ""
        self._clients: dict[UserId, Puppet] = {}
        self._lock = asyncio.Lock()
        #: The newest receipt posted as each user per room: its echo is not a new read.
        self._receipts: dict[tuple[UserId, RoomId], EventId] = {}

    @property
    def enabled(self) -> bool:
        """Whether double puppeting is configured for every user (the config-wide secret)."""
        return bool(self._secret)

    def source_for(self, user: UserId) -> PuppetSource:
        """Where ``user``'s double puppet would come from now (see the class doc)."""
        if self._tokens.get(user) is not None:
            return PuppetSource.USER_TOKEN
        return PuppetSource.CONFIG if self._secret else PuppetSource.NONE

    def enabled_for(self, user: UserId) -> bool:
        """Whether ``user`` has a double puppet (their own token or the config's secret)."""
        return self.source_for(user) is not PuppetSource.NONE

    async def client_for(self, user: UserId) -> tuple[AppserviceAPI, UserId | None]:
        """A client acting as ``user`` and the ``as_user`` to pass to its calls.

        Raises ``MatrixRequestError`` or ``AppserviceRejected`` if the login is refused,
        ``ValueError`` if ``user`` has no double puppet.
        """
        puppet = await self.puppet_for(user)
        return puppet.api, puppet.as_user

    async def puppet_for(self, user: UserId) -> Puppet:
        """``client_for`` with where the client came from. Same errors."""
        async with self._lock:
            found = self._clients.get(user)
            if found is not None:
                return found
            homeserver = self._side.config.homeserver.address
            session = self._side.session
            token = self._tokens.get(user)
            if token is not None:
                api = AppserviceAPI(homeserver, token, user, session=session)
                puppet = Puppet(api, None, PuppetSource.USER_TOKEN, token)
            elif not self._secret:
                raise ValueError(f"{user} has no double puppet")
            elif self._secret.startswith(AS_TOKEN_PREFIX):
                token = self._secret.removeprefix(AS_TOKEN_PREFIX)
                # Any bot id other than ``user`` makes the client masquerade as ``user``.
                api = AppserviceAPI(homeserver, token, self._side.bot, session=session)
                puppet = Puppet(api, user, PuppetSource.CONFIG)
            else:
                token = await self._login(user)
                api = AppserviceAPI(homeserver, token, user, session=session)
                puppet = Puppet(api, None, PuppetSource.CONFIG, token, bridge_device=True)
            # In an encrypted room the user's posts are encrypted like the ghosts' (the bot's
            # device, ``e2ee.Encryption``), set on the hub's client once encryption runs.
            puppet.api.encryptor = self._side.api.encryptor
            self._clients[user] = puppet
            logger.info("double puppeting enabled for %s (%s)", user, puppet.source.value)
            return puppet

    # ---- login-matrix / logout-matrix ------------------------------------------------------

    async def login(self, user: UserId, token: str) -> str | None:
        """Take ``token`` as ``user``'s own access token (bot command ``login-matrix``):
        ``/account/whoami`` must name ``user``; then it is stored and used from now on.
        Returns the device id whoami gave (or ``None``).

        Raises ``PuppetRefused`` for a token of someone else (its ``owner`` set) or one the
        homeserver does not know; ``MatrixRequestError`` when the homeserver cannot be asked;
        ``OSError`` when the token file cannot be written. Nothing is stored on failure.
        """
        token = token.strip()
        if not token or any(c.isspace() for c in token):
            raise PuppetRefused("that is not an access token")
        whoami = await self.whoami(token)
        owner = whoami.get("user_id")
        if owner != user:
            logger.warning("login-matrix of %s refused: the token is of another user", user)
            other = UserId(owner) if isinstance(owner, str) else None
            raise PuppetRefused(f"that access token is not yours (it belongs to {owner})", other)
        await self._tokens.put(user, token)
        await self._forget_client(user)
        logger.info("double puppeting of %s now uses the access token they gave", user)
        device = whoami.get("device_id")
        return device if isinstance(device, str) else None

    async def logout(self, user: UserId) -> bool:
        """Forget ``user``'s double puppet (bot command ``logout-matrix``): their stored
        token is removed from the file (never logged out: it is the user's), and a device
        the bridge created for them (shared-secret login) is logged out. Returns whether a
        token of theirs was stored. Raises ``OSError`` if the file cannot be written."""
        forgotten = await self._tokens.forget(user)
        await self._forget_client(user)
        if forgotten:
            logger.info("double puppeting of %s: the token they gave is forgotten", user)
        return forgotten

    async def _forget_client(self, user: UserId) -> None:
        async with self._lock:
            puppet = self._clients.pop(user, None)
        if puppet is not None and puppet.bridge_device:
            try:
                await self._request("logout", "POST", "/v3/logout", puppet.token, {})
            except MatrixRequestError as exc:
                logger.info("could not log out the bridge's device of %s: %s", user, exc)

    async def whoami(self, token: str) -> dict[str, Any]:
        """``GET /account/whoami`` with ``token``: ``{"user_id", "device_id"?, ...}``.
        Raises ``PuppetRefused`` when the homeserver does not know the token,
        ``MatrixRequestError`` for other failures."""
        try:
            data = await self._request("whoami", "GET", "/v3/account/whoami", token)
        except AppserviceRejected as exc:
            raise PuppetRefused(
                f"the homeserver does not accept that access token ({exc.errcode})"
            ) from None
        if not isinstance(data.get("user_id"), str):
            raise PuppetRefused("the homeserver did not say whose access token that is")
        return data

    # ---- failures ----------------------------------------------------------------------------

    async def failed(self, user: UserId, exc: Exception) -> bool:
        """A call of ``user``'s puppet raised ``exc``. When the homeserver no longer knows
        the token (``M_UNKNOWN_TOKEN``), the client is dropped, and a token the user gave is
        removed from the file and ``on_dropped`` called (once: a later failure finds nothing
        to drop). Returns whether the client was dropped (a retry uses the next source)."""
        if not isinstance(exc, AppserviceRejected) or exc.errcode != "M_UNKNOWN_TOKEN":
            return False
        async with self._lock:
            puppet = self._clients.get(user)
            as_token = puppet is not None and puppet.source is PuppetSource.CONFIG
            if puppet is None or (as_token and not puppet.bridge_device):
                return False  # the config's as_token: a configuration error, not the user's
            del self._clients[user]
        if puppet.source is PuppetSource.CONFIG:
            logger.warning("the bridge's double-puppet login of %s expired; logging in again", user)
            return True
        try:
            dropped = await self._tokens.forget(user, puppet.token)
        except OSError as exc_:
            logger.error("cannot remove the dead token of %s from the file: %s", user, exc_)
            dropped = True
        if dropped:
            logger.warning("the access token %s gave with login-matrix stopped working", user)
            if self._on_dropped is not None:
                try:
                    await self._on_dropped(user)
                except Exception:
                    logger.exception("could not tell %s their token was dropped", user)
        return True

    # ---- read receipts -----------------------------------------------------------------------

    async def mark_read(self, user: UserId, room: RoomId, event_id: EventId) -> bool:
        """Post ``user``'s read receipt on ``event_id`` in ``room`` through their double
        puppet (spec "POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}",
        ``m.read``). Returns False when ``user`` has no double puppet (nothing is posted).
        Raises ``MatrixRequestError`` subclasses; a dead token is dropped (``failed``)
        before the error goes on."""
        if not self.enabled_for(user):
            return False
        puppet = await self.puppet_for(user)
        path = f"/v3/rooms/{quote(room, safe='')}/receipt/m.read/{quote(event_id, safe='')}"
        token = puppet.token or self._secret.removeprefix(AS_TOKEN_PREFIX)
        try:
            try:
                await self._request("receipt", "POST", path, token, {}, as_user=puppet.as_user)
            except MatrixForbidden:
                # Invited to the portal but not joined yet: join for them, as a post does.
                await puppet.api.join(room, as_user=puppet.as_user)
                await self._request("receipt", "POST", path, token, {}, as_user=puppet.as_user)
        except (MatrixRequestError, AppserviceRejected) as exc:
            await self.failed(user, exc)
            raise
        self._receipts[(user, room)] = event_id
        return True

    def posted_receipt(self, user: UserId, room: RoomId, event_id: EventId) -> bool:
        """Whether ``user``'s receipt on ``event_id`` in ``room`` is one this bridge posted
        (``mark_read``): its echo in a transaction is not a read to carry back to WeChat."""
        return self._receipts.get((user, room)) == event_id

    # ---- plumbing ----------------------------------------------------------------------------

    async def _request(
        self,
        operation: str,
        method: str,
        path: str,
        token: str,
        body: dict[str, Any] | None = None,
        *,
        as_user: UserId | None = None,
    ) -> dict[str, Any]:
        """One client-server request with ``token`` in the Authorization header (never in
        the URL, which logs may show). Raises what ``errors.error_for`` maps the failure to."""
        url = f"{self._side.config.homeserver.address.rstrip('/')}/_matrix/client{path}"
        params = {"user_id": as_user} if as_user is not None else None
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self._side.session.request(
                method, url, json=body, params=params, headers=headers, timeout=timeout
            ) as resp:
                status = resp.status
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise error_for(operation, "", 0, type(exc).__name__) from None
        data = data if isinstance(data, dict) else {}
        if status != 200:
            raise error_for(
                operation, str(data.get("errcode", "")), status, str(data.get("error", ""))
            )
        return data

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

"""Appservice client for the client-server API on matrix-nio: the bot and its ghosts."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import nio
from nio import Api

from adapters.matrix.errors import MatrixUserInUse, error_for
from adapters.matrix.room_calls import RoomCalls
from adapters.matrix.transport import JsonResponse
from adapters.matrix.types import Download, MxcUri, UserId


class AppserviceAPI(RoomCalls):
    """The client-server API as the appservice: ``as_token`` authenticates, and a request made
    ``as_user`` a ghost carries ``user_id=`` (spec "Application Service API: Identity
    assertion"); ``as_user=None`` acts as the bot (``sender_localpart``).

    One nio client and one aiohttp session serve the bot and every ghost. 429s and connection
    failures are retried ``max_retries`` times (nio backoff), each request is bounded by
    ``request_timeout`` s (media by ``media_timeout`` s). Every method raises
    ``MatrixRequestError`` subclasses, ``MatrixRateLimited`` or ``AppserviceRejected``
    (``adapters/matrix/errors.py``) instead of returning nio error values.

    ``request_timeout`` bounds connecting and each read, not the wait for one of the
    session's pooled connections (``transport.read_timeout``). ``create_room`` is never
    repeated after a timeout (it is not idempotent): ``adapters/matrix/rooms.py`` decides.
    """

    # ---- users ------------------------------------------------------------------------------

    async def ensure_registered(self, user_id: UserId) -> bool:
        """Register the ghost ``user_id`` (``m.login.application_service``, no login).

        Returns True if it was created, False if it existed (``M_USER_IN_USE``).
        """
        localpart = user_id.removeprefix("@").partition(":")[0]
        body = {"type": "m.login.application_service", "username": localpart, "inhibit_login": True}
        try:
            await self._call(
                "register", JsonResponse, "POST", "/_matrix/client/v3/register", json.dumps(body)
            )
        except MatrixUserInUse:
            return False
        return True

    async def set_displayname(self, user_id: UserId, displayname: str) -> None:
        """Set the display name of ``user_id`` (a ghost or the bot)."""
        method, path, data = Api.profile_set_displayname(self._token, user_id, displayname)
        await self._call(
            "set_displayname",
            nio.ProfileSetDisplayNameResponse,
            method,
            path,
            data,
            as_user=user_id,
        )

    async def set_avatar_url(self, user_id: UserId, avatar_url: MxcUri) -> None:
        """Set the avatar of ``user_id`` to an uploaded ``mxc://`` URI."""
        method, path, data = Api.profile_set_avatar(self._token, user_id, avatar_url)
        await self._call(
            "set_avatar_url", nio.ProfileSetAvatarResponse, method, path, data, as_user=user_id
        )

    async def ping(self, appservice_id: str, txn_id: str | None = None) -> int:
        """Ask the homeserver to ping this appservice (spec v1.7 ``/appservice/{id}/ping``).

        Returns the round trip in milliseconds the homeserver measured. Raises
        ``MatrixRequestError`` (502 ``M_CONNECTION_FAILED`` etc.) if it cannot reach us.
        """
        path = f"/_matrix/client/v1/appservice/{appservice_id}/ping"
        body = json.dumps({"transaction_id": txn_id} if txn_id else {})
        resp = await self._call("ping", JsonResponse, "POST", path, body)
        duration = resp.content.get("duration_ms", 0)
        return duration if isinstance(duration, int) else 0

    async def get_profile(self, user_id: UserId) -> dict[str, Any]:
        """The public profile of ``user_id`` (``displayname``, ``avatar_url`` when set).

        Raises ``MatrixNotFound`` if the user does not exist or has no profile.
        """
        method, path = Api.profile_get(user_id, access_token=self._token)
        resp = await self._call("get_profile", JsonResponse, method, path)
        content: dict[str, Any] = resp.content
        return content

    # ---- media ------------------------------------------------------------------------------

    async def upload(
        self, data: bytes, *, mimetype: str, filename: str = "", as_user: UserId | None = None
    ) -> MxcUri:
        """Upload ``data`` to the media repository; returns its ``mxc://`` URI."""
        method, path = Api.upload(self._token, filename or None)
        resp = await self._call(
            "upload",
            nio.UploadResponse,
            method,
            path,
            data,
            as_user=as_user,
            content_type=mimetype,
            media=True,
        )
        return MxcUri(resp.content_uri)

    async def download(self, mxc: MxcUri) -> Download:
        """Fetch ``mxc`` through the authenticated media API (spec v1.11). Raises
        ``MatrixNotFound`` if it does not exist, ``MatrixRequestError`` if ``mxc`` is invalid."""
        parts = urlsplit(mxc)
        media_id = parts.path.lstrip("/")
        if parts.scheme != "mxc" or not parts.netloc or not media_id or "/" in media_id:
            raise error_for("download", "M_INVALID_PARAM", 0, "not an mxc:// URI")
        method, path = Api.download(parts.netloc, media_id, access_token=self._token)
        resp = await self._call("download", nio.MemoryDownloadResponse, method, path, media=True)
        return Download(data=resp.body, content_type=resp.content_type, filename=resp.filename)

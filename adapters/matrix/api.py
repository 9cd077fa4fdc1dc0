"""Appservice client for the client-server API on matrix-nio: the bot and its ghosts."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import nio
from nio import Api

from adapters.matrix.errors import MatrixUserInUse, error_for
from adapters.matrix.transport import JsonResponse, StatelessClient, read_timeout
from adapters.matrix.types import Download, EventId, Member, MxcUri, RoomId, UserId

logger = logging.getLogger(__name__)

#: Turns (room, event type, content, as_user) into the event type and content to post: the
#: ``m.room.encrypted`` form in an encrypted room (``adapters/matrix/e2ee.py``).
Encryptor = Callable[
    [RoomId, str, Mapping[str, Any], UserId | None], Awaitable[tuple[str, Mapping[str, Any]]]
]
#: Whether (room, as_user)'s room is encrypted (``e2ee.Encryption.is_encrypted``).
RoomEncrypted = Callable[[RoomId, UserId | None], Awaitable[bool]]


class AppserviceAPI:
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

    # ---- rooms ------------------------------------------------------------------------------

    async def create_room(
        self,
        *,
        as_user: UserId | None = None,
        name: str | None = None,
        topic: str | None = None,
        avatar_url: MxcUri | None = None,
        invite: Sequence[UserId] = (),
        is_direct: bool = False,
        initial_state: Iterable[Mapping[str, Any]] = (),
        power_level_override: Mapping[str, Any] | None = None,
        creation_content: Mapping[str, Any] | None = None,
    ) -> RoomId:
        """Create a private room owned by ``as_user`` and invite ``invite``.

        ``initial_state`` are ``{"type", "state_key", "content"}`` dicts (e.g.
        ``content.bridge_state(...)``); ``is_direct`` flags the invites as a DM;
        ``creation_content`` keys go into the ``m.room.create`` event (a marker to find the
        room by). Returns the new room id (opaque). Sent once: after a timeout
        (``MatrixUnavailable``) the room may or may not exist.
        """
        state = [dict(s) for s in initial_state]
        if avatar_url:
            state.append({"type": "m.room.avatar", "state_key": "", "content": {"url": avatar_url}})
        method, path, data = Api.room_create(
            self._token,
            name=name,
            topic=topic,
            is_direct=is_direct,
            preset=nio.RoomPreset.trusted_private_chat
            if is_direct
            else nio.RoomPreset.private_chat,
            invite=list(invite),
            initial_state=state,
            power_level_override=dict(power_level_override) if power_level_override else None,
        )
        if creation_content:
            body = json.loads(data)
            body["creation_content"] = {**body.get("creation_content", {}), **creation_content}
            data = json.dumps(body)
        resp = await self._call(
            "create_room", nio.RoomCreateResponse, method, path, data, as_user=as_user, once=True
        )
        return RoomId(resp.room_id)

    async def joined_rooms(self, *, as_user: UserId | None = None) -> tuple[RoomId, ...]:
        """The rooms ``as_user`` (a ghost; ``None``: the bot) has joined."""
        method, path = Api.joined_rooms(self._token)
        resp = await self._call(
            "joined_rooms", nio.JoinedRoomsResponse, method, path, as_user=as_user
        )
        return tuple(RoomId(r) for r in resp.rooms)

    async def invite(
        self, room_id: RoomId, user_id: UserId, *, as_user: UserId | None = None
    ) -> None:
        """Invite ``user_id`` to ``room_id``."""
        method, path, data = Api.room_invite(self._token, room_id, user_id)
        await self._call("invite", nio.RoomInviteResponse, method, path, data, as_user=as_user)

    async def join(self, room: RoomId | str, *, as_user: UserId | None = None) -> RoomId:
        """Join ``room`` (a room id or an alias); returns the room id."""
        method, path = Api.join(self._token, room)
        resp = await self._call("join", nio.JoinResponse, method, path, "{}", as_user=as_user)
        return RoomId(resp.room_id)

    async def leave(self, room_id: RoomId, *, as_user: UserId | None = None) -> None:
        """Leave ``room_id``."""
        method, path = Api.room_leave(self._token, room_id)
        await self._call("leave", nio.RoomLeaveResponse, method, path, "{}", as_user=as_user)

    async def kick(self, room_id: RoomId, user_id: UserId, reason: str = "") -> None:
        """Kick ``user_id`` out of ``room_id`` as the bot (spec "POST
        /rooms/{roomId}/kick"; an invite is withdrawn the same way)."""
        method, path, data = Api.room_kick(self._token, room_id, user_id, reason or None)
        await self._call("kick", nio.RoomKickResponse, method, path, data)

    async def get_members(
        self, room_id: RoomId, *, as_user: UserId | None = None
    ) -> tuple[Member, ...]:
        """The joined members of ``room_id`` (``as_user`` must be in the room)."""
        method, path = Api.joined_members(self._token, room_id)
        resp = await self._call(
            "get_members",
            nio.JoinedMembersResponse,
            method,
            path,
            as_user=as_user,
            response_data=(room_id,),
        )
        return tuple(
            Member(
                user_id=UserId(m.user_id),
                displayname=m.display_name,
                avatar_url=MxcUri(m.avatar_url) if m.avatar_url else None,
            )
            for m in resp.members
        )

    async def encrypts(self, room_id: RoomId, as_user: UserId | None = None) -> bool:
        """Whether ``send_message`` into ``room_id`` posts ``m.room.encrypted`` events: the
        ``encryptor`` is set and the room is encrypted. A file such an event carries is
        uploaded encrypted (``adapters/matrix/uploads.py``)."""
        if self.encryptor is None or self.room_encrypted is None:
            return False
        return await self.room_encrypted(room_id, as_user)

    # ---- events -----------------------------------------------------------------------------

    async def send_message(
        self,
        room_id: RoomId,
        content: Mapping[str, Any],
        *,
        as_user: UserId | None = None,
        event_type: str = "m.room.message",
        txn_id: str | None = None,
    ) -> EventId:
        """Send an event with ``content`` (see ``adapters/matrix/content.py``); returns its id.

        ``txn_id`` makes a retry idempotent: the homeserver answers a repeated
        (sender, txn_id) with the first event's id instead of sending again. In an encrypted
        room the ``encryptor`` (when set) makes it an ``m.room.encrypted`` event.
        """
        if self.encryptor is not None:
            event_type, content = await self.encryptor(room_id, event_type, content, as_user)
        method, path, data = Api.room_send(
            self._token, room_id, event_type, dict(content), txn_id or uuid.uuid4().hex
        )
        resp = await self._call(
            "send_message",
            nio.RoomSendResponse,
            method,
            path,
            data,
            as_user=as_user,
            response_data=(room_id,),
        )
        return EventId(resp.event_id)

    async def redact(
        self,
        room_id: RoomId,
        event_id: EventId,
        *,
        reason: str | None = None,
        as_user: UserId | None = None,
        txn_id: str | None = None,
    ) -> EventId:
        """Redact ``event_id``; returns the redaction's event id."""
        method, path, data = Api.room_redact(
            self._token, room_id, event_id, txn_id or uuid.uuid4().hex, reason=reason
        )
        resp = await self._call(
            "redact",
            nio.RoomRedactResponse,
            method,
            path,
            data,
            as_user=as_user,
            response_data=(room_id,),
        )
        return EventId(resp.event_id)

    async def send_receipt(
        self, room_id: RoomId, event_id: EventId, *, as_user: UserId | None = None
    ) -> None:
        """Post an unthreaded ``m.read`` receipt on ``event_id`` (spec "Receipts": ``POST
        /rooms/{roomId}/receipt/m.read/{eventId}`` with an empty body, so it also holds for
        an event in a thread). Raises ``MatrixRequestError`` subclasses."""
        room, event = quote(room_id, safe=""), quote(event_id, safe="")
        path = f"/_matrix/client/v3/rooms/{room}/receipt/m.read/{event}"
        await self._call("send_receipt", JsonResponse, "POST", path, "{}", as_user=as_user)

    async def get_event(
        self, room_id: RoomId, event_id: EventId, *, as_user: UserId | None = None
    ) -> dict[str, Any]:
        """The event ``event_id`` of ``room_id`` as JSON (``as_user`` must be able to see it).

        Raises ``MatrixNotFound`` if it does not exist or is not visible.
        """
        method, path = Api.room_get_event(self._token, room_id, event_id)
        resp = await self._call("get_event", JsonResponse, method, path, as_user=as_user)
        content: dict[str, Any] = resp.content
        return content

    async def get_state(
        self,
        room_id: RoomId,
        event_type: str,
        *,
        state_key: str = "",
        as_user: UserId | None = None,
    ) -> dict[str, Any]:
        """The content of the state event (``event_type``, ``state_key``) of ``room_id``.

        Raises ``MatrixNotFound`` if it is not set, ``MatrixForbidden`` if ``as_user`` is not
        in the room.
        """
        method, path = Api.room_get_state_event(self._token, room_id, event_type, state_key)
        resp = await self._call("get_state", JsonResponse, method, path, as_user=as_user)
        content: dict[str, Any] = resp.content
        return content

    async def set_state(
        self,
        room_id: RoomId,
        event_type: str,
        content: Mapping[str, Any],
        *,
        state_key: str = "",
        as_user: UserId | None = None,
    ) -> EventId:
        """Set the state event (``event_type``, ``state_key``); returns its event id."""
        method, path, data = Api.room_put_state(
            self._token, room_id, event_type, dict(content), state_key
        )
        resp = await self._call(
            "set_state",
            nio.RoomPutStateResponse,
            method,
            path,
            data,
            as_user=as_user,
            response_data=(room_id,),
        )
        return EventId(resp.event_id)

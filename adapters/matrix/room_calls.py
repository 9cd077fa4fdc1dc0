"""Room, event and state calls of ``AppserviceAPI`` (Matrix spec, Client-Server API: "Rooms",
"Room membership", "Sending events to a room", "Redactions", "Receipts", "Getting events for a
room"), made as the bot or ``as_user`` a ghost."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import nio
from nio import Api

from adapters.matrix.api_connection import ApiConnection
from adapters.matrix.transport import JsonResponse
from adapters.matrix.types import EventId, Member, MxcUri, RoomId, UserId


class RoomCalls(ApiConnection):
    """The room, event and state calls of ``AppserviceAPI``, made through ``ApiConnection``
    (its token, ``_call`` and end-to-end encryption hooks). Every call raises
    ``MatrixRequestError`` subclasses (``adapters/matrix/errors.py``)."""

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

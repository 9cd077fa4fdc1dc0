"""Portals: the Matrix room mirroring each remote chat, created once per identity."""

from __future__ import annotations

import asyncio
import logging

from adapters.matrix import content as mx
from adapters.matrix.e2ee import encryption_state
from adapters.matrix.errors import MatrixNotFound
from adapters.matrix.fitting import MAX_ROOM_NAME_BYTES, fit_text
from adapters.matrix.ghosts import Ghosts
from adapters.matrix.rooms import RoomCreator
from adapters.matrix.side import MatrixSide
from adapters.matrix.types import MxcUri, RoomId, UserId
from bridge.model import ChatKind, Profile

logger = logging.getLogger(__name__)

#: How the ``m.bridge`` state event names the remote network.
PROTOCOL_ID = "wechat"
PROTOCOL_NAME = "WeChat"


def room_name(remote: Profile) -> str:
    """The portal's ``m.room.name`` for ``remote``: its display name, shortened with an
    ellipsis to the spec's 255 bytes ("m.room.name": MUST NOT exceed 255 bytes)."""
    return fit_text(remote.display_name, max_bytes=MAX_ROOM_NAME_BYTES)


class Portals:
    """Creates portal rooms (Matrix spec "Client-Server API: Creation"; MSC2346 ``m.bridge``).

    A contact's portal is a direct chat created by the contact's ghost, with the owner and
    the bot invited (the bot joins, and gets power level 100 from the ``trusted_private_chat``
    preset, so it can post notices, invite ghosts and redact). A group's portal is created by
    the bot, named after the group, with the owner invited; members' ghosts join when they
    first speak. Both carry ``m.bridge`` state naming the identity, and ``m.room.encryption``
    when ``encryption.default`` is set. Room ids are kept opaque.

    The core records which room mirrors which identity (and asks again only for identities
    without a portal); this class remembers the rooms it created in this process only, so
    that concurrent or repeated calls for one identity get one room.
    Rooms are created through a ``RoomCreator`` (concurrency capped; a room an unanswered
    attempt made is found by its ``m.room.create`` marker instead of being created again).
    """

    def __init__(self, side: MatrixSide, ghosts: Ghosts) -> None:
        self._side = side
        self._ghosts = ghosts
        self._created: dict[str, RoomId] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._rooms = RoomCreator(side.api, known=self._is_portal)

    async def _is_portal(self, room: RoomId) -> bool:
        # Rooms this process made for other identities carry other markers: skip reading them.
        return room in self._created.values()

    async def ensure(self, remote: Profile, owner: UserId) -> RoomId:
        """The portal of ``remote`` (``remote.address`` = stable identity id) for ``owner``,
        created and ``owner`` invited on first call. Idempotent per identity. Raises
        ``MatrixRequestError`` subclasses if the homeserver refuses."""
        identity = remote.address
        async with self._locks.setdefault(identity, asyncio.Lock()):
            found = self._created.get(identity)
            if found is not None:
                return found
            if remote.kind is ChatKind.GROUP:
                room = await self._create_group(remote, owner)
            else:
                room = await self._create_direct(remote, owner)
            self._created[identity] = room
            logger.info("created portal %s for identity %s", room, identity)
            return room

    def forget(self, room: RoomId) -> None:
        """Forget that this process created ``room`` (its portal was deleted), so the same
        identity gets a new room from ``ensure``."""
        for identity, created in list(self._created.items()):
            if created == room:
                del self._created[identity]

    async def rename(self, room: RoomId, remote: Profile) -> bool:
        """Name ``room`` (as the bot) after ``remote.display_name`` unless it already has that
        name (spec "m.room.name"), so repeats add no state events. Returns whether it changed.
        Raises ``MatrixRequestError`` subclasses (``MatrixForbidden`` if the bot may not)."""
        api = self._side.api
        try:
            current = (await api.get_state(room, "m.room.name")).get("name")
        except MatrixNotFound:
            current = None
        name = room_name(remote)
        if current == name:
            return False
        await api.set_state(room, "m.room.name", {"name": name})
        logger.info("portal %s renamed", room)
        return True

    def _bridge_state(self, remote: Profile, avatar: MxcUri | None) -> list[dict[str, object]]:
        # encryption.default: new portals are encrypted from their first event on.
        encrypted = [encryption_state()] if self._side.config.encryption.default else []
        return encrypted + mx.bridge_state(
            bot=self._side.bot,
            protocol_id=PROTOCOL_ID,
            protocol_name=PROTOCOL_NAME,
            channel_id=remote.address,
            channel_name=room_name(remote),
            avatar_url=avatar,
        )

    async def _avatar(self, remote: Profile) -> MxcUri | None:
        if not remote.avatar_url:
            return None
        fetched = await self._side.fetch_avatar(remote.avatar_url)
        if fetched is None:
            return None
        return await self._side.api.upload(fetched.data, mimetype=fetched.mimetype)

    async def _create_direct(self, remote: Profile, owner: UserId) -> RoomId:
        side = self._side
        ghost = await self._ghosts.ensure(remote)
        room = await self._rooms.create(
            remote.address,
            as_user=ghost,
            name=room_name(remote),
            topic=remote.signature or None,
            invite=[owner, side.bot],
            is_direct=True,
            initial_state=self._bridge_state(remote, None),
        )
        await side.api.join(room)
        return room

    async def _create_group(self, remote: Profile, owner: UserId) -> RoomId:
        avatar = await self._avatar(remote)
        return await self._rooms.create(
            remote.address,
            name=room_name(remote),
            topic=remote.signature or None,
            avatar_url=avatar,
            invite=[owner],
            initial_state=self._bridge_state(remote, avatar),
        )

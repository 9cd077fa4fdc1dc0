"""The core's portals: the one writer of the ``portals`` table, and where the side that hosts
portals learns which portal a chat of its own is."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import attrs

from bridge.ids import LoginId, MatrixUserId, RoomId
from bridge.model import Address, ChatKind, IdentityId
from bridge.store import Repositories, Store

log = logging.getLogger(__name__)


@attrs.frozen
class PortalInfo:
    """Which portal a side-B chat (a Matrix room) is: the ``identity`` it mirrors, the
    ``login`` that identity belongs to, that login's ``owner`` (Matrix user id) and whether
    the mirrored chat is a person or a group (``kind``)."""

    room: RoomId
    identity: IdentityId
    login: LoginId
    owner: MatrixUserId
    kind: ChatKind


#: What a side-B adapter asks the core once per event: the portal a room is, or ``None``.
PortalLookup = Callable[[RoomId], Awaitable[PortalInfo | None]]


class PortalDirectory:
    """The portals of every login in ``store``: looks rooms up (answers cached: a portal's
    room, identity, login and owner never change) and records new portals, which only the
    core does. A room the adapter created is recorded at once, so a crash after creating it
    does not create a second one. Raises ``StoreError`` on database errors."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._rooms: dict[RoomId, PortalInfo] = {}
        self._of_identity: dict[IdentityId, RoomId] = {}
        self._locks: dict[IdentityId, asyncio.Lock] = {}

    async def by_room(self, room: RoomId, tx: Repositories | None = None) -> PortalInfo | None:
        """The portal ``room`` is, or ``None``. Inside a transaction pass its ``tx``."""
        found = self._rooms.get(room)
        if found is not None:
            return found
        repos = tx or self._store
        portal = await repos.portals.by_room(room)
        if portal is None:
            return None
        ident = await repos.identities.get(portal.identity_id)
        login = None if ident is None else await repos.logins.get(ident.login_id)
        if ident is None or login is None:
            return None
        found = PortalInfo(room, ident.id, login.id, login.matrix_user, ident.kind)
        self._rooms[room] = found
        return found

    async def room_of(self, identity: IdentityId, tx: Repositories | None = None) -> RoomId | None:
        """The portal room of ``identity``, or ``None`` while it has none."""
        room = self._of_identity.get(identity)
        if room is None:
            portal = await (tx or self._store).portals.get(identity)
            if portal is None:
                return None
            room = self._of_identity[identity] = portal.room
        return room

    async def ensure(
        self, identity: IdentityId, create: Callable[[], Awaitable[Address]]
    ) -> tuple[RoomId, bool]:
        """The portal room of ``identity``; without one, ``create()`` makes it on side B and
        it is recorded. Returns the room and whether it was created now. One call at a time
        per identity, so concurrent callers get the same room. Raises what ``create``
        raises."""
        async with self._locks.setdefault(identity, asyncio.Lock()):
            room = await self.room_of(identity)
            if room is not None:
                return room, False
            room = RoomId(await create())
            await self._store.portals.set(identity, room)
            self._of_identity[identity] = room
            log.info("portal %s recorded for identity %s", room, identity)
            return room, True

    async def forget(self, identity: IdentityId) -> RoomId | None:
        """Forget the portal of ``identity`` (``delete-portal``): its row is deleted and the
        cached answers dropped, so the next message of the chat creates a new portal
        (``ensure``). Returns the room it was, or ``None`` when it had none."""
        async with self._locks.setdefault(identity, asyncio.Lock()):
            room = await self.room_of(identity)
            if room is None:
                return None
            await self._store.portals.delete(identity)
            self._of_identity.pop(identity, None)
            self._rooms.pop(room, None)
            log.info("portal %s of identity %s forgotten", room, identity)
            return room

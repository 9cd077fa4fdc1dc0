"""Creating portal rooms at most once each, even when the homeserver answers too late."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.matrix.api import AppserviceAPI
from adapters.matrix.errors import MatrixForbidden, MatrixNotFound, MatrixUnavailable
from adapters.matrix.types import RoomId, UserId

logger = logging.getLogger(__name__)

#: ``m.room.create`` content key holding the key of the portal a room was created for.
PORTAL_MARKER = "net.chatbridge.portal"
#: Room creations in flight at once; more wait their turn (not counted in any timeout).
MAX_CONCURRENT_CREATIONS = 8
#: Attempts to create one room before the failure is passed on.
CREATE_ATTEMPTS = 3

#: Whether a room is known already (e.g. recorded as some portal): such rooms are not read
#: when looking for the room an unanswered attempt created.
KnownRoom = Callable[[RoomId], Awaitable[bool]]


async def _unknown(room: RoomId) -> bool:
    return False


class RoomCreator:
    """Creates rooms idempotently per ``key`` (e.g. a portal's identity id).

    Every room is created with ``{PORTAL_MARKER: key}`` in its ``m.room.create`` content.
    ``createRoom`` itself is not idempotent (spec "POST /createRoom" has no transaction id),
    so when an attempt ends without an answer (timeout, dropped connection, 5xx:
    ``MatrixUnavailable``) the room may exist anyway: before trying again, and whenever a
    later call comes for a key whose attempt was left uncertain, the creator's joined rooms
    are searched for the marker (rooms ``known`` says are accounted for are skipped), waiting
    up to ``settle_s`` for an attempt the homeserver is still working on. At most
    ``max_concurrent`` creations run at once.
    """

    def __init__(
        self,
        api: AppserviceAPI,
        *,
        known: KnownRoom = _unknown,
        max_concurrent: int = MAX_CONCURRENT_CREATIONS,
        attempts: int = CREATE_ATTEMPTS,
        settle_s: float = 10.0,
    ) -> None:
        self._api = api
        self._known = known
        self._slots = asyncio.Semaphore(max_concurrent)
        self._attempts = attempts
        self._settle_s = settle_s
        self._uncertain: set[str] = set()

    async def create(self, key: str, *, as_user: UserId | None = None, **room: Any) -> RoomId:
        """The room created for ``key`` by ``as_user`` (``None``: the bot): one an earlier,
        unanswered attempt made, else a new one made with ``room`` (``AppserviceAPI.
        create_room`` arguments). Raises what ``create_room`` raises after ``attempts``
        (``MatrixUnavailable`` when no attempt got an answer and no room turned up)."""
        async with self._slots:
            last: MatrixUnavailable | None = None
            for _ in range(self._attempts):
                if key in self._uncertain:
                    found = await self._find(key, as_user, wait_s=self._settle_s)
                    if found is not None:
                        self._uncertain.discard(key)
                        logger.info("room %s of %s made by an unanswered attempt", found, key)
                        return found
                try:
                    created = await self._api.create_room(
                        as_user=as_user, creation_content={PORTAL_MARKER: key}, **room
                    )
                except MatrixUnavailable as exc:
                    logger.warning("creating the room of %s: no answer (%s)", key, exc)
                    self._uncertain.add(key)
                    last = exc
                    continue
                self._uncertain.discard(key)
                return created
            assert last is not None
            raise last

    async def _find(self, key: str, as_user: UserId | None, *, wait_s: float) -> RoomId | None:
        """The room with ``key``'s marker among ``as_user``'s joined rooms, looking again
        every second for ``wait_s`` s while there is none (the attempt may still be running).
        ``None`` if none turned up, or the rooms cannot be listed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        checked: set[RoomId] = set()
        while True:
            try:
                rooms = await self._api.joined_rooms(as_user=as_user)
            except MatrixUnavailable:
                rooms = ()
            for room in rooms:
                if room in checked or await self._known(room):
                    continue
                checked.add(room)
                if await self._marker(room, as_user) == key:
                    return room
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(1.0)

    async def _marker(self, room: RoomId, as_user: UserId | None) -> object:
        try:
            create = await self._api.get_state(room, "m.room.create", as_user=as_user)
        except (MatrixForbidden, MatrixNotFound, MatrixUnavailable):
            return None
        return create.get(PORTAL_MARKER)

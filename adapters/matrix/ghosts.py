"""Ghosts: one appservice user per remote identity, with its profile kept current."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from adapters.matrix.errors import MatrixForbidden, MatrixRequestError
from adapters.matrix.side import MatrixSide
from adapters.matrix.types import EventId, MxcUri, RoomId, UserId
from bridge.config import Config, unescape_localpart
from bridge.model import Profile
from bridge.store.matrix_state import MatrixProfile

logger = logging.getLogger(__name__)


def ghost_identity(config: Config, user: UserId) -> str | None:
    """The stable identity id whose ghost ``user`` is (the inverse of
    ``Config.ghost_user_id``), or ``None`` when ``user`` is no ghost of this bridge."""
    if not config.is_ghost(user):
        return None
    prefix, _, suffix = config.appservice.username_template.partition("{identity}")
    localpart = user[1:].removesuffix(":" + config.homeserver.domain)
    return unescape_localpart(localpart.removeprefix(prefix).removesuffix(suffix))


class Ghosts:
    """Registers ghosts and keeps their display names and avatars in step with the remote
    profiles; sends as a ghost, joining it to the room first when it is not a member.

    A ghost's localpart comes from ``Config.ghost_user_id`` of the stable identity id (never
    a WeChat UserName), so it survives re-logins (``ghost_identity`` reads it back). What
    was set is remembered in the Matrix side's own table (``store.matrix`` profiles), so a
    restart does not set every profile again; that row also marks the ghost registered.
    """

    def __init__(self, side: MatrixSide) -> None:
        self._side = side
        self._current: dict[UserId, tuple[str, str]] = {}
        self._locks: dict[UserId, asyncio.Lock] = {}

    def user_id(self, identity: str) -> UserId:
        """The ghost of ``identity`` (a stable identity id)."""
        return UserId(self._side.config.ghost_user_id(identity))

    async def ensure(self, profile: Profile) -> UserId:
        """The ghost of ``profile.address`` (a stable identity id), registered, named
        ``Config.ghost_displayname(profile.display_name)`` and with the profile's avatar when
        it can be fetched. Raises ``MatrixRequestError`` if registering or naming fails."""
        side = self._side
        user = self.user_id(profile.address)
        name = side.config.ghost_displayname(profile.display_name)
        wanted = (name, profile.avatar_url)
        if self._current.get(user) == wanted:
            return user
        async with self._locks.setdefault(user, asyncio.Lock()):
            if self._current.get(user) == wanted:
                return user
            stored = await side.store.matrix.profile(user)
            if stored is None:
                await side.api.ensure_registered(user)
                stored = MatrixProfile(user)
            if stored.displayname != name:
                await side.api.set_displayname(user, name)
                logger.info("ghost %s renamed", user)
            avatar_source, avatar_mxc = stored.avatar_source, stored.avatar_mxc
            if profile.avatar_url and profile.avatar_url != avatar_source:
                fetched = await side.fetch_avatar(profile.avatar_url)
                if fetched is not None:
                    avatar_mxc = await side.api.upload(
                        fetched.data, mimetype=fetched.mimetype, filename="avatar", as_user=user
                    )
                    await side.api.set_avatar_url(user, MxcUri(avatar_mxc))
                    avatar_source = profile.avatar_url
            await side.store.matrix.set_profile(
                MatrixProfile(user, name, avatar_source, avatar_mxc)
            )
            self._current[user] = wanted
        return user

    async def join(self, room: RoomId, user: UserId) -> None:
        """Get ``user`` (a ghost) into ``room``: the bot invites it, then it joins.

        An invite refused because the ghost is already invited or joined is ignored.
        """
        api = self._side.api
        try:
            await api.invite(room, user)
        except MatrixForbidden as exc:
            logger.debug("invite of %s to %s refused (%s); joining anyway", user, room, exc)
        await api.join(room, as_user=user)

    async def send(
        self,
        room: RoomId,
        user: UserId | None,
        content: Mapping[str, Any],
        *,
        event_type: str = "m.room.message",
        txn_id: str | None = None,
    ) -> EventId:
        """Send ``content`` into ``room`` as the ghost ``user`` (``None``: the bot). A ghost
        that is not in the room yet is invited and joined, then the send is repeated with the
        same ``txn_id``. Raises ``MatrixRequestError`` subclasses."""
        api = self._side.api
        try:
            return await api.send_message(
                room, content, as_user=user, event_type=event_type, txn_id=txn_id
            )
        except MatrixForbidden:
            if user is None or user == self._side.bot:
                raise
        try:
            await self.join(room, user)
        except MatrixRequestError as exc:
            logger.warning("ghost %s cannot join %s: %s", user, room, exc)
            raise
        return await api.send_message(
            room, content, as_user=user, event_type=event_type, txn_id=txn_id
        )

"""Ghosts: one appservice user per remote identity, with its profile kept current."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from adapters.matrix.errors import MatrixForbidden, MatrixRateLimited, MatrixRequestError
from adapters.matrix.fitting import MAX_DISPLAYNAME_CHARS, fit_text
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
        ``Config.ghost_displayname(profile.display_name)`` (the name shortened with an
        ellipsis to Synapse's 256 characters) and with the profile's avatar when it can be
        fetched. Raises ``MatrixRequestError`` if registering fails; a profile update the
        homeserver refuses is logged and skipped, so it never keeps the ghost from posting
        (one refused for now is tried again on the next call)."""
        side = self._side
        user = self.user_id(profile.address)
        name = self.displayname(profile.display_name)
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
            try:
                done = await self._update_profile(user, stored, name, profile.avatar_url)
            except (MatrixRequestError, MatrixRateLimited) as exc:
                if exc.retryable:
                    logger.warning("profile of ghost %s not updated for now: %s", user, exc)
                    return user
                logger.warning("profile of ghost %s refused, kept as it was: %s", user, exc)
                done = stored
            await side.store.matrix.set_profile(done)
            self._current[user] = wanted
        return user

    def displayname(self, name: str) -> str:
        """The display name of the ghost of a contact called ``name``: the configured
        template, ``name`` shortened with an ellipsis (on a character boundary) when the
        result would pass ``MAX_DISPLAYNAME_CHARS``."""
        config = self._side.config
        full = config.ghost_displayname(name)
        if len(full) <= MAX_DISPLAYNAME_CHARS:
            return full
        budget = MAX_DISPLAYNAME_CHARS - (len(full) - len(name))
        fitted = config.ghost_displayname(fit_text(name, max_chars=max(budget, 1)))
        return fit_text(fitted, max_chars=MAX_DISPLAYNAME_CHARS)

    async def _update_profile(
        self, user: UserId, stored: MatrixProfile, name: str, avatar_url: str
    ) -> MatrixProfile:
        """Set what differs from ``stored`` on ``user``'s profile; returns what is set."""
        api = self._side.api
        if stored.displayname != name:
            await api.set_displayname(user, name)
            logger.info("ghost %s renamed", user)
        avatar_source, avatar_mxc = stored.avatar_source, stored.avatar_mxc
        if avatar_url and avatar_url != avatar_source:
            fetched = await self._side.fetch_avatar(avatar_url)
            if fetched is not None:
                avatar_mxc = await api.upload(
                    fetched.data, mimetype=fetched.mimetype, filename="avatar", as_user=user
                )
                await api.set_avatar_url(user, MxcUri(avatar_mxc))
                avatar_source = avatar_url
        return MatrixProfile(user, name, avatar_source, avatar_mxc)

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

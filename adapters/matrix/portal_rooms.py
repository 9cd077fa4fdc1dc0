"""The room side of ``MatrixChannel`` (``adapters/matrix/channel.py``): profiles of rooms and
users, and its portals created, invited to, renamed and deleted."""

from __future__ import annotations

import logging

from adapters.matrix.errors import MatrixForbidden, MatrixNotFound, MatrixRequestError
from adapters.matrix.ghosts import Ghosts
from adapters.matrix.portals import Portals
from adapters.matrix.side import MatrixSide
from adapters.matrix.types import RoomId, UserId
from bridge.errors import BridgeError
from bridge.model import Address, ChatKind, Profile
from bridge.relay.portals import PortalLookup

logger = logging.getLogger(__name__)


class PortalRooms:
    """``get_profile`` and the portal operations of ``MatrixChannel`` (``SupportsPortals``,
    ``SupportsPortalUpdates``, ``SupportsPortalInvite``, ``SupportsPortalDeletion``), on
    the attributes the channel sets: ``owner``, ``_side``, ``_ghosts``, ``_portals`` and
    ``_portal_of``."""

    owner: UserId
    _side: MatrixSide
    _ghosts: Ghosts
    _portals: Portals
    _portal_of: PortalLookup

    async def get_profile(self, address: Address) -> Profile:
        """A room's name and kind (``!room``) or a user's display name and avatar
        (``@user``). Raises ``BridgeError`` for anything else or an unknown one."""
        api = self._side.api
        if address.startswith("@"):
            user = UserId(address)
            data = await api.get_profile(user)
            name = data.get("displayname")
            avatar = data.get("avatar_url")
            return Profile(
                address,
                name=name if isinstance(name, str) else "",
                avatar_url=avatar if isinstance(avatar, str) else "",
                is_self=user == self.owner,
            )
        if not address.startswith("!"):
            raise BridgeError(f"{address!r} is neither a Matrix room nor a user id")
        room = RoomId(address)
        portal = await self._portal_of(room)
        kind = ChatKind.GROUP if portal is None else portal.kind
        try:
            state = await api.get_state(room, "m.room.name")
        except MatrixNotFound:
            state = {}
        name = state.get("name")
        return Profile(address, kind=kind, name=name if isinstance(name, str) else "")

    async def ensure_portal(self, remote: Profile, *, owner: Address) -> Address:
        """The portal room of ``remote`` (``remote.address`` = stable identity id), created
        on first call with ``owner`` invited; see ``Portals``."""
        return Address(await self._portals.ensure(remote, UserId(owner)))

    async def invite_owner(self, chat: Address) -> bool:
        """Invite the owner to the portal ``chat`` as the bot unless their membership is
        ``join`` or ``invite`` already (spec "m.room.member", "POST /rooms/{roomId}/invite");
        returns whether an invite was sent. Raises ``MatrixRequestError`` subclasses."""
        room, api = RoomId(chat), self._side.api
        try:
            member = await api.get_state(room, "m.room.member", state_key=self.owner)
        except MatrixNotFound:
            member = {}
        if member.get("membership") in ("join", "invite"):
            return False
        await api.invite(room, self.owner)
        return True

    async def delete_portal(self, chat: Address, *, reason: str) -> None:
        """Empty the portal ``chat`` and leave it (as mautrix bridges clean up a deleted
        portal's room): every joined member who is neither the bot nor a ghost is kicked
        with ``reason``, the owner too (a pending invite is withdrawn), ghosts leave, the
        bot leaves last; ``Portals`` forgets the room. A member that cannot be removed is
        logged and stays (the owner of a contact's portal has the bot's power level, so
        only leaves by themselves). Raises ``MatrixRequestError`` subclasses when the
        members cannot be read."""
        room, api, config = RoomId(chat), self._side.api, self._side.config
        self._portals.forget(room)
        members = {m.user_id for m in await api.get_members(room)} | {self.owner}
        for user in sorted(members - {self._side.bot}):
            try:
                if config.is_ghost(user):
                    await api.leave(room, as_user=user)
                else:
                    await api.kick(room, user, reason)
            except MatrixForbidden as exc:
                # E.g. the owner of a contact's portal: trusted_private_chat made them the
                # bot's equal in power, and only someone above may kick.
                logger.info("deleting portal %s: %s may not be removed: %s", room, user, exc)
            except MatrixRequestError as exc:
                logger.warning("deleting portal %s: %s stays: %s", room, user, exc)
        await api.leave(room)
        logger.info("portal %s deleted", room)

    async def update_portal(self, chat: Address, remote: Profile) -> None:
        """``remote`` (``remote.address`` = stable identity id) was renamed: a person's ghost
        takes the new display name (``Config.ghost_displayname``; spec "PUT
        /profile/{userId}/displayname") and the room ``chat`` the new ``m.room.name`` (spec
        "m.room.name"); either is left alone if it shows the name already. Raises
        ``MatrixRequestError`` subclasses."""
        if remote.kind is ChatKind.DIRECT:
            await self._ghosts.ensure(remote)
        await self._portals.rename(RoomId(chat), remote)

"""What a login tells its Matrix user in the management room: notices, notices with images,
and the gap notice after a logout the network forced (PROTOCOL.md §5).
``bridge.logins.LoginSession`` owns one ``LoginNotices``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bridge.errors import StoreError
from bridge.hub import Hub
from bridge.ids import LoginId, MatrixUserId, RoomId
from bridge.outage import Gap
from bridge.relay.notices import UserNotice
from bridge.store import Store

log = logging.getLogger(__name__)


class LoginNotices:
    """The management room of the login ``login`` for its Matrix user ``owner``: the DM the
    user last sent ``login`` in (``room``), else the hub's ``management_room(owner)``, found
    or created once. ``network`` names the remote network for the user ("WeChat");
    ``wall_clock`` gives unix time in seconds. Failures to post are logged, never raised."""

    def __init__(
        self,
        login: LoginId,
        owner: MatrixUserId,
        hub: Hub,
        store: Store,
        *,
        network: str,
        wall_clock: Callable[[], float],
    ) -> None:
        self.login = login
        self.owner = owner
        self.hub = hub
        self.store = store
        self.network = network
        self._wall_clock = wall_clock
        self.room: RoomId | None = None

    async def tell_gap(self, since: float | None) -> None:
        """After a logout the network forced: messages sent meanwhile may be lost for good
        (web WeChat cannot fetch a past session's messages, PROTOCOL.md §5). ``since`` is
        when the connection began failing (T1), None when it did not fail before; the
        logout (T2) is now. Each portal with bridged traffic from T1 to T2 gets a notice,
        the management room one for all chats (``bridge.outage.Gap``)."""
        gap = Gap(since, self._wall_clock(), self.network)
        rooms: list[RoomId] = []
        if since is not None:
            try:
                rooms = await self.store.messages.rooms_between(self.login, gap.start, gap.end)
            except StoreError:
                log.exception("login %s: portals with traffic in the gap not found", self.login)
        for room in rooms:
            try:
                await self.hub.reply(room, gap.portal_notice())
            except Exception:
                log.exception("login %s: could not post the gap notice in a portal", self.login)
        await self.say(gap.user_notice())

    async def management_room(self) -> RoomId:
        """Where this login's notices go (found or created once)."""
        if self.room is None:
            self.room = await self.hub.management_room(self.owner)
        return self.room

    async def tell(self, notice: UserNotice) -> None:
        """``notice`` in the management room: its text, then each image with its caption;
        failures are logged."""
        await self.say(notice.text)
        for n, (caption, image) in enumerate(notice.images, 1):
            try:
                room = await self.management_room()
                await self.hub.send_image(room, image, body=caption, filename=f"avatar-{n}")
            except Exception:
                log.exception("login %s: could not send an image to its user", self.login)

    async def say(self, text: str) -> None:
        """A notice to the user in the management room; failures are logged."""
        try:
            await self.hub.reply(await self.management_room(), text)
        except Exception:
            log.exception("login %s: could not send a notice to its user", self.login)

"""``MatrixHub``: the process's appservice: transactions, the bot, management rooms, channels."""

from __future__ import annotations

import asyncio
import io
import logging
import mimetypes
import time
from typing import TYPE_CHECKING

from PIL import Image

from adapters.matrix import content as mx
from adapters.matrix.api import AppserviceAPI
from adapters.matrix.appservice import AppserviceServer
from adapters.matrix.botnotices import BotNotices
from adapters.matrix.channel import MatrixChannel
from adapters.matrix.e2ee import Encryption
from adapters.matrix.errors import (
    AppserviceRejected,
    MatrixForbidden,
    MatrixNotFound,
    MatrixRequestError,
)
from adapters.matrix.ghosts import Ghosts
from adapters.matrix.markdown import markdown_html
from adapters.matrix.portals import Portals
from adapters.matrix.puppet import DoublePuppets
from adapters.matrix.puppet_login import TOKEN_DROPPED, PuppetLogins
from adapters.matrix.puppet_tokens import TokenFile
from adapters.matrix.receipts import DeliveryOptions, DeliveryReports
from adapters.matrix.relations import RelationOptions, Relations
from adapters.matrix.router import BotCommand, CommandHandler, Router
from adapters.matrix.side import MatrixSide
from adapters.matrix.transactions import NO_LOGIN, TransactionRouting
from adapters.matrix.types import (
    EventId,
    MxcUri,
    RoomId,
    UserId,
)
from bridge.commands_puppet import PuppetLogin, PuppetLogout, SupportsDoublePuppet
from bridge.config import REFUSAL, Config, Section
from bridge.hub import HubFactory, Readiness
from bridge.ids import LoginId, MatrixUserId
from bridge.relay.portals import PortalLookup
from bridge.store import Store

__all__ = [
    "NO_LOGIN",
    "REFUSAL",
    "BotCommand",
    "CommandHandler",
    "MatrixHub",
]

logger = logging.getLogger(__name__)

#: How long processed transaction ids are remembered, in seconds.
TRANSACTION_MEMORY_S = 7 * 24 * 3600


class MatrixHub(TransactionRouting):
    """The Matrix side of the bridge process (one per process): the appservice server and
    client, the bot, and one ``MatrixChannel`` per login. Implements the core's
    ``bridge.hub.Hub``; the class itself is the ``bridge.hub.HubFactory`` the ``matrix``
    entry point names.

    Transactions the homeserver pushes are routed by ``TransactionRouting`` (its class doc
    says how); this class adds the lifecycle, the channels and what the bot does.

    ``serve=False`` runs no HTTP server: the caller feeds ``handle_transaction`` (tests that
    share one registered appservice port). ``portal_of`` is how the core tells which portal a
    room is (asked once per event: ``PortalDirectory.by_room`` of the one directory the core
    shares with its relays); the hub writes no table of the core. ``readiness`` is the core's
    answer to the health check (``/health`` is 503 with its reason while it gives one).
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        on_command: CommandHandler,
        portal_of: PortalLookup,
        api: AppserviceAPI | None = None,
        serve: bool = True,
        ack_timeout_s: float = 50.0,
        readiness: Readiness | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.ack_timeout_s = ack_timeout_s
        self._on_command = on_command
        self._owns_api = api is None
        self._api = api or AppserviceAPI(
            config.homeserver.address, config.appservice.as_token, UserId(config.bot_user_id)
        )
        self._side = MatrixSide(config, store, self._api)
        self._ghosts = Ghosts(self._side)
        self._portals = Portals(self._side, self._ghosts)
        self._puppets = DoublePuppets(
            self._side,
            TokenFile(config.double_puppet_tokens_path),
            on_dropped=self._puppet_token_dropped,
        )
        self._puppet_logins = PuppetLogins(self._api, self._puppets)
        self._portal_of = portal_of
        self._router = Router(self._side, self._portal_of)
        options = Section(config.matrix_config, "matrix")
        self._relations = Relations(self._side, RelationOptions.from_section(options))
        delivery = DeliveryOptions.from_section(options)
        options.warn_unknown()
        self._reports = DeliveryReports(self._api, config.network, delivery)
        self._server = (
            AppserviceServer(
                config.appservice.hs_token,
                self.handle_transaction,
                store.transactions,
                user_query=self._user_exists,
                readiness=readiness,
            )
            if serve
            else None
        )
        self._channels: dict[LoginId, MatrixChannel] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._notices = BotNotices(config, self._api, self._reports)
        self._e2ee = Encryption(config, self._api, self._notices, late_event=self._late_event)
        self._room_locks: dict[UserId, asyncio.Lock] = {}
        self._event_failures: dict[str, int] = {}
        self._started = False
        self._stopped = False
        self.bot = UserId(config.bot_user_id)

    @property
    def api(self) -> AppserviceAPI:
        """The appservice client (the bot, and ghosts through ``as_user``)."""
        return self._api

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for transactions on ``appservice.hostname``:``port``, then register the bot
        and set its display name and avatar (when configured and different), then ping the
        homeserver so it sends what it queued meanwhile. Idempotent. Raises ``OSError`` if
        the port is taken, ``AppserviceRejected`` if the homeserver does not know this
        registration."""
        if self._started:
            return
        self._started = True
        # Only a retry of a recent transaction needs its id; homeservers retry for hours.
        await self.store.transactions.prune(time.time() - TRANSACTION_MEMORY_S)
        await self.store.matrix.prune_commands(time.time() - TRANSACTION_MEMORY_S)
        if self._server is not None:
            appservice = self.config.appservice
            await self._server.start(appservice.hostname, appservice.port)
        try:
            await self._set_up_bot()
        except AppserviceRejected:
            await self.stop()
            raise
        except MatrixRequestError as exc:
            logger.warning("bot profile not set (homeserver unavailable?): %s", exc)
        await self._e2ee.start()
        try:
            await self._api.ping(self.config.appservice.id)
        except MatrixRequestError as exc:
            logger.warning("the homeserver could not ping the appservice: %s", exc)

    async def _set_up_bot(self) -> None:
        # Compared with the homeserver's profile, not a record of ours: a profile change is
        # copied into every room the bot is in, so it is only made when something differs.
        bot = self.config.appservice.bot
        await self._api.ensure_registered(self.bot)
        try:
            current = await self._api.get_profile(self.bot)
        except MatrixNotFound:
            current = {}
        if bot.displayname and current.get("displayname") != bot.displayname:
            await self._api.set_displayname(self.bot, bot.displayname)
        if bot.avatar and current.get("avatar_url") != bot.avatar:
            await self._api.set_avatar_url(self.bot, MxcUri(bot.avatar))

    async def stop(self) -> None:
        """Stop the server, fail transactions still waiting for acks, close the clients.
        Idempotent; never raises."""
        if self._stopped:
            return
        self._stopped = True
        for channel in self._channels.values():
            channel.abandon(reason="the bridge is stopping")
        if self._server is not None:
            await self._server.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._e2ee.stop()
        await self._puppets.close()
        await self._side.close()
        if self._owns_api:
            await self._api.close()

    # ---- channels ----------------------------------------------------------------------------

    def channel_for(self, login: LoginId, owner: MatrixUserId) -> MatrixChannel:
        """The side-B channel of ``login`` owned by ``owner`` (the same object every call)."""
        channel = self._channels.get(login)
        if channel is None:
            channel = MatrixChannel(
                self._side,
                self._ghosts,
                self._portals,
                self._puppets,
                login=login,
                owner=UserId(owner),
                portal_of=self._portal_of,
                reports=self._reports,
            )
            self._channels[login] = channel
        return channel

    def drop_channel(self, login: LoginId) -> None:
        """Forget ``login``'s channel; transactions waiting for its acks fail (and are
        repeated by the homeserver)."""
        channel = self._channels.pop(login, None)
        if channel is not None:
            channel.abandon(reason="the login's channel was dropped")

    # ---- the bot -----------------------------------------------------------------------------

    async def management_room(self, user: MatrixUserId) -> RoomId:
        """``user``'s direct chat with the bot: the remembered one while the bot is in it
        and ``user`` is joined or invited, else a new one with ``user`` invited."""
        async with self._room_locks.setdefault(UserId(user), asyncio.Lock()):
            room = await self.store.matrix.management_room(user)
            if room is not None and await self._usable_dm(room, UserId(user)):
                return room
            room = await self._api.create_room(invite=[UserId(user)], is_direct=True)
            await self.store.matrix.set_management_room(user, room)
            logger.info("created the management room %s of %s", room, user)
            return room

    async def set_management_room(self, user: MatrixUserId, room: RoomId) -> None:
        """Remember ``room`` as ``user``'s management room (the store keeps it across
        restarts); ``management_room`` returns it while the bot and ``user`` are in it."""
        async with self._room_locks.setdefault(UserId(user), asyncio.Lock()):
            if await self.store.matrix.management_room(user) != room:
                await self.store.matrix.set_management_room(user, room)
                logger.info("management room of %s is now %s", user, room)

    async def _usable_dm(self, room: RoomId, user: UserId) -> bool:
        try:
            state = await self._api.get_state(room, "m.room.member", state_key=user)
        except (MatrixForbidden, MatrixNotFound):
            return False
        return state.get("membership") in ("join", "invite")

    async def reply(
        self, room: RoomId, text: str, *, html: str | None = None, notice: bool = True
    ) -> EventId:
        """Post ``text`` into ``room`` as the bot; ``m.notice`` unless ``notice`` is False.
        Its ``formatted_body`` is ``html``, else ``text`` read as Markdown
        (``markdown.markdown_html``): every bot message has one. Raises
        ``MatrixRequestError`` subclasses."""
        markup = html if html is not None else markdown_html(text)
        return await self._api.send_message(room, mx.text(text, html=markup, notice=notice))

    async def send_image(
        self, room: RoomId, image: bytes, *, body: str, filename: str = "qr.png"
    ) -> EventId:
        """Upload ``image`` and post it as an ``m.image`` as the bot, captioned ``body``, with
        its mimetype and size in pixels read by Pillow (bytes Pillow cannot read are posted
        as an ``m.file``); a ``filename`` without extension gets the mimetype's. Returns the
        event id. In an encrypted room the file is uploaded
        encrypted and posted as a ``file`` (``uploads.upload``)."""
        from adapters.matrix import uploads

        mimetype, width, height = _picture(image)
        if "." not in filename:
            filename += mimetypes.guess_extension(mimetype) or ""
        uploaded = await uploads.upload(
            self._api, room, image, mimetype=mimetype, filename=filename
        )
        content = mx.media(
            mx.MediaMsgType.IMAGE if width else mx.MediaMsgType.FILE,
            uploaded.url,
            filename=filename,
            mimetype=mimetype,
            size=len(image),
            caption=body,
            width=width,
            height=height,
        )
        return await self._api.send_message(room, uploaded.place(content))

    async def redact(self, room: RoomId, event_id: EventId, reason: str = "") -> None:
        """Redact ``event_id`` in ``room`` as the bot (e.g. an expired QR code)."""
        await self._api.redact(room, event_id, reason=reason or None)

    # ---- double puppeting with the user's own token (login-matrix) --------------------------

    async def login_double_puppet(
        self, user: MatrixUserId, token: str, room: RoomId, event_id: EventId
    ) -> PuppetLogin:
        """``SupportsDoublePuppet.login_double_puppet`` (see ``PuppetLogins.login``)."""
        return await self._puppet_logins.login(UserId(user), token, room, event_id)

    async def logout_double_puppet(self, user: MatrixUserId) -> PuppetLogout:
        """``SupportsDoublePuppet.logout_double_puppet`` (see ``PuppetLogins.logout``)."""
        return await self._puppet_logins.logout(UserId(user))

    async def _puppet_token_dropped(self, user: UserId) -> None:
        await self.reply(await self.management_room(MatrixUserId(user)), TOKEN_DROPPED)

    async def _user_exists(self, user_id: UserId) -> bool:
        if user_id == self.bot:
            return True
        # Every ghost the bridge registered has its profile remembered.
        return await self.store.matrix.profile(user_id) is not None


def _picture(data: bytes) -> tuple[str, int, int]:
    """``(mimetype, width, height)`` of the picture ``data``, read by Pillow from its header;
    ``("application/octet-stream", 0, 0)`` for bytes it does not know as a picture."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            mimetype = Image.MIME.get(image.format or "", "")
            width, height = image.size
    except Exception as exc:  # Pillow raises many types for bytes it cannot read
        logger.info("not a picture Pillow reads (%s); posted as a file", type(exc).__name__)
        return "application/octet-stream", 0, 0
    if not mimetype:
        return "application/octet-stream", 0, 0
    return mimetype, int(width), int(height)


if TYPE_CHECKING:
    # The class is what the ``matrix`` entry point names: mypy checks it fits the core.
    _factory: HubFactory = MatrixHub
    _puppeting: type[SupportsDoublePuppet] = MatrixHub

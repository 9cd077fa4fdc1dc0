"""``MatrixHub``: the process's appservice: transactions, the bot, management rooms, channels."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from adapters.matrix import content as mx
from adapters.matrix import render
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
    MatrixUnavailable,
)
from adapters.matrix.ghosts import Ghosts
from adapters.matrix.markdown import markdown_html
from adapters.matrix.portals import Portals
from adapters.matrix.puppet import DoublePuppets
from adapters.matrix.puppet_login import TOKEN_DROPPED, PuppetLogins
from adapters.matrix.puppet_tokens import TokenFile
from adapters.matrix.receipts import DeliveryOptions, DeliveryReports, read_receipts
from adapters.matrix.relations import RelationOptions, Relations, relation
from adapters.matrix.router import BotCommand, CommandHandler, Route, Router
from adapters.matrix.side import MatrixSide
from adapters.matrix.types import (
    EphemeralEvent,
    EventId,
    MxcUri,
    RoomEvent,
    RoomId,
    Transaction,
    TransactionId,
    UserId,
)
from bridge.commands_puppet import PuppetLogin, PuppetLogout, SupportsDoublePuppet
from bridge.config import REFUSAL, Config, Section
from bridge.errors import BridgeError, RateLimited, StoreError
from bridge.hub import HubFactory, Readiness
from bridge.ids import LoginId, MatrixUserId
from bridge.model import Event
from bridge.relay.portals import PortalInfo, PortalLookup
from bridge.store import Store

__all__ = [
    "NO_LOGIN",
    "REFUSAL",
    "BotCommand",
    "CommandHandler",
    "MatrixHub",
]

logger = logging.getLogger(__name__)

#: Times one event may fail with a passing error (homeserver unavailable, rate limited)
#: before it is skipped: Synapse repeats a failed transaction with backoff (1 s, 2 s, 4 s...),
#: holding back every later one, so this is about a minute of waiting.
MAX_EVENT_FAILURES = 6
GAVE_UP = "⚠ Not delivered: the bridge could not process this message (it kept failing)."
#: How long processed transaction ids are remembered, in seconds.
TRANSACTION_MEMORY_S = 7 * 24 * 3600
NO_LOGIN = (
    "⚠ Not delivered: the account this chat belongs to is not running on the bridge. "
    "Log in again through the bridge bot."
)


class MatrixHub:
    """The Matrix side of the bridge process (one per process): the appservice server and
    client, the bot, and one ``MatrixChannel`` per login. Implements the core's
    ``bridge.hub.Hub``; the class itself is the ``bridge.hub.HubFactory`` the ``matrix``
    entry point names.

    Transactions (Matrix spec "Application Service API: Pushing events") are routed event by
    event: echoes of the bot, the ghosts and double puppets are dropped; an invite of the bot
    is accepted (a user without ``user`` permission gets a refusal, then the bot leaves);
    the owner's messages, stickers and redactions in a portal go to that login's channel as
    one ``EventBatch`` per transaction; text in any other room the bot is in goes to
    ``on_command`` as a ``BotCommand`` (each in its own task, once the transaction is done).
    A transaction is answered 200 only after every batch it produced is acked (journaled),
    or 500 after ``ack_timeout_s`` (or a database / homeserver failure) so the homeserver
    repeats it; meanwhile the homeserver holds back the appservice's later transactions, so a
    login whose relay stops consuming delays everyone until ``drop_channel`` or the timeout.
    Processed transactions are remembered in ``store.transactions`` by
    ``Transaction.dedupe_key``, and commands by event id (``store.matrix.claim_command``), so
    one arriving again under another transaction id is not executed twice.
    Ephemeral events (the registration's ``receive_ephemeral``): the portal owner's ``m.read``
    receipts go into the same batch as ``ReadReceipt``s (``receipts.read_receipts``).
    Events that cannot be bridged get a notice in their room;
    malformed ones are logged and skipped. Portal events of a login without a channel get
    the ``NO_LOGIN`` notice.

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
        self, room: RoomId, png: bytes, *, body: str, filename: str = "qr.png"
    ) -> EventId:
        """Upload the PNG ``png`` and post it as an ``m.image`` as the bot (with its size in
        pixels read from the PNG header); returns the event id. In an encrypted room the PNG
        is uploaded encrypted and posted as a ``file`` (``uploads.upload``)."""
        from adapters.matrix import uploads

        uploaded = await uploads.upload(
            self._api, room, png, mimetype="image/png", filename=filename
        )
        width, height = _png_size(png)
        image = mx.media(
            mx.MediaMsgType.IMAGE,
            uploaded.url,
            filename=filename,
            mimetype="image/png",
            size=len(png),
            caption=body,
            width=width,
            height=height,
        )
        return await self._api.send_message(room, uploaded.place(image))

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

    # ---- transactions ------------------------------------------------------------------------

    async def handle_transaction(self, txn: Transaction) -> None:
        """Route ``txn``'s events (see the class doc) and return once every batch it produced
        is acked. Raises (so the homeserver repeats the transaction) when an ack does not come
        within ``ack_timeout_s``, or the database or the homeserver fails for now. Files are not
        downloaded here: they are journaled as references (``adapters.matrix.media``)."""
        batches: dict[LoginId, list[Event]] = {}
        commands: list[BotCommand] = []
        self._e2ee.receive(txn.devices)
        for event in txn.events:
            try:
                await self._route(event, batches, commands)
                self._event_failures.pop(event.event_id, None)
            except StoreError:
                raise  # passing: the homeserver repeats the transaction later
            except (MatrixUnavailable, RateLimited) as exc:
                if not await self._give_up_on(event, exc):
                    raise  # passing: the homeserver repeats the transaction later
            except Exception:
                logger.exception("event %s of transaction %s skipped", event.event_id, txn.txn_id)
        for ephemeral in txn.ephemeral:
            try:
                await self._ephemeral(ephemeral, batches)
            except StoreError:
                raise  # passing: the homeserver repeats the transaction later
            except Exception:
                logger.exception("an ephemeral event of transaction %s skipped", txn.txn_id)
        await self._hand_over(batches)
        for command in commands:
            # By event id, not transaction: a homeserver may send an event again under a new
            # transaction id (Synapse renumbers after a restart). At most once: claimed first.
            if await self.store.matrix.claim_command(command.event_id):
                self._spawn(self._run_command(command))
            else:
                logger.info("command %s executed before; not again", command.event_id)

    async def _give_up_on(self, event: RoomEvent, exc: Exception) -> bool:
        """Whether ``event``, failing with a passing error again, has failed
        ``MAX_EVENT_FAILURES`` times: then it is skipped (logged, its room told) so that the
        homeserver stops repeating its transaction, which would hold back every later one."""
        failures = self._event_failures.get(event.event_id, 0) + 1
        self._event_failures[event.event_id] = failures
        if failures < MAX_EVENT_FAILURES:
            logger.warning("event %s failed (%d): %s", event.event_id, failures, exc)
            return False
        del self._event_failures[event.event_id]
        logger.error("event %s skipped after %d failures: %s", event.event_id, failures, exc)
        await self._notify(event.room_id, GAVE_UP)
        return True

    async def _route(
        self, event: RoomEvent, batches: dict[LoginId, list[Event]], commands: list[BotCommand]
    ) -> None:
        self._e2ee.observe(event)
        route, portal = await self._router.route(event)
        match route:
            case Route.INVITE:
                await self._invited(event)
            case Route.PORTAL if portal is not None:
                await self._portal_event(event, portal, batches)
            case Route.ENCRYPTED:
                decrypted = await self._e2ee.incoming(event)
                if decrypted is not None:  # routed as if it had come in plaintext
                    await self._route(decrypted, batches, commands)
            case Route.COMMAND:
                command = await self._router.command(event)
                if command is not None:
                    commands.append(command)
            case _:
                pass

    async def _portal_event(
        self, event: RoomEvent, portal: PortalInfo, batches: dict[LoginId, list[Event]]
    ) -> None:
        if portal.login not in self._channels:
            logger.warning("event %s in portal of login %s: no channel", event.event_id, portal)
            await self._notify(event.room_id, NO_LOGIN)
            return
        try:
            if relation(event) is not None:
                converted: list[Event] = await self._relations.to_bridge(event, portal)
            else:
                converted = [await self._router.to_bridge(event, portal)]
        except render.UnbridgeableEvent as exc:
            logger.info("event %s not bridged: %s", event.event_id, exc)
            await self._notices.not_carried(event, f"the bridge cannot carry it ({exc})")
            return
        except MatrixRequestError as exc:
            if exc.retryable:
                raise
            logger.warning("event %s not bridged: %s", event.event_id, exc)
            await self._notices.not_carried(event, f"the homeserver refused a request ({exc})")
            return
        batches.setdefault(portal.login, []).extend(converted)

    async def _ephemeral(self, event: EphemeralEvent, batches: dict[LoginId, list[Event]]) -> None:
        """The portal owner's read receipts go to the login's channel (``receipts``); the
        core marks the chat read on the network. Receipts the bridge posted itself through
        the double puppet are dropped. Typing and presence are not bridged."""
        if event.type != "m.receipt" or not event.room_id:
            return
        portal = await self._portal_of(event.room_id)
        if portal is None or portal.login not in self._channels:
            return
        owner, room = UserId(portal.owner), RoomId(event.room_id)
        # A receipt the bridge itself posted through the double puppet (a read on the phone,
        # ``DoublePuppets.mark_read``) is an echo, not a read to carry back to the network.
        receipts = [
            r
            for r in read_receipts(event, owner)
            if not self._puppets.posted_receipt(owner, room, EventId(r.remote_id))
        ]
        if receipts:
            batches.setdefault(portal.login, []).extend(receipts)

    async def _hand_over(self, batches: dict[LoginId, list[Event]]) -> None:
        waits: list[tuple[MatrixChannel, int, asyncio.Future[None]]] = []
        for login, events in batches.items():
            channel = self._channels.get(login)
            if channel is not None:
                number, acked = channel.deliver(events)
                waits.append((channel, number, acked))
        if not waits:
            return
        try:
            async with asyncio.timeout(self.ack_timeout_s):
                await asyncio.gather(*(acked for _, _, acked in waits))
        except TimeoutError:
            for channel, number, _ in waits:
                channel.abandon(number, reason=f"no ack within {self.ack_timeout_s} s")
            raise BridgeError(
                f"batches not journaled within {self.ack_timeout_s} s; the homeserver will retry"
            ) from None

    async def _invited(self, event: RoomEvent) -> None:
        room, inviter = event.room_id, event.sender
        try:
            await self._api.join(room)
        except MatrixRequestError as exc:
            logger.warning("cannot join %s on %s's invite: %s", room, inviter, exc)
            return
        self._router.forget(room)
        if self.config.is_ghost(inviter):
            # A ghost creating a portal: permissions are for people, not the bridge's own users.
            logger.info("joined portal %s on a ghost's invite", room)
            return
        if not self.config.permissions.allows(inviter):
            logger.info("refused %s's invite to %s: not permitted", inviter, room)
            await self._notify(room, REFUSAL)
            try:
                await self._api.leave(room)
            except MatrixRequestError as exc:
                logger.warning("cannot leave %s: %s", room, exc)
            return
        logger.info("joined %s on %s's invite", room, inviter)
        if not self._e2ee.enabled and await self._notices.is_encrypted(room):
            await self._notices.encrypted_room(room)
        elif event.content.get("is_direct") is True:
            # The user opened a new DM with the bot: it is where they will look (issue 9).
            await self.set_management_room(MatrixUserId(inviter), room)
            await self._notices.greet_management_room(room)
        else:
            known = await self.store.matrix.management_room(inviter)
            await self._notices.greet_room(room, known)

    async def _late_event(self, event: RoomEvent) -> None:
        """An event decrypted after its transaction was answered (its room key came late):
        handled as a transaction of its own."""
        await self.handle_transaction(
            Transaction(TransactionId(f"late:{event.event_id}"), (event,))
        )

    async def _notify(self, room: RoomId, text: str) -> None:
        await self._notices.notify(room, text)

    async def _run_command(self, command: BotCommand) -> None:
        try:
            await self._on_command(command)
        except Exception:
            logger.exception("command in %s from %s failed", command.room, command.sender)

    async def drain_commands(self) -> None:
        """Wait until every ``on_command`` call started so far has returned."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _user_exists(self, user_id: UserId) -> bool:
        if user_id == self.bot:
            return True
        # Every ghost the bridge registered has its profile remembered.
        return await self.store.matrix.profile(user_id) is not None


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels from a PNG's IHDR chunk; (0, 0) if it is not a PNG."""
    if len(png) < 24 or not png.startswith(b"\x89PNG\r\n\x1a\n") or png[12:16] != b"IHDR":
        return 0, 0
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


if TYPE_CHECKING:
    # The class is what the ``matrix`` entry point names: mypy checks it fits the core.
    _factory: HubFactory = MatrixHub
    _puppeting: type[SupportsDoublePuppet] = MatrixHub

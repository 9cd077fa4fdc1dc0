"""The bridge bot: parses the commands users send it and answers them."""

from __future__ import annotations

import asyncio
import logging

from bridge.commands_admin import logins_command, version_command
from bridge.commands_base import Command, CommandContext, ParsedCommand
from bridge.commands_chats import Reply, chat_list, resolve_command, sync_portals
from bridge.commands_identity import audit_command, split_command
from bridge.commands_portals import delete_portal_command, search_command, start_chat_command
from bridge.commands_puppet import LOGIN_USAGE, LOGOUT_USAGE, login_matrix, logout_matrix
from bridge.config import REFUSAL, Config, PermissionLevel
from bridge.errors import BridgeError
from bridge.hub import BotCommand, Hub, is_command
from bridge.ids import MatrixUserId, RoomId
from bridge.login_manager import LoginManager
from bridge.logins import LoginSession
from bridge.model import InputKind

log = logging.getLogger(__name__)

#: How long a command that reads the contact book waits for it after a login, seconds.
BOOK_WAIT_S = 120.0

__all__ = ["REFUSAL", "Bot", "Command", "CommandContext", "ParsedCommand"]


class Bot:
    """The bridge bot (``appservice.bot``), the hub's ``on_command``.

    Commands run in the background, one at a time per user, so a long ``sync`` neither
    delays the appservice transaction that carried it nor overlaps the same user's next
    command. Only users the config ``allows`` are served (others get ``REFUSAL``); a
    command of level ``admin`` only admins. While the user's login waits for typed input
    (``InputNeeded``), their next message in a DM with the bot without the prefix is that
    input, not a command (except ``cancel``, which cancels the login); a password message
    is redacted once read. Replies go to the room the command came from; a command in a DM
    with the bot (or ``set-management-room`` anywhere) makes that room the user's
    management room, where login notices go (``Hub.set_management_room``, kept across
    restarts).
    """

    def __init__(self, config: Config, hub: Hub, logins: LoginManager) -> None:
        self.config = config
        self.hub = hub
        self.logins = logins
        network = logins.network.display_name
        self.prefix = config.command_prefix
        self.commands: dict[str, Command] = {
            c.name: c
            for c in (
                Command("help", "help", "show this list", self._help),
                Command("login", "login", f"log in to {network}", self._login),
                Command(
                    "cancel",
                    "cancel",
                    "cancel the login in progress (e.g. its QR code)",
                    self._cancel,
                ),
                Command(
                    "relogin",
                    "relogin",
                    f"log out of {network} and log in again at once (for a broken session)",
                    self._relogin,
                ),
                Command(
                    "logout",
                    "logout",
                    f"log out of {network}",
                    self._logout,
                    admin_form=("logout <matrix user>", f"log another user out of {network}"),
                ),
                Command("ping", "ping", "show whether you are logged in and receiving", self._ping),
                Command(
                    "sync", "sync", "create rooms for all your contacts and groups", self._sync
                ),
                Command(
                    "list", "list", "list your contacts and groups and their rooms", self._list
                ),
                Command(
                    "search",
                    "search <text>",
                    "find contacts and groups by name, remark or ID (no room is created)",
                    self._search,
                ),
                Command(
                    "start-chat",
                    "start-chat <name>",
                    "open the room of a contact or group (created if needed) and invite you",
                    self._start_chat,
                    aliases=("pm",),
                ),
                Command(
                    "delete-portal",
                    "delete-portal",
                    "in a chat's room: delete the room; the next message opens a new one",
                    self._delete_portal,
                ),
                Command(
                    "set-management-room",
                    "set-management-room",
                    f"make this room the one where {network} notices come",
                    self._set_management_room,
                ),
                Command(
                    "resolve",
                    "resolve [<chat> <n>|apart]",
                    f"say which contact an ambiguous chat is after a {network} re-login",
                    self._resolve,
                ),
                Command(
                    "split",
                    "split <chat>",
                    f"say the {network} contact of a chat is someone else (undoes `resolve`)",
                    self._split,
                ),
                Command("audit", "audit", "show the last identity decisions", self._audit),
                Command(
                    "login-matrix",
                    LOGIN_USAGE,
                    f"what you send from your {network} phone appears as sent by you",
                    lambda ctx: login_matrix(self.hub, network, ctx.command, ctx.args),
                ),
                Command(
                    "logout-matrix",
                    LOGOUT_USAGE,
                    "forget the access token of `login-matrix`",
                    lambda ctx: logout_matrix(self.hub, network, ctx.user),
                ),
                Command(
                    "logins",
                    "logins",
                    "list every login of the bridge: user, account, state, since",
                    self._logins,
                    level=PermissionLevel.ADMIN,
                ),
                Command(
                    "version",
                    "version",
                    "the bridge's version and commit",
                    self._version,
                    level=PermissionLevel.ADMIN,
                ),
            )
        }
        #: Every word a command answers to: its name and its aliases.
        self.words = {w: c for c in self.commands.values() for w in (c.name, *c.aliases)}
        self._locks: dict[MatrixUserId, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, command: BotCommand) -> None:
        """Take a message sent to the bot; it is answered in the background."""
        parsed = ParsedCommand.parse(command.text, is_direct=command.is_direct, prefix=self.prefix)
        if parsed is None:
            return
        task = asyncio.create_task(self._run(CommandContext(command, parsed)), name="bot-command")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Cancel commands still running. Idempotent."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, ctx: CommandContext) -> None:
        lock = self._locks.setdefault(ctx.user, asyncio.Lock())
        async with lock:
            try:
                reply = await self._answer(ctx)
            except BridgeError as exc:
                reply = Reply(f"That did not work: {exc}")
            except Exception:
                log.exception("command %r failed", ctx.parsed.name)
                reply = Reply("Something went wrong inside the bridge; the log has details.")
            if reply is not None:
                await self.send(ctx.room, reply)

    async def _answer(self, ctx: CommandContext) -> Reply | None:
        if not self.config.permissions.allows(ctx.user):
            log.info("refused a command from a user without permission")
            return Reply(REFUSAL)
        session = self.logins.session(ctx.user)
        if ctx.command.is_direct:
            await self._follow(ctx)
        if session is not None and session.awaiting_input is not None and self._is_input(ctx):
            if ctx.parsed == ParsedCommand("cancel"):  # stops the login, is not its answer
                return await self._cancel(ctx)
            return await self._login_input(ctx, session)
        command = self.words.get(ctx.parsed.name)
        if command is None:
            return Reply(f"Unknown command {ctx.parsed.name!r}. Send `help` for the list.")
        if not self._may(ctx, command.level):
            log.info("refused the admin command %s to a user", command.name)
            return Reply(f"Only an admin of the bridge may use `{command.name}`.")
        log.info("command %s", command.name)
        return await command.run(ctx)

    def _may(self, ctx: CommandContext, level: PermissionLevel) -> bool:
        return self.config.permissions.allows(ctx.user, level)

    async def send(self, room: RoomId, reply: Reply) -> None:
        """Post ``reply`` as a notice of the bot; failures are logged."""
        try:
            await self.hub.reply(room, reply.text, html=reply.html)
        except Exception:
            log.exception("could not answer a command")

    # ---- commands ----------------------------------------------------------------------------

    async def _help(self, ctx: CommandContext) -> Reply:
        """The commands the asker may run (admin ones only to admins), as Markdown."""
        admin = self._may(ctx, PermissionLevel.ADMIN)
        lines = []
        for c in self.commands.values():
            if not self._may(ctx, c.level):
                continue
            also = "".join(f" (or `{c.usage.replace(c.name, a, 1)}`)" for a in c.aliases)
            lines.append(f"- `{c.usage}`{also} — {c.help}")
            if admin and c.admin_form is not None:
                lines.append(f"- `{c.admin_form[0]}` — {c.admin_form[1]} (admin)")
        intro = (
            f"{self.logins.network.display_name} bridge commands. Send them here; in other "
            f"rooms start them with `{self.prefix}` (e.g. `{self.prefix} ping`)."
        )
        return Reply("\n".join([intro, "", *lines]))

    async def _login(self, ctx: CommandContext) -> Reply:
        # A QR code may be shown only in a DM: whoever scans it logs their account in here.
        if ctx.command.is_direct:
            return Reply(await self.logins.login(ctx.user, ctx.room))
        text = await self.logins.login(ctx.user)
        if text.startswith("Starting"):
            text += " Its steps come in our direct chat."
        return Reply(text)

    async def _cancel(self, ctx: CommandContext) -> Reply:
        session = self.logins.session(ctx.user)
        if session is None:
            network = self.logins.network.display_name
            return Reply(f"No {network} login is in progress; nothing to cancel.")
        return Reply(await session.cancel_login())

    async def _relogin(self, ctx: CommandContext) -> Reply:
        # As for ``login``, the steps (a QR code) are shown only in a DM.
        room = ctx.room if ctx.command.is_direct else None
        session = self.logins.session(ctx.user)
        if session is None:
            text = await self.logins.login(ctx.user, room)
        else:
            text = await session.relogin(room)
        if room is None and "Starting" in text:
            text += " Its steps come in our direct chat."
        return Reply(text)

    async def _logout(self, ctx: CommandContext) -> Reply | None:
        if ctx.args:
            return await self._logout_other(ctx)
        text = await self.logins.logout(ctx.user)
        return None if text is None else Reply(text)

    async def _logout_other(self, ctx: CommandContext) -> Reply:
        """``logout <matrix user>``: an admin logs another user's account out (e.g. one whose
        permission was withdrawn)."""
        if not self._may(ctx, PermissionLevel.ADMIN):
            return Reply("Only an admin of the bridge may log out another user.")
        target = ctx.args[0]
        if not (target.startswith("@") and ":" in target):
            return Reply(f"Expected a Matrix user id like @someone:server, got {target!r}.")
        return Reply(await self.logins.logout_user(MatrixUserId(target)))

    async def _ping(self, ctx: CommandContext) -> Reply:
        session = self.logins.session(ctx.user)
        if session is None:
            network = self.logins.network.display_name
            return Reply(f"Not logged in to {network}. Send `login` to log in.")
        return Reply(session.status())

    async def _sync(self, ctx: CommandContext) -> Reply:
        session = await self._require_book(ctx)

        async def progress(done: int, total: int) -> None:
            await self.send(ctx.room, Reply(f"Sync: {done} of {total} chats have a room…"))

        network = self.logins.network.display_name
        await self.send(ctx.room, Reply(f"Creating rooms for your {network} contacts and groups…"))
        result = await sync_portals(session, progress)
        text = f"Sync done: {result.total} chats, {result.created} new rooms."
        if result.failed:
            text += f" {result.failed} could not get a room (last error: {result.error})."
        return Reply(text)

    async def _list(self, ctx: CommandContext) -> Reply:
        *first, last = await chat_list(await self._require_book(ctx))
        for part in first:
            await self.send(ctx.room, part)
        return last

    async def _set_management_room(self, ctx: CommandContext) -> Reply:
        await self._follow(ctx)
        network = self.logins.network.display_name
        return Reply(
            f"This room is now your management room: {network} notices come here, and "
            "commands work here without the prefix if it is a direct chat with me."
        )

    async def _follow(self, ctx: CommandContext) -> None:
        """The management room follows the user: the DM they last wrote in (or the room of
        ``set-management-room``) gets the notices, also after a restart."""
        await self.hub.set_management_room(ctx.user, ctx.room)
        session = self.logins.session(ctx.user)
        if session is not None:
            session.notices.room = ctx.room

    async def _resolve(self, ctx: CommandContext) -> Reply:
        return await resolve_command(await self._require_book(ctx), ctx.args)

    # ---- login input -------------------------------------------------------------------------

    def _is_input(self, ctx: CommandContext) -> bool:
        """Whether the message answers the login's question: sent in a DM with the bot and
        not a command given with the prefix."""
        return ctx.command.is_direct and not is_command(ctx.command.text, self.prefix)

    async def _login_input(self, ctx: CommandContext, session: LoginSession) -> Reply | None:
        step = session.awaiting_input
        log.info("login %s: the user answered a login step", session.id)  # never the value
        if step is not None and step.kind is InputKind.PASSWORD:
            try:
                await self.hub.redact(ctx.room, ctx.command.event_id, "a password")
            except Exception as exc:
                log.warning("login %s: password message not redacted: %s", session.id, exc)
                await self.send(
                    ctx.room,
                    Reply("I could not delete your password message here; please delete it."),
                )
        reply = await session.submit_input(ctx.command.text)
        return None if reply is None else Reply(reply)

    async def _search(self, ctx: CommandContext) -> Reply:
        return await search_command(await self._require_book(ctx), ctx.args)

    async def _start_chat(self, ctx: CommandContext) -> Reply:
        return await start_chat_command(await self._require_book(ctx), ctx.args)

    async def _delete_portal(self, ctx: CommandContext) -> Reply | None:
        admin = self._may(ctx, PermissionLevel.ADMIN)
        return await delete_portal_command(self.logins, ctx.user, ctx.room, admin=admin)

    async def _logins(self, ctx: CommandContext) -> Reply:
        return await logins_command(self.logins, self.config)

    async def _version(self, ctx: CommandContext) -> Reply:
        return await version_command()

    async def _split(self, ctx: CommandContext) -> Reply:
        return await split_command(await self._require_book(ctx), ctx.args)

    async def _audit(self, ctx: CommandContext) -> Reply:
        return await audit_command(self._require(ctx))

    async def _require_book(self, ctx: CommandContext) -> LoginSession:
        """``_require``, once the session's contact book is in: right after "Logged in" it
        may still be loading (``LoginBook.loading``); the user is told and the
        command waits up to ``BOOK_WAIT_S``. Raises ``BridgeError``."""
        session = self._require(ctx)
        if session.book.loading:
            network = self.logins.network.display_name
            await self.send(ctx.room, Reply(f"Waiting for your {network} contact list to load…"))
            if not await session.book.loaded(BOOK_WAIT_S):
                raise BridgeError(f"your {network} contact list is still loading; try again soon")
        return session

    def _require(self, ctx: CommandContext) -> LoginSession:
        session = self.logins.session(ctx.user)
        if session is None:
            network = self.logins.network.display_name
            raise BridgeError(f"you have no {network} login yet; send `login` first")
        return session

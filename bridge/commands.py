"""The bridge bot: parses the commands users send it and answers them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import attrs

from adapters.matrix.hub import BotCommand, MatrixHub
from bridge.commands_chats import Reply, chat_list, resolve_command, sync_portals
from bridge.commands_identity import audit_command, split_command
from bridge.config import Config, PermissionLevel
from bridge.errors import BridgeError
from bridge.ids import MatrixUserId, RoomId
from bridge.logins import LoginManager, LoginSession

log = logging.getLogger(__name__)

#: The prefix of commands outside a DM with the bot (optional inside one).
PREFIX = "!wechat"

REFUSAL = "You are not allowed to use this bridge; ask the administrator."


@attrs.frozen
class ParsedCommand:
    """A command word (lowercase) and its arguments, as the user typed them."""

    name: str
    args: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, *, is_direct: bool) -> ParsedCommand | None:
        """Parse ``text``: ``[!wechat] <command> [args...]``, the prefix optional in a DM.
        Returns None for text that is not meant for the bot (no prefix outside a DM). The
        quoted fallback of a reply (lines starting with ``>``, spec "Rich replies") is
        skipped."""
        lines = text.splitlines()
        while lines and lines[0].startswith(">"):
            lines.pop(0)
        words = " ".join(lines).split()
        if words and words[0].lower() == PREFIX:
            words = words[1:] or ["help"]
        elif not is_direct:
            return None
        if not words:
            return None
        return cls(words[0].lower(), tuple(words[1:]))


Handler = Callable[["CommandContext"], Awaitable[Reply | None]]


@attrs.frozen
class CommandContext:
    """One command being run: who sent it where, and the arguments."""

    command: BotCommand
    parsed: ParsedCommand

    @property
    def user(self) -> MatrixUserId:
        """The sender."""
        return self.command.sender

    @property
    def room(self) -> RoomId:
        """The room the command came from (replies go there)."""
        return self.command.room

    @property
    def args(self) -> tuple[str, ...]:
        """The words after the command."""
        return self.parsed.args


@attrs.frozen
class Command:
    """A bot command: ``name``, its ``usage`` and one line of ``help``."""

    name: str
    usage: str
    help: str
    run: Handler


class Bot:
    """The bridge bot (``appservice.bot``), the hub's ``on_command``.

    Commands run in the background, one at a time per user, so a long ``sync`` neither
    delays the appservice transaction that carried it nor overlaps the same user's next
    command. Only users with permission ``USER`` or above are served.
    """

    def __init__(self, config: Config, hub: MatrixHub, logins: LoginManager) -> None:
        self.config = config
        self.hub = hub
        self.logins = logins
        self.commands: dict[str, Command] = {
            c.name: c
            for c in (
                Command("help", "help", "show this list", self._help),
                Command("login", "login", "log in to WeChat by scanning a QR code", self._login),
                Command("logout", "logout", "log out of WeChat", self._logout),
                Command("ping", "ping", "show whether you are logged in and receiving", self._ping),
                Command(
                    "sync", "sync", "create rooms for all your contacts and groups", self._sync
                ),
                Command(
                    "list", "list", "list your contacts and groups and their rooms", self._list
                ),
                Command(
                    "resolve",
                    "resolve [<chat> <n>|apart]",
                    "say which contact an ambiguous chat is after a WeChat re-login",
                    self._resolve,
                ),
                Command(
                    "split",
                    "split <chat>",
                    "say the WeChat contact of a chat is someone else (undoes `resolve`)",
                    self._split,
                ),
                Command("audit", "audit", "show the last identity decisions", self._audit),
            )
        }
        self._locks: dict[MatrixUserId, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, command: BotCommand) -> None:
        """Take a message sent to the bot; it is answered in the background."""
        parsed = ParsedCommand.parse(command.text, is_direct=command.is_direct)
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
        if self.config.permissions.permission_for(ctx.user) < PermissionLevel.USER:
            log.info("refused a command from a user without permission")
            return Reply(REFUSAL)
        command = self.commands.get(ctx.parsed.name)
        if command is None:
            return Reply(f"Unknown command {ctx.parsed.name!r}. Send `help` for the list.")
        log.info("command %s", command.name)
        return await command.run(ctx)

    async def send(self, room: RoomId, reply: Reply) -> None:
        """Post ``reply`` as a notice of the bot; failures are logged."""
        try:
            await self.hub.reply(room, reply.text, html=reply.html)
        except Exception:
            log.exception("could not answer a command")

    # ---- commands ----------------------------------------------------------------------------

    async def _help(self, ctx: CommandContext) -> Reply:
        lines = [f"{c.usage} — {c.help}" for c in self.commands.values()]
        intro = (
            "WeChat bridge commands. Send them here; in other rooms start them with "
            f"{PREFIX} (e.g. `{PREFIX} ping`)."
        )
        return Reply("\n".join([intro, *lines]))

    async def _login(self, ctx: CommandContext) -> Reply:
        # A QR code may be shown only in a DM: whoever scans it logs their account in here.
        if ctx.command.is_direct:
            return Reply(await self.logins.login(ctx.user, ctx.room))
        text = await self.logins.login(ctx.user)
        if text.startswith("Starting"):
            text += " The QR code comes in our direct chat."
        return Reply(text)

    async def _logout(self, ctx: CommandContext) -> Reply | None:
        text = await self.logins.logout(ctx.user)
        return None if text is None else Reply(text)

    async def _ping(self, ctx: CommandContext) -> Reply:
        session = self.logins.session(ctx.user)
        if session is None:
            return Reply("Not logged in to WeChat. Send `login` to log in.")
        return Reply(session.status())

    async def _sync(self, ctx: CommandContext) -> Reply:
        session = self._require(ctx)

        async def progress(done: int, total: int) -> None:
            await self.send(ctx.room, Reply(f"Sync: {done} of {total} chats have a room…"))

        await self.send(ctx.room, Reply("Creating rooms for your WeChat contacts and groups…"))
        result = await sync_portals(session, progress)
        text = f"Sync done: {result.total} chats, {result.created} new rooms."
        if result.failed:
            text += f" {result.failed} could not get a room (last error: {result.error})."
        return Reply(text)

    async def _list(self, ctx: CommandContext) -> Reply:
        *first, last = await chat_list(self._require(ctx))
        for part in first:
            await self.send(ctx.room, part)
        return last

    async def _resolve(self, ctx: CommandContext) -> Reply:
        return await resolve_command(self._require(ctx), ctx.args)

    async def _split(self, ctx: CommandContext) -> Reply:
        return await split_command(self._require(ctx), ctx.args)

    async def _audit(self, ctx: CommandContext) -> Reply:
        return await audit_command(self._require(ctx))

    def _require(self, ctx: CommandContext) -> LoginSession:
        session = self.logins.session(ctx.user)
        if session is None:
            raise BridgeError("you have no WeChat login yet; send `login` first")
        return session

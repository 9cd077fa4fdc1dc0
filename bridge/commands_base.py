"""What a bot command is: the parsed text, its context, and the ``Command`` table entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from bridge.commands_chats import Reply
from bridge.config import PermissionLevel
from bridge.hub import BotCommand, command_words
from bridge.ids import MatrixUserId, RoomId

__all__ = ["Command", "CommandContext", "Handler", "ParsedCommand"]


@attrs.frozen
class ParsedCommand:
    """A command word (lowercase) and its arguments, as the user typed them."""

    name: str
    args: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, *, is_direct: bool, prefix: str) -> ParsedCommand | None:
        """Parse ``text``: ``[<prefix>] <command> [args...]`` (prefix e.g. ``!wechat``,
        ``Config.command_prefix``), the prefix optional in a DM.
        Returns None for text that is not meant for the bot (no prefix outside a DM). The
        quoted fallback of a reply (lines starting with ``>``, spec "Rich replies") is
        skipped."""
        words = command_words(text)
        if words and words[0].lower() == prefix:
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
    """A bot command: ``name``, its ``usage`` and one line of ``help``; ``level`` is the
    permission level it needs (``help`` shows it only to those who have it), ``aliases``
    other words for it, ``admin_form`` the (usage, help) of a form only admins may use."""

    name: str
    usage: str
    help: str
    run: Handler
    level: PermissionLevel = PermissionLevel.USER
    aliases: tuple[str, ...] = ()
    admin_form: tuple[str, str] | None = None

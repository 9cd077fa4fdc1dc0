"""Bot commands ``login-matrix`` and ``logout-matrix``: per-user double puppeting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from bridge.commands_chats import Reply
from bridge.hub import BotCommand
from bridge.ids import EventId, MatrixUserId, RoomId

LOGIN_USAGE = "login-matrix <access token>"
LOGOUT_USAGE = "logout-matrix"


@attrs.frozen
class PuppetLogin:
    """What ``login_double_puppet`` did: whether the token was ``accepted`` (else
    ``reason``, user-facing, and ``someone_else`` when it is another user's token), and
    whether the message that carried it was ``redacted``."""

    accepted: bool
    redacted: bool
    reason: str = ""
    someone_else: bool = False


@attrs.frozen
class PuppetLogout:
    """What ``logout_double_puppet`` did: whether the user had given a token (now
    forgotten), and whether the bridge's config-wide double puppeting still acts for them."""

    had_token: bool
    config_wide: bool


@runtime_checkable
class SupportsDoublePuppet(Protocol):
    """Optional ability of the Matrix side (``bridge.hub.Hub``): double puppeting with an
    access token each user gives (model: mautrix bridgev2's ``login-matrix``)."""

    async def login_double_puppet(
        self, user: MatrixUserId, token: str, room: RoomId, event_id: EventId
    ) -> PuppetLogin:
        """Check ``token`` is ``user``'s own (refused otherwise, and not kept), keep it
        outside the database, and redact the message ``event_id`` in ``room`` that carried
        it whatever the outcome. ``token`` is a secret: never logged. Raises
        ``BridgeError`` when the homeserver cannot be asked or the token cannot be kept."""
        ...

    async def logout_double_puppet(self, user: MatrixUserId) -> PuppetLogout:
        """Forget ``user``'s token (a token the user gave is not logged out: it is theirs).
        Raises ``BridgeError`` when it cannot be forgotten."""
        ...


async def login_matrix(
    hub: object, network: str, command: BotCommand, args: Sequence[str]
) -> Reply:
    """``login-matrix <access token>``: what the user sends from the ``network`` phone
    then appears as them, and reading a chat on the phone marks it read in the portal."""
    if not isinstance(hub, SupportsDoublePuppet):
        return Reply("This bridge cannot act as your Matrix account.")
    if len(args) != 1:
        return Reply(
            f"Usage: `{LOGIN_USAGE}`: your own Matrix access token (Element: Settings → "
            "Help & About → Access Token). Send it in our direct chat; I delete the message."
        )
    done = await hub.login_double_puppet(command.sender, args[0], command.room, command.event_id)
    lines: list[str] = []
    if done.accepted:
        lines.append(
            f"Double puppeting is on: what you send from your {network} phone now appears as "
            f"sent by you, and reading a chat on the phone marks it read here. Send "
            f"`{LOGOUT_USAGE}` to stop."
        )
    else:
        lines.append(f"I did not take that access token: {done.reason}.")
        if done.someone_else:
            lines.append(
                "Whoever saw it can act as that account: log that session out "
                "(Settings → Sessions)."
            )
    if done.redacted:
        lines.append("I deleted the message with the token.")
    else:
        lines.append("I could not delete the message with the token: please delete it now.")
    return Reply(" ".join(lines))


async def logout_matrix(hub: object, network: str, user: MatrixUserId) -> Reply:
    """``logout-matrix``: forget the access token ``user`` gave with ``login-matrix``."""
    if not isinstance(hub, SupportsDoublePuppet):
        return Reply("This bridge cannot act as your Matrix account.")
    done = await hub.logout_double_puppet(user)
    first = (
        "I forgot your access token (it still works; log that session out if you wish)."
        if done.had_token
        else "You had not given me an access token."
    )
    if done.config_wide:
        then = (
            f"What you send from your {network} phone still appears as sent by you: the "
            "bridge's admin set up double puppeting for everyone."
        )
    else:
        then = f"What you send from your {network} phone now appears as sent by me."
    return Reply(f"{first} {then}")

"""Who may use the bridge: permission levels, the ``permissions`` rules and the refusal text."""

from __future__ import annotations

import enum

import attrs

#: What the bot says to a user whose permission is below ``user`` (the one refusal text).
REFUSAL = (
    "Sorry, you are not allowed to use this bridge. Ask its administrator to give your "
    "Matrix account (or your homeserver) 'user' in the permissions section of its config."
)


class PermissionLevel(enum.IntEnum):
    """What a Matrix user may do with the bridge; ordered, so ``level >= USER`` works."""

    NONE = 0
    USER = 1
    ADMIN = 2


@attrs.frozen
class Permissions:
    """``permissions``: rules keyed by ``*``, a server name, or a full user id.

    The most specific rule wins: user id, then server name, then ``*``; no rule = ``NONE``.
    """

    rules: tuple[tuple[str, PermissionLevel], ...] = ()

    def permission_for(self, user_id: str) -> PermissionLevel:
        """The level of the Matrix user ``user_id`` (``@localpart:server``)."""
        table = dict(self.rules)
        if user_id in table:
            return table[user_id]
        _, sep, server = user_id.partition(":")
        if sep and server in table:
            return table[server]
        return table.get("*", PermissionLevel.NONE)

    def allows(self, user_id: str, level: PermissionLevel = PermissionLevel.USER) -> bool:
        """Whether ``user_id`` has ``level`` or above: the one permission check of the
        bridge (bot commands, invites of the bot). Refuse with ``REFUSAL``."""
        return self.permission_for(user_id) >= level

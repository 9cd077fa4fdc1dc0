"""The Matrix side of ``login-matrix`` / ``logout-matrix`` (``SupportsDoublePuppet``)."""

from __future__ import annotations

import logging

from adapters.matrix.api import AppserviceAPI
from adapters.matrix.errors import AppserviceRejected, MatrixRequestError
from adapters.matrix.puppet import DoublePuppets, PuppetRefused, PuppetSource
from adapters.matrix.types import EventId, RoomId, UserId
from bridge.commands_puppet import PuppetLogin, PuppetLogout
from bridge.errors import BridgeError

logger = logging.getLogger(__name__)

#: Told once in the management room when a token given with ``login-matrix`` stops working.
TOKEN_DROPPED = (
    "The access token you gave with `login-matrix` no longer works (logged out?), so I "
    "forgot it: what you send from your phone appears as sent by me again. Send "
    "`login-matrix <access token>` with a new one to turn double puppeting back on."
)
REDACTION_REASON = "it holds an access token"


class PuppetLogins:
    """``login-matrix`` / ``logout-matrix`` for the hub: ``puppets`` checks and keeps the
    tokens, ``api`` (the bot) redacts what the user's own token cannot."""

    def __init__(self, api: AppserviceAPI, puppets: DoublePuppets) -> None:
        self._api = api
        self._puppets = puppets

    async def login(self, user: UserId, token: str, room: RoomId, event_id: EventId) -> PuppetLogin:
        """See ``SupportsDoublePuppet.login_double_puppet``: the message carrying the token
        is redacted as the user (their token just proved theirs) or else as the bot. Raises
        ``BridgeError`` (``MatrixRequestError`` when whoami cannot be asked, ``OSError``
        translated when the token file cannot be written)."""
        try:
            await self._puppets.login(user, token)
        except PuppetRefused as exc:
            redacted = await self._redact(room, event_id, None)
            return PuppetLogin(False, redacted, str(exc), someone_else=exc.owner is not None)
        except MatrixRequestError:
            await self._redact(room, event_id, None)
            raise
        except OSError as exc:
            await self._redact(room, event_id, None)
            logger.error("cannot write the double-puppet token file: %s", exc)
            raise BridgeError("the bridge could not store the token (disk?)") from None
        return PuppetLogin(True, await self._redact(room, event_id, user))

    async def logout(self, user: UserId) -> PuppetLogout:
        """See ``SupportsDoublePuppet.logout_double_puppet``."""
        try:
            had = await self._puppets.logout(user)
        except OSError as exc:
            logger.error("cannot write the double-puppet token file: %s", exc)
            raise BridgeError("the bridge could not forget the token (disk?)") from None
        return PuppetLogout(had, self._puppets.source_for(user) is PuppetSource.CONFIG)

    async def _redact(self, room: RoomId, event_id: EventId, user: UserId | None) -> bool:
        """Redact the message with the token, as ``user`` through their puppet when given
        (anyone may redact their own message), else as the bot (needs its power level).
        Returns whether it worked; failures are logged without the token."""
        if user is not None:
            try:
                api, as_user = await self._puppets.client_for(user)
                await api.redact(room, event_id, reason=REDACTION_REASON, as_user=as_user)
                return True
            except (MatrixRequestError, AppserviceRejected, ValueError) as exc:
                logger.info("could not redact %s as its sender: %s", event_id, exc)
        try:
            await self._api.redact(room, event_id, reason=REDACTION_REASON)
        except (MatrixRequestError, AppserviceRejected) as exc:
            logger.warning("could not redact the message %s holding a token: %s", event_id, exc)
            return False
        return True

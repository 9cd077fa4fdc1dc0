"""The contract-suite harness of ``MatrixChannel``: a hub and a real user on a homeserver."""

from __future__ import annotations

import functools
import secrets
import unittest
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from adapters.matrix import render
from adapters.matrix.api import AppserviceAPI
from adapters.matrix.channel import MatrixChannel
from adapters.matrix.errors import MatrixRequestError
from adapters.matrix.hub import BotCommand, MatrixHub
from adapters.matrix.types import MalformedEvent, RoomEvent
from bridge.config import Config
from bridge.ids import MatrixUserId
from bridge.model import Address, ChatKind, Content, Profile, RemoteId, Text
from bridge.relay.portals import PortalDirectory
from bridge.store import Store
from bridge.testing.harness import ContractHarness, Observed


class UserClient(Protocol):
    """A real Matrix user as the harness drives it (``adapters/matrix/localsynapse.py``'s
    ``MatrixUser`` is one): ids and room ids are plain strings."""

    @property
    def user_id(self) -> str: ...

    async def join(self, room: str) -> str:
        """Join (or accept the invite to) ``room``; returns its id."""
        ...

    async def send(
        self, room_id: str, content: dict[str, Any], event_type: str = "m.room.message"
    ) -> str:
        """Send an event; returns its id."""
        ...

    async def messages(self, room_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The last ``limit`` timeline events, oldest first."""
        ...


async def _ignore(command: BotCommand) -> None:
    return None


class MatrixHarness:
    """``ContractHarness`` for ``MatrixChannel``: the remote side is the homeserver as the
    portal owner ``user`` sees it. ``chat`` is the direct portal of a contact identity,
    ``group`` a group portal, both joined by ``user``, who is also ``peer`` and ``owner``
    (only the owner's events in a portal reach the channel). The hub must receive the
    homeserver's transactions (``serve=True``, or its ``handle_transaction`` fed by the
    caller)."""

    timeout_s = 20.0

    def __init__(
        self, hub: MatrixHub, channel: MatrixChannel, user: UserClient, chat: str, group: str
    ) -> None:
        self.hub = hub
        self.channel = channel
        self.user = user
        self.chat = Address(chat)
        self.group: Address | None = Address(group)
        self.peer = Address(user.user_id)
        self.owner: Address | None = self.peer

    @classmethod
    async def create(
        cls, config: Config, store: Store, api: AppserviceAPI, user: UserClient, *, serve: bool
    ) -> MatrixHarness:
        """A started hub with a login of ``user`` that has one contact and one group, both
        with portals ``user`` joined. Raises ``BridgeError`` if the homeserver refuses."""
        directory = PortalDirectory(store)
        hub = MatrixHub(
            config,
            store,
            on_command=_ignore,
            portal_of=directory.by_room,
            api=api,
            serve=serve,
        )
        await hub.start()
        owner, user_address = MatrixUserId(user.user_id), Address(user.user_id)
        login = await store.logins.create(owner, "wechat")
        tag = secrets.token_hex(4)
        portals = []
        for kind, name in ((ChatKind.DIRECT, "Contract Peer"), (ChatKind.GROUP, "Contract Group")):
            address = Address(f"contract-{kind.value}-{tag}")
            profile = Profile(address, kind, name=name, nick_name=name)
            ident = await store.identities.create(login.id, profile, address=address)
            remote = Profile(Address(ident.id), kind, name=name)
            channel = hub.channel_for(login.id, owner)
            room, _ = await directory.ensure(
                ident.id, functools.partial(channel.ensure_portal, remote, owner=user_address)
            )
            await user.join(room)
            portals.append(room)
        return cls(hub, hub.channel_for(login.id, owner), user, portals[0], portals[1])

    async def ready(self) -> None:
        """Nothing to do: the hub is running and the portals exist."""

    async def make_inbound_text(self, chat: Address, text: str) -> None:
        """The user posts ``text`` into the room ``chat``."""
        await self.user.send(chat, {"msgtype": "m.text", "body": text})

    async def observe_sent(self, chat: Address) -> Sequence[Observed]:
        """The messages in the room ``chat`` as the user sees them (media downloaded),
        flagged revoked when redacted."""
        observed = []
        for raw in await self.user.messages(chat, limit=100):
            if raw.get("type") not in ("m.room.message", "m.sticker"):
                continue
            try:
                event = RoomEvent.from_wire(raw)
            except MalformedEvent:
                continue
            redacted = "redacted_because" in (raw.get("unsigned") or {})
            reply = render.reply_target(event)
            observed.append(
                Observed(
                    RemoteId(event.event_id),
                    Text("") if redacted else await self._content(event),
                    None if reply is None else RemoteId(reply),
                    redacted,
                )
            )
        return observed

    async def _content(self, event: RoomEvent) -> Content:
        try:
            if render.is_media(event):
                ref = render.media_ref(event)
                download = await self.hub.api.download(ref.url)
                return ref.with_data(download.data, download.content_type)
            if event.msgtype == "m.location":
                return render.parse_location(event)
            return render.parse_text(event)
        except (render.UnbridgeableEvent, MatrixRequestError):
            return Text("")

    async def restart(self) -> MatrixChannel:
        """Stop and start the channel: its un-acked batches come again (the homeserver is
        still waiting for the transaction's answer)."""
        await self.channel.stop()
        await self.channel.start()
        return self.channel

    async def close(self) -> None:
        """Stop the channel and the hub."""
        await self.channel.stop()
        await self.hub.stop()


@asynccontextmanager
async def matrix_harness(
    config: Config, store: Store, api: AppserviceAPI, user: UserClient, *, serve: bool = False
) -> AsyncIterator[MatrixHarness]:
    """A ``MatrixHarness`` (see ``MatrixHarness.create``), closed on exit."""
    harness = await MatrixHarness.create(config, store, api, user, serve=serve)
    try:
        yield harness
    finally:
        await harness.close()


class _NeedsHomeserver:
    """An async context manager that skips the test on entry."""

    async def __aenter__(self) -> ContractHarness:
        raise unittest.SkipTest(
            "the Matrix channel's contract runs in tests/matrix/test_channel_contract.py "
            "against the session Synapse"
        )

    async def __aexit__(self, *exc_info: object) -> None:
        return None


def contract_harness() -> AbstractAsyncContextManager[ContractHarness]:
    """The discovery entry point (``bridge/testing/discovery.py``). A Matrix channel needs a
    homeserver with the bridge's registration and a real user, which only the Synapse
    fixtures of ``tests/matrix`` provide: there, ``test_channel_contract.py`` runs every check
    through ``matrix_harness``. Elsewhere entering it skips the test (``unittest.SkipTest``)."""
    return _NeedsHomeserver()

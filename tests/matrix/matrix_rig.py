"""A bridge for one login against the session Synapse: MemoryChannel (side A), the real Relay
and SQLite Store, and the MatrixHub's channel (side B). Import the ``rig`` fixture."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest_asyncio

from adapters.matrix.api import AppserviceAPI
from adapters.matrix.channel import MatrixChannel
from adapters.matrix.errors import MatrixNotFound
from adapters.matrix.hub import BotCommand, MatrixHub
from adapters.matrix.types import RoomEvent, RoomId
from bridge.config import Config
from bridge.ids import LoginId, MatrixUserId
from bridge.model import Address, ChatKind, Message, Profile, RemoteId, Text
from bridge.relay import Relay, RetryPolicy
from bridge.relay.keys import message_key
from bridge.relay.portals import PortalDirectory
from bridge.store import Login, Side, Store
from bridge.testing.memory import MemoryChannel
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.synapse import MatrixUser, Synapse

_numbers = itertools.count(1)

ALICE = Address("@u-alice")
BOB = Address("@u-bob")
FAMILY = Address("@@u-family")


class MatrixRig:
    """One login's bridge: ``wechat`` (a MemoryChannel playing WeChat) relayed to ``channel``
    (the MatrixChannel of ``hub``) for the real Matrix user ``user``.

    ``commands`` collects the hub's ``BotCommand``s. The hub gets the session appservice's
    transactions through ``TransactionRecorder.forward_to``.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        login: Login,
        user: MatrixUser,
        api: AppserviceAPI,
        recorder: TransactionRecorder,
    ) -> None:
        self.config = config
        self.store = store
        self.login = login
        self.user = user
        self.api = api
        self.recorder = recorder
        self.commands: list[BotCommand] = []
        self._command_seen = asyncio.Event()
        self.portals = PortalDirectory(store)
        self.hub = MatrixHub(
            config,
            store,
            on_command=self._command,
            portal_of=self.portals.by_room,
            api=api,
            serve=False,
            ack_timeout_s=15,
        )
        self.wechat = MemoryChannel(
            "wechat",
            profiles=(
                Profile(ALICE, name="Alice", nick_name="Alice", city="Paris"),
                Profile(BOB, name="Bob", nick_name="Bob", city="Oslo"),
                Profile(FAMILY, ChatKind.GROUP, name="Family", nick_name="Family"),
            ),
        )
        self.channel: MatrixChannel = self.hub.channel_for(login.id, login.matrix_user)
        self.relay = self.new_relay()

    def new_relay(self) -> Relay:
        """A relay between ``wechat`` and ``channel`` over ``store`` (not started)."""
        return Relay(
            self.store,
            self.login.id,
            self.wechat,
            self.channel,
            owner=Address(self.user.user_id),
            portals=self.portals,
            retry=RetryPolicy(attempts=3, first_delay_s=0.01, max_delay_s=0.05),
        )

    async def _command(self, command: BotCommand) -> None:
        self.commands.append(command)
        self._command_seen.set()

    async def start(self) -> None:
        await self.hub.start()
        self.recorder.forward_to = self.hub.handle_transaction
        await self.wechat.start()
        await self.channel.start()
        await self.relay.start()

    async def stop(self) -> None:
        self.recorder.forward_to = None
        await self.relay.stop()
        await self.channel.stop()
        await self.wechat.stop()
        await self.hub.stop()

    # ---- driving and observing ---------------------------------------------------------------

    async def settle(self) -> None:
        """Wait until side A's batches are journaled and every delivery is done."""
        async with asyncio.timeout(20):
            # The relay's pump takes side A's batch from the queue at its own pace.
            while True:
                if not self.wechat.pending:
                    break
                await asyncio.sleep(0.005)
            await self.relay.drain()

    async def from_wechat(self, *events: Any) -> None:
        """Inject ``events`` on side A as one batch and wait until they are delivered."""
        self.wechat.inject(*events)
        await self.settle()

    def text(self, chat: Address, body: str, **kw: Any) -> Message:
        """An inbound WeChat text in ``chat``."""
        return self.wechat.incoming_text(chat, body, **kw)

    async def portal(self, address: Address) -> RoomId:
        """The portal room of the WeChat chat ``address``."""
        ident = await self.store.identities.by_address(self.login.id, address)
        assert ident is not None, f"no identity for {address}"
        portal = await self.store.portals.get(ident.id)
        assert portal is not None, f"no portal for {address}"
        return portal.room

    async def joined_portal(self, address: Address) -> RoomId:
        """The portal of ``address``, joined by the user (accepting the invite)."""
        room = await self.portal(address)
        await self.user.join(room)
        return room

    async def arrived(self, event_id: str) -> RoomEvent:
        """Wait until the transaction holding ``event_id`` was answered (so its batch is
        journaled), then until every delivery it caused is done."""
        event = await self.recorder.wait_for(lambda e: e.event_id == event_id)
        await self.relay.drain()
        return event

    async def matrix_event_of(self, remote_id: RemoteId) -> str:
        """The Matrix event id a WeChat message was bridged to."""
        link = await self.store.messages.by_remote_id(self.login.id, remote_id)
        assert link is not None and link.event_id is not None, f"{remote_id} not bridged"
        return link.event_id

    async def journaled(self, event_id: str) -> bool:
        """Whether the Matrix event ``event_id`` is in the journal."""
        key = message_key(RemoteId(event_id))
        return await self.store.journal.contains(self.login.id, Side.B, key)

    async def wait_command(self, match: Callable[[BotCommand], bool]) -> BotCommand:
        """The first ``BotCommand`` matching ``match`` (waits for it)."""
        async with asyncio.timeout(20):
            while True:
                for command in self.commands:
                    if match(command):
                        return command
                self._command_seen.clear()
                await self._command_seen.wait()

    def wechat_texts(self, chat: Address) -> list[str]:
        """Texts side A was asked to send into ``chat``."""
        return [s.content.body for s in self.wechat.messages(chat) if isinstance(s.content, Text)]


def quiet_bot(config: Config) -> Config:
    """``config`` with no bot display name, so ``MatrixHub.start`` leaves the session bot's
    profile alone (other tests expect a fresh bot, and each change is copied to every room
    the bot is in)."""
    bot = attrs.evolve(config.appservice.bot, displayname="")
    return attrs.evolve(config, appservice=attrs.evolve(config.appservice, bot=bot))


async def unname_bot(api: AppserviceAPI) -> None:
    """Remove the display name registering the bot gave it (its localpart), as other tests of
    the session expect a bot without one. Changes nothing when it has none."""
    with contextlib.suppress(MatrixNotFound):
        if (await api.get_profile(api.bot_user_id)).get("displayname"):
            await api.set_displayname(api.bot_user_id, "")


async def make_rig(
    config: Config,
    tmp_path: Path,
    user: MatrixUser,
    api: AppserviceAPI,
    recorder: TransactionRecorder,
) -> MatrixRig:
    """A started rig for ``user`` with a fresh store in ``tmp_path``."""
    store = await Store.open(tmp_path / "bridge.db", synchronous="NORMAL")
    login = await store.logins.create(
        MatrixUserId(user.user_id), "wechat", login_id=LoginId(f"login-{secrets.token_hex(4)}")
    )
    rig = MatrixRig(config, store, login, user, api, recorder)
    await rig.start()
    await unname_bot(api)
    return rig


@pytest_asyncio.fixture(loop_scope="session")
async def rig(
    synapse: Synapse,
    bridge_setup: BridgeSetup,
    as_api: AppserviceAPI,
    appservice: TransactionRecorder,
    tmp_path: Path,
) -> AsyncIterator[MatrixRig]:
    """A started rig for a fresh real user; stopped (and its store closed) after the test."""
    user = await synapse.register_user(f"owner{next(_numbers)}")
    r = await make_rig(quiet_bot(bridge_setup.config), tmp_path, user, as_api, appservice)
    try:
        yield r
    finally:
        await r.stop()
        await r.store.close()


__all__ = ["ALICE", "BOB", "FAMILY", "MatrixRig", "make_rig", "quiet_bot", "rig", "unname_bot"]

"""The bridge bot: invites, refusals, commands, management rooms and its own posts."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

import attrs
import pytest
import pytest_asyncio
from PIL import Image

from adapters.matrix.api import AppserviceAPI
from adapters.matrix.errors import MatrixNotFound
from adapters.matrix.hub import REFUSAL, BotCommand, MatrixHub
from adapters.matrix.types import RoomEvent, RoomId
from bridge.config import PermissionLevel, Permissions
from bridge.ids import MatrixUserId
from bridge.relay.portals import PortalDirectory
from bridge.store import Store
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.matrix_rig import quiet_bot, unname_bot
from tests.matrix.synapse import MatrixUser

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


@attrs.define
class Bot:
    """A hub without logins for ``mallory`` (not permitted) and everyone else on localhost."""

    hub: MatrixHub
    recorder: TransactionRecorder
    mallory: MatrixUser
    commands: list[BotCommand] = attrs.Factory(list)

    def bot_left(self, room: str) -> Callable[[RoomEvent], bool]:
        bot = self.hub.bot
        return lambda e: e.room_id == room and e.state_key == bot and e.membership == "leave"

    def bot_joined(self, room: str) -> Callable[[RoomEvent], bool]:
        bot = self.hub.bot
        return lambda e: e.room_id == room and e.state_key == bot and e.membership == "join"


@pytest_asyncio.fixture(loop_scope="session")
async def bot(
    bridge_setup: BridgeSetup,
    as_api: AppserviceAPI,
    appservice: TransactionRecorder,
    make_user: MakeUser,
    tmp_path: Path,
) -> AsyncIterator[Bot]:
    mallory = await make_user("mallory")
    rules = ((mallory.user_id, PermissionLevel.NONE), ("localhost", PermissionLevel.USER))
    config = attrs.evolve(quiet_bot(bridge_setup.config), permissions=Permissions(rules))
    store = await Store.open(tmp_path / "bridge.db", synchronous="NORMAL")
    commands: list[BotCommand] = []

    async def on_command(command: BotCommand) -> None:
        commands.append(command)

    hub = MatrixHub(
        config,
        store,
        on_command=on_command,
        portal_of=PortalDirectory(store).by_room,
        api=as_api,
        serve=False,
    )
    await hub.start()
    await unname_bot(as_api)
    appservice.forward_to = hub.handle_transaction
    try:
        yield Bot(hub, appservice, mallory, commands)
    finally:
        appservice.forward_to = None
        await hub.stop()
        await store.close()


async def test_a_user_who_is_not_permitted_is_refused_and_left(bot: Bot) -> None:
    mallory = bot.mallory
    room = await mallory.create_room(invite=[bot.hub.bot], is_direct=True)

    await bot.recorder.wait_for(bot.bot_left(room))

    said = [e for e in await mallory.messages(room) if e["type"] == "m.room.message"]
    assert [(e["sender"], e["content"]["body"]) for e in said] == [(bot.hub.bot, REFUSAL)]
    assert (await mallory.state(room, "m.room.member", bot.hub.bot))["membership"] == "leave"


async def test_a_permitted_users_direct_message_is_a_command(bot: Bot, make_user: MakeUser) -> None:
    alice = await make_user("alice")
    room = await alice.create_room(
        invite=[bot.hub.bot], is_direct=True, preset="trusted_private_chat"
    )
    await bot.recorder.wait_for(bot.bot_joined(room))

    event_id = await alice.send_text(room, "  login  ")
    await bot.recorder.wait_for(lambda e: e.event_id == event_id)
    await bot.hub.drain_commands()

    assert bot.commands == [
        BotCommand(MatrixUserId(alice.user_id), RoomId(room), event_id, "login", True)
    ]
    assert await bot.hub.management_room(MatrixUserId(alice.user_id)) == room


async def test_text_in_a_shared_room_is_a_command_that_is_not_direct(
    bot: Bot, make_user: MakeUser
) -> None:
    alice, carol = await make_user("alice"), await make_user("carol")
    room = await alice.create_room(invite=[bot.hub.bot, carol.user_id])
    await carol.join(room)
    await bot.recorder.wait_for(bot.bot_joined(room))

    event_id = await alice.send_text(room, "help")
    await bot.recorder.wait_for(lambda e: e.event_id == event_id)
    await bot.hub.drain_commands()

    assert [(c.text, c.is_direct) for c in bot.commands] == [("help", False)]


async def test_the_management_room_is_created_reused_and_replaced_after_leaving(
    bot: Bot, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    user = MatrixUserId(alice.user_id)

    room = await bot.hub.management_room(user)
    assert await bot.hub.management_room(user) == room
    assert room in await alice.invites()
    await alice.join(room)
    notice = await bot.hub.reply(room, "Scan the code", html="<b>Scan</b> the code")
    image = await bot.hub.send_image(room, _png(3, 2), body="QR code")
    await bot.hub.redact(room, image, reason="expired")

    assert (await alice.event(room, notice))["content"] == {
        "msgtype": "m.notice",
        "body": "Scan the code",
        "format": "org.matrix.custom.html",
        "formatted_body": "<b>Scan</b> the code",
    }
    assert (await alice.event(room, image))["content"] == {}
    await alice.request("POST", f"/v3/rooms/{quote(room)}/leave", {})
    replacement = await bot.hub.management_room(user)
    assert replacement != room
    # Synapse caches initial /sync answers, so accept the invite to prove it was sent.
    assert await alice.join(replacement) == replacement


async def test_the_qr_image_carries_its_size(bot: Bot, make_user: MakeUser) -> None:
    alice = await make_user("alice")
    room = await bot.hub.management_room(MatrixUserId(alice.user_id))
    await alice.join(room)
    png = _png(5, 7)

    image = await bot.hub.send_image(room, png, body="Scan me", filename="login.png")

    content = (await alice.event(room, image))["content"]
    assert content["info"] == {"mimetype": "image/png", "size": len(png), "w": 5, "h": 7}
    assert (content["body"], content["filename"]) == ("Scan me", "login.png")
    assert await alice.download(content["url"]) == png


async def test_any_picture_posts_as_an_image_and_other_bytes_as_a_file(
    bot: Bot, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    room = await bot.hub.management_room(MatrixUserId(alice.user_id))
    await alice.join(room)
    out = io.BytesIO()
    Image.new("RGB", (12, 8), (200, 30, 30)).save(out, format="JPEG")
    jpeg = out.getvalue()

    picture = await bot.hub.send_image(room, jpeg, body="Avatar of 1) Lee", filename="avatar-1")
    other = await bot.hub.send_image(room, b"\xff\xd8 not really", body="Avatar of 2) Lee")

    content = (await alice.event(room, picture))["content"]
    assert content["msgtype"] == "m.image" and content["filename"] == "avatar-1.jpg"
    assert content["info"] == {"mimetype": "image/jpeg", "size": len(jpeg), "w": 12, "h": 8}
    assert await alice.download(content["url"]) == jpeg
    content = (await alice.event(room, other))["content"]
    assert content["msgtype"] == "m.file" and content["body"] == "Avatar of 2) Lee"
    assert content["info"]["mimetype"] == "application/octet-stream"


def _png(width: int, height: int) -> bytes:
    """A valid white PNG of ``width`` x ``height`` pixels (greyscale)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def test_start_gives_the_bot_its_configured_name(
    bridge_setup: BridgeSetup,
    as_api: AppserviceAPI,
    appservice: TransactionRecorder,
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "named.db", synchronous="NORMAL")
    hub = MatrixHub(
        bridge_setup.config,
        store,
        on_command=_ignore,
        portal_of=PortalDirectory(store).by_room,
        api=as_api,
        serve=False,
    )
    try:
        await hub.start()
        await hub.start()
        profile = await as_api.get_profile(hub.bot)
    finally:
        await hub.stop()
        await store.close()
        # Leave the session's bot as other tests expect it: without a display name.
        await as_api.set_displayname(hub.bot, "")

    assert profile["displayname"] == bridge_setup.config.appservice.bot.displayname
    with pytest.raises(MatrixNotFound):  # no name and no avatar: no profile at all
        await as_api.get_profile(hub.bot)


async def _ignore(command: BotCommand) -> None:
    return None


async def test_a_ghosts_invite_to_a_portal_is_accepted_whatever_the_user_permissions(
    bot: Bot, as_api: AppserviceAPI
) -> None:
    hub, original = bot.hub, bot.hub.config
    # Only one named user may use the bridge: ghosts are not people and must not be refused.
    only = Permissions(((MatrixUserId("@someone-else:localhost"), PermissionLevel.USER),))
    hub.config = attrs.evolve(original, permissions=only)
    try:
        ghost = MatrixUserId(original.ghost_user_id("permission-check"))
        await as_api.ensure_registered(ghost)
        room = await as_api.create_room(as_user=ghost, invite=[hub.bot], is_direct=True)
        await bot.recorder.wait_for(bot.bot_joined(room))
        # Events are handled in order: once this one arrived, the invite was fully handled.
        await as_api.send_message(room, {"msgtype": "m.text", "body": "hi"}, as_user=ghost)
        await bot.recorder.wait_for(
            lambda e: e.room_id == room and e.sender == ghost and e.msgtype == "m.text"
        )
        member = await as_api.get_state(room, "m.room.member", state_key=hub.bot)
        assert member["membership"] == "join"
        said = [e for e in bot.recorder.events if e.room_id == room and e.sender == hub.bot]
        assert [e.content.get("body") for e in said if e.msgtype] == []
    finally:
        hub.config = original

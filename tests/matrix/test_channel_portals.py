"""WeChat chats becoming Matrix portals: rooms, invites, ghosts and their names."""

from __future__ import annotations

import attrs
import pytest
from aiohttp import web

from bridge.model import ChatKind, Profile, ProfileUpdate
from bridge.testing.memory import QR_PNG
from tests.matrix.matrix_rig import ALICE, BOB, FAMILY, MatrixRig, rig

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["rig"]


async def test_a_new_contact_gets_a_direct_portal_the_user_is_invited_to(rig: MatrixRig) -> None:
    user = rig.user
    await rig.from_wechat(rig.text(ALICE, "你好, this is Alice"))

    room = await rig.portal(ALICE)
    assert room in await user.invites()
    await user.join(room)
    [seen] = [e for e in await user.messages(room) if e["type"] == "m.room.message"]
    assert seen["content"] == {"msgtype": "m.text", "body": "你好, this is Alice"}
    ghost = seen["sender"]
    assert rig.config.is_ghost(ghost)
    assert (await user.state(room, "m.room.member", ghost))["displayname"] == "Alice (WeChat)"
    assert (await user.state(room, "m.room.name"))["name"] == "Alice"
    invite = await user.state(room, "m.room.member", user.user_id)
    assert invite["membership"] == "join"
    created = await user.state(room, "m.room.create")
    assert created.get("creator", ghost) == ghost
    ident = await rig.store.identities.by_address(rig.login.id, ALICE)
    assert ident is not None
    assert ghost == rig.config.ghost_user_id(ident.id)
    bridge = await user.state(room, "m.bridge", f"net.chatbridge.wechat://wechat/{ident.id}")
    assert bridge["bridgebot"] == rig.config.bot_user_id
    assert bridge["channel"] == {"id": ident.id, "displayname": "Alice"}


async def test_a_group_message_comes_from_the_members_ghost_in_the_group_portal(
    rig: MatrixRig,
) -> None:
    user = rig.user
    await rig.from_wechat(
        rig.text(FAMILY, "dinner at 7", sender=BOB, chat_kind=ChatKind.GROUP),
    )

    room = await rig.joined_portal(FAMILY)
    assert (await user.state(room, "m.room.name"))["name"] == "Family"
    [seen] = [e for e in await user.messages(room) if e["type"] == "m.room.message"]
    assert seen["content"]["body"] == "dinner at 7"
    assert (await user.state(room, "m.room.member", seen["sender"]))["displayname"] == (
        "Bob (WeChat)"
    )
    members = {m.displayname for m in await rig.api.get_members(room)}
    assert "Bob (WeChat)" in members
    assert (await rig.channel.get_profile(room)).name == "Family"
    assert (await rig.channel.get_profile(room)).kind is ChatKind.GROUP


async def test_one_portal_per_contact_and_the_ghost_follows_renames(rig: MatrixRig) -> None:
    user = rig.user
    await rig.from_wechat(rig.text(ALICE, "first"))
    room = await rig.joined_portal(ALICE)
    renamed = Profile(ALICE, name="Alice", nick_name="Alice", remark_name="Aunt Alice")
    rig.wechat.add_profiles(renamed)

    await rig.from_wechat(ProfileUpdate(renamed), rig.text(ALICE, "second"))

    assert await rig.portal(ALICE) == room
    texts = [e for e in await user.messages(room) if e["type"] == "m.room.message"]
    assert [e["content"]["body"] for e in texts] == ["first", "second"]
    ghost = texts[1]["sender"]
    assert texts[0]["sender"] == ghost
    assert (await user.state(room, "m.room.member", ghost))["displayname"] == (
        "Aunt Alice (WeChat)"
    )
    ident = await rig.store.identities.by_address(rig.login.id, ALICE)
    assert ident is not None
    profile = attrs.evolve(renamed, address=ident.id)
    assert await rig.channel.ensure_portal(profile, owner=user.user_id) == room


async def test_group_and_ghost_avatars_are_fetched_and_mirrored(rig: MatrixRig) -> None:
    picture = QR_PNG
    app = web.Application()

    async def avatar(request: web.Request) -> web.Response:
        return web.Response(body=picture, content_type="image/png")

    app.router.add_get("/avatar.png", avatar)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/avatar.png"
    try:
        rig.wechat.add_profiles(
            Profile(FAMILY, ChatKind.GROUP, name="Family", avatar_url=url),
            Profile(BOB, name="Bob", nick_name="Bob", avatar_url=url),
        )
        await rig.from_wechat(rig.text(FAMILY, "look", sender=BOB, chat_kind=ChatKind.GROUP))
    finally:
        await runner.cleanup()

    room = await rig.joined_portal(FAMILY)
    room_avatar = (await rig.user.state(room, "m.room.avatar"))["url"]
    [said] = [e for e in await rig.user.messages(room) if e["type"] == "m.room.message"]
    ghost_avatar = (await rig.user.state(room, "m.room.member", said["sender"]))["avatar_url"]
    assert await rig.user.download(room_avatar) == picture
    assert await rig.user.download(ghost_avatar) == picture


async def test_a_message_the_homeserver_refuses_is_told_in_the_portal(rig: MatrixRig) -> None:
    await rig.from_wechat(rig.text(FAMILY, "hi all", sender=BOB, chat_kind=ChatKind.GROUP))
    room = await rig.joined_portal(FAMILY)
    [said] = [e for e in await rig.user.messages(room) if e["type"] == "m.room.message"]
    levels = await rig.api.get_state(room, "m.room.power_levels")
    levels["users"] = {**levels.get("users", {}), said["sender"]: -1}  # Bob's ghost muted
    await rig.api.set_state(room, "m.room.power_levels", levels)

    await rig.from_wechat(rig.text(FAMILY, "muted?", sender=BOB, chat_kind=ChatKind.GROUP))

    bodies = [e["content"].get("body", "") for e in await rig.user.messages(room)]
    told = [b for b in bodies if "could not be shown here" in b]
    assert len(told) == 1 and "Bob" in told[0]
    assert "muted?" not in bodies

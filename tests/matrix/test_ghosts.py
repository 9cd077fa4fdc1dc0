"""Ghosts and the bot acting through the appservice client, as a real user sees it."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from itertools import count

import pytest

from adapters.matrix import content
from adapters.matrix.api import AppserviceAPI
from adapters.matrix.errors import MatrixForbidden, MatrixNotFound
from adapters.matrix.types import EventId, MxcUri, RoomId, UserId
from tests.matrix.conftest import BridgeSetup
from tests.matrix.synapse import MatrixUser

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]
_contacts = count(1)


async def new_ghost(as_api: AppserviceAPI, setup: BridgeSetup, name: str) -> UserId:
    ghost = UserId(setup.config.ghost_user_id(f"Contact{next(_contacts)}"))
    await as_api.ensure_registered(ghost)
    await as_api.set_displayname(ghost, setup.config.ghost_displayname(name))
    return ghost


async def portal_with(
    as_api: AppserviceAPI, ghost: UserId, user: MatrixUser, setup: BridgeSetup
) -> RoomId:
    """A DM portal created by ``ghost``, with the bot and ``user`` joined."""
    room_id = await as_api.create_room(
        as_user=ghost,
        name="Portal",
        invite=[UserId(user.user_id), as_api.bot_user_id],
        is_direct=True,
        initial_state=content.bridge_state(
            bot=as_api.bot_user_id,
            protocol_id="wechat",
            protocol_name="WeChat",
            channel_id="contact-1",
            channel_name="Portal",
        ),
    )
    await as_api.join(room_id)
    await user.join(room_id)
    return room_id


async def test_ghost_registration_is_idempotent(
    as_api: AppserviceAPI, bridge_setup: BridgeSetup
) -> None:
    ghost = UserId(bridge_setup.config.ghost_user_id("Twice"))
    assert await as_api.ensure_registered(ghost) is True
    assert await as_api.ensure_registered(ghost) is False


async def test_ghost_portal_message_seen_by_the_user(
    as_api: AppserviceAPI, bridge_setup: BridgeSetup, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    ghost = await new_ghost(as_api, bridge_setup, "Zhang San")
    room_id = await portal_with(as_api, ghost, alice, bridge_setup)

    event_id = await as_api.send_message(room_id, content.text("你好, Alice"), as_user=ghost)

    [seen] = [e for e in await alice.messages(room_id) if e["event_id"] == event_id]
    assert seen["sender"] == ghost
    assert seen["content"] == {"msgtype": "m.text", "body": "你好, Alice"}
    member = await alice.state(room_id, "m.room.member", ghost)
    assert member["displayname"] == "Zhang San (WeChat)"
    bridge = await alice.state(room_id, "m.bridge", "net.chatbridge.wechat://wechat/contact-1")
    assert bridge["bridgebot"] == as_api.bot_user_id
    assert bridge["protocol"]["id"] == "wechat"
    members = {m.user_id: m.displayname for m in await as_api.get_members(room_id)}
    assert members == {
        ghost: "Zhang San (WeChat)",
        as_api.bot_user_id: None,
        alice.user_id: alice.user_id.removeprefix("@").split(":")[0],
    }


async def test_bot_notice_reply_and_location(
    as_api: AppserviceAPI, bridge_setup: BridgeSetup, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    ghost = await new_ghost(as_api, bridge_setup, "Li Si")
    room_id = await portal_with(as_api, ghost, alice, bridge_setup)
    question = await alice.send_text(room_id, "where are you?")

    notice_id = await as_api.send_message(room_id, content.text("Logged in", notice=True))
    reply = content.reply_to(
        content.location(31.2304, 121.4737, label="Shanghai"), EventId(question)
    )
    reply_id = await as_api.send_message(room_id, reply, as_user=ghost)

    notice = await alice.event(room_id, notice_id)
    assert notice["sender"] == as_api.bot_user_id
    assert notice["content"] == {"msgtype": "m.notice", "body": "Logged in"}
    seen = await alice.event(room_id, reply_id)
    assert seen["content"]["msgtype"] == "m.location"
    assert seen["content"]["geo_uri"] == "geo:31.2304,121.4737"
    assert seen["content"]["m.relates_to"] == {"m.in_reply_to": {"event_id": question}}


async def test_redaction_by_the_ghost_is_seen_by_the_user(
    as_api: AppserviceAPI, bridge_setup: BridgeSetup, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    ghost = await new_ghost(as_api, bridge_setup, "Wang Wu")
    room_id = await portal_with(as_api, ghost, alice, bridge_setup)
    event_id = await as_api.send_message(room_id, content.text("oops"), as_user=ghost)

    redaction_id = await as_api.redact(room_id, event_id, reason="recalled", as_user=ghost)

    seen = await alice.event(room_id, event_id)
    assert seen["content"] == {}
    assert seen["unsigned"]["redacted_because"]["event_id"] == redaction_id


async def test_media_round_trip_is_byte_identical(
    as_api: AppserviceAPI, bridge_setup: BridgeSetup, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    ghost = await new_ghost(as_api, bridge_setup, "Zhao Liu")
    room_id = await portal_with(as_api, ghost, alice, bridge_setup)
    data = os.urandom(300_000)

    mxc = await as_api.upload(data, mimetype="image/png", filename="photo.png", as_user=ghost)
    image = content.media(
        content.MediaMsgType.IMAGE, mxc, filename="photo.png", mimetype="image/png", size=len(data)
    )
    event_id = await as_api.send_message(room_id, image, as_user=ghost)

    assert mxc.startswith("mxc://localhost/")
    downloaded = await as_api.download(mxc)
    assert downloaded.data == data
    assert downloaded.content_type == "image/png"
    seen = await alice.event(room_id, event_id)
    assert seen["content"]["url"] == mxc
    assert await alice.download(seen["content"]["url"]) == data


async def test_ghost_avatar_invite_and_leave(
    as_api: AppserviceAPI, bridge_setup: BridgeSetup, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    owner = await new_ghost(as_api, bridge_setup, "Group Owner")
    member = await new_ghost(as_api, bridge_setup, "Member")
    avatar = await as_api.upload(b"\x89PNG fake", mimetype="image/png", filename="a.png")
    await as_api.set_avatar_url(member, avatar)
    room_id = await as_api.create_room(
        as_user=owner, name="Group", topic="a WeChat group", invite=[UserId(alice.user_id)]
    )

    await as_api.invite(room_id, member, as_user=owner)
    await as_api.join(room_id, as_user=member)
    joined = {m.user_id: m for m in await as_api.get_members(room_id, as_user=owner)}
    assert joined[member].avatar_url == avatar
    await as_api.leave(room_id, as_user=member)

    assert member not in {m.user_id for m in await as_api.get_members(room_id, as_user=owner)}
    await as_api.set_state(room_id, "m.room.name", {"name": "Renamed"}, as_user=owner)
    await alice.join(room_id)
    assert (await alice.state(room_id, "m.room.topic"))["topic"] == "a WeChat group"
    assert (await alice.state(room_id, "m.room.name"))["name"] == "Renamed"


async def test_errors_are_raised_as_bridge_errors(
    as_api: AppserviceAPI, bridge_setup: BridgeSetup, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    outsider = await new_ghost(as_api, bridge_setup, "Outsider")
    room_id = RoomId(await alice.create_room(name="private"))

    with pytest.raises(MatrixForbidden) as not_in_room:
        await as_api.send_message(room_id, content.text("let me in"), as_user=outsider)
    assert not not_in_room.value.retryable
    unregistered = UserId(bridge_setup.config.ghost_user_id("NeverRegistered"))
    with pytest.raises(MatrixForbidden):
        await as_api.set_displayname(unregistered, "nobody")
    with pytest.raises(MatrixNotFound):
        await as_api.download(MxcUri("mxc://localhost/doesnotexist"))

"""What the user does in a portal reaching WeChat: text, replies, media, location, redactions."""

from __future__ import annotations

import os

import pytest

from bridge.model import Location, Media, MediaKind, Text
from bridge.testing.memory import Revoked, Sent
from tests.matrix.matrix_rig import ALICE, MatrixRig, rig

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["rig"]


async def test_the_users_text_reaches_the_contact_after_it_was_journaled(rig: MatrixRig) -> None:
    await rig.from_wechat(rig.text(ALICE, "are you there?"))
    room = await rig.joined_portal(ALICE)

    event_id = await rig.user.send_text(room, "yes, 我在")
    # The recorder keeps a transaction only once the hub answered it: by then it is journaled.
    await rig.recorder.wait_for(lambda e: e.event_id == event_id)
    assert await rig.journaled(event_id)
    await rig.relay.drain()

    [sent] = rig.wechat.messages(ALICE)
    assert sent.content == Text("yes, 我在")
    assert sent.sender is not None and sent.sender.address == rig.user.user_id


async def test_the_ghosts_own_events_are_not_relayed_back(rig: MatrixRig) -> None:
    incoming = rig.text(ALICE, "echo?")
    await rig.from_wechat(incoming)
    ghost_event = await rig.matrix_event_of(incoming.remote_id)

    echo = await rig.arrived(ghost_event)

    assert rig.config.is_ghost(echo.sender)
    assert not await rig.journaled(ghost_event)
    assert rig.wechat.messages() == []


async def test_a_matrix_reply_is_a_wechat_reply_without_the_fallback(rig: MatrixRig) -> None:
    question = rig.text(ALICE, "lunch?")
    await rig.from_wechat(question)
    room = await rig.joined_portal(ALICE)
    quoted = await rig.matrix_event_of(question.remote_id)
    reply = {
        "msgtype": "m.text",
        "body": "> <@wechat_x:localhost> lunch?\n\nsure!",
        "format": "org.matrix.custom.html",
        "formatted_body": "<mx-reply><blockquote>lunch?</blockquote></mx-reply><b>sure!</b>",
        "m.relates_to": {"m.in_reply_to": {"event_id": quoted}},
    }

    await rig.arrived(await rig.user.send(room, reply))

    [sent] = rig.wechat.messages(ALICE)
    assert sent.content == Text("sure!", formatted="<b>sure!</b>")
    assert sent.reply_to == question.remote_id


async def test_a_redaction_in_matrix_revokes_the_wechat_message(rig: MatrixRig) -> None:
    await rig.from_wechat(rig.text(ALICE, "hi"))
    room = await rig.joined_portal(ALICE)
    event_id = await rig.user.send_text(room, "wrong chat, sorry")
    await rig.arrived(event_id)
    [sent] = rig.wechat.messages(ALICE)

    await rig.arrived(await rig.user.redact(room, event_id))

    assert rig.wechat.revocations() == [Revoked(ALICE, sent.remote_id)]


async def test_image_file_and_location_from_matrix_arrive_intact(rig: MatrixRig) -> None:
    await rig.from_wechat(rig.text(ALICE, "send me the photo"))
    room = await rig.joined_portal(ALICE)
    photo, report = os.urandom(70_000), os.urandom(150_000)
    # Who uploaded a file does not matter to the bridge: the chat's queue downloads what the
    # event names.
    photo_url = await rig.api.upload(photo, mimetype="image/jpeg", filename="photo.jpg")
    report_url = await rig.api.upload(report, mimetype="application/pdf", filename="r.pdf")
    image = {
        "msgtype": "m.image",
        "body": "photo.jpg",
        "url": photo_url,
        "info": {"mimetype": "image/jpeg", "size": len(photo), "w": 640, "h": 480},
    }
    file = {
        "msgtype": "m.file",
        "body": "the quarterly report",
        "filename": "report.pdf",
        "url": report_url,
        "info": {"mimetype": "application/pdf", "size": len(report)},
    }
    location = {"msgtype": "m.location", "body": "Café Zhang", "geo_uri": "geo:31.23,121.47;u=20"}

    for content in (image, file, location):
        await rig.arrived(await rig.user.send(room, content))

    got = [s.content for s in rig.wechat.messages(ALICE)]
    assert got == [
        Media(
            MediaKind.IMAGE,
            photo,
            "image/jpeg",
            "photo.jpg",
            width=640,
            height=480,
            expected_size=len(photo),
        ),
        Media(
            MediaKind.FILE,
            report,
            "application/pdf",
            "report.pdf",
            caption="the quarterly report",
            expected_size=len(report),
        ),
        Location(31.23, 121.47, "Café Zhang"),
    ]


async def test_an_unbridgeable_event_gets_a_notice_and_the_next_one_still_passes(
    rig: MatrixRig,
) -> None:
    await rig.from_wechat(rig.text(ALICE, "hello"))
    room = await rig.joined_portal(ALICE)

    bad = await rig.user.send(room, {"msgtype": "m.location", "body": "nowhere", "geo_uri": "x"})
    good = await rig.user.send_text(room, "after the bad one")
    await rig.arrived(bad)
    await rig.arrived(good)

    assert rig.wechat_texts(ALICE) == ["after the bad one"]
    notices = [
        e["content"]["body"]
        for e in await rig.user.messages(room)
        if e["content"].get("msgtype") == "m.notice"
    ]
    assert notices == ["⚠ Not delivered: the bridge cannot carry it (not a geo: URI)"]
    assert isinstance(rig.wechat.sent[0], Sent)

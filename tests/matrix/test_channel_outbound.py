"""What WeChat contacts send appearing in Matrix: media, location, links, replies, recalls."""

from __future__ import annotations

import os
import time

import attrs
import pytest

from adapters.matrix.channel import SELF_PREFIX
from bridge.model import (
    Content,
    Link,
    Location,
    Media,
    MediaKind,
    Message,
    Notice,
    Revocation,
    Text,
)
from bridge.relay import delivery_key
from tests.matrix.matrix_rig import ALICE, MatrixRig, rig

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["rig"]


def message(rig: MatrixRig, content: Content) -> Message:
    """A WeChat message from Alice carrying ``content``."""
    return attrs.evolve(rig.text(ALICE, ""), content=content)


async def test_image_voice_and_file_arrive_byte_identical_with_their_info(rig: MatrixRig) -> None:
    photo, voice, doc = os.urandom(120_000), os.urandom(9_000), os.urandom(40_000)
    sent = [
        message(rig, Media(MediaKind.IMAGE, photo, "image/png", "p.png", width=64, height=48)),
        message(rig, Media(MediaKind.VOICE, voice, "audio/mpeg", "v.mp3", duration_ms=3200)),
        message(rig, Media(MediaKind.FILE, doc, "application/pdf", "doc.pdf", caption="read it")),
    ]
    await rig.from_wechat(*sent)
    room = await rig.joined_portal(ALICE)

    seen = [(await rig.user.event(room, await rig.matrix_event_of(m.remote_id)))["content"]
            for m in sent]  # fmt: skip

    assert [c["msgtype"] for c in seen] == ["m.image", "m.audio", "m.file"]
    assert [await rig.user.download(c["url"]) for c in seen] == [photo, voice, doc]
    assert seen[0]["info"] == {"mimetype": "image/png", "size": len(photo), "w": 64, "h": 48}
    assert seen[1]["info"]["duration"] == 3200
    assert "org.matrix.msc3245.voice" in seen[1]
    assert (seen[2]["body"], seen[2]["filename"]) == ("read it", "doc.pdf")


async def test_location_link_and_notice(rig: MatrixRig) -> None:
    where = message(rig, Location(39.9042, 116.4074, "Beijing"))
    link = message(rig, Link("https://example.org/a?b=1&c=2", "Title", "A <short> text"))
    notice = message(rig, Notice("Bob joined the group"))
    await rig.from_wechat(where, link, notice)
    room = await rig.joined_portal(ALICE)

    got = [await rig.user.event(room, await rig.matrix_event_of(m.remote_id))
           for m in (where, link, notice)]  # fmt: skip

    assert got[0]["content"] == {
        "msgtype": "m.location",
        "body": "Beijing",
        "geo_uri": "geo:39.9042,116.4074",
    }
    assert got[1]["content"]["body"] == "Title\nA <short> text\nhttps://example.org/a?b=1&c=2"
    assert got[1]["content"]["formatted_body"] == (
        '<a href="https://example.org/a?b=1&amp;c=2">Title</a><br>A &lt;short&gt; text'
    )
    assert got[2]["content"] == {
        "msgtype": "m.notice",
        "body": "Bob joined the group",
        "format": "org.matrix.custom.html",
        "formatted_body": "Bob joined the group",  # every bot message has an HTML body
    }
    assert got[2]["sender"] == rig.config.bot_user_id


async def test_a_wechat_reply_quotes_the_matrix_event(rig: MatrixRig) -> None:
    await rig.from_wechat(rig.text(ALICE, "hi"))
    room = await rig.joined_portal(ALICE)
    question = await rig.user.send_text(room, "coffee?")
    await rig.arrived(question)
    [bridged] = rig.wechat.messages(ALICE)

    answer = rig.text(ALICE, "ok!", reply_to=bridged.remote_id)
    await rig.from_wechat(answer)

    content = (await rig.user.event(room, await rig.matrix_event_of(answer.remote_id)))["content"]
    assert content["m.relates_to"] == {"m.in_reply_to": {"event_id": question}}
    assert content["body"] == f"> <{rig.user.user_id}> coffee?\n\nok!"
    assert content["formatted_body"].startswith("<mx-reply><blockquote>")
    assert content["formatted_body"].endswith("coffee?</blockquote></mx-reply>ok!")


async def test_a_wechat_recall_redacts_the_matrix_event(rig: MatrixRig) -> None:
    oops = rig.text(ALICE, "oops, wrong chat")
    await rig.from_wechat(oops)
    room = await rig.joined_portal(ALICE)
    event_id = await rig.matrix_event_of(oops.remote_id)

    await rig.from_wechat(Revocation(ALICE, ALICE, oops.remote_id, time.time()))

    seen = await rig.user.event(room, event_id)
    assert seen["content"] == {}
    assert seen["unsigned"]["redacted_because"]["sender"] == seen["sender"]


async def test_what_the_owner_sent_from_the_phone_is_attributed(rig: MatrixRig) -> None:
    await rig.from_wechat(rig.text(ALICE, "hello"))
    mine = rig.text(ALICE, "sent from my phone", from_self=True)

    await rig.from_wechat(mine)

    room = await rig.joined_portal(ALICE)
    seen = await rig.user.event(room, await rig.matrix_event_of(mine.remote_id))
    assert seen["sender"] == rig.config.bot_user_id
    assert seen["content"]["body"] == SELF_PREFIX + "sent from my phone"


async def test_a_repeated_delivery_posts_once(rig: MatrixRig) -> None:
    await rig.from_wechat(rig.text(ALICE, "hello"))
    room = await rig.joined_portal(ALICE)
    before = len(await rig.user.messages(room))

    token = delivery_key.set("crash-test:42")
    try:
        first = await rig.channel.send(room, Text("exactly once"))
        again = await rig.channel.send(room, Text("exactly once"))
    finally:
        delivery_key.reset(token)
    other = await rig.channel.send(room, Text("no key, new event"))

    assert first.remote_id == again.remote_id != other.remote_id
    assert len(await rig.user.messages(room)) == before + 2

"""Media, locations and link cards through the running service, both ways, byte for byte."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adapters.wechat.simulator import blobs
from adapters.wechat.simulator.control import OutboxEntry
from adapters.wechat.simulator.demo import create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import (
    BridgeHarness,
    Event,
    accept_invite,
    wait_for_message,
    wait_until,
)
from tests.service.test_login import log_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]

#: Larger than one 512 KiB upload chunk of WeChat (PROTOCOL.md §7).
BIG = 700_000


def _bridged(ghost: str) -> Callable[[Event], bool]:
    return lambda e: e.get("sender") == ghost and e.get("type") in ("m.room.message", "m.sticker")


async def test_contact_media_location_and_link_arrive_in_the_portal_byte_identical(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    user = await make_user("pixel")
    dm, _ = await log_in(bridge, user, demo)
    photo, voice = blobs.jpeg("photo", 3000), blobs.mp3("voice", 5000)
    video, report, sticker = blobs.mp4("video", BIG), blobs.document("report"), blobs.gif("gif")

    await control.send_message(demo.account, demo.carol, "image", data=photo)
    await control.send_message(demo.account, demo.carol, "voice", data=voice, voice_length_ms=4200)
    await control.send_message(demo.account, demo.carol, "video", data=video, play_length_s=7)
    await control.send_message(
        demo.account, demo.carol, "file", data=report, filename="trip plan.pdf"
    )
    await control.send_message(demo.account, demo.carol, "emoticon", data=sticker)
    await control.send_message(
        demo.account, demo.carol, "location", label="Zhang's Café", lat=31.2304, lng=121.4737
    )
    await control.send_message(
        demo.account,
        demo.carol,
        "link",
        title="Trail map",
        url="https://example.org/map?trail=3&day=sat",
        description="The route for Saturday",
    )
    portal = await accept_invite(user, {dm})
    link = await wait_for_message(user, portal, contains="https://example.org/map")

    ghost = link["sender"]
    events = [e for e in await user.messages(portal, limit=100) if _bridged(ghost)(e)]
    kinds = [e["content"].get("msgtype", e["type"]) for e in events]
    assert kinds == [
        "m.image", "m.audio", "m.video", "m.file", "m.sticker", "m.location", "m.text"
    ]  # fmt: skip
    image, audio, movie, file, gif, place, card = (e["content"] for e in events)
    for content, data in ((image, photo), (audio, voice), (movie, video), (file, report)):
        assert await user.download(content["url"]) == data
        assert content["info"]["size"] == len(data)
    assert await user.download(gif["url"]) == sticker
    assert (image["info"]["mimetype"], gif["info"]["mimetype"]) == ("image/jpeg", "image/gif")
    assert audio["info"]["mimetype"] == "audio/mpeg"
    assert audio["info"]["duration"] == 4200
    assert movie["info"]["mimetype"] == "video/mp4"
    assert movie["info"]["duration"] == 7000
    assert file["body"] == "trip plan.pdf"
    assert file["info"]["mimetype"] == "application/pdf"
    assert place["geo_uri"] == "geo:31.2304,121.4737"
    assert place["body"] == "Zhang's Café"
    assert card["body"] == (
        "Trail map\nThe route for Saturday\nhttps://example.org/map?trail=3&day=sat"
    )
    assert 'href="https://example.org/map?trail=3&amp;day=sat"' in card["formatted_body"]


async def _outbox_entry(
    bridge: BridgeHarness, account: str, check: Callable[[OutboxEntry], bool]
) -> OutboxEntry:
    async def find() -> OutboxEntry | None:
        return next((e for e in await bridge.simulator.control.outbox(account) if check(e)), None)

    found: OutboxEntry = await wait_until(find)
    return found


async def _send_file(
    user: MatrixUser, room: str, msgtype: str, data: bytes, mimetype: str, name: str
) -> str:
    url = await user.upload(data, mimetype=mimetype, filename=name)
    content: dict[str, Any] = {
        "msgtype": msgtype,
        "body": name,
        "url": url,
        "info": {"mimetype": mimetype, "size": len(data)},
    }
    return await user.send(room, content)


async def test_media_and_a_location_from_matrix_reach_wechat_byte_identical(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    user = await make_user("upload")
    dm, _ = await log_in(bridge, user, demo)
    await control.send_message(demo.account, demo.dave, text="send me the holiday files")
    portal = await accept_invite(user, {dm})
    await wait_for_message(user, portal, contains="holiday files")
    photo, clip = blobs.jpeg("beach", 5000), blobs.mp4("waves", BIG)
    song, notes, sticker = blobs.mp3("song", 6000), blobs.document("notes", 2500), blobs.gif("ok")

    await _send_file(user, portal, "m.image", photo, "image/jpeg", "beach.jpg")
    await _send_file(user, portal, "m.video", clip, "video/mp4", "waves.mp4")
    await _send_file(user, portal, "m.audio", song, "audio/mpeg", "song.mp3")
    await _send_file(user, portal, "m.file", notes, "application/pdf", "notes.pdf")
    sticker_url = await user.upload(sticker, mimetype="image/gif", filename="ok.gif")
    sticker_info = {"mimetype": "image/gif", "size": len(sticker), "w": 16, "h": 16}
    await user.send(
        portal, {"body": "ok", "url": sticker_url, "info": sticker_info}, event_type="m.sticker"
    )
    await user.send(
        portal,
        {"msgtype": "m.location", "body": "Beach bar", "geo_uri": "geo:22.5431,114.0579;u=35"},
    )

    located = await _outbox_entry(bridge, demo.account, lambda e: "geo:" in e.text)
    outbox = [e for e in await control.outbox(demo.account) if e.to == demo.dave]
    assert [(e.kind, e.filename) for e in outbox] == [
        ("image", "beach.jpg"),
        ("video", "waves.mp4"),
        ("file", "song.mp3"),  # WeChat web cannot send voice messages: a file
        ("file", "notes.pdf"),
        ("emoticon", "ok"),  # a Matrix sticker becomes a WeChat sticker
        ("text", ""),
    ]
    for entry, data in zip(outbox, (photo, clip, song, notes, sticker), strict=False):
        assert entry.sha256 == hashlib.sha256(data).hexdigest()
        assert await control.media(entry.sha256) == data
    assert located.kind == "text"
    assert located.text == "Beach bar\ngeo:22.5431,114.0579"

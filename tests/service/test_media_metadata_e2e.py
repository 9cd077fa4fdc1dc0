"""What a Matrix client shows of a WeChat photo, voice message, video and file: real pixel
sizes read from the photo's bytes (WeChat announces its thumbnail's), durations, and names a
reader understands (not the MsgId)."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable

import pytest
from PIL import Image

from adapters.wechat.simulator import blobs
from adapters.wechat.simulator.demo import create_demo
from tests.matrix.synapse import MatrixUser
from tests.service.harness import BridgeHarness, accept_invite, wait_for_message
from tests.service.test_login import log_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]


def _jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 160)).save(out, format="JPEG")
    return out.getvalue()


async def test_a_photo_shows_its_real_size_and_media_have_readable_names(
    bridge: BridgeHarness, make_user: MakeUser
) -> None:
    control = bridge.simulator.control
    demo = await create_demo(control)
    user = await make_user("pixels")
    dm, _ = await log_in(bridge, user, demo)
    photo = _jpeg(320, 200)

    await control.send_message(demo.account, demo.carol, "image", data=photo)
    await control.send_message(
        demo.account, demo.carol, "voice", data=blobs.mp3("v", 2000), voice_length_ms=3100
    )
    await control.send_message(demo.account, demo.carol, "video", data=blobs.mp4("c", 3000),
                               play_length_s=4)  # fmt: skip
    await control.send_message(
        demo.account, demo.carol, "file", data=blobs.document("d"), filename="menu.pdf"
    )
    portal = await accept_invite(user, {dm})
    image = await wait_for_message(user, portal, msgtype="m.image")
    voice = await wait_for_message(user, portal, msgtype="m.audio")
    video = await wait_for_message(user, portal, msgtype="m.video")
    file = await wait_for_message(user, portal, msgtype="m.file")

    assert await user.download(image["content"]["url"]) == photo
    assert (image["content"]["info"]["w"], image["content"]["info"]["h"]) == (320, 200)
    assert image["content"]["body"] == "image.jpg"
    assert (voice["content"]["body"], voice["content"]["info"]["duration"]) == ("voice.mp3", 3100)
    assert (video["content"]["body"], video["content"]["info"]["duration"]) == ("video.mp4", 4000)
    assert file["content"]["body"] == "menu.pdf"

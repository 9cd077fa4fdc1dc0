"""Simulator downloads over raw HTTP: images, voice, video Range, files, avatars."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from adapters.wechat.simulator.demo import Demo
from tests.wechat import samples
from tests.wechat.conftest import API, SimulatorHandle, WebSession

Login = Callable[..., Awaitable[WebSession]]


async def get(
    session: WebSession, endpoint: str, headers: dict[str, str] | None = None, **params: str
) -> tuple[int, dict[str, str], bytes]:
    url = f"{session.base_url}{API}/{endpoint}"
    async with session.http.get(url, params=params, headers=headers or {}) as response:
        return response.status, dict(response.headers), await response.read()


async def test_images_voice_and_video_by_msg_id(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    control = simulator.control
    picture = b"\xff\xd8\xff\xe0picture\xff\xd9"
    image = await control.send_message(demo.account, demo.alice, "image", data=picture)
    gif = await control.send_message(demo.account, demo.alice, "emoticon", data=b"GIF89a-x;")
    voice = await control.send_message(demo.account, demo.alice, "voice", data=b"ID3-voice")
    movie = bytes(range(256)) * 40
    video = await control.send_message(demo.account, demo.alice, "video", data=movie)

    status, headers, body = await get(session, "webwxgetmsgimg", MsgID=image, skey=session.skey)
    assert (status, headers["Content-Type"], body) == (200, "image/jpeg", picture)
    status, _, thumb = await get(session, "webwxgetmsgimg", MsgID=image, type="slave")
    assert status == 200 and thumb.startswith(b"\xff\xd8") and thumb != picture
    assert (await get(session, "webwxgetmsgimg", msgid=gif, type="big"))[2] == b"GIF89a-x;"
    status, headers, body = await get(session, "webwxgetvoice", msgid=voice)
    assert (status, headers["Content-Type"], body) == (200, "audio/mpeg", b"ID3-voice")

    status, headers, body = await get(session, "webwxgetvideo", {"Range": "bytes=0-"}, msgid=video)
    assert (status, headers["Content-Range"], body) == (
        206,
        f"bytes 0-{len(movie) - 1}/{len(movie)}",
        movie,
    )
    assert headers["Accept-Ranges"] == "bytes" and headers["Content-Type"] == "video/mp4"
    status, headers, body = await get(
        session, "webwxgetvideo", {"Range": "bytes=10-19"}, msgid=video
    )
    assert (status, headers["Content-Range"], body) == (
        206,
        f"bytes 10-19/{len(movie)}",
        movie[10:20],
    )
    status, _, body = await get(session, "webwxgetvideo", msgid=video)
    assert (status, body) == (200, movie)
    assert (await get(session, "webwxgetmsgimg", MsgID="1" * 19))[0] == 404


async def test_file_download_with_data_ticket_and_disposition(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    content = b"%PDF-1.4 report"
    msg_id = await simulator.control.send_message(
        demo.account, demo.alice, "file", data=content, filename="报告 1.pdf"
    )
    (message,) = [m for m in await session.messages() if m["MsgId"] == msg_id]
    ticket = next(c.value for c in session.http.cookie_jar if c.key == "webwx_data_ticket")
    params = {
        "sender": message["FromUserName"],
        "mediaid": message["MediaId"],
        "filename": message["FileName"],
        "fromuser": session.uin,
        "pass_ticket": "undefined",
        "webwx_data_ticket": ticket,
    }
    status, headers, body = await get(session, "webwxgetmedia", **params)
    assert (status, body) == (200, content)
    assert headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E6%8A%A5%E5%91%8A%201.pdf" in headers["Content-Disposition"]
    assert (await get(session, "webwxgetmedia", **{**params, "webwx_data_ticket": "x"}))[0] != 200


async def test_avatars_are_jpeg_and_downloads_need_the_session(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    session = await web_login(simulator, demo.account)
    contact = session.init["ContactList"][0]
    path, _, query = contact["HeadImgUrl"].partition("?")
    url = f"{simulator.base_url}{contact['HeadImgUrl']}"
    async with session.http.get(url) as response:
        assert response.status == 200 and (await response.read()).startswith(b"\xff\xd8")
    assert path.startswith(f"{API}/webwxget") and "username=" in query
    session.http.cookie_jar.clear()
    async with session.http.get(url) as response:
        assert response.status != 200


async def test_media_downloads_carry_last_modified_and_etag_as_captured(
    simulator: SimulatorHandle, demo: Demo, web_login: Login
) -> None:
    captured = dict(
        (line.split(": ", 1)[0].lower(), line.split(": ", 1)[1])
        for line in samples.text("webwxgetvideo-http.txt").splitlines()
        if ": " in line and not line.startswith("GET ")
    )
    session = await web_login(simulator, demo.account)
    control = simulator.control
    movie = bytes(range(256)) * 8
    video = await control.send_message(demo.account, demo.alice, "video", data=movie)
    image = await control.send_message(demo.account, demo.alice, "image", data=b"\xff\xd8x\xff\xd9")
    _, raw, _ = await get(session, "webwxgetvideo", {"Range": "bytes=0-"}, msgid=video)
    headers = {k.lower(): v for k, v in raw.items()}
    assert headers["last-modified"] == captured["last-modified"]
    shape = re.compile(r"[0-9a-f]+-[0-9a-f]+-[0-9a-f]{20}")
    assert shape.fullmatch(captured["etag"]) and shape.fullmatch(headers["etag"])
    _, again, _ = await get(session, "webwxgetvideo", msgid=video)
    assert {k.lower(): v for k, v in again.items()}["etag"] == headers[
        "etag"
    ]  # the same bytes, the same ETag
    _, raw, _ = await get(session, "webwxgetmsgimg", MsgID=image)
    picture = {k.lower(): v for k, v in raw.items()}
    assert picture["last-modified"] == captured["last-modified"]
    assert shape.fullmatch(picture["etag"]) and picture["etag"] != headers["etag"]

"""The WeChat client's sending, uploads, recalls and downloads against the simulator."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import pytest

from adapters.wechat.client.calls_msg import CHUNK_SIZE, ImageSize
from adapters.wechat.client.client import WeChatClient
from adapters.wechat.client.connection import ClientConfig
from adapters.wechat.client.errors import ApiError, NotAFriend, TooFrequent
from adapters.wechat.client.http import HttpRetry
from adapters.wechat.client.qr import QRCode
from adapters.wechat.client.receive import SyncBatch
from adapters.wechat.client.types import MsgId, UserName
from adapters.wechat.simulator.control import SimulatorControl

Message = dict[str, Any]
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
GIF = b"GIF89a" + os.urandom(2000)
MP4 = b"\x00\x00\x00\x18ftypmp42" + os.urandom(5000)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def logged_in(control: SimulatorControl, account: str, base_url: str) -> WeChatClient:
    async def on_qr(qr: QRCode) -> None:
        await control.scan(account, qr.uuid)

    cfg = ClientConfig(
        base_url=base_url,
        long_poll_timeout=10,
        retry=HttpRetry(attempts=3, wait=0.01, wait_max=0.05),
    )
    client = WeChatClient(cfg)
    await client.login(on_qr)
    return client


async def collect(client: WeChatClient, done: Callable[[list[Message]], bool]) -> list[Message]:
    messages: list[Message] = []
    async for event in client.events():
        assert isinstance(event, SyncBatch)
        messages.extend(dict(m) for m in event.messages)
        await client.commit(event)
        if done(messages):
            return messages
    raise AssertionError("the receive loop ended")


def has(*msg_ids: str) -> Callable[[list[Message]], bool]:
    return lambda messages: set(msg_ids) <= {m["MsgId"] for m in messages}


async def setup(simulator: Any) -> tuple[str, str, str, str]:
    """An account with friend Bob, stranger Sam and group Team (Bob, Sam)."""
    control = simulator.control
    account = await control.create_account("Alice")
    bob = await control.add_contact(account, "Bob")
    sam = await control.add_contact(account, "Sam", friend=False)
    group = await control.add_group(account, "Team", [bob, sam])
    return account, bob, sam, group


async def test_every_kind_of_send_reaches_the_outbox(simulator: Any) -> None:
    control = simulator.control
    account, bob, _, group = await setup(simulator)
    doc = os.urandom(10_000)
    async with await logged_in(control, account, simulator.base_url) as client:
        names = (await control.session(account)).user_names
        to_bob, to_group = UserName(names[bob]), UserName(names[group])
        sent = [
            await client.send_text(to_bob, "hello\nBob ✓"),
            await client.send_image(to_bob, PNG, "pic.png"),
            await client.send_video(to_group, MP4, "clip.mp4"),
            await client.send_file(to_bob, doc, "report 2024.pdf"),
            await client.send_emoticon(to_group, GIF),
        ]
        outbox = await control.outbox(account)
        # The server echoes every send into the next webwxsync, with the MsgID it returned.
        echoes = await collect(client, has(*(s.msg_id for s in sent)))
        me = client.self_user
    assert [(e.kind, e.to, e.msg_id) for e in outbox] == [
        ("text", bob, sent[0].msg_id),
        ("image", bob, sent[1].msg_id),
        ("video", group, sent[2].msg_id),
        ("file", bob, sent[3].msg_id),
        ("emoticon", group, sent[4].msg_id),
    ]
    assert outbox[0].text == "hello\nBob ✓"
    assert [e.sha256 for e in outbox[1:]] == [sha(PNG), sha(MP4), sha(doc), sha(GIF)]
    assert outbox[3].filename == "report 2024.pdf"
    for result in sent:
        assert result.msg_id and result.local_id == result.client_msg_id
    assert me is not None
    assert {m["FromUserName"] for m in echoes if m["MsgId"] in {s.msg_id for s in sent}} == {
        me.user_name
    }


async def test_a_two_mebibyte_file_goes_up_in_chunks_and_comes_back_intact(
    simulator: Any,
) -> None:
    control = simulator.control
    account, bob, _, _ = await setup(simulator)
    data = os.urandom(2 * 1024 * 1024)
    assert -(-len(data) // CHUNK_SIZE) == 4
    async with await logged_in(control, account, simulator.base_url) as client:
        names = (await control.session(account)).user_names
        sent = await client.send_file(UserName(names[bob]), data, "big.bin")
        (echo,) = [m for m in await collect(client, has(sent.msg_id)) if m["MsgId"] == sent.msg_id]
        back = await client.get_media(echo["FromUserName"], echo["MediaId"], echo["EncryFileName"])
    (entry,) = [e for e in await control.outbox(account) if e.msg_id == sent.msg_id]
    assert entry.sha256 == sha(data)
    assert back.data == data and back.file_name == "big.bin"


async def test_send_errors_are_typed(simulator: Any) -> None:
    control = simulator.control
    account, bob, sam, _ = await setup(simulator)
    async with await logged_in(control, account, simulator.base_url) as client:
        names = (await control.session(account)).user_names
        with pytest.raises(NotAFriend):
            await client.send_text(UserName(names[sam]), "not a friend")
        await control.add_fault("webwxsendmsg", retcode=1205)
        with pytest.raises(TooFrequent):
            await client.send_text(UserName(names[bob]), "too fast")
        assert (await client.send_text(UserName(names[bob]), "fine again")).msg_id
    assert [e.text for e in await control.outbox(account)] == ["fine again"]


async def test_recall_within_two_minutes_only(simulator: Any) -> None:
    control = simulator.control
    account, bob, _, _ = await setup(simulator)
    async with await logged_in(control, account, simulator.base_url) as client:
        to_bob = UserName((await control.session(account)).user_names[bob])
        early = await client.send_text(to_bob, "oops")
        result = await client.revoke(to_bob, early)
        assert result.introduction.startswith("你可以撤回2分钟内")
        late = await client.send_text(to_bob, "too late to take back")
        await control.advance_clock(121)
        with pytest.raises(ApiError) as caught:
            await client.revoke(to_bob, late)
        assert caught.value.ret != 0
    revokes = [e for e in await control.outbox(account) if e.kind == "revoke"]
    assert [(e.msg_id, e.raw["client_msg_id"]) for e in revokes] == [
        (early.msg_id, early.client_msg_id)
    ]


async def test_downloads_are_byte_identical(simulator: Any) -> None:
    control = simulator.control
    account, bob, sam, group = await setup(simulator)
    jpeg = b"\xff\xd8\xff\xe0" + os.urandom(4000) + b"\xff\xd9"
    mp3 = b"ID3" + os.urandom(3000)
    doc = os.urandom(7000)
    send = control.send_message
    image = await send(account, bob, "image", data=jpeg)
    voice = await send(account, bob, "voice", data=mp3)
    video = await send(account, sam, "video", group=group, data=MP4)
    emoticon = await send(account, bob, "emoticon", data=GIF)
    file = await send(account, bob, "file", data=doc, filename="notes 笔记.txt")
    async with await logged_in(control, account, simulator.base_url) as client:
        got = {m["MsgId"]: m for m in await collect(client, has(image, file))}
        assert (await client.get_image(MsgId(image))).data == jpeg
        thumb = await client.get_image(MsgId(image), ImageSize.THUMB)
        assert thumb.content_type == "image/jpeg" and thumb.data and thumb.data != jpeg
        assert (await client.get_voice(MsgId(voice))).data == mp3
        clip = await client.get_video(MsgId(video))
        assert (clip.status, clip.data, clip.content_type) == (206, MP4, "video/mp4")
        assert (await client.get_image(MsgId(emoticon), ImageSize.BIG)).data == GIF
        attachment = got[file]
        fetched = await client.get_media(
            attachment["FromUserName"], attachment["MediaId"], attachment["EncryFileName"]
        )
        assert fetched.data == doc and fetched.file_name == "notes 笔记.txt"
        names = (await control.session(account)).user_names
        icon = await client.get_icon(UserName(names[bob]))
        head = await client.get_icon(UserName(names[group]))
        assert icon.content_type == head.content_type == "image/jpeg"
        assert icon.data and head.data and icon.data != head.data

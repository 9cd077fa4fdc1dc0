"""WeChatChannel against the simulator: what the bridge core receives and what WeChat sees."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import attrs
import pytest

from adapters.wechat.channel import WeChatChannel, WeChatSettings
from adapters.wechat.simulator.demo import Demo
from bridge.channel import (
    Channel,
    SupportsLogin,
    SupportsLoginCancel,
    SupportsMedia,
    SupportsRevoke,
)
from bridge.errors import BridgeError, NotLoggedIn, RevokeRefused
from bridge.model import (
    Address,
    ChatKind,
    ChatRead,
    ConfirmOnPhone,
    ContactBook,
    Event,
    Link,
    Location,
    LoggedIn,
    LoggedOut,
    Media,
    MediaKind,
    Mention,
    Message,
    Notice,
    Profile,
    QRCodeNeeded,
    Quoted,
    RemoteId,
    Revocation,
    Text,
)
from tests.wechat.conftest import SimulatorHandle

TIMEOUT = 10.0


class Tap:
    """Consumes a channel's events, acking every batch, and lets a test wait for one."""

    def __init__(self, channel: WeChatChannel) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run(channel))

    async def _run(self, channel: WeChatChannel) -> None:
        async for batch in channel.events():
            self.events.extend(batch.events)
            await batch.ack()
            self._changed.set()

    async def wait_for(self, match: Callable[[Event], bool], start: int = 0) -> Event:
        async with asyncio.timeout(TIMEOUT):
            while True:
                for event in self.events[start:]:
                    if match(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def _login(simulator: SimulatorHandle, demo: Demo, channel: WeChatChannel) -> Tap:
    tap = Tap(channel)
    await channel.start()
    await channel.login()
    qr = await tap.wait_for(lambda e: isinstance(e, QRCodeNeeded))
    assert isinstance(qr, QRCodeNeeded)
    await simulator.control.scan(demo.account)
    await tap.wait_for(lambda e: isinstance(e, ContactBook))
    return tap


@pytest.fixture
async def logged_in(
    simulator: SimulatorHandle, demo: Demo, tmp_path: Path
) -> AsyncIterator[tuple[WeChatChannel, Tap]]:
    settings = WeChatSettings(base_url=simulator.base_url, session_path=tmp_path / "s.json")
    channel = WeChatChannel(settings)
    tap = await _login(simulator, demo, channel)
    yield channel, tap
    await channel.stop()
    await tap.close()


async def _user_name(simulator: SimulatorHandle, demo: Demo, real_id: str) -> Address:
    return Address((await simulator.control.session(demo.account)).user_names[real_id])


def _message(
    chat: Address, match: Callable[[Message], bool] = lambda m: True
) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, Message) and e.chat == chat and match(e)


async def test_declares_its_capabilities() -> None:
    channel = WeChatChannel()
    for protocol in (Channel, SupportsMedia, SupportsRevoke, SupportsLogin, SupportsLoginCancel):
        assert isinstance(channel, protocol)
    assert channel.stable_addresses is False


async def test_qr_login_shows_a_scannable_code_then_the_contact_book(
    simulator: SimulatorHandle, demo: Demo, tmp_path: Path
) -> None:
    channel = WeChatChannel(WeChatSettings(base_url=simulator.base_url))
    tap = Tap(channel)
    try:
        await channel.start()
        with pytest.raises(NotLoggedIn):
            await channel.send(Address("@x"), Text("too early"))
        await channel.login()
        qr = await tap.wait_for(lambda e: isinstance(e, QRCodeNeeded))
        assert isinstance(qr, QRCodeNeeded)
        assert qr.payload.startswith("https://login.weixin.qq.com/l/")
        assert qr.png.startswith(b"\x89PNG")
        await simulator.control.scan(demo.account)
        logged = await tap.wait_for(lambda e: isinstance(e, LoggedIn))
        assert isinstance(logged, LoggedIn)
        assert logged.account.nick_name == "Demo User"
        book = await tap.wait_for(lambda e: isinstance(e, ContactBook))
        assert isinstance(book, ContactBook)
        by_name = {p.display_name: p for p in book.profiles}
        assert by_name["Alice (work)"].nick_name == "Alice"
        assert [p.nick_name for p in book.profiles].count("Bob") == 2
        assert by_name["Carol"].alias == "carol_w"
        assert "Dave \U0001f600" in by_name
        hike = by_name["Weekend Hike"]
        assert hike.kind is ChatKind.GROUP
        assert {"Alice", "Carol", "Eve"} <= set(hike.members)
        # The member lists, the account left out (PROTOCOL.md §3.4).
        listed = {m.profile.nick_name: m for m in book.members if m.group == hike.address}
        assert set(listed) == {"Alice", "Bob", "Carol", "Eve"}
        eve = listed["Eve"].profile
        assert eve.key_word == "wxi" and eve.attr_status != 0 and eve.group_name == ""
        assert listed["Carol"].profile.group_name == "Carol W."
        assert (await channel.get_profile(eve.address)).attr_status == eve.attr_status
    finally:
        await channel.stop()
        await tap.close()


async def test_texts_from_a_contact_and_a_group_member_arrive_as_messages(
    simulator: SimulatorHandle, demo: Demo, logged_in: tuple[WeChatChannel, Tap]
) -> None:
    channel, tap = logged_in
    alice = await _user_name(simulator, demo, demo.alice)
    await simulator.control.send_message(demo.account, demo.alice, text="hi <there>\nbye 😀")
    got = await tap.wait_for(_message(alice))
    assert isinstance(got, Message)
    assert got.content == Text("hi <there>\nbye 😀")
    assert got.sender == alice
    assert got.chat_kind is ChatKind.DIRECT

    group = await _user_name(simulator, demo, demo.group)
    carol = await _user_name(simulator, demo, demo.carol)
    await simulator.control.send_message(demo.account, demo.carol, group=demo.group, text="hike?")
    got = await tap.wait_for(_message(group))
    assert isinstance(got, Message)
    assert got.content == Text("hike?")
    assert got.sender == carol
    assert got.chat_kind is ChatKind.GROUP
    assert (await channel.get_profile(carol)).nick_name == "Carol"


async def test_media_location_and_links_arrive_with_their_bytes(
    simulator: SimulatorHandle, demo: Demo, logged_in: tuple[WeChatChannel, Tap]
) -> None:
    channel, tap = logged_in
    alice = await _user_name(simulator, demo, demo.alice)
    gif = b"GIF89a" + bytes(range(256)) * 4
    pdf = b"%PDF-1.4 " + b"x" * 70_000
    ctl = simulator.control
    await ctl.send_message(demo.account, demo.alice, "image", data=b"\xff\xd8\xff" + b"i" * 5000)
    await ctl.send_message(demo.account, demo.alice, "emoticon", data=gif)
    await ctl.send_message(demo.account, demo.alice, "file", data=pdf, filename="report.pdf")
    await ctl.send_message(
        demo.account, demo.alice, "voice", data=b"ID3voice", voice_length_ms=2100
    )
    await ctl.send_message(demo.account, demo.alice, "video", data=b"\x00\x00\x00\x18ftypmp42")
    await ctl.send_message(
        demo.account, demo.alice, "location", label="Shenzhen Bay", lat=22.5, lng=113.9
    )
    await ctl.send_message(
        demo.account, demo.alice, "link", title="News", url="https://example.com/a?b=1&c=2"
    )

    def media(kind: MediaKind) -> Callable[[Event], bool]:
        return _message(alice, lambda m: isinstance(m.content, Media) and m.content.kind is kind)

    async def fetched(kind: MediaKind) -> Message:
        # Files arrive as references (no bytes, no session secret); the bytes come on demand.
        got = await tap.wait_for(media(kind))
        assert isinstance(got, Message) and isinstance(got.content, Media)
        assert got.content.is_reference and not got.content.data
        assert "skey" not in got.content.ref and "pass_ticket" not in got.content.ref
        return attrs.evolve(got, content=await channel.fetch_media(got.content))

    image = await fetched(MediaKind.IMAGE)
    assert isinstance(image, Message) and isinstance(image.content, Media)
    assert image.content.data == b"\xff\xd8\xff" + b"i" * 5000
    assert image.content.mimetype == "image/jpeg"
    sticker = await fetched(MediaKind.STICKER)
    assert isinstance(sticker, Message) and isinstance(sticker.content, Media)
    assert sticker.content.data == gif and sticker.content.mimetype == "image/gif"
    file = await fetched(MediaKind.FILE)
    assert isinstance(file, Message) and isinstance(file.content, Media)
    assert file.content.data == pdf and file.content.filename == "report.pdf"
    assert file.content.mimetype == "application/pdf"
    voice = await fetched(MediaKind.VOICE)
    assert isinstance(voice, Message) and isinstance(voice.content, Media)
    assert voice.content.data == b"ID3voice" and voice.content.duration_ms == 2100
    video = await fetched(MediaKind.VIDEO)
    assert isinstance(video, Message) and isinstance(video.content, Media)
    assert video.content.data == b"\x00\x00\x00\x18ftypmp42"
    place = await tap.wait_for(_message(alice, lambda m: isinstance(m.content, Location)))
    assert isinstance(place, Message) and isinstance(place.content, Location)
    assert place.content.label == "Shenzhen Bay"
    assert place.content.geo_uri == "geo:22.5,113.9"
    link = await tap.wait_for(_message(alice, lambda m: isinstance(m.content, Link)))
    assert isinstance(link, Message)
    assert link.content == Link("https://example.com/a?b=1&c=2", "News", "")


async def test_sends_reach_the_contact_and_recall_respects_two_minutes(
    simulator: SimulatorHandle, demo: Demo, logged_in: tuple[WeChatChannel, Tap]
) -> None:
    channel, _ = logged_in
    bob = await _user_name(simulator, demo, demo.bob)
    first = await channel.send(bob, Text("hello Bob"))
    png = b"\x89PNG\r\n\x1a\n" + b"p" * 600_000  # two upload chunks
    second = await channel.send_media(bob, Media(MediaKind.IMAGE, png, "image/png", "a.png"))
    await channel.send(bob, Location(22.5, 113.9, "here"))
    outbox = await simulator.control.outbox(demo.account)
    assert [(o.kind, o.to) for o in outbox[:3]] == [
        ("text", demo.bob),
        ("image", demo.bob),
        ("text", demo.bob),
    ]
    assert outbox[0].text == "hello Bob" and outbox[0].msg_id == first.remote_id
    assert first.text == "hello Bob" and first.revoke_data
    assert outbox[1].sha256 == hashlib.sha256(png).hexdigest()
    assert outbox[1].msg_id == second.remote_id
    assert outbox[2].text == "here\ngeo:22.5,113.9"

    await channel.revoke(bob, first)
    recall = (await simulator.control.outbox(demo.account))[-1]
    assert recall.kind == "revoke" and recall.msg_id == first.remote_id
    assert recall.raw["client_msg_id"] == first.revoke_data  # the send's own, PROTOCOL.md §8

    await simulator.control.advance_clock(130)
    with pytest.raises(RevokeRefused):
        await channel.revoke(bob, second)


async def test_the_recall_window_counts_from_the_send_time_it_is_given(
    simulator: SimulatorHandle, demo: Demo, logged_in: tuple[WeChatChannel, Tap]
) -> None:
    # The core keeps what send returned and gives it back, e.g. after a restart.
    channel, _ = logged_in
    bob = await _user_name(simulator, demo, demo.bob)
    sent = await channel.send(bob, Text("sent before a restart"))
    old = attrs.evolve(sent, timestamp=sent.timestamp - 130)
    with pytest.raises(RevokeRefused, match="within 2 minutes; this one was sent 2 minutes ago"):
        await channel.revoke(bob, old)
    assert [o.kind for o in await simulator.control.outbox(demo.account)] == ["text"]


async def test_a_recall_by_the_contact_becomes_a_revocation(
    simulator: SimulatorHandle, demo: Demo, logged_in: tuple[WeChatChannel, Tap]
) -> None:
    _, tap = logged_in
    alice = await _user_name(simulator, demo, demo.alice)
    msg_id = await simulator.control.send_message(demo.account, demo.alice, text="oops")
    await tap.wait_for(_message(alice))
    await simulator.control.recall(demo.account, msg_id)
    rev = await tap.wait_for(lambda e: isinstance(e, Revocation))
    assert isinstance(rev, Revocation)
    assert rev.remote_id == msg_id and rev.chat == alice


async def test_reading_a_chat_on_the_phone_becomes_a_chat_read(
    simulator: SimulatorHandle, demo: Demo, logged_in: tuple[WeChatChannel, Tap]
) -> None:
    _, tap = logged_in
    alice = await _user_name(simulator, demo, demo.alice)
    await simulator.control.phone_action(demo.account, "enter", demo.alice)  # not a read
    msg_id = await simulator.control.phone_action(demo.account, "read", demo.alice)
    read = await tap.wait_for(lambda e: isinstance(e, ChatRead))
    assert read == ChatRead(alice, RemoteId(msg_id), read.timestamp)
    assert len([e for e in tap.events if isinstance(e, ChatRead)]) == 1


async def test_logout_on_the_phone_is_reported(
    simulator: SimulatorHandle, demo: Demo, logged_in: tuple[WeChatChannel, Tap]
) -> None:
    channel, tap = logged_in
    await simulator.control.logout(demo.account, 1101)
    out = await tap.wait_for(lambda e: isinstance(e, LoggedOut))
    assert isinstance(out, LoggedOut)
    assert "invalidated" in out.reason
    with pytest.raises(BridgeError):
        await channel.send(await _user_name(simulator, demo, demo.bob), Text("after logout"))


async def test_a_restart_resumes_the_session_without_a_qr_code(
    simulator: SimulatorHandle, demo: Demo, tmp_path: Path
) -> None:
    settings = WeChatSettings(base_url=simulator.base_url, session_path=tmp_path / "s.json")
    first = WeChatChannel(settings)
    tap = await _login(simulator, demo, first)
    await first.stop()
    await tap.close()
    assert (tmp_path / "s.json").stat().st_mode & 0o777 == 0o600

    await simulator.control.send_message(demo.account, demo.dave, text="while you were away")
    second = WeChatChannel(settings)
    tap = Tap(second)
    try:
        await second.start()
        await tap.wait_for(lambda e: isinstance(e, LoggedIn))
        dave = await _user_name(simulator, demo, demo.dave)
        got = await tap.wait_for(_message(dave))
        assert isinstance(got, Message) and got.content == Text("while you were away")
        assert not any(isinstance(e, QRCodeNeeded) for e in tap.events)
    finally:
        await second.stop()
        await tap.close()


async def test_bridge_notices_go_to_the_file_transfer_chat_not_the_contact(
    simulator: SimulatorHandle, demo: Demo, logged_in: tuple[WeChatChannel, Tap]
) -> None:
    channel, _ = logged_in
    bob = await _user_name(simulator, demo, demo.bob)
    await channel.send(bob, Notice("your message could not be delivered to Matrix"))
    [entry] = await simulator.control.outbox(demo.account)
    assert entry.to == "filehelper"
    assert entry.text == "[chatbridge] Bob: your message could not be delivered to Matrix"


async def test_a_reply_quotes_the_contacts_message_in_wechats_text_style(
    simulator: SimulatorHandle, demo: Demo, logged_in: tuple[WeChatChannel, Tap]
) -> None:
    channel, tap = logged_in
    alice = await _user_name(simulator, demo, demo.alice)
    msg_id = await simulator.control.send_message(demo.account, demo.alice, text="lunch at 12?")
    await tap.wait_for(_message(alice))
    author = Profile(alice, remark_name="Alice (work)", nick_name="Alice")
    quoted = Quoted(RemoteId(msg_id), "lunch at 12?", author)
    sent = await channel.send_reply(alice, Text("yes!"), quoted)
    mine = Quoted(sent.remote_id, sent.text, Profile(Address(""), is_self=True))
    await channel.send_reply(alice, Text("see you"), mine)
    await channel.send_reply(alice, Text("no text to quote"), Quoted(RemoteId("1")))
    first, second, third = await simulator.control.outbox(demo.account)
    assert first.text == "「Alice (work)：lunch at 12?」\n- - - - - - - - - - - - - - -\nyes!"
    assert second.text.startswith("「Demo User：「Alice (work)：lunch at 12?」")
    assert second.text.endswith("\nsee you")
    assert third.text == "no text to quote"


async def test_mentions_in_a_group_text_name_the_members_and_the_account(
    simulator: SimulatorHandle, demo: Demo, logged_in: tuple[WeChatChannel, Tap]
) -> None:
    _, tap = logged_in
    group = await _user_name(simulator, demo, demo.group)
    alice = await _user_name(simulator, demo, demo.alice)
    me = Address((await simulator.control.session(demo.account)).self_name)
    text = "@Demo User\u2005@Alice\u2005@Nobody\u2005 who brings the tent?"
    await simulator.control.send_message(demo.account, demo.carol, group=demo.group, text=text)
    got = await tap.wait_for(_message(group))
    assert isinstance(got, Message) and isinstance(got.content, Text)
    assert got.content.body == text
    assert got.content.mentions == (
        Mention(me, "@Demo User\u2005"),
        Mention(alice, "@Alice\u2005"),
    )


async def test_a_mention_is_written_as_at_nickname_and_u2005(
    simulator: SimulatorHandle, demo: Demo, logged_in: tuple[WeChatChannel, Tap]
) -> None:
    channel, _ = logged_in
    group = await _user_name(simulator, demo, demo.group)
    carol = await _user_name(simulator, demo, demo.carol)
    # As a Matrix pill arrives: the text naming her is the ghost's label and ": ".
    text = Text(
        "Carol (WeChat): bring it, ask Nobody",
        mentions=(Mention(carol, "Carol (WeChat): "), Mention(Address("@x"), "Nobody")),
    )
    await channel.send(group, text)
    [entry] = await simulator.control.outbox(demo.account)
    assert entry.text == "@Carol\u2005bring it, ask Nobody"


async def test_a_login_after_a_logout_asks_the_phone_first(
    simulator: SimulatorHandle, demo: Demo, logged_in: tuple[WeChatChannel, Tap]
) -> None:
    channel, tap = logged_in
    await simulator.control.logout(demo.account, 1101)
    await tap.wait_for(lambda e: isinstance(e, LoggedOut))
    start = len(tap.events)

    await channel.login()
    await tap.wait_for(lambda e: isinstance(e, ConfirmOnPhone), start)
    await simulator.control.scan(demo.account)
    await tap.wait_for(lambda e: isinstance(e, LoggedIn), start)
    assert not any(isinstance(e, QRCodeNeeded) for e in tap.events[start:])


async def test_a_cancelled_login_stops_polling_and_a_new_one_starts(
    simulator: SimulatorHandle, demo: Demo, tmp_path: Path
) -> None:
    settings = WeChatSettings(base_url=simulator.base_url, session_path=tmp_path / "s.json")
    channel = WeChatChannel(settings)
    tap = Tap(channel)
    try:
        await channel.start()
        await channel.login()
        first = await tap.wait_for(lambda e: isinstance(e, QRCodeNeeded))

        await channel.cancel_login()
        await channel.cancel_login()  # nothing in progress: nothing happens

        await simulator.control.scan(demo.account)  # the phone scans the cancelled code
        start = len(tap.events)
        await channel.login()  # a new login starts at once (the old one is gone)
        second = await tap.wait_for(lambda e: isinstance(e, QRCodeNeeded), start)
        assert isinstance(first, QRCodeNeeded) and isinstance(second, QRCodeNeeded)
        assert second.payload != first.payload
        logins = await simulator.control.logins()
        assert [lg["consumed"] for lg in logins if lg["account"] == demo.account] == [False]
        assert not any(isinstance(e, LoggedIn | LoggedOut) for e in tap.events)
    finally:
        await channel.stop()
        await tap.close()

"""Files through the relay: never in the journal, fetched by their own chat's queue, spooled
by hash and removed once delivered; a journal that cannot be written stalls intake, says so
and resumes (issue 7, deliverable 4)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import attrs

from bridge.errors import DeliveryFailed
from bridge.model import (
    Address,
    IntakeResumed,
    IntakeStalled,
    Media,
    MediaKind,
    Message,
    Notice,
    RemoteId,
    Text,
)
from bridge.relay import RetryPolicy
from bridge.store import EntryState, Login, Side, Store
from bridge.testing.memory import MemoryChannel
from tests.core.conftest import ALICE, BOB, Rig, make_rig, until

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


class FetchingChannel(MemoryChannel):
    """A side A whose files arrive as references (``Media.ref``) and are served by
    ``fetch_media`` from ``files``; a ref listed in ``gates`` waits for its event first,
    one in ``gone`` is refused for good."""

    def __init__(self) -> None:
        super().__init__("wechat", stable_addresses=True, profiles=(ALICE, BOB))
        self.files: dict[str, bytes] = {}
        self.gates: dict[str, asyncio.Event] = {}
        self.gone: set[str] = set()
        self.fetches: list[str] = []

    async def fetch_media(self, media: Media) -> Media:
        self.fetches.append(media.ref)
        if media.ref in self.gates:
            await self.gates[media.ref].wait()
        if media.ref in self.gone:
            raise DeliveryFailed("the file expired")
        return attrs.evolve(media, data=self.files[media.ref], ref="")

    def incoming_file(self, chat: Address, ref: str, data: bytes) -> Message:
        self.files[ref] = data
        media = Media(MediaKind.VIDEO, mimetype="video/mp4", filename=f"{ref}.mp4", ref=ref)
        return Message(chat, chat, RemoteId(f"wechat:in:{ref}"), media, time.time())


async def _attempted(rig: Rig) -> bool:
    """Whether an entry from side B was attempted (and failed) at least once."""
    entries = await rig.store.journal.entries(rig.login.id)
    return any(e.attempts for e in entries if e.source is Side.B)


def _database_bytes(db_path: Path) -> bytes:
    wal = db_path.with_name(db_path.name + "-wal")
    return db_path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_a_file_reference_is_fetched_by_its_own_chat_while_other_chats_go_on(
    store: Store, login: Login, db_path: Path
) -> None:
    a = FetchingChannel()
    rig = await make_rig(store, login, a=a)
    try:
        video = b"\x00\x00\x00\x18ftypmp42" + b"v" * 300_000
        a.gates["big"] = asyncio.Event()
        a.inject(a.incoming_file(ALICE.address, "big", video))
        a.inject(a.incoming_text(ALICE.address, "after the video"))
        a.inject(a.incoming_text(BOB.address, "bob meanwhile"))
        await until(lambda: rig.texts(rig.b) == ["bob meanwhile"])
        await until(lambda: a.fetches == ["big"])
        assert not a.pending  # every batch was journaled and acknowledged at once
        assert video[1000:1100] not in _database_bytes(db_path)

        a.gates["big"].set()
        await rig.settle()
        alice_room = await rig.portal_of(ALICE.address)
        sent = rig.b.messages(alice_room)
        assert [type(s.content) for s in sent] == [Media, Text]  # in order within the chat
        assert isinstance(sent[0].content, Media)
        assert sent[0].content.data == video and not sent[0].content.is_reference
        assert video[1000:1100] not in _database_bytes(db_path)
        assert store.media.names() == []  # the spooled copy is gone once delivered
    finally:
        await rig.relay.stop()


async def test_a_fetched_file_is_spooled_so_a_failed_send_does_not_fetch_it_again(
    store: Store, login: Login, db_path: Path
) -> None:
    a = FetchingChannel()
    rig = await make_rig(store, login, a=a)
    try:
        a.inject(a.incoming_text(ALICE.address, "portal first"))
        await rig.settle()
        rig.b.fail_next(1)
        a.inject(a.incoming_file(ALICE.address, "clip", PHOTO))
        await until(lambda: store.media.names() != [])
        [name] = store.media.names()
        assert name == hashlib.sha256(PHOTO).hexdigest()
        await rig.settle()
        assert a.fetches == ["clip"]
        media = rig.b.messages()[-1].content
        assert isinstance(media, Media) and media.data == PHOTO
        assert store.media.names() == []
        assert PHOTO[100:200] not in _database_bytes(db_path)
    finally:
        await rig.relay.stop()


async def test_a_file_its_source_cannot_provide_any_more_becomes_a_notice_in_the_portal(
    store: Store, login: Login
) -> None:
    a = FetchingChannel()
    rig = await make_rig(store, login, a=a)
    try:
        a.gone.add("old")
        a.inject(a.incoming_file(ALICE.address, "old", b"x"))
        a.inject(a.incoming_text(ALICE.address, "still here"))
        await rig.settle()
        assert rig.notices(rig.b) == ["[a video that could not be fetched: the file expired]"]
        assert rig.texts(rig.b) == ["still here"]
    finally:
        await rig.relay.stop()


async def test_a_file_with_its_bytes_is_spooled_not_journaled_and_survives_a_restart(
    rig: Rig, db_path: Path
) -> None:
    rig.a.inject(rig.a.incoming_text(ALICE.address, "hi"))
    await rig.settle()
    portal = await rig.portal_of(ALICE.address)
    photo = Media(MediaKind.IMAGE, PHOTO, "image/png", "cat.png", width=4, height=3)
    message = attrs.evolve(rig.b.incoming_text(portal, "", sender=rig.owner), content=photo)
    rig.relay.retry = RetryPolicy(attempts=5, first_delay_s=60.0)
    rig.a.logged_in = False  # the first send fails; the retry waits past the restart
    rig.b.inject(message)
    await until(lambda: not rig.b.pending)
    # The first attempt failed and the retry waits (polling the database).
    async with asyncio.timeout(10):
        while not await _attempted(rig):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    [entry] = await rig.store.journal.entries(rig.login.id, EntryState.PENDING)
    assert entry.attempts == 1
    assert PHOTO[:64] not in _database_bytes(db_path)
    stored = entry.event()
    assert isinstance(stored, Message) and isinstance(stored.content, Media)
    assert stored.content.sha256 == hashlib.sha256(PHOTO).hexdigest()
    assert stored.content.data == b""

    rig.a.logged_in = True
    await rig.store.journal.schedule_retry(entry.id, 0.0, "retry at once after the restart")
    await rig.restart()
    await rig.settle()
    [sent] = rig.a.messages()
    assert sent.content == photo  # byte for byte, with its metadata
    assert rig.store.media.names() == []


async def test_a_journal_that_cannot_be_written_stalls_intake_says_so_and_resumes(
    rig: Rig,
) -> None:
    rig.relay.intake_retry = RetryPolicy(attempts=0, first_delay_s=0.01, max_delay_s=0.05)
    await rig.store.db.execute("PRAGMA query_only=ON")  # every write now fails
    number = rig.a.inject(rig.a.incoming_text(ALICE.address, "written on a full disk"))
    await until(lambda: any(isinstance(s, IntakeStalled) for _, s in rig.states))
    await asyncio.sleep(0.1)  # several retries
    assert rig.a.pending == (number,)  # nothing acknowledged that was not journaled
    assert rig.b.messages() == []
    [(side, stalled)] = [(s, e) for s, e in rig.states if isinstance(e, IntakeStalled)]
    assert side is Side.A and "readonly" in stalled.reason
    assert rig.relay.intake_stalled

    await rig.store.db.execute("PRAGMA query_only=OFF")
    await rig.settle()
    assert rig.texts(rig.b) == ["written on a full disk"]
    assert rig.a.pending == ()
    assert [type(s) for _, s in rig.states if isinstance(s, IntakeStalled | IntakeResumed)] == [
        IntakeStalled,
        IntakeResumed,
    ]
    assert not rig.relay.intake_stalled
    assert not any(isinstance(s.content, Notice) for s in rig.b.messages())

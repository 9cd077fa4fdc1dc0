"""A file posted in a portal is fetched by that chat's queue, not while the appservice
transaction is handled (issue 7, deliverable 4, Matrix side).

The bridge's client talks to Synapse through ``SlowMedia``, an HTTP proxy that holds the
download of one file until the test lets it go: a slow media repository, over the wire.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import pytest_asyncio
from nio.crypto.attachments import encrypt_attachment

from adapters.matrix.api import AppserviceAPI
from adapters.matrix.media import FileRef
from adapters.matrix.types import UserId
from bridge.errors import DeliveryFailed
from bridge.model import Media, MediaKind, Text
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.matrix_rig import ALICE, BOB, MatrixRig, make_rig, quiet_bot
from tests.matrix.slowmedia import SlowMedia
from tests.matrix.synapse import Synapse

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def slow_rig(
    synapse: Synapse,
    bridge_setup: BridgeSetup,
    appservice: TransactionRecorder,
    tmp_path: Path,
) -> AsyncIterator[tuple[MatrixRig, SlowMedia]]:
    """A rig whose appservice client reaches Synapse through ``SlowMedia``."""
    proxy = SlowMedia(synapse.url)
    await proxy.start()
    config = bridge_setup.config
    api = AppserviceAPI(
        proxy.url, config.appservice.as_token, UserId(config.bot_user_id), request_timeout=60
    )
    user = await synapse.register_user(f"slowmedia{secrets.token_hex(4)}")
    rig = await make_rig(quiet_bot(config), tmp_path, user, api, appservice)
    try:
        yield rig, proxy
    finally:
        await rig.stop()
        await rig.store.close()
        await api.close()
        await proxy.close()


def _journaled_payloads(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [row[0] for row in conn.execute("SELECT payload FROM journal")]


async def test_a_slow_download_in_one_portal_delays_neither_the_transaction_nor_another_portal(
    slow_rig: tuple[MatrixRig, SlowMedia], tmp_path: Path
) -> None:
    rig, proxy = slow_rig
    await rig.from_wechat(rig.text(ALICE, "send me the photo"), rig.text(BOB, "hi"))
    alice_room, bob_room = await rig.joined_portal(ALICE), await rig.joined_portal(BOB)
    photo = os.urandom(300_000)
    url = await rig.api.upload(photo, mimetype="image/jpeg", filename="photo.jpg")
    proxy.hold(url)
    image = {
        "msgtype": "m.image",
        "body": "photo.jpg",
        "url": url,
        "info": {"mimetype": "image/jpeg", "size": len(photo), "w": 640, "h": 480},
    }

    image_id = await rig.user.send(alice_room, image)
    # The homeserver got its answer: the transaction holding the image is journaled...
    await rig.recorder.wait_for(lambda e: e.event_id == image_id)
    # ... as a reference, while the chat's queue waits for the file.
    async with asyncio.timeout(20):
        await proxy.waiting.wait()
    [payload] = [p for p in _journaled_payloads(tmp_path / "bridge.db") if url in p]
    assert len(payload) < 2000 and json.loads(payload)
    text_id = await rig.user.send_text(bob_room, "the photo is on its way")
    await rig.recorder.wait_for(lambda e: e.event_id == text_id)

    async with asyncio.timeout(20):
        while rig.wechat_texts(BOB) != ["the photo is on its way"]:  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # MemoryChannel has no event to wait on
    assert rig.wechat.messages(ALICE) == [] and not proxy.release.is_set()

    proxy.release.set()
    await rig.relay.drain()
    [sent] = rig.wechat.messages(ALICE)
    assert sent.content == Media(
        MediaKind.IMAGE,
        photo,
        "image/jpeg",
        "photo.jpg",
        width=640,
        height=480,
        expected_size=len(photo),
    )


async def test_a_file_the_homeserver_does_not_have_is_reported_to_the_user_and_the_next_passes(
    slow_rig: tuple[MatrixRig, SlowMedia],
) -> None:
    rig, _ = slow_rig
    await rig.from_wechat(rig.text(ALICE, "send it"))
    room = await rig.joined_portal(ALICE)
    gone = {
        "msgtype": "m.file",
        "body": "lost.pdf",
        "url": "mxc://localhost/doesnotexist",
        "info": {"mimetype": "application/pdf", "size": 10},
    }

    await rig.arrived(await rig.user.send(room, gone))
    await rig.arrived(await rig.user.send_text(room, "never mind"))

    assert [s.content for s in rig.wechat.messages(ALICE)] == [Text("never mind")]
    notices = [
        e["content"]["body"]
        for e in await rig.user.messages(room)
        if e["content"].get("msgtype") == "m.notice"
    ]
    assert notices == [
        "⚠ Not delivered to wechat: [file: lost.pdf] — the homeserver no longer has the file"
    ]


async def test_a_file_on_a_server_the_homeserver_cannot_reach_is_reported_at_once(
    slow_rig: tuple[MatrixRig, SlowMedia],
) -> None:
    rig, _ = slow_rig
    await rig.from_wechat(rig.text(ALICE, "send it"))
    room = await rig.joined_portal(ALICE)
    far = {"msgtype": "m.image", "body": "x.png", "url": "mxc://unreachable.invalid/abc"}

    await rig.arrived(await rig.user.send(room, far))
    # Not retried for minutes: the chat's next message follows at once.
    await rig.arrived(await rig.user.send_text(room, "and this"))

    assert [s.content for s in rig.wechat.messages(ALICE)] == [Text("and this")]
    notices = [
        e["content"]["body"]
        for e in await rig.user.messages(room)
        if e["content"].get("msgtype") == "m.notice"
    ]
    assert notices == [
        "⚠ Not delivered to wechat: [image: x.png] — the homeserver could not fetch the file "
        "from unreachable.invalid"
    ]


async def test_an_encrypted_attachment_is_fetched_and_decrypted_and_a_tampered_one_refused(
    slow_rig: tuple[MatrixRig, SlowMedia],
) -> None:
    # The form Element and matrix-commander send files in (spec "Sending encrypted
    # attachments"): the homeserver holds ciphertext, the event's ``file`` has the key.
    rig, _ = slow_rig
    photo = os.urandom(50_000)
    ciphertext, keys = encrypt_attachment(photo)
    url = await rig.api.upload(ciphertext, mimetype="application/octet-stream", filename="")
    file = {**keys, "url": url}
    media = Media(MediaKind.IMAGE, mimetype="image/jpeg", ref=FileRef(url, file).encode())

    fetched = await rig.channel.fetch_media(media)

    assert fetched.data == photo and fetched.ref == "" and fetched.mimetype == "image/jpeg"
    tampered = {**file, "hashes": {"sha256": keys["hashes"]["sha256"][::-1]}}
    with pytest.raises(DeliveryFailed) as caught:
        await rig.channel.fetch_media(attrs.evolve(media, ref=FileRef(url, tampered).encode()))
    assert not caught.value.retryable and "could not be decrypted" in caught.value.reason

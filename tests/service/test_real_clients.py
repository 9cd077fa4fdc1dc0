"""A Matrix client nobody here wrote (matrix-commander, ``tests/service/commander.py``)
against the session Synapse and the running service: what it sends reaches WeChat as a
WeChat user expects it."""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import logging
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
import pytest_asyncio
from PIL import Image

from adapters.matrix.crypto import store_folder
from adapters.wechat.simulator import blobs
from adapters.wechat.simulator.control import OutboxEntry
from adapters.wechat.simulator.demo import Demo, create_demo
from bridge.config import EncryptionConfig
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.synapse import Synapse
from tests.service.commander import Commander
from tests.service.harness import BridgeHarness, accept_invite, wait_for_message, wait_until
from tests.service.test_login import log_in
from tests.service.test_messages import sent_to
from tests.wechat.conftest import SimulatorHandle

pytestmark = pytest.mark.asyncio(loop_scope="session")

_numbers = itertools.count(1)


async def _portal_of_carol(
    bridge: BridgeHarness, tmp_path: Path, name: str
) -> tuple[Commander, Demo, str]:
    """A matrix-commander user logged in to WeChat through the bot, and Carol's portal."""
    demo = await create_demo(bridge.simulator.control)
    commander = await Commander.register(
        bridge.synapse, tmp_path / "commander", f"{name}{next(_numbers)}"
    )
    dm, _ = await log_in(bridge, commander.api, demo)
    await bridge.simulator.control.send_message(demo.account, demo.carol, text="hello")
    portal = await accept_invite(commander.api, {dm})
    await wait_for_message(commander.api, portal, contains="hello")
    return commander, demo, portal


async def test_an_html_message_reaches_wechat_as_clean_text(
    bridge: BridgeHarness, tmp_path: Path
) -> None:
    commander, demo, portal = await _portal_of_carol(bridge, tmp_path, "mchtml")

    await commander.send(portal, "<b>bold</b> and <i>italic</i><br>next line", html=True)

    await sent_to(bridge, demo.account, demo.carol, "bold and italic\nnext line")
    # A long one (read as text off the event loop) arrives the same way.
    items = "".join(f"<li><b>item</b> {n}</li>" for n in range(300))
    await commander.send(portal, f"<ul>{items}</ul>", html=True)
    await sent_to(bridge, demo.account, demo.carol, "\n".join(f"• item {n}" for n in range(300)))


async def test_an_encrypted_attachment_image_and_file_reach_wechat_byte_identical(
    bridge: BridgeHarness, tmp_path: Path
) -> None:
    commander, demo, portal = await _portal_of_carol(bridge, tmp_path, "mcmedia")
    photo, report = tmp_path / "beach.jpg", tmp_path / "trip plan.pdf"
    photo_bytes = await asyncio.to_thread(_jpeg, 320, 200)
    report_bytes = blobs.document("report", 4000)
    await asyncio.to_thread(photo.write_bytes, photo_bytes)
    await asyncio.to_thread(report.write_bytes, report_bytes)

    await commander.send_image(portal, photo)
    await commander.send_file(portal, report)

    events = await commander.api.messages(portal, limit=20)
    sent = [e["content"] for e in events if e.get("sender") == commander.api.user_id]
    media = [c for c in sent if c.get("msgtype") in ("m.image", "m.file")]
    assert media, sent
    assert all("file" in c and "url" not in c for c in media), media
    entries = await _outbox_media(bridge, demo, 2)
    assert [(e.kind, e.filename) for e in entries] == [
        ("image", "beach.jpg"),
        ("file", "trip plan.pdf"),
    ]
    for entry, data in zip(entries, (photo_bytes, report_bytes), strict=True):
        assert entry.sha256 == hashlib.sha256(data).hexdigest()
        assert await bridge.simulator.control.media(entry.sha256) == data


def _jpeg(width: int, height: int) -> bytes:
    """A real JPEG of ``width`` × ``height`` pixels (Pillow)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, format="JPEG")
    return out.getvalue()


async def _outbox_media(bridge: BridgeHarness, demo: Demo, count: int) -> list[OutboxEntry]:
    """The first ``count`` files the account sent to Carol (waits for them)."""

    async def find() -> list[OutboxEntry] | None:
        outbox = await bridge.simulator.control.outbox(demo.account)
        files = [e for e in outbox if e.to == demo.carol and e.sha256]
        return files[:count] if len(files) >= count else None

    found: list[OutboxEntry] = await wait_until(find)
    return found


async def test_an_encrypted_dm_gets_one_plaintext_notice_saying_what_to_do(
    bridge: BridgeHarness, tmp_path: Path
) -> None:
    commander = await Commander.register(
        bridge.synapse, tmp_path / "commander", f"mcencrypted{next(_numbers)}"
    )

    await commander.run("--room-dm-create", bridge.bot)  # encryption on, as Element's DMs
    room = await wait_until(lambda: _dm_with(commander, bridge.bot))
    assert await commander.api.state(room, "m.room.encryption")
    await commander.send(room, "login")
    await commander.send(room, "ping")

    notice = await wait_for_message(commander.api, room, from_=bridge.bot, contains="encrypted")
    assert notice["type"] == "m.room.message"  # plaintext, readable without keys
    assert notice["content"]["msgtype"] == "m.notice"
    assert "!wechat help" in notice["content"]["body"]
    assert "encryption is turned off on this bridge" in notice["content"]["body"]

    async def bot_events() -> list[dict[str, Any]] | None:
        events = await commander.api.messages(room)
        said = [e for e in events if e.get("sender") == bridge.bot and "state_key" not in e]
        statuses = [e for e in said if e["type"] == "com.beeper.message_send_status"]
        return said if len(statuses) >= 2 else None

    said = await wait_until(bot_events)
    assert len([e for e in said if e["type"] == "m.room.message"]) == 1  # once, no greeting
    # Each encrypted message gets a failed send status, as mautrix bridges send it.
    statuses = [e["content"] for e in said if e["type"] == "com.beeper.message_send_status"]
    assert len(statuses) == 2
    assert {s["status"] for s in statuses} == {"FAIL_PERMANENT"}
    assert all(s["m.relates_to"]["rel_type"] == "m.reference" for s in statuses)


async def _dm_with(commander: Commander, bot: str) -> str | None:
    rooms = await commander.api.request("GET", "/v3/joined_rooms")
    for room in rooms["joined_rooms"]:
        try:
            member = await commander.api.state(room, "m.room.member", bot)
        except Exception:
            continue
        if member.get("membership") == "join":
            return str(room)
    return None


# ---- end-to-end encryption (encryption.allow) ------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def encrypted_bridge(
    bridge_setup: BridgeSetup,
    appservice: TransactionRecorder,
    synapse: Synapse,
    simulator: SimulatorHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """The service with ``encryption: {allow: true, default: true, key_wait_seconds: 2}``:
    the bot has a device, and new portals are created encrypted."""
    encryption = EncryptionConfig(allow=True, default=True, key_wait_s=2.0)
    base = attrs.evolve(bridge_setup.config, encryption=encryption)
    harness = BridgeHarness(base, appservice, synapse, simulator, tmp_path_factory.mktemp("e2ee"))
    await harness.start()
    yield harness
    await harness.close()


#: How matrix-commander prints an encrypted attachment it downloaded and decrypted.
_DECRYPTED = re.compile(
    r"Received encrypted \w+: .*? \[\S+/download/([^/\s]+)/([^\s\]?]+)\S*\] "
    r"\[Downloaded and decrypted media file to ([^\]]+)\]"
)


def _decrypted_media(printed: str) -> list[tuple[str, Path]]:
    """``(mxc, decrypted file)`` of each encrypted attachment in matrix-commander's output."""
    return [(f"mxc://{m[1]}/{m[2]}", Path(m[3])) for m in _DECRYPTED.finditer(printed)]


async def _heard(commander: Commander, *texts: str, download: Path | None = None) -> str:
    """What matrix-commander prints of the messages it receives (``--listen once``, which
    decrypts them), polled until every one of ``texts`` was printed. With ``download`` it
    also downloads (and decrypts) the media it receives into that folder."""
    heard: list[str] = []
    media = ("--download-media", str(download)) if download is not None else ()

    async def listen() -> str | None:
        heard.append(await commander.run("--listen", "once", *media))
        printed = "".join(heard)
        return printed if all(t in printed for t in texts) else None

    try:
        found: str = await wait_until(listen, within_s=60)
    except TimeoutError:
        raise AssertionError(f"matrix-commander did not print {texts}: {heard}") from None
    return found


async def test_an_encrypted_dm_and_an_encrypted_portal_work_with_a_real_client(
    encrypted_bridge: BridgeHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bridge = encrypted_bridge
    demo = await create_demo(bridge.simulator.control)
    commander = await Commander.register(
        bridge.synapse, tmp_path / "commander", f"mce2ee{next(_numbers)}"
    )
    await commander.run("--room-dm-create", bridge.bot)  # encryption on, as Element's DMs
    dm = await wait_until(lambda: _dm_with(commander, bridge.bot))
    assert await commander.api.state(dm, "m.room.encryption")

    await commander.send(dm, "login")
    printed = await _heard(
        commander,
        "Starting the WeChat login",
        "Scan this QR code",
        "Received encrypted image: WeChat login QR code",
        download=tmp_path / "dm-media",
    )
    # The QR code is an encrypted attachment (``file``, no ``url``): matrix-commander
    # decrypts a PNG; the homeserver holds only ciphertext.
    [(mxc, qr_file)] = _decrypted_media(printed)
    qr_png = await asyncio.to_thread(qr_file.read_bytes)
    assert qr_png.startswith(b"\x89PNG"), qr_png[:16]
    stored = await commander.api.download(mxc)
    assert len(stored) == len(qr_png) and not stored.startswith(b"\x89PNG")

    # On the wire the bot's answers are encrypted: only a client with the keys reads them.
    events = await commander.api.messages(dm, limit=30)
    said = [e for e in events if e.get("sender") == bridge.bot and "state_key" not in e]
    assert said and {e["type"] for e in said} == {"m.room.encrypted"}, said

    # An event whose room key never comes: after key_wait_seconds its sender hears so.
    never = {"session_id": "no-such-session", "ciphertext": "AwgAEhA", "device_id": "NONE"}
    megolm = {"algorithm": "m.megolm.v1.aes-sha2", "sender_key": "bm8ga2V5", **never}
    await commander.api.send(dm, megolm, event_type="m.room.encrypted")

    # Logged in, a WeChat message arrives in a new portal, created encrypted
    # (encryption.default).
    await bridge.simulator.control.scan(demo.account)
    await bridge.simulator.control.send_message(demo.account, demo.carol, text="hello from Carol")
    portal = await accept_invite(commander.api, {dm})
    assert await commander.api.state(portal, "m.room.encryption")
    await _heard(
        commander,
        "Not delivered: the bridge did not receive the key to decrypt it",
        "Logged in to WeChat as Demo User",
        "hello from Carol",
    )
    ghost_events = [
        e
        for e in await commander.api.messages(portal)
        if e["sender"] != bridge.bot and "state_key" not in e
    ]
    assert "m.room.encrypted" in {e["type"] for e in ghost_events}
    assert not [e for e in ghost_events if e["type"] == "m.room.message"], ghost_events

    # A WeChat image arrives as an encrypted attachment that decrypts to the same bytes.
    photo = await asyncio.to_thread(_jpeg, 64, 48)
    await bridge.simulator.control.send_message(demo.account, demo.carol, "image", data=photo)
    printed = await _heard(
        commander, "Received encrypted image:", download=tmp_path / "portal-media"
    )
    [(mxc, photo_file)] = _decrypted_media(printed)
    assert await asyncio.to_thread(photo_file.read_bytes) == photo
    stored = await commander.api.download(mxc)
    assert len(stored) == len(photo) and stored != photo

    # What matrix-commander sends encrypted in the portal reaches Carol on WeChat.
    await commander.send(portal, "hi Carol, encrypted")
    await sent_to(bridge, demo.account, demo.carol, "hi Carol, encrypted")

    # After a restart the bot is the same device with the same keys: both ways still work.
    await bridge.restart()
    await bridge.simulator.control.send_message(demo.account, demo.carol, text="still there?")
    await _heard(commander, "still there?")
    await commander.send(portal, "yes, after the restart")
    await sent_to(bridge, demo.account, demo.carol, "yes, after the restart")

    # The bot's keys are the bridge's secrets: 0600, beside the database.
    folder = store_folder(bridge.config.database.path)
    files = [p for p in folder.iterdir() if p.is_file()]
    assert files and all(p.stat().st_mode & 0o777 == 0o600 for p in files), files
    assert folder.stat().st_mode & 0o777 == 0o700
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "no room key within 2 s" in logged
    # Neither a token nor key material at any level (nio's DEBUG included).
    assert bridge.config.appservice.as_token not in logged
    assert "session_key" not in logged and "access_token" not in logged

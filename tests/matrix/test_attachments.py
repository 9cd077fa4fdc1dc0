"""Encrypted attachments (spec "Sending encrypted attachments") read from media events, and
built for the media the bridge posts into encrypted rooms."""

from __future__ import annotations

from typing import Any

import pytest
from nio.crypto.attachments import encrypt_attachment

from adapters.matrix import render
from adapters.matrix.attachments import AttachmentError, EncryptedFile, decrypt, encrypt, with_url
from adapters.matrix.types import EventId, MxcUri, RoomEvent, RoomId, UserId
from adapters.matrix.uploads import Upload
from bridge.model import Media, MediaKind

PLAIN = b"\xff\xd8 a photo " * 500


def _file() -> tuple[bytes, dict[str, Any]]:
    ciphertext, info = encrypt_attachment(PLAIN)
    return ciphertext, {**info, "url": "mxc://example.org/cipher"}


def _event(content: dict[str, Any]) -> RoomEvent:
    return RoomEvent(EventId("$e"), RoomId("!r"), UserId("@me:x"), "m.room.message", content)


def test_an_encrypted_image_event_downloads_and_decrypts() -> None:
    ciphertext, file = _file()
    event = _event(
        {"msgtype": "m.image", "body": "cat.jpg", "file": file, "info": {"mimetype": "image/jpeg"}}
    )

    ref = render.media_ref(event)
    media = ref.with_data(ciphertext, "application/octet-stream")

    assert ref.url == "mxc://example.org/cipher"
    assert (media.kind, media.data, media.mimetype) == (MediaKind.IMAGE, PLAIN, "image/jpeg")
    assert media.filename == "cat.jpg"


def test_a_download_that_does_not_match_its_hash_is_refused() -> None:
    ciphertext, file = _file()
    ref = render.media_ref(_event({"msgtype": "m.file", "body": "a.bin", "file": file}))
    with pytest.raises(render.UnbridgeableEvent, match="SHA-256"):
        ref.with_data(ciphertext[:-1] + b"\x00", "")
    with pytest.raises(AttachmentError):
        decrypt(b"", EncryptedFile.from_content(file))


@pytest.mark.parametrize(
    "change",
    [
        {"url": "https://example.org/x"},
        {"v": "v1"},
        {"key": {"kty": "oct", "alg": "A128CTR", "k": "AAAA"}},
        {"key": "not a jwk"},
        {"iv": "short"},
        {"hashes": {}},
        {"iv": "!!!!not base64!!!!"},
    ],
)
def test_a_malformed_file_object_is_unbridgeable(change: dict[str, Any]) -> None:
    _, file = _file()
    event = _event({"msgtype": "m.file", "body": "a.bin", "file": {**file, **change}})
    with pytest.raises(render.UnbridgeableEvent):
        render.media_ref(event)


def test_media_posted_encrypted_has_the_file_form_and_decrypts_to_its_bytes() -> None:
    ciphertext, file = encrypt(PLAIN)
    url = MxcUri("mxc://example.org/cipher")
    media = Media(MediaKind.IMAGE, PLAIN, "image/jpeg", filename="cat.jpg")
    _, content = render.media_content(media, url)

    posted = Upload(url, with_url(file, url)).place(content)

    assert "url" not in posted and posted["file"]["url"] == url
    assert posted["file"]["v"] == "v2" and posted["file"]["key"]["alg"] == "A256CTR"
    assert ciphertext != PLAIN and len(ciphertext) == len(PLAIN)
    read = render.media_ref(_event({**posted, "body": "cat.jpg"})).with_data(ciphertext, "x")
    assert (read.data, read.mimetype, read.filename) == (PLAIN, "image/jpeg", "cat.jpg")
    # A plain upload leaves the content as it was.
    assert Upload(url).place(content) == content

"""Files the bridge posts into a room: WeChat media and long texts sent as a file, uploaded in
clear, or encrypted where the event carrying them is (spec "Sending encrypted attachments").

In an encrypted room the homeserver must hold only ciphertext: the bytes are encrypted
(``attachments.encrypt``, matrix-nio's AES-CTR-256 + SHA-256) before upload, and the event
carries the ``file`` object (``url``, key, IV, hash, ``v2``) in place of the top-level
``url``; the event itself is then encrypted by ``AppserviceAPI.send_message``, so only the
room's members read the key. The bridge sends no thumbnails, so there is no
``thumbnail_file``. Unencrypted rooms get the plain ``url`` form, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from adapters.matrix import attachments, render
from adapters.matrix import content as mx
from adapters.matrix.api import AppserviceAPI
from adapters.matrix.fitting import fit_text
from adapters.matrix.types import MxcUri, RoomId, UserId
from bridge.model import Media

#: How a text too long for one event is sent when ``appservice.long_text`` is ``file``.
LONG_TEXT_FILENAME = "message.txt"
LONG_TEXT_MIMETYPE = "text/plain; charset=utf-8"
#: The content type of an encrypted upload (what the homeserver stores is ciphertext).
CIPHERTEXT_MIMETYPE = "application/octet-stream"


@attrs.frozen
class Upload:
    """An uploaded file: its ``url``, and for an encrypted one the event's ``file`` object
    (``attachments.encrypt``, with ``url`` inside)."""

    url: MxcUri
    file: Mapping[str, Any] | None = None

    def place(self, content: Mapping[str, Any]) -> dict[str, Any]:
        """``content`` (built with ``url``) as it must be posted: unchanged for a plain
        upload; for an encrypted one without the top-level ``url`` and with ``file``."""
        if self.file is None:
            return dict(content)
        placed = {key: value for key, value in content.items() if key != "url"}
        placed["file"] = dict(self.file)
        return placed


async def upload(
    api: AppserviceAPI,
    room: RoomId,
    data: bytes,
    *,
    mimetype: str,
    filename: str,
    as_user: UserId | None = None,
    poster: AppserviceAPI | None = None,
) -> Upload:
    """Upload ``data`` through ``api`` (``as_user``) for an event that ``poster`` (default
    ``api``) posts into ``room``: encrypted when ``poster.encrypts(room)``, i.e. when that
    event will be ``m.room.encrypted`` (the upload then carries neither the file's name nor
    its type). Raises ``MatrixRequestError`` subclasses (``MatrixTooLarge``)."""
    encrypted = await (poster or api).encrypts(room, as_user)
    if not encrypted:
        url = await api.upload(data, mimetype=mimetype, filename=filename, as_user=as_user)
        return Upload(url)
    ciphertext, file = attachments.encrypt(data)
    url = await api.upload(ciphertext, mimetype=CIPHERTEXT_MIMETYPE, as_user=as_user)
    return Upload(url, attachments.with_url(file, url))


async def media_content(
    api: AppserviceAPI,
    room: RoomId,
    media: Media,
    *,
    as_user: UserId | None,
    poster: AppserviceAPI,
    prefix: str = "",
) -> tuple[str, dict[str, Any]]:
    """``(event type, content)`` of ``media`` uploaded for ``room`` (``render.media_content``;
    see ``upload``)."""
    uploaded = await upload(
        api,
        room,
        media.data,
        mimetype=media.mimetype,
        filename=render.media_filename(media),
        as_user=as_user,
        poster=poster,
    )
    event_type, content = render.media_content(media, uploaded.url, prefix=prefix)
    return event_type, uploaded.place(content)


async def long_text_file(
    api: AppserviceAPI,
    room: RoomId,
    text: str,
    *,
    as_user: UserId | None,
    poster: AppserviceAPI,
) -> dict[str, Any]:
    """An ``m.file`` content of ``text`` as ``LONG_TEXT_FILENAME`` uploaded for ``room``
    (see ``upload``), captioned with its first line (at most 200 characters)."""
    data = text.encode()
    uploaded = await upload(
        api,
        room,
        data,
        mimetype=LONG_TEXT_MIMETYPE,
        filename=LONG_TEXT_FILENAME,
        as_user=as_user,
        poster=poster,
    )
    caption = fit_text(text.split("\n", 1)[0], max_chars=200)
    file = mx.media(
        mx.MediaMsgType.FILE,
        uploaded.url,
        filename=LONG_TEXT_FILENAME,
        mimetype=LONG_TEXT_MIMETYPE,
        size=len(data),
        caption=caption,
    )
    return uploaded.place(file)

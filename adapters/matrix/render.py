"""The bridge's content model to Matrix event content (spec "m.room.message msgtypes").

Reading Matrix events back into the model is ``adapters.matrix.parse``; its names are
re-exported here, so ``render.parse_text``, ``render.UnbridgeableEvent`` etc. keep working.
"""

from __future__ import annotations

import html
import io
import logging
import mimetypes
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import attrs
from PIL import Image

from adapters.matrix import content as mx
from adapters.matrix.parse import (
    INLINE_HTML_CHARS,
    MAX_MENTIONS,
    MediaRef,
    UnbridgeableEvent,
    formatted_body,
    is_media,
    media_ref,
    parse_geo_uri,
    parse_location,
    parse_text,
    reply_target,
    strip_html_fallback,
    strip_reply_fallback,
)
from adapters.matrix.types import EventId, MxcUri, RoomId, UserId
from bridge.model import Link, Location, Media, MediaKind, Notice, Text

__all__ = [
    "DOUBLE_PUPPET_KEY",
    "INLINE_HTML_CHARS",
    "MAX_MENTIONS",
    "TEXT_MSGTYPES",
    "MediaRef",
    "Pill",
    "UnbridgeableEvent",
    "image_size",
    "is_media",
    "media_content",
    "media_filename",
    "media_ref",
    "message_content",
    "parse_geo_uri",
    "parse_location",
    "parse_text",
    "reply_content",
    "reply_target",
    "room_url",
    "strip_html_fallback",
    "strip_reply_fallback",
]

logger = logging.getLogger(__name__)

#: Content key marking an event the bridge sent as the user himself (double puppeting), so its
#: echo in a transaction is not bridged back.
DOUBLE_PUPPET_KEY = "net.chatbridge.double_puppet_source"

TEXT_MSGTYPES = frozenset({"m.text", "m.notice", "m.emote"})
_MSGTYPES = {
    MediaKind.IMAGE: mx.MediaMsgType.IMAGE,
    MediaKind.VIDEO: mx.MediaMsgType.VIDEO,
    MediaKind.VOICE: mx.MediaMsgType.AUDIO,
    MediaKind.FILE: mx.MediaMsgType.FILE,
}


def message_content(
    content: Text | Notice | Location | Link,
    *,
    prefix: str = "",
    mentions: Sequence[Pill] = (),
) -> dict[str, Any]:
    """``m.room.message`` content for a non-media ``content``; ``prefix`` (an attribution such
    as "You (from your phone): ") goes before the text. ``Notice`` becomes ``m.notice`` (its
    HTML the escaped text), ``Location`` ``m.location`` with an RFC 5870 ``geo:`` URI,
    ``Link`` an ``m.text`` with the title, description and URL plus an HTML anchor.
    ``mentions`` (the Matrix users a text mentions, in order) fill ``m.mentions``, so a
    mentioned user is notified, and a plain text gets an HTML twin where the part naming each
    one is a pill (spec "User and room mentions")."""
    match content:
        case Text(body=body, formatted=formatted):
            if formatted is not None:
                markup: str | None = html.escape(prefix) + formatted
            else:
                markup = _with_pills(body, mentions)
                markup = None if markup is None else html.escape(prefix) + markup
            users = [pill.user for pill in mentions]
            return mx.text(prefix + body, html=markup, mentions=users)
        case Notice(text=body):
            markup = html.escape(prefix + body).replace("\n", "<br>")
            return mx.text(prefix + body, html=markup, notice=True)
        case Location(latitude=lat, longitude=lon, label=label):
            result = mx.location(lat, lon, label=label)
            result["body"] = prefix + result["body"]
            return result
        case Link(url=url, title=title, description=description):
            lines = [t for t in (title, description) if t and t != url] + [url]
            anchor = f'<a href="{html.escape(url, quote=True)}">{html.escape(title or url)}</a>'
            markup = html.escape(prefix) + anchor
            if description:
                markup += "<br>" + html.escape(description)
            return mx.text(prefix + "\n".join(lines), html=markup)


def media_filename(media: Media) -> str:
    """``media.filename``, or a name made from its kind and mimetype (``image.png``)."""
    if media.filename:
        return media.filename
    extension = mimetypes.guess_extension(media.mimetype.split(";")[0].strip()) or ""
    return f"{media.kind.value}{extension}"


def image_size(media: Media) -> tuple[int, int]:
    """Width and height in pixels of an image or sticker, read from its bytes' header with
    Pillow (the remote network's figures may be a thumbnail's); ``media.width``/``height``
    when the bytes are not an image Pillow knows, or for other kinds."""
    if media.kind not in (MediaKind.IMAGE, MediaKind.STICKER) or not media.data:
        return media.width, media.height
    try:
        with Image.open(io.BytesIO(media.data)) as image:
            width, height = image.size
    except Exception as exc:  # Pillow raises many types for bytes it cannot read
        logger.info("image size not read (%s); using the announced one", type(exc).__name__)
        return media.width, media.height
    return int(width), int(height)


def media_content(media: Media, url: MxcUri, *, prefix: str = "") -> tuple[str, dict[str, Any]]:
    """``(event type, content)`` of ``media`` uploaded at ``url``: ``m.sticker`` events for
    stickers, else ``m.room.message`` with ``m.image``/``m.video``/``m.audio``/``m.file`` and
    ``info`` (mimetype, size in bytes, ``w``/``h`` in pixels read from an image's bytes
    (``image_size``), ``duration`` in ms). Without a file name, the body is one made from the
    kind and mimetype (``image.jpg``). Voice messages carry the MSC3245 voice flag. A
    ``prefix`` goes before the caption."""
    width, height = image_size(media)
    media = attrs.evolve(media, width=width, height=height)
    filename = media_filename(media)
    caption = prefix + (media.caption or filename) if prefix else media.caption
    if media.kind is MediaKind.STICKER:
        sticker = mx.sticker(
            url,
            body=caption or filename,
            mimetype=media.mimetype,
            size=media.size,
            width=media.width,
            height=media.height,
        )
        return "m.sticker", sticker
    result = mx.media(
        _MSGTYPES[media.kind],
        url,
        filename=filename,
        mimetype=media.mimetype,
        size=media.size,
        caption=caption,
        width=media.width,
        height=media.height,
        duration_ms=media.duration_ms,
    )
    if media.kind is MediaKind.VOICE:
        result["org.matrix.msc3245.voice"] = {}
        if media.duration_ms:
            result["org.matrix.msc1767.audio"] = {"duration": media.duration_ms}
    return "m.room.message", result


def reply_content(
    content: Mapping[str, Any],
    reply_to: EventId,
    *,
    room: RoomId,
    original: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``content`` as a reply to ``reply_to`` (spec "Rich replies"). With the ``original``
    event's JSON, a text reply also gets the quoted fallback in ``body`` and
    ``formatted_body`` for clients that do not render replies."""
    result = mx.reply_to(content, reply_to)
    if original is None or result.get("msgtype") not in TEXT_MSGTYPES:
        return result
    quoted = original.get("content")
    sender = original.get("sender")
    if not isinstance(quoted, Mapping) or not isinstance(sender, str):
        return result
    body = quoted.get("body")
    if not isinstance(body, str):
        return result
    body = strip_reply_fallback(body)
    lines = body.splitlines() or [""]
    fallback = "\n".join([f"> <{sender}> {lines[0]}", *(f"> {line}" for line in lines[1:])])
    quoted_html = formatted_body(quoted)
    quoted_html = (
        strip_html_fallback(quoted_html) if quoted_html else html.escape(body).replace("\n", "<br>")
    )
    own_html = result.get("formatted_body")
    if not isinstance(own_html, str):
        own_html = html.escape(str(result.get("body", ""))).replace("\n", "<br>")
    link = f"https://matrix.to/#/{quote(room)}/{quote(reply_to)}"
    result["body"] = f"{fallback}\n\n{result.get('body', '')}"
    result["format"] = mx.HTML_FORMAT
    result["formatted_body"] = (
        f'<mx-reply><blockquote><a href="{link}">In reply to</a> '
        f'<a href="https://matrix.to/#/{quote(sender)}">{html.escape(sender)}</a><br>'
        f"{quoted_html}</blockquote></mx-reply>{own_html}"
    )
    return result


def room_url(room: RoomId) -> str:
    """The matrix.to link of ``room`` (spec "Matrix URIs": matrix.to navigation)."""
    return f"https://matrix.to/#/{quote(room, safe='!:')}"


@attrs.frozen
class Pill:
    """A mention as Matrix shows it: the ``user`` mentioned and the ``text`` of the body
    that names them ('' when the body does not)."""

    user: UserId
    text: str = ""


def _with_pills(body: str, pills: Sequence[Pill]) -> str | None:
    """``body`` as HTML with the text naming each of ``pills`` (found in order) made a pill
    (a matrix.to link labelled with the name, spec "User and room mentions"); ``None`` when
    no pill's text is in ``body``."""
    out: list[str] = []
    position = 0
    for pill in pills:
        found = body.find(pill.text, position) if pill.text else -1
        if found < 0:
            continue
        label = pill.text.strip().strip("\u2005").removeprefix("@").strip() or pill.text
        link = f"https://matrix.to/#/{quote(pill.user)}"
        out.append(html.escape(body[position:found]))
        out.append(f'<a href="{html.escape(link, quote=True)}">{html.escape(label)}</a>')
        out.append(html.escape(pill.text[len(pill.text.rstrip()) :]))
        position = found + len(pill.text)
    if not out:
        return None
    out.append(html.escape(body[position:]))
    return "".join(out).replace("\n", "<br>")

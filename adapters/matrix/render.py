"""The bridge's content model to Matrix event content and back (spec "m.room.message msgtypes")."""

from __future__ import annotations

import html
import io
import logging
import mimetypes
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote

import attrs
from PIL import Image

from adapters.matrix import content as mx
from adapters.matrix.attachments import AttachmentError, EncryptedFile, decrypt
from adapters.matrix.htmltext import html_to_text
from adapters.matrix.types import EventId, MxcUri, RoomEvent, RoomId, UserId
from bridge.model import Address, Link, Location, Media, MediaKind, Mention, Notice, Text

logger = logging.getLogger(__name__)

#: Content key marking an event the bridge sent as the user himself (double puppeting), so its
#: echo in a transaction is not bridged back.
DOUBLE_PUPPET_KEY = "net.chatbridge.double_puppet_source"

TEXT_MSGTYPES = frozenset({"m.text", "m.notice", "m.emote"})
#: HTML bodies longer than this (characters) are read as text off the event loop.
INLINE_HTML_CHARS = 4096
#: At most this many pills of one message become mentions (the rest stay plain text).
MAX_MENTIONS = 50
_MEDIA_KINDS = {
    "m.image": MediaKind.IMAGE,
    "m.video": MediaKind.VIDEO,
    "m.audio": MediaKind.VOICE,
    "m.file": MediaKind.FILE,
}
_MSGTYPES = {
    MediaKind.IMAGE: mx.MediaMsgType.IMAGE,
    MediaKind.VIDEO: mx.MediaMsgType.VIDEO,
    MediaKind.VOICE: mx.MediaMsgType.AUDIO,
    MediaKind.FILE: mx.MediaMsgType.FILE,
}
_MX_REPLY = re.compile(r"^<mx-reply>.*?</mx-reply>", re.DOTALL)


class UnbridgeableEvent(ValueError):
    """A Matrix event the bridge cannot carry (unknown msgtype, unusable file, bad geo URI)."""


# ---- outbound --------------------------------------------------------------------------------


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
    quoted_html = _formatted(quoted)
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


# ---- inbound ---------------------------------------------------------------------------------


@attrs.frozen
class MediaRef:
    """A media event before its file is downloaded: ``url`` and what the event says about it
    (sizes in pixels, ``duration_ms`` in milliseconds; 0 = unknown). ``encrypted`` is set
    when the file at ``url`` is an encrypted attachment (spec "Sending encrypted
    attachments")."""

    kind: MediaKind
    url: MxcUri
    mimetype: str
    filename: str
    caption: str = ""
    width: int = 0
    height: int = 0
    duration_ms: int = 0
    encrypted: EncryptedFile | None = None

    def with_data(self, data: bytes, content_type: str) -> Media:
        """The ``Media`` with the bytes downloaded from ``url``, decrypted first when the
        file is ``encrypted`` (the event's mimetype wins over the download's
        ``content_type``). Raises ``UnbridgeableEvent`` when an encrypted download does not
        match its hash."""
        if self.encrypted is not None:
            try:
                data = decrypt(data, self.encrypted)
            except AttachmentError as exc:
                raise UnbridgeableEvent(str(exc)) from None
            content_type = ""
        return Media(
            kind=self.kind,
            data=data,
            mimetype=self.mimetype or content_type or "application/octet-stream",
            filename=self.filename,
            duration_ms=self.duration_ms,
            width=self.width,
            height=self.height,
            caption=self.caption,
        )


def reply_target(event: RoomEvent) -> EventId | None:
    """The event id ``event`` replies to (``m.relates_to.m.in_reply_to``), or ``None``."""
    relates = event.content.get("m.relates_to")
    if not isinstance(relates, Mapping):
        return None
    in_reply_to = relates.get("m.in_reply_to")
    if not isinstance(in_reply_to, Mapping):
        return None
    target = in_reply_to.get("event_id")
    return EventId(target) if isinstance(target, str) and target else None


def strip_reply_fallback(body: str) -> str:
    """``body`` without a leading reply fallback (``> `` quoted lines, then a blank line)."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith(">"):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index < len(lines) and lines[index] == "":
        index += 1
    return "\n".join(lines[index:])


def strip_html_fallback(markup: str) -> str:
    """``markup`` without a leading ``<mx-reply>`` block."""
    return _MX_REPLY.sub("", markup, count=1)


def _formatted(content: Mapping[str, Any]) -> str | None:
    markup = content.get("formatted_body")
    if content.get("format") == mx.HTML_FORMAT and isinstance(markup, str):
        return markup
    return None


def parse_text(
    event: RoomEvent, *, identity_of: Callable[[UserId], str | None] | None = None
) -> Text:
    """``m.text``/``m.notice``/``m.emote`` as ``Text``, the reply fallback stripped from the
    body and the HTML. With an HTML ``formatted_body``, the body is that HTML read as plain
    text (``htmltext.html_to_text``: what the sender saw, without markup), which is what a
    network without markup gets; ``Text.formatted`` keeps the HTML. User pills (spec "User
    and room mentions") become ``Mention``s in order: of a ghost, its stable identity id
    (``identity_of``), of anyone else, the Matrix user id; their ``text`` is where the body
    names them (the pill's label as clients write it there, with a leading ``@`` and a
    trailing ``: `` or space); past ``MAX_MENTIONS`` pills are left as text. Raises
    ``UnbridgeableEvent`` without a string body."""
    body = event.content.get("body")
    if not isinstance(body, str):
        raise UnbridgeableEvent(f"{event.msgtype} without a body")
    markup = _formatted(event.content)
    if reply_target(event) is not None:
        body = strip_reply_fallback(body)
        markup = None if markup is None else strip_html_fallback(markup)
    if markup is not None:
        body = html_to_text(markup) or body
    mentions = () if markup is None else _mentions(body, markup, identity_of)
    return Text(body, formatted=markup, mentions=mentions)


# A mention pill (Matrix spec "User and room mentions"): a link to https://matrix.to/#/@user.
_PILL = re.compile(
    r"""<a\s+href=["']https://matrix\.to/#/((?:@|%40)[^"'?/]+)[^"']*["']\s*>(.*?)</a>""", re.DOTALL
)


def _mentions(
    body: str, markup: str, identity_of: Callable[[UserId], str | None] | None
) -> tuple[Mention, ...]:
    mentions: list[Mention] = []
    position = 0
    for href, label in _PILL.findall(markup)[:MAX_MENTIONS]:
        user = UserId(unquote(href))
        identity = None if identity_of is None else identity_of(user)
        address = Address(identity if identity is not None else user)
        text = html.unescape(re.sub(r"<[^>]+>", "", label)).strip()
        # Clients write the pill's label into the body, often followed by ": ".
        found = re.compile(r"(?<!\w)@?" + re.escape(text) + r"(?!\w):? ?").search(body, position)
        if not text or found is None:
            mentions.append(Mention(address))
            continue
        mentions.append(Mention(address, found.group()))
        position = found.end()
    return tuple(mentions)


def parse_geo_uri(uri: str) -> tuple[float, float]:
    """Latitude and longitude (WGS84 degrees) of an RFC 5870 ``geo:`` URI.

    Raises ``UnbridgeableEvent`` if it is not one.
    """
    if not uri.lower().startswith("geo:"):
        raise UnbridgeableEvent("not a geo: URI")
    coordinates = uri[4:].split(";", 1)[0].split(",")
    try:
        lat, lon = float(coordinates[0]), float(coordinates[1])
    except (IndexError, ValueError):
        raise UnbridgeableEvent("geo: URI without latitude and longitude") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise UnbridgeableEvent("geo: URI out of range")
    return lat, lon


def parse_location(event: RoomEvent) -> Location:
    """``m.location`` as ``Location``; its ``body`` becomes the label unless it only repeats
    the URI. Raises ``UnbridgeableEvent`` for a missing or malformed ``geo_uri``."""
    uri = event.content.get("geo_uri")
    if not isinstance(uri, str):
        raise UnbridgeableEvent("m.location without geo_uri")
    lat, lon = parse_geo_uri(uri)
    body = event.content.get("body")
    label = body if isinstance(body, str) and body != uri else ""
    return Location(lat, lon, label)


def _int(info: Mapping[str, Any], key: str) -> int:
    value = info.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def media_ref(event: RoomEvent) -> MediaRef:
    """The file of an ``m.image``/``m.video``/``m.audio``/``m.file`` message or an
    ``m.sticker`` event: a plain ``url``, or an encrypted ``file`` (spec "Sending encrypted
    attachments"), which clients also send into unencrypted rooms. Raises
    ``UnbridgeableEvent`` for other events, a malformed ``file`` and URL-less files."""
    kind = MediaKind.STICKER if event.type == "m.sticker" else _MEDIA_KINDS.get(event.msgtype)
    if kind is None:
        raise UnbridgeableEvent(f"{event.type} {event.msgtype!r} is not media")
    url = event.content.get("url")
    file = event.content.get("file")
    encrypted: EncryptedFile | None = None
    if isinstance(file, Mapping) and not isinstance(url, str):
        try:
            encrypted = EncryptedFile.from_content(file)
        except AttachmentError as exc:
            raise UnbridgeableEvent(str(exc)) from None
        url = encrypted.url
    if not isinstance(url, str) or not url.startswith("mxc://"):
        raise UnbridgeableEvent("media without an mxc:// url")
    raw_info = event.content.get("info")
    info: Mapping[str, Any] = raw_info if isinstance(raw_info, Mapping) else {}
    body = event.content.get("body")
    body = body if isinstance(body, str) else ""
    filename = event.content.get("filename")
    has_caption = isinstance(filename, str) and bool(filename) and body != filename
    mimetype = info.get("mimetype")
    return MediaRef(
        kind=kind,
        url=MxcUri(url),
        mimetype=mimetype if isinstance(mimetype, str) else "",
        filename=str(filename) if has_caption else body,
        caption=body if has_caption else "",
        width=_int(info, "w"),
        height=_int(info, "h"),
        duration_ms=_int(info, "duration"),
        encrypted=encrypted,
    )


def is_media(event: RoomEvent) -> bool:
    """Whether ``event`` carries a file (``m.sticker`` or a media msgtype)."""
    return event.type == "m.sticker" or event.msgtype in _MEDIA_KINDS

"""Matrix event content to the bridge's content model (the inbound half of ``render``)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

import attrs

from adapters.matrix import content as mx
from adapters.matrix.attachments import AttachmentError, EncryptedFile, decrypt
from adapters.matrix.types import EventId, MxcUri, RoomEvent, UserId
from bridge.model import Address, Location, Media, MediaKind, Mention, Text

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
_MX_REPLY = re.compile(r"^<mx-reply>.*?</mx-reply>", re.DOTALL)


class UnbridgeableEvent(ValueError):
    """A Matrix event the bridge cannot carry (unknown msgtype, unusable file, bad geo URI)."""


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


def formatted_body(content: Mapping[str, Any]) -> str | None:
    """The HTML ``formatted_body`` of ``content``, or ``None`` when it has none (or another
    ``format``)."""
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
    markup = formatted_body(event.content)
    if reply_target(event) is not None:
        body = strip_reply_fallback(body)
        markup = None if markup is None else strip_html_fallback(markup)
    if markup is not None:
        # Imported here: BeautifulSoup costs ~4 MiB of memory, needed only once HTML arrives.
        from adapters.matrix.htmltext import html_to_text

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

"""Fetching the files of WeChat media messages by MsgId (PROTOCOL.md §9)."""

from __future__ import annotations

import logging
import mimetypes

from adapters.wechat.client import messages as m
from adapters.wechat.client.calls_msg import ImageSize
from adapters.wechat.client.client import WeChatClient
from adapters.wechat.client.errors import WeChatError
from adapters.wechat.translate import MediaMessage
from bridge.model import Media, MediaKind, Notice

log = logging.getLogger(__name__)


def sniff_mimetype(data: bytes, fallback: str) -> str:
    """The image type from magic bytes: WeChat labels GIFs ``image/jpeg`` (PROTOCOL.md §9)."""
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    return fallback or "application/octet-stream"


async def download_media(client: WeChatClient, msg: MediaMessage) -> Media | Notice:
    """The file of an image, voice, video, sticker or file message as ``Media``, fetched by
    MsgId (webwxgetmsgimg/getvoice/getvideo/getmedia, PROTOCOL.md §9); a ``Notice`` saying
    why when the download fails."""
    try:
        match msg:
            case m.ImageMessage():
                d = await client.get_image(msg.msg_id)
                mime = sniff_mimetype(d.data, d.content_type)
                ext = mimetypes.guess_extension(mime) or ".jpg"
                return Media(
                    MediaKind.IMAGE,
                    d.data,
                    mime,
                    f"{msg.msg_id}{ext}",
                    0,
                    msg.width,
                    msg.height,
                )
            case m.VoiceMessage():
                d = await client.get_voice(msg.msg_id)
                return Media(
                    MediaKind.VOICE,
                    d.data,
                    "audio/mpeg",
                    f"{msg.msg_id}.mp3",
                    duration_ms=msg.voice_length_ms,
                )
            case m.VideoMessage():
                d = await client.get_video(msg.msg_id)
                return Media(
                    MediaKind.VIDEO,
                    d.data,
                    "video/mp4",
                    f"{msg.msg_id}.mp4",
                    duration_ms=msg.play_length_s * 1000,
                    width=msg.width,
                    height=msg.height,
                )
            case m.EmoticonMessage():
                d = await client.get_image(msg.msg_id, ImageSize.BIG)
                mime = sniff_mimetype(d.data, "image/gif")
                ext = mimetypes.guess_extension(mime) or ".gif"
                return Media(
                    MediaKind.STICKER,
                    d.data,
                    mime,
                    f"{msg.msg_id}{ext}",
                    0,
                    msg.width,
                    msg.height,
                )
            case m.FileMessage():
                d = await client.get_media(msg.from_user_name, msg.media_id, msg.encry_file_name)
                guess = mimetypes.guess_type(msg.file_name)[0]
                return Media(MediaKind.FILE, d.data, guess or d.content_type, msg.file_name)
    except WeChatError as exc:
        log.warning("download of a media message failed: %s", exc)
        return Notice(f"[a {type(msg).__name__} could not be downloaded from WeChat: {exc}]")
    raise AssertionError("unreachable")

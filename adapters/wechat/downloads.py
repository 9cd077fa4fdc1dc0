"""WeChat media messages as references, and fetching their files later (PROTOCOL.md §9)."""

from __future__ import annotations

import json
import logging
import mimetypes
from typing import Any

import attrs

from adapters.wechat.client import messages as m
from adapters.wechat.client.calls_msg import ImageSize
from adapters.wechat.client.client import WeChatClient
from adapters.wechat.client.errors import NetworkError, WeChatError
from adapters.wechat.client.types import MsgId, UserName
from adapters.wechat.failures import delivery_error
from adapters.wechat.translate import MediaMessage
from bridge.errors import DeliveryFailed
from bridge.model import Media, MediaKind

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


def media_reference(msg: MediaMessage) -> Media:
    """``msg`` as a ``Media`` without its bytes: kind, what the message says of the file
    (duration, pixels, size; the name only of a file: WeChat names no photo, voice, video or
    sticker, and its MsgId means nothing to a reader) and a ``ref`` for ``fetch_media``. No
    network call: the receive loop journals this and the chat's own delivery queue fetches
    the file.

    ``ref`` is JSON naming the download call and its arguments — the MsgId, or for a file
    the sender's UserName, MediaId and EncryFileName — never the skey, pass_ticket or a
    cookie: the live session adds those when the download runs.
    """
    msg_id = str(msg.msg_id)
    match msg:
        case m.ImageMessage():
            ref = {"call": "image", "msg_id": msg_id}
            return Media(
                MediaKind.IMAGE,
                mimetype="image/jpeg",
                # ImgWidth/ImgHeight are the thumbnail's: the receiving side reads the file's.
                ref=json.dumps(ref),
                expected_size=msg.size,
            )
        case m.VoiceMessage():
            ref = {"call": "voice", "msg_id": msg_id}
            return Media(
                MediaKind.VOICE,
                mimetype="audio/mpeg",
                duration_ms=msg.voice_length_ms,
                ref=json.dumps(ref),
            )
        case m.VideoMessage():
            ref = {"call": "video", "msg_id": msg_id}
            return Media(
                MediaKind.VIDEO,
                mimetype="video/mp4",
                duration_ms=msg.play_length_s * 1000,
                width=msg.width,
                height=msg.height,
                ref=json.dumps(ref),
            )
        case m.EmoticonMessage():
            ref = {"call": "emoticon", "msg_id": msg_id}
            return Media(
                MediaKind.STICKER,
                mimetype="image/gif",
                width=msg.width,
                height=msg.height,
                ref=json.dumps(ref),
            )
        case m.FileMessage():
            ref = {
                "call": "file",
                "sender": str(msg.from_user_name),
                "media_id": msg.media_id,
                "encry_file_name": msg.encry_file_name,
            }
            guess = mimetypes.guess_type(msg.file_name)[0]
            return Media(
                MediaKind.FILE,
                mimetype=guess or "application/octet-stream",
                filename=msg.file_name,
                ref=json.dumps(ref),
                expected_size=msg.file_size,
            )
    raise AssertionError("unreachable")


def _parse_ref(ref: str) -> dict[str, Any]:
    try:
        value = json.loads(ref)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not isinstance(value.get("call"), str):
        raise DeliveryFailed("the file's reference is not a WeChat one")
    return value


async def fetch_media(client: WeChatClient, media: Media) -> Media:
    """The file ``media.ref`` (from ``media_reference``) names, downloaded now with the live
    session (webwxgetmsgimg/getvoice/getvideo/getmedia, PROTOCOL.md §9): ``media`` with
    ``data`` filled in, the image type sniffed from the bytes, ``ref`` cleared.

    Raises ``DeliveryFailed``: retryable when WeChat could not be reached, not retryable
    when it refuses the download (the file is gone, or the session that saw it ended).
    """
    ref = _parse_ref(media.ref)
    try:
        match ref["call"]:
            case "image":
                d = await client.get_image(MsgId(ref["msg_id"]))
                mime = sniff_mimetype(d.data, d.content_type)
                return attrs.evolve(media, data=d.data, mimetype=mime, ref="")
            case "voice":
                d = await client.get_voice(MsgId(ref["msg_id"]))
                return attrs.evolve(media, data=d.data, ref="")
            case "video":
                d = await client.get_video(MsgId(ref["msg_id"]))
                return attrs.evolve(media, data=d.data, ref="")
            case "emoticon":
                d = await client.get_image(MsgId(ref["msg_id"]), ImageSize.BIG)
                mime = sniff_mimetype(d.data, "image/gif")
                return attrs.evolve(media, data=d.data, mimetype=mime, ref="")
            case "file":
                d = await client.get_media(
                    UserName(ref["sender"]), ref["media_id"], ref["encry_file_name"]
                )
                mime = media.mimetype
                if mime == "application/octet-stream":
                    mime = d.content_type or mime
                return attrs.evolve(media, data=d.data, mimetype=mime, ref="")
    except KeyError as exc:
        raise DeliveryFailed(f"the file's reference lacks {exc}") from exc
    except NetworkError as exc:
        raise DeliveryFailed(f"WeChat could not be reached: {exc}", retryable=True) from exc
    except WeChatError as exc:
        log.warning("download of a %s failed: %s", media.kind.value, exc)
        error = delivery_error(exc)
        if isinstance(error, DeliveryFailed) and not error.retryable:
            raise DeliveryFailed(f"the file could not be downloaded from WeChat: {exc}") from exc
        raise error from exc
    raise DeliveryFailed(f"unknown kind of WeChat download {ref['call']!r}")

"""Builders for Matrix event content (spec "Client-Server API: m.room.message msgtypes")."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from adapters.matrix.types import EventId, MxcUri, UserId

HTML_FORMAT = "org.matrix.custom.html"


class MediaMsgType(enum.Enum):
    """``msgtype`` of a media ``m.room.message``."""

    IMAGE = "m.image"
    FILE = "m.file"
    AUDIO = "m.audio"
    VIDEO = "m.video"


def text(
    body: str,
    *,
    html: str | None = None,
    notice: bool = False,
    mentions: Iterable[UserId] = (),
) -> dict[str, Any]:
    """``m.text`` (or ``m.notice`` if ``notice``) content; ``html`` becomes ``formatted_body``;
    ``mentions`` fills ``m.mentions.user_ids`` (spec "User and room mentions")."""
    content: dict[str, Any] = {"msgtype": "m.notice" if notice else "m.text", "body": body}
    if html is not None:
        content["format"] = HTML_FORMAT
        content["formatted_body"] = html
    user_ids = sorted(set(mentions))
    if user_ids:
        content["m.mentions"] = {"user_ids": user_ids}
    return content


def media(
    msgtype: MediaMsgType,
    url: MxcUri,
    *,
    filename: str,
    mimetype: str,
    size: int,
    caption: str = "",
    width: int = 0,
    height: int = 0,
    duration_ms: int = 0,
) -> dict[str, Any]:
    """Media content pointing at the uploaded ``url``. Sizes in bytes, dimensions in pixels,
    ``duration_ms`` in milliseconds (0 = unknown, left out). With a ``caption``, ``body`` is
    the caption and ``filename`` the file's name (spec v1.10 "Media captions")."""
    info: dict[str, Any] = {"mimetype": mimetype, "size": size}
    if width and height:
        info["w"] = width
        info["h"] = height
    if duration_ms:
        info["duration"] = duration_ms
    return {
        "msgtype": msgtype.value,
        "body": caption or filename,
        "filename": filename,
        "url": url,
        "info": info,
    }


def sticker(
    url: MxcUri, *, body: str, mimetype: str, size: int, width: int = 0, height: int = 0
) -> dict[str, Any]:
    """Content of an ``m.sticker`` event (send it with ``event_type="m.sticker"``)."""
    info: dict[str, Any] = {"mimetype": mimetype, "size": size}
    if width and height:
        info["w"] = width
        info["h"] = height
    return {"body": body, "url": url, "info": info}


def location(latitude: float, longitude: float, *, label: str = "") -> dict[str, Any]:
    """``m.location`` content for a WGS84 point (RFC 5870 ``geo:`` URI)."""
    geo_uri = f"geo:{latitude},{longitude}"
    return {"msgtype": "m.location", "body": label or geo_uri, "geo_uri": geo_uri}


def reply_to(content: Mapping[str, Any], event_id: EventId) -> dict[str, Any]:
    """A copy of ``content`` marked as a reply to ``event_id`` (spec "Rich replies")."""
    return {**content, "m.relates_to": {"m.in_reply_to": {"event_id": event_id}}}


def bridge_state(
    *,
    bot: UserId,
    protocol_id: str,
    protocol_name: str,
    channel_id: str,
    channel_name: str,
    avatar_url: MxcUri | None = None,
    creator: UserId | None = None,
) -> list[dict[str, Any]]:
    """Initial-state events announcing a portal as bridged (MSC2346 ``m.bridge``, plus the
    ``uk.half-shot.bridge`` alias clients still read). Returns ``createRoom`` state dicts."""
    channel: dict[str, Any] = {"id": channel_id, "displayname": channel_name}
    if avatar_url:
        channel["avatar_url"] = avatar_url
    content: dict[str, Any] = {
        "bridgebot": bot,
        "protocol": {"id": protocol_id, "displayname": protocol_name},
        "channel": channel,
    }
    if creator:
        content["creator"] = creator
    state_key = f"net.chatbridge.{protocol_id}://{protocol_id}/{channel_id}"
    return [
        {"type": event_type, "state_key": state_key, "content": content}
        for event_type in ("m.bridge", "uk.half-shot.bridge")
    ]


#: Event type of a bridge's delivery report on a user's event (as mautrix bridges send it).
SEND_STATUS_TYPE = "com.beeper.message_send_status"


class SendStatus(enum.Enum):
    """``status`` of a ``com.beeper.message_send_status`` event."""

    SUCCESS = "SUCCESS"
    PENDING = "PENDING"
    FAIL_RETRIABLE = "FAIL_RETRIABLE"
    FAIL_PERMANENT = "FAIL_PERMANENT"


def send_status(
    event_id: EventId,
    *,
    network: str,
    status: SendStatus,
    reason: str = "",
    message: str = "",
) -> dict[str, Any]:
    """Content of a ``com.beeper.message_send_status`` event about ``event_id`` (Beeper's
    bridge status extension, as mautrix bridges send it): ``network`` is the bridge's network
    id, ``reason`` a code such as ``com.beeper.unsupported_event``, ``message`` the text a client
    shows. Send it with ``event_type=SEND_STATUS_TYPE``."""
    content: dict[str, Any] = {
        "network": network,
        "m.relates_to": {"rel_type": "m.reference", "event_id": event_id},
        "status": status.value,
    }
    if reason:
        content["reason"] = reason
    if message:
        content["message"] = message
    return content

"""What the web client sends: messages, media uploads and recalls (PROTOCOL.md §7, §8)."""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from typing import Any

from aiohttp import web

from . import blobs, ids, wire
from .content import emoji_xml, escape_text, escape_xml, image_xml, recall_content, recalled_by
from .httputil import API, api_json, authenticate, error_response, read_json, world_of
from .model import SELECTOR_MESSAGE, Media, MsgTemplate, Session, StoredMessage
from .phone import system_message
from .wire import placeholder
from .world import Upload, World

CHUNK = 524288
TOO_FREQUENT = "操作太频繁，请稍后再试。"
#: The system line a throttled send leaves in the chat (PROTOCOL.md §6.3 MsgType 10000, §12).
SEND_TOO_FREQUENT = "发送消息过于频繁，请稍后再试"
INTRODUCTION = "你可以撤回2分钟内发送的消息（部分旧版本微信不支持这个功能）。"
TOO_LATE = "发送时间超过2分钟的消息，不能被撤回"
_ENDPOINT_TYPES = {
    "webwxsendmsg": "text",
    "webwxsendmsgimg": "image",
    "webwxsendvideomsg": "video",
    "webwxsendemoticon": "emoticon",
    "webwxsendappmsg": "appmsg",
}


def _target(session: Session, user_name: str) -> str | None:
    """The real id a send may go to: self, filehelper, a friend, or a group we are in."""
    account = session.account
    real_id = session.real_id(user_name)
    if real_id is None:
        return None
    if real_id in (account.id, "filehelper"):
        return real_id
    contact = account.contacts.get(real_id)
    if contact is not None and contact.friend:
        return real_id
    group = account.groups.get(real_id)
    if group is not None and group.self_member:
        return real_id
    return None


def _tag(content: str, name: str) -> str:
    match = re.search(rf"<{name}>(.*?)</{name}>", content, re.S)
    return match.group(1) if match else ""


async def send(request: web.Request) -> web.Response:
    """``POST …/webwxsendmsg|sendmsgimg|sendvideomsg|sendemoticon|sendappmsg`` (§7).

    Body ``{BaseRequest, Msg: {Type, Content|MediaId|EMoticonMd5, FromUserName, ToUserName,
    LocalID, ClientMsgId}, Scene}``. Answers ``{BaseResponse, MsgID (19 digits), LocalID}``;
    the message is echoed into the sender's next webwxsync and recorded in the outbox.
    Errors: 1204 recipient not a friend/group, 1205 past the burst limit, 1 bad MediaId or
    FromUserName. The first 1205 of a burst also puts the MsgType 10000 system line
    "发送消息过于频繁，请稍后再试" into that chat (PROTOCOL.md §6.3, §12: WeixinBot #149,
    py2webwx #4).
    """
    world = world_of(request)
    endpoint = request.path.rsplit("/", 1)[-1]
    body = await read_json(request)
    session = authenticate(request, body.get("BaseRequest"), need_base_request=True)
    if not isinstance(session, Session):
        return error_response(endpoint, session)
    account = session.account
    raw_msg = body.get("Msg")
    msg: dict[str, Any] = raw_msg if isinstance(raw_msg, dict) else {}
    if msg.get("FromUserName") != session.self_name:
        return error_response(endpoint, 1, "FromUserName is not the logged-in account")
    target = _target(session, str(msg.get("ToUserName", "")))
    if target is None:
        return error_response(endpoint, 1204)
    kind = _ENDPOINT_TYPES[endpoint]
    media: Media | None = None
    if kind == "appmsg":
        media = world.media.get(_tag(str(msg.get("Content", "")), "attachid"))
    elif kind != "text" and msg.get("MediaId"):
        media = world.media.get(str(msg.get("MediaId")))
    needs_media = kind in ("image", "video") or (kind == "emoticon" and not msg.get("EMoticonMd5"))
    if (needs_media or (kind == "appmsg" and msg.get("Type") == 6)) and (
        media is None or media.account_id != account.id
    ):
        return error_response(endpoint, 1, "unknown MediaId")
    if not account.allow_operation(world.now(), world.options):
        if not account.throttled:
            account.throttled = True
            system_message(world, account, target, SEND_TOO_FREQUENT)
        return error_response(endpoint, 1205, TOO_FREQUENT)
    msg_id = ids.msg_id()
    now = int(world.now())
    fields, record = _echo(kind, msg, media, msg_id, account.id, target)
    account.messages[msg_id] = StoredMessage(
        msg_id,
        account.id,
        target,
        int(fields["MsgType"]),
        now,
        media.data if media else None,
        blobs.jpeg("thumb" + msg_id, 512) if media else None,
        media.filename if media else "",
        media.mime if media else "",
        media.media_id if media else "",
    )
    entry = wire.message_fields(
        msg_id,
        FromUserName="{{self}}",
        ToUserName=placeholder(account, target),
        CreateTime=now,
        **fields,
    )
    session.push(SELECTOR_MESSAGE, message=MsgTemplate(entry))
    record.update(to=target, msg_id=msg_id, client_msg_id=str(msg.get("ClientMsgId", "")), time=now)
    account.outbox.append(record)
    return api_json(
        {
            "BaseResponse": wire.base_response(),
            "MsgID": msg_id,
            "LocalID": str(msg.get("LocalID", "")),
        }
    )


def _echo(
    kind: str, msg: dict[str, Any], media: Media | None, msg_id: str, self_id: str, target: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(AddMsgList overrides of the echo, outbox record) for one send."""
    msg_type = int(msg.get("Type") or 1)
    media_info: dict[str, Any] = {}
    if media is not None:
        media_info = {"filename": media.filename, "size": len(media.data), "sha256": media.sha256}
    if kind == "text":
        content = str(msg.get("Content", ""))
        record: dict[str, Any] = {"kind": "text", "text": content}
        if msg_type != 1:
            record = {"kind": "message", "type": msg_type, "content": content}
        return {"MsgType": msg_type, "Content": escape_text(content)}, record
    if kind == "image" and media is not None:
        xml = image_xml(
            md5=hashlib.md5(media.data).hexdigest(),
            length=len(media.data),
            thumb_width=90,
            thumb_height=120,
        )
        fields = {
            "MsgType": 3,
            "Content": escape_xml(xml),
            "ImgStatus": 2,
            "ImgHeight": 120,
            "ImgWidth": 90,
        }
        return fields, {"kind": "image", **media_info}
    if kind == "video" and media is not None:
        fields = {"MsgType": 43, "Content": "", "PlayLength": 1, "ImgHeight": 540, "ImgWidth": 960}
        return fields, {"kind": "video", **media_info}
    if kind == "emoticon":
        md5 = str(msg.get("EMoticonMd5") or (hashlib.md5(media.data).hexdigest() if media else ""))
        size = len(media.data) if media else 0
        xml = emoji_xml(sender=self_id, receiver=target, md5=md5, size=size)
        return {"MsgType": 47, "Content": escape_xml(xml), "ImgStatus": 2}, {
            "kind": "emoticon",
            "md5": md5,
            **media_info,
        }
    content = str(msg.get("Content", ""))
    title = _tag(content, "title")
    app_type = int(_tag(content, "type") or msg_type or 6)
    fields = {
        "MsgType": 49,
        "AppMsgType": app_type,
        "FileName": title,
        "Content": escape_xml(content),
    }
    if media is not None:
        fields.update(
            FileSize=str(len(media.data)),
            MediaId=media.media_id,
            EncryFileName=ids.encry_file_name(media.filename),
        )
    if app_type == 6:
        return fields, {
            "kind": "file",
            **media_info,
            "filename": title or media_info.get("filename"),
        }
    return fields, {"kind": "appmsg", "app_type": app_type, "title": title, "content": content}


async def revoke(request: web.Request) -> web.Response:
    """``POST …/webwxrevokemsg`` ``{SvrMsgId, ToUserName, ClientMsgId}`` (PROTOCOL.md §8).

    Within ``revoke_window_s`` of the send: Ret 0 with the Introduction text, and the
    recipient's phone gets the 10002 whose exact Content is kept in the outbox record
    (``recall_content``). Later, unknown, not-own or already recalled → Ret 1 with ErrMsg.
    """
    world = world_of(request)
    body = await read_json(request)
    session = authenticate(request, body.get("BaseRequest"), need_base_request=True)
    if not isinstance(session, Session):
        return error_response("webwxrevokemsg", session)
    account = session.account
    msg_id = str(body.get("SvrMsgId", ""))
    stored = account.messages.get(msg_id)
    if stored is None or stored.sender != account.id:
        return error_response("webwxrevokemsg", 1, "message not found")
    if session.real_id(str(body.get("ToUserName", ""))) != stored.chat:
        return error_response("webwxrevokemsg", 1, "ToUserName does not match the message")
    if stored.revoked:
        return error_response("webwxrevokemsg", 1, "message already recalled")
    if world.now() - stored.create_time >= world.options.revoke_window_s:
        return error_response("webwxrevokemsg", 1, TOO_LATE)
    stored.revoked = True
    # Seen from the recipient, the conversation is the account itself (1:1) or the group.
    chat_seen = stored.chat if stored.chat.endswith("@chatroom") else account.id
    content = recall_content(
        session=chat_seen,
        old_msg_id=ids.old_msg_id(),
        msg_id=msg_id,
        replace_msg=recalled_by(account.nickname),
    )
    account.outbox.append(
        {
            "kind": "revoke",
            "to": stored.chat,
            "msg_id": msg_id,
            "client_msg_id": str(body.get("ClientMsgId", "")),
            "time": int(world.now()),
            "recall_content": content,
        }
    )
    return api_json(
        {"BaseResponse": wire.base_response(), "Introduction": INTRODUCTION, "SysWording": ""}
    )


def _fail(ret: int, message: str) -> web.Response:
    return error_response("webwxuploadmedia", ret, message)


async def upload(request: web.Request) -> web.Response:
    """``POST …/webwxuploadmedia?f=json`` multipart upload in 524288-byte chunks (§7).

    Fields ``chunks``/``chunk`` must be present exactly when the file needs more than one
    chunk; every chunk but the last is exactly 524288 bytes. ``webwx_data_ticket`` must match
    the cookie; ``pass_ticket`` may be anything (``undefined``). Intermediate chunks answer
    ``MediaId: ""`` and the bytes received; the last one the MediaId, ``StartPos`` = TotalLen
    and EncryFileName. A FileMd5 that does not match the bytes → Ret 1.
    """
    world = world_of(request)
    post = await request.post()
    try:
        umr = json.loads(str(post.get("uploadmediarequest", "")))
        total = int(umr["TotalLen"])
        client_media_id = str(umr["ClientMediaId"])
    except (ValueError, KeyError, TypeError):
        return _fail(1, "bad uploadmediarequest")
    session = authenticate(request, umr.get("BaseRequest"), need_base_request=True)
    if not isinstance(session, Session):
        return error_response("webwxuploadmedia", session)
    if post.get("webwx_data_ticket") != session.data_ticket:
        return _fail(1102, "webwx_data_ticket does not match")
    part = post.get("filename")
    if not isinstance(part, web.FileField):
        return _fail(1, "missing file part 'filename'")
    data = part.file.read()
    name = urllib.parse.unquote(str(post.get("name") or part.filename or "file"))
    expected = max((total + CHUNK - 1) // CHUNK, 1)
    chunks_field, chunk_field = post.get("chunks"), post.get("chunk")
    if expected == 1:
        if chunks_field is not None or chunk_field is not None:
            return _fail(1, "chunks/chunk are only sent for multi-chunk uploads")
        index, chunks = 0, 1
    else:
        try:
            index, chunks = int(str(chunk_field)), int(str(chunks_field))
        except ValueError:
            return _fail(1, "chunks/chunk missing for a multi-chunk upload")
        if chunks != expected or not 0 <= index < chunks:
            return _fail(1, f"expected {expected} chunks of {CHUNK} bytes")
    want = CHUNK if index < expected - 1 else total - CHUNK * (expected - 1)
    if len(data) != want:
        return _fail(1, f"chunk {index} has {len(data)} bytes, expected {want}")
    key = (session.sid, client_media_id)
    pending = world.uploads.setdefault(
        key,
        Upload(
            total,
            chunks,
            name,
            str(post.get("type") or "application/octet-stream"),
            str(post.get("mediatype") or "doc"),
            str(umr.get("FileMd5") or ""),
        ),
    )
    pending.parts[index] = data
    encry = ids.encry_file_name(name)
    if len(pending.parts) < pending.chunks:
        received = sum(len(p) for p in pending.parts.values())
        return api_json(
            {
                "BaseResponse": wire.base_response(),
                "MediaId": "",
                "StartPos": received,
                "CDNThumbImgHeight": 0,
                "CDNThumbImgWidth": 0,
                "EncryFileName": encry,
            }
        )
    del world.uploads[key]
    blob = b"".join(pending.parts[i] for i in range(pending.chunks))
    if pending.md5 and pending.md5.lower() != hashlib.md5(blob).hexdigest():
        return _fail(1, "FileMd5 does not match the uploaded bytes")
    return api_json(_store(world, session, pending, blob, encry))


def _store(
    world: World, session: Session, pending: Upload, blob: bytes, encry: str
) -> dict[str, Any]:
    media = Media(
        ids.media_id(), blob, pending.filename, pending.mime, session.account.id, pending.media_type
    )
    world.media[media.media_id] = media
    pic = pending.media_type == "pic"
    return {
        "BaseResponse": wire.base_response(),
        "MediaId": media.media_id,
        "StartPos": len(blob),
        "CDNThumbImgHeight": 100 if pic else 0,
        "CDNThumbImgWidth": 66 if pic else 0,
        "EncryFileName": encry,
    }


def add_routes(app: web.Application) -> None:
    """Register the send, revoke and upload routes."""
    for endpoint in _ENDPOINT_TYPES:
        app.router.add_post(f"{API}/{endpoint}", send)
    app.router.add_post(f"{API}/webwxrevokemsg", revoke)
    app.router.add_post(f"{API}/webwxuploadmedia", upload)

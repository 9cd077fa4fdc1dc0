"""The phones' side: messages that contacts send to an account, their recalls, system lines."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from . import blobs, ids, wire
from .content import (
    RECALLED_BY_SELF,
    card_xml,
    emoji_xml,
    escape_text,
    escape_xml,
    file_appmsg_xml,
    friend_request_xml,
    image_xml,
    link_appmsg_xml,
    location_ori_content,
    recall_content,
    recalled_by,
    video_xml,
    voice_xml,
)
from .model import (
    SELECTOR_MESSAGE,
    SELECTOR_STATUS,
    Account,
    Media,
    MsgTemplate,
    StoredMessage,
)
from .wire import placeholder
from .world import World


class PhoneError(Exception):
    """A control request the simulated phone cannot carry out; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def _data(spec: Mapping[str, Any], default: Callable[[], bytes]) -> bytes:
    encoded = spec.get("data_base64")
    if encoded is None:
        return default()
    try:
        return base64.b64decode(str(encoded), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PhoneError(400, "data_base64 is not valid base64") from exc


def _text(spec: Mapping[str, Any], default: str = "") -> str:
    return str(spec.get("text") or default)


@attrs.define
class _Built:
    """Wire overrides of one incoming message and what downloads will serve for it."""

    fields: dict[str, Any]
    media: bytes | None = None
    thumb: bytes | None = None
    filename: str = ""
    mime: str = ""
    media_id: str = ""


def _build(world: World, account: Account, msg_id: str, spec: Mapping[str, Any]) -> _Built:
    kind = spec.get("type", "text")
    sender = str(spec.get("from") or "")
    if kind == "text":
        return _Built({"MsgType": 1, "Content": escape_text(_text(spec))})
    if kind == "image":
        data = _data(spec, lambda: blobs.jpeg(msg_id, 4096))
        md5 = hashlib.md5(data).hexdigest()
        xml = image_xml(md5=md5, length=len(data), thumb_width=90, thumb_height=120)
        fields = {"MsgType": 3, "Content": escape_xml(xml), "ImgStatus": 2}
        fields.update(ImgHeight=120, ImgWidth=90)
        return _Built(fields, data, blobs.jpeg("thumb" + msg_id, 512), mime="image/jpeg")
    if kind == "voice":
        data = _data(spec, lambda: blobs.mp3(msg_id))
        length = int(spec.get("voice_length_ms", 2000))
        xml = voice_xml(sender=sender, length_ms=length, size=len(data), bufid=msg_id[:18])
        fields = {"MsgType": 34, "Content": escape_xml(xml), "VoiceLength": length}
        return _Built(fields, data, mime="audio/mpeg")
    if kind == "video":
        data = _data(spec, lambda: blobs.mp4(msg_id))
        play = int(spec.get("play_length_s", 3))
        md5 = hashlib.md5(data).hexdigest()
        xml = video_xml(sender=sender, md5=md5, size=len(data), play_length_s=play)
        fields = {"MsgType": 43, "Content": escape_xml(xml), "PlayLength": play}
        fields.update(ImgHeight=540, ImgWidth=960, ImgStatus=1)
        return _Built(fields, data, blobs.jpeg("poster" + msg_id, 512), mime="video/mp4")
    if kind == "emoticon":
        data = _data(spec, lambda: blobs.gif(msg_id))
        md5 = hashlib.md5(data).hexdigest()
        xml = emoji_xml(sender=sender, receiver=account.id, md5=md5, size=len(data))
        fields = {"MsgType": 47, "Content": escape_xml(xml), "ImgStatus": 2}
        return _Built(fields, data, blobs.jpeg("thumb" + msg_id, 512), mime="image/gif")
    if kind == "file":
        data = _data(spec, lambda: blobs.document(msg_id))
        name = str(spec.get("filename") or "file.bin")
        ext = name.rpartition(".")[2] if "." in name else ""
        media = Media(ids.media_id(), data, name, "application/octet-stream", account.id)
        world.media[media.media_id] = media
        xml = file_appmsg_xml(title=name, size=len(data), attach_id=media.media_id, ext=ext)
        fields = {"MsgType": 49, "AppMsgType": 6, "FileName": name, "FileSize": str(len(data))}
        fields.update(MediaId=media.media_id, Content=escape_xml(xml))
        fields["EncryFileName"] = ids.encry_file_name(name)
        fields["AppInfo"] = {"AppID": "wx6618f1cfc6c132f8", "Type": 0}
        return _Built(fields, data, None, name, media.mime, media.media_id)
    if kind == "location":
        label = str(spec.get("label") or _text(spec, "位置"))
        lat, lng = float(spec.get("lat", 22.5431)), float(spec.get("lng", 114.0579))
        path = f"/cgi-bin/mmwebwx-bin/webwxgetpubliclinkimg?url=xxx&msgid={msg_id}&pictype=location"
        fields = {"MsgType": 1, "SubMsgType": 48, "Content": f"{escape_text(label)}:<br/>{path}"}
        fields["Url"] = f"http://apis.map.qq.com/uri/v1/geocoder?coord={lat:.6f},{lng:.6f}"
        fields["OriContent"] = location_ori_content(lat=lat, lng=lng, label=label)
        return _Built(fields)
    if kind == "link":
        title, url = str(spec.get("title") or _text(spec, "link")), str(spec.get("url") or "")
        xml = link_appmsg_xml(title=title, description=str(spec.get("description") or ""), url=url)
        fields = {"MsgType": 49, "AppMsgType": 5, "FileName": title, "FileSize": "0"}
        fields.update(Url=url.replace("&", "&amp;"), Content=escape_xml(xml))
        return _Built(fields)
    if kind == "card":
        card = spec.get("card")
        card = card if isinstance(card, Mapping) else {}
        nickname, alias = str(card.get("nickname") or "card"), str(card.get("alias") or "")
        stranger, ticket = f"v1_{msg_id}@stranger", ids.stranger_ticket()
        xml = card_xml(stranger=stranger, nickname=nickname, alias=alias, ticket=ticket)
        info = wire.empty_recommend_info()
        info.update(UserName=ids.temp_user_name(), NickName=nickname, Alias=alias, Scene=17)
        return _Built({"MsgType": 42, "Content": escape_xml(xml), "RecommendInfo": info})
    if kind == "system":
        return _Built({"MsgType": 10000, "Status": 4, "Content": escape_text(_text(spec))})
    raise PhoneError(400, f"unknown message type {kind!r}")


def incoming(world: World, account: Account, spec: Mapping[str, Any]) -> str:
    """A contact (or group member) sends ``spec`` to ``account``; returns the MsgId.

    Wire shapes follow PROTOCOL.md §6.3/§6.4. Group messages come From the group with the
    ``@sender:<br/>`` prefix (not system lines). Raises PhoneError for unknown senders/groups.
    """
    kind = spec.get("type", "text")
    sender = str(spec.get("from") or "")
    if kind == "friend_request":
        return _friend_request(world, account, spec, sender)
    group_id = spec.get("group")
    if group_id is not None:
        group = account.groups.get(str(group_id))
        if group is None:
            raise PhoneError(404, f"unknown group {group_id}")
        if kind != "system" and sender not in group.members:
            raise PhoneError(400, f"{sender} is not a member of {group_id}")
        chat = group.id
    else:
        if sender not in account.contacts:
            raise PhoneError(404, f"unknown contact {sender}")
        chat = sender
    msg_id = ids.msg_id()
    built = _build(world, account, msg_id, spec)
    now = int(world.now())
    entry = wire.message_fields(
        msg_id,
        FromUserName=placeholder(account, chat),
        ToUserName="{{self}}",
        CreateTime=now,
        **built.fields,
    )
    account.messages[msg_id] = StoredMessage(
        msg_id,
        sender or chat,
        chat,
        int(built.fields["MsgType"]),
        now,
        built.media,
        built.thumb,
        built.filename,
        built.mime,
        built.media_id,
    )
    prefix = sender if group_id is not None and kind != "system" else None
    account.deliver(MsgTemplate(entry, prefix=prefix))
    return msg_id


def _friend_request(world: World, account: Account, spec: Mapping[str, Any], wxid: str) -> str:
    if not wxid:
        raise PhoneError(400, "friend_request needs 'from' (the requester's wxid)")
    known = account.contacts.get(wxid)
    nickname = str(spec.get("nickname") or (known.nickname if known else wxid))
    alias = str(spec.get("alias") or (known.alias if known else ""))
    greeting, ticket, stranger = _text(spec), ids.stranger_ticket(), f"v1_{ids.msg_id()}@stranger"
    xml = friend_request_xml(
        wxid=wxid,
        stranger=stranger,
        nickname=nickname,
        greeting=greeting,
        alias=alias,
        ticket=ticket,
    )
    info = wire.empty_recommend_info()
    info.update(UserName=ids.temp_user_name(), NickName=nickname, Content=greeting, Alias=alias)
    info.update(Scene=14, Ticket=ticket, OpCode=2)
    msg_id = ids.msg_id()
    now = int(world.now())
    entry = wire.message_fields(
        msg_id,
        FromUserName="fmessage",
        ToUserName="{{self}}",
        MsgType=37,
        Content=escape_xml(xml),
        CreateTime=now,
        RecommendInfo=info,
    )
    account.messages[msg_id] = StoredMessage(msg_id, wxid, "fmessage", 37, now)
    account.deliver(MsgTemplate(entry))
    return msg_id


def system_message(world: World, account: Account, chat: str, text: str) -> str:
    """A 10000 system line in ``chat`` (no group prefix, Status 4) (§6.3)."""
    msg_id = ids.msg_id()
    now = int(world.now())
    entry = wire.message_fields(
        msg_id,
        FromUserName=placeholder(account, chat),
        ToUserName="{{self}}",
        MsgType=10000,
        Status=4,
        Content=escape_text(text),
        CreateTime=now,
    )
    account.messages[msg_id] = StoredMessage(msg_id, chat, chat, 10000, now)
    account.deliver(MsgTemplate(entry))
    return msg_id


def recall(world: World, account: Account, msg_id: str) -> str:
    """The sender's phone recalls ``msg_id``: a 10002 message reaches the account (§6.5).

    A contact's recall comes From the peer (1:1) or the group with the member prefix; a recall
    of the account's own message (done on its phone) comes without prefix and says
    "你撤回了一条消息". ``<msgid>`` is the original MsgId, ``<session>`` the real chat id.
    Raises PhoneError (404 unknown, 409 already recalled or older than the revoke window).
    """
    stored = account.messages.get(msg_id)
    if stored is None:
        raise PhoneError(404, f"unknown message {msg_id}")
    if stored.revoked:
        raise PhoneError(409, f"message {msg_id} was already recalled")
    if world.now() - stored.create_time >= world.options.revoke_window_s:
        raise PhoneError(409, f"message {msg_id} is older than the revoke window")
    stored.revoked = True
    own = stored.sender == account.id
    is_group = stored.chat.endswith("@chatroom")
    replace = RECALLED_BY_SELF if own else recalled_by(account.nickname_of(stored.sender))
    content = recall_content(
        session=stored.chat, old_msg_id=ids.old_msg_id(), msg_id=msg_id, replace_msg=replace
    )
    if own and not is_group:
        sender, receiver = "{{self}}", placeholder(account, stored.chat)
    else:
        sender, receiver = placeholder(account, stored.chat), "{{self}}"
    recall_id = ids.msg_id()
    entry = wire.message_fields(
        recall_id,
        FromUserName=sender,
        ToUserName=receiver,
        MsgType=10002,
        Status=4,
        Content=content,
        CreateTime=int(world.now()),
    )
    prefix = stored.sender if is_group and not own else None
    account.deliver(MsgTemplate(entry, prefix=prefix))
    return recall_id


#: StatusNotifyCode of what the phone does in a chat (PROTOCOL.md §3.2).
PHONE_ACTIONS = {"read": 1, "enter": 2, "quit": 5}


def phone_action(world: World, account: Account, action: str, chat: str) -> str:
    """The phone opens (2), leaves (5) or reads (1) ``chat``: a 51 message, selector 7."""
    code = PHONE_ACTIONS.get(action)
    if code is None:
        raise PhoneError(400, f"action must be one of {sorted(PHONE_ACTIONS)}")
    if chat not in account.contacts and chat not in account.groups and chat != "filehelper":
        raise PhoneError(404, f"unknown chat {chat}")
    msg_id = ids.msg_id()
    target = placeholder(account, chat)
    entry = wire.message_fields(
        msg_id,
        FromUserName="{{self}}",
        ToUserName=target,
        MsgType=51,
        CreateTime=int(world.now()),
        StatusNotifyCode=code,
        StatusNotifyUserName=target,
    )
    account.deliver(MsgTemplate(entry), SELECTOR_STATUS)
    return msg_id


def raw(account: Account, message: dict[str, Any], selector: int = SELECTOR_MESSAGE) -> None:
    """Deliver ``message`` verbatim after placeholder substitution in every string field."""
    account.deliver(MsgTemplate(message, substitute_content=True), selector)

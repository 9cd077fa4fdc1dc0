"""Turn webwxsync ``AddMsgList`` entries into typed events (PROTOCOL.md §6)."""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from adapters.wechat.client import messages as m
from adapters.wechat.client.parse_app import parse_app
from adapters.wechat.client.parse_entry import (
    COORD_RE,
    LOCATION_LABEL_RE,
    MSG_ID_RE,
    RED_PACKET_NOTICE,
    USER_CONTENT_TYPES,
    Entry,
    first,
    leaks,
    parse_msg_id,
    read_entry,
    real_id,
)
from adapters.wechat.client.text import (
    decode_text,
    decode_url,
    decode_xml,
    find_mentions,
    split_group_prefix,
    strip_links,
    to_int,
    xml_attr,
    xml_text,
)
from adapters.wechat.client.types import MsgId, RealId, UserName, is_group

log = logging.getLogger(__name__)

# ---- MsgType handlers ------------------------------------------------------------------------


def _coord(text: str, limit: float) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) <= limit else None


def _location(e: Entry) -> m.WeChatMessage:
    """1/48 and old 48: OriContent XML, else the ``Url`` coord, label from Content (§6.3)."""
    node = first(decode_xml(e.s("OriContent"), escaped=False), "location")
    if node is None:
        node = first(decode_xml(e.s("OriContent")) or decode_xml(e.body), "location")
    lat = _coord(xml_attr(node, ".", "x"), 90)
    lng = _coord(xml_attr(node, ".", "y"), 180)
    if lat is None or lng is None:
        found = COORD_RE.search(decode_url(e.s("Url")))
        if found:
            lat, lng = _coord(found.group(1), 90), _coord(found.group(2), 180)
    label = xml_attr(node, ".", "label")
    if not label and (found_label := LOCATION_LABEL_RE.match(e.body)):
        label = decode_text(found_label.group(1)).strip()
    if not label and lat is None and node is None:
        return e.unsupported("location without label or coordinates")
    return m.LocationMessage(
        **e.common,
        label=label,
        latitude=lat if lng is not None else None,
        longitude=lng if lat is not None else None,
        poi_name=xml_attr(node, ".", "poiname"),
    )


def _text(e: Entry) -> m.WeChatMessage:
    if e.i("SubMsgType") == 48 or "<location" in e.s("OriContent"):
        return _location(e)
    text = decode_text(e.body)
    if e.i("AppMsgType") == 2001:
        return m.RedPacketNotice(**e.common, text=text)
    mentions = find_mentions(text) if is_group(e.common["chat"]) else ()
    return m.TextMessage(**e.common, text=text, mentions=mentions)


def _media_xml(e: Entry, tag: str) -> ET.Element | None:
    # 2018+ servers send an opaque `@<hex>` token instead of XML (§6.2).
    return first(decode_xml(e.body), tag) if "&lt;" in e.body or "<" in e.body else None


def _sender_leak(e: Entry, node: ET.Element | None) -> dict[UserName, RealId]:
    return leaks([(e.common["sender"], xml_attr(node, ".", "fromusername"))])


def _image(e: Entry) -> m.WeChatMessage:
    img = _media_xml(e, "img")
    return m.ImageMessage(
        **e.common,
        width=e.i("ImgWidth") or to_int(xml_attr(img, ".", "cdnthumbwidth")),
        height=e.i("ImgHeight") or to_int(xml_attr(img, ".", "cdnthumbheight")),
        md5=xml_attr(img, ".", "md5"),
        size=to_int(xml_attr(img, ".", "length")),
    )


def _voice(e: Entry) -> m.WeChatMessage:
    voice = _media_xml(e, "voicemsg")
    return m.VoiceMessage(
        **e.common,
        voice_length_ms=e.i("VoiceLength") or to_int(xml_attr(voice, ".", "voicelength")),
        leaked_ids=_sender_leak(e, voice),
    )


def _video(e: Entry) -> m.WeChatMessage:
    video = _media_xml(e, "videomsg")
    return m.VideoMessage(
        **e.common,
        play_length_s=e.i("PlayLength") or to_int(xml_attr(video, ".", "playlength")),
        width=e.i("ImgWidth") or to_int(xml_attr(video, ".", "cdnthumbwidth")),
        height=e.i("ImgHeight") or to_int(xml_attr(video, ".", "cdnthumbheight")),
        leaked_ids=_sender_leak(e, video),
    )


def _emoticon(e: Entry) -> m.WeChatMessage:
    emoji = _media_xml(e, "emoji")
    return m.EmoticonMessage(
        **e.common,
        md5=xml_attr(emoji, ".", "md5"),
        cdn_url=xml_attr(emoji, ".", "cdnurl"),
        product_id=xml_attr(emoji, ".", "productid"),
        width=e.i("ImgWidth") or to_int(xml_attr(emoji, ".", "width")),
        height=e.i("ImgHeight") or to_int(xml_attr(emoji, ".", "height")),
    )


def _card_head(root: ET.Element | None) -> str:
    return xml_attr(root, ".", "bigheadimgurl") or xml_attr(root, ".", "smallheadimgurl")


def _share_card(e: Entry) -> m.WeChatMessage:
    card = m.RecommendInfo.from_wire(e.raw.get("RecommendInfo"))
    root = first(decode_xml(e.body), "msg")
    if not card.user_name and root is None:
        return e.unsupported("card without RecommendInfo or XML")
    return m.ShareCard(
        **e.common,
        card=card,
        encrypt_user_name=xml_attr(root, ".", "username"),
        head_img_url=_card_head(root),
    )


def _friend_request(e: Entry) -> m.WeChatMessage:
    """37 (§6.3): RecommendInfo + Content XML; ``fromusername`` is the requester's wxid."""
    info = m.RecommendInfo.from_wire(e.raw.get("RecommendInfo"))
    root = first(decode_xml(e.body), "msg")
    if not info.user_name:
        return e.unsupported("friend request without RecommendInfo.UserName")
    real = real_id(xml_attr(root, ".", "fromusername"))
    chatroom = real_id(xml_attr(root, ".", "chatroomusername"))
    return m.FriendRequest(
        **e.common,
        requester=info,
        greeting=info.content or xml_attr(root, ".", "content"),
        ticket=info.ticket or xml_attr(root, ".", "ticket"),
        real_id=real,
        chatroom_real_id=chatroom if chatroom and is_group(chatroom) else None,
        encrypt_user_name=xml_attr(root, ".", "encryptusername"),
        head_img_url=_card_head(root),
        leaked_ids=leaks([(info.user_name, real or "")]),
    )


def _system(e: Entry) -> m.WeChatMessage:
    text = strip_links(decode_text(e.body))
    if RED_PACKET_NOTICE in text:
        return m.RedPacketNotice(**e.common, text=text)
    return m.SystemMessage(**e.common, text=text)


def _recall_or_none(e: Entry) -> m.Recall | m.UnknownMessage | None:
    """A ``<sysmsg type="revokemsg">`` (§6.5), or None when the body is no revokemsg."""
    root, sender = decode_xml(e.body), e.common["sender"]
    if root is None and is_group(e.common["chat"]) and not e.common["from_self"]:
        prefix, rest = split_group_prefix(e.body)  # system MsgTypes skip the prefix split
        if prefix is not None:
            root, sender = decode_xml(rest), UserName(prefix)
    revoke = first(root, "revokemsg")
    if revoke is None:
        return None
    msgid = xml_text(revoke, "msgid")
    if not MSG_ID_RE.fullmatch(msgid):
        return e.unsupported("revokemsg without a valid <msgid>")
    session = real_id(xml_text(revoke, "session"))
    recall = m.Recall(
        **e.common,
        revoked_msg_id=None if int(msgid) == 0 else MsgId(msgid),
        session_real_id=session,
        replace_text=xml_text(revoke, "replacemsg"),
        leaked_ids=leaks([(e.common["chat"], session or "")]),
    )
    if is_group(e.common["chat"]) and sender == e.common["chat"]:
        # Own recall done on the phone: From = group, To = self, no prefix (§6.5).
        return attrs.evolve(recall, sender=e.self_user_name, from_self=True)
    return attrs.evolve(recall, sender=sender)


def _recall(e: Entry) -> m.WeChatMessage:
    return _recall_or_none(e) or e.unsupported("10002 without a revokemsg")


def _status_notify(e: Entry) -> m.WeChatMessage:
    """51 (§3.2, §6.3); code 4 pairs StatusNotifyUserName with the ``<username>`` list."""
    code = e.i("StatusNotifyCode")
    names = tuple(UserName(n.strip()) for n in e.s("StatusNotifyUserName").split(",") if n.strip())
    pairs: dict[UserName, RealId] = {}
    if code == 4:
        listed = xml_text(decode_xml(e.body), "op/username")
        real_ids = [r.strip() for r in listed.split(",") if r.strip()]
        if len(real_ids) == len(names):
            pairs = leaks(zip(names, real_ids, strict=True))
        elif real_ids:
            log.warning(
                "StatusNotify %s: %d UserNames but %d real ids, not pairing them",
                e.common["msg_id"],
                len(names),
                len(real_ids),
            )
    return m.StatusNotify(**e.common, code=code, user_names=names, leaked_ids=pairs)


def _voip(e: Entry) -> m.WeChatMessage:
    return m.VoipMessage(**e.common)


def _possible_friend(e: Entry) -> m.WeChatMessage:
    return m.PossibleFriend(**e.common)


_HANDLERS: dict[int, Callable[[Entry], m.WeChatMessage]] = {
    1: _text,
    3: _image,
    34: _voice,
    37: _friend_request,
    40: _possible_friend,
    42: _share_card,
    43: _video,
    47: _emoticon,
    48: _location,
    49: parse_app,
    50: _voip,
    51: _status_notify,
    52: _voip,
    53: _voip,
    62: _video,
    9999: _system,
    10000: _system,
    10002: _recall,
}


def _parse(raw: object, self_user_name: UserName) -> m.WeChatMessage:
    if not isinstance(raw, Mapping):
        log.warning("Skipping AddMsgList entry that is not an object: %s", type(raw).__name__)
        return _bare_unsupported(raw, self_user_name, "entry is not an object")
    e = read_entry(raw, self_user_name)
    if isinstance(e, m.UnknownMessage):
        return e
    msg_type = e.common["msg_type"]
    if msg_type not in USER_CONTENT_TYPES and "revokemsg" in e.body:
        recall = _recall_or_none(e)
        if recall is not None:
            return recall
    handler = _HANDLERS.get(msg_type)
    if handler is None:
        return e.unsupported(f"unknown MsgType {msg_type}")
    return handler(e)


def _bare_unsupported(raw: object, self_user_name: UserName, reason: str) -> m.UnknownMessage:
    """An UnknownMessage with whatever common fields can be read without trusting ``raw``."""

    def get(key: str) -> object:
        try:
            return raw.get(key) if isinstance(raw, Mapping) else None
        except Exception:  # the entry itself is what failed; read nothing more from it
            return None

    content = get("Content")
    return m.UnknownMessage(
        msg_id=parse_msg_id(get("MsgId")),
        msg_type=max(to_int(get("MsgType")), 0),
        from_user_name=UserName(""),
        to_user_name=UserName(""),
        chat=UserName(""),
        sender=UserName(""),
        from_self=False,
        create_time=max(to_int(get("CreateTime")), 0),
        raw_content=content if isinstance(content, str) else "",
        reason=reason,
    )


def parse_message(raw: Mapping[str, Any], self_user_name: UserName) -> m.WeChatMessage:
    """Parse one webwxsync ``AddMsgList`` entry (PROTOCOL.md §6) into a typed event.

    ``self_user_name`` is the logged-in account's UserName (webwxinit ``User.UserName``); it
    decides ``chat``/``sender``/``from_self`` (§6.1). Never raises: unknown MsgTypes and
    malformed entries or contents become :class:`UnknownMessage` (logged; Content only at
    DEBUG); an entry without a usable MsgId yields ``msg_id == ""``.
    """
    try:
        return _parse(raw, self_user_name)
    except Exception as exc:  # a parser bug must not stop the sync loop
        log.warning("WeChat message parser failed (%s); delivering it as unsupported", type(exc))
        log.debug("Parser failure details", exc_info=True)
        return _bare_unsupported(raw, self_user_name, f"parser error: {type(exc).__name__}")


def parse_sync_messages(add_msg_list: object, self_user_name: UserName) -> list[m.WeChatMessage]:
    """Parse a webwxsync ``AddMsgList`` (PROTOCOL.md §5, §6) in order.

    Entries without a usable MsgId are logged and dropped (nothing could refer to them);
    other malformed or unknown ones come back as :class:`UnknownMessage`. A missing or non-list
    ``add_msg_list`` gives ``[]``. De-duplication on MsgId is the caller's job (§5).
    """
    if add_msg_list is None:
        return []
    if not isinstance(add_msg_list, list | tuple):
        log.warning("AddMsgList is a %s, not a list; ignoring it", type(add_msg_list).__name__)
        return []
    parsed = (parse_message(raw, self_user_name) for raw in add_msg_list)
    return [msg for msg in parsed if msg.msg_id]

"""Turn webwxsync ``AddMsgList`` entries into typed events (PROTOCOL.md §6)."""

from __future__ import annotations

import logging
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypedDict

import attrs

from adapters.wechat.client import messages as m
from adapters.wechat.client.text import (
    MAX_CONTENT_CHARS,
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

_MSG_ID = re.compile(r"[0-9]{1,32}")
# wxid_…, gh_…, custom WeChat ids, special accounts, NNN@chatroom; never `@…` session names
# nor `v1_…@stranger` temporary ids (PROTOCOL.md §11).
_REAL_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}(?:@chatroom)?")
_COORD = re.compile(r"coord=(-?[0-9]{1,3}(?:\.[0-9]+)?),(-?[0-9]{1,3}(?:\.[0-9]+)?)")
_LOCATION_LABEL = re.compile(r"(.*?):<br\s*/?>/cgi-bin/", re.DOTALL)
# MsgTypes whose Content a user wrote: a `revokemsg` in them is text, not a recall — otherwise
# anyone could redact messages by sending the XML as a chat message.
_USER_CONTENT_TYPES = frozenset({1, 3, 34, 42, 43, 47, 48, 49, 62})
_SYSTEM_TYPES = frozenset({9999, 10000})
_RED_PACKET_NOTICE = "收到红包"
_MAX_HISTORY_ITEMS = 500


class _Common(TypedDict):
    msg_id: MsgId
    msg_type: int
    from_user_name: UserName
    to_user_name: UserName
    chat: UserName
    sender: UserName
    from_self: bool
    create_time: int


@attrs.frozen
class _Entry:
    """One AddMsgList entry being parsed: ``body`` is Content minus the group prefix."""

    raw: Mapping[str, Any]
    common: _Common
    body: str
    self_user_name: UserName

    def s(self, key: str) -> str:
        value = self.raw.get(key)
        return value if isinstance(value, str) else ""

    def i(self, key: str) -> int:
        return to_int(self.raw.get(key))

    def unsupported(self, reason: str, app_msg_type: int = 0, title: str = "") -> m.Unsupported:
        log.info(
            "Unsupported WeChat message %s (MsgType %d): %s",
            self.common["msg_id"],
            self.common["msg_type"],
            reason,
        )
        return m.Unsupported(
            **self.common,
            raw_content=self.s("Content"),
            reason=reason,
            app_msg_type=app_msg_type,
            title=decode_text(self.s("FileName")),
        )


def _leaks(pairs: Iterable[tuple[str, str]]) -> dict[UserName, RealId]:
    """Keep the pairs that really reveal a real id for a session UserName (PROTOCOL.md §11)."""
    out: dict[UserName, RealId] = {}
    for user_name, real in pairs:
        real = real.strip()
        if not user_name or user_name == real or not _REAL_ID.fullmatch(real):
            continue
        if is_group(user_name) != is_group(real):  # a person's id never names a group
            continue
        out[UserName(user_name)] = RealId(real)
    return out


def _real_id(text: str) -> RealId | None:
    text = text.strip()
    return RealId(text) if _REAL_ID.fullmatch(text) else None


def _first(root: ET.Element | None, tag: str) -> ET.Element | None:
    """``root`` itself if it is ``<tag>``, else its first ``<tag>`` descendant."""
    if root is None:
        return None
    return root if root.tag == tag else root.find(f".//{tag}")


def _str_field(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return ""
    return value if isinstance(value, str) else None


def _msg_id(value: object) -> MsgId:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return MsgId(value) if isinstance(value, str) and _MSG_ID.fullmatch(value) else MsgId("")


def _entry(raw: Mapping[str, Any], self_user_name: UserName) -> _Entry | m.Unsupported:
    """Common fields and peer/sender resolution (PROTOCOL.md §6.1, §6.2)."""
    problems = []
    msg_id = _msg_id(raw.get("MsgId"))
    if not msg_id:
        problems.append("missing or invalid MsgId")
    from_user, to_user = _str_field(raw, "FromUserName"), _str_field(raw, "ToUserName")
    if from_user is None or to_user is None:
        problems.append("FromUserName/ToUserName is not a string")
    msg_type = to_int(raw.get("MsgType"), -1)
    if msg_type < 0:
        problems.append("missing or invalid MsgType")
    content = _str_field(raw, "Content")
    if content is None:
        problems.append("Content is not a string")
    elif len(content) > MAX_CONTENT_CHARS:
        problems.append(f"Content too large ({len(content)} characters)")
    from_user, to_user = UserName(from_user or ""), UserName(to_user or "")
    from_self = from_user in (self_user_name, "")
    chat = to_user if from_self else from_user
    common = _Common(
        msg_id=msg_id,
        msg_type=max(msg_type, 0),
        from_user_name=from_user,
        to_user_name=to_user,
        chat=chat,
        sender=self_user_name if from_self else chat,
        from_self=from_self,
        create_time=max(to_int(raw.get("CreateTime")), 0),
    )
    body = content or ""
    if not problems and not from_self and is_group(chat) and msg_type not in _SYSTEM_TYPES:
        prefix, body = split_group_prefix(body)
        if prefix is not None:
            common["sender"] = UserName(prefix)
    entry = _Entry(raw, common, body, self_user_name)
    if problems:
        log.warning(
            "Skipping malformed WeChat message %s (MsgType %s): %s",
            msg_id or "?",
            msg_type,
            "; ".join(problems),
        )
        log.debug("Malformed WeChat message Content: %r", (content or "")[:2000])
        return m.Unsupported(
            **common, raw_content=content or "", reason="; ".join(problems), title=""
        )
    return entry


# ---- MsgType handlers ------------------------------------------------------------------------


def _coord(text: str, limit: float) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) <= limit else None


def _location(e: _Entry) -> m.WeChatMessage:
    """1/48 and old 48: OriContent XML, else the ``Url`` coord, label from Content (§6.3)."""
    node = _first(decode_xml(e.s("OriContent"), escaped=False), "location")
    if node is None:
        node = _first(decode_xml(e.s("OriContent")) or decode_xml(e.body), "location")
    lat = _coord(xml_attr(node, ".", "x"), 90)
    lng = _coord(xml_attr(node, ".", "y"), 180)
    if lat is None or lng is None:
        found = _COORD.search(decode_url(e.s("Url")))
        if found:
            lat, lng = _coord(found.group(1), 90), _coord(found.group(2), 180)
    label = xml_attr(node, ".", "label")
    if not label and (found_label := _LOCATION_LABEL.match(e.body)):
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


def _text(e: _Entry) -> m.WeChatMessage:
    if e.i("SubMsgType") == 48 or "<location" in e.s("OriContent"):
        return _location(e)
    text = decode_text(e.body)
    if e.i("AppMsgType") == 2001:
        return m.RedPacketNotice(**e.common, text=text)
    mentions = find_mentions(text) if is_group(e.common["chat"]) else ()
    return m.TextMessage(**e.common, text=text, mentions=mentions)


def _media_xml(e: _Entry, tag: str) -> ET.Element | None:
    # 2018+ servers send an opaque `@<hex>` token instead of XML (§6.2).
    return _first(decode_xml(e.body), tag) if "&lt;" in e.body or "<" in e.body else None


def _sender_leak(e: _Entry, node: ET.Element | None) -> dict[UserName, RealId]:
    return _leaks([(e.common["sender"], xml_attr(node, ".", "fromusername"))])


def _image(e: _Entry) -> m.WeChatMessage:
    img = _media_xml(e, "img")
    return m.ImageMessage(
        **e.common,
        width=e.i("ImgWidth") or to_int(xml_attr(img, ".", "cdnthumbwidth")),
        height=e.i("ImgHeight") or to_int(xml_attr(img, ".", "cdnthumbheight")),
        md5=xml_attr(img, ".", "md5"),
        size=to_int(xml_attr(img, ".", "length")),
    )


def _voice(e: _Entry) -> m.WeChatMessage:
    voice = _media_xml(e, "voicemsg")
    return m.VoiceMessage(
        **e.common,
        voice_length_ms=e.i("VoiceLength") or to_int(xml_attr(voice, ".", "voicelength")),
        leaked_ids=_sender_leak(e, voice),
    )


def _video(e: _Entry) -> m.WeChatMessage:
    video = _media_xml(e, "videomsg")
    return m.VideoMessage(
        **e.common,
        play_length_s=e.i("PlayLength") or to_int(xml_attr(video, ".", "playlength")),
        width=e.i("ImgWidth") or to_int(xml_attr(video, ".", "cdnthumbwidth")),
        height=e.i("ImgHeight") or to_int(xml_attr(video, ".", "cdnthumbheight")),
        leaked_ids=_sender_leak(e, video),
    )


def _emoticon(e: _Entry) -> m.WeChatMessage:
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


def _share_card(e: _Entry) -> m.WeChatMessage:
    card = m.RecommendInfo.from_wire(e.raw.get("RecommendInfo"))
    root = _first(decode_xml(e.body), "msg")
    if not card.user_name and root is None:
        return e.unsupported("card without RecommendInfo or XML")
    return m.ShareCard(
        **e.common,
        card=card,
        encrypt_user_name=xml_attr(root, ".", "username"),
        head_img_url=_card_head(root),
    )


def _friend_request(e: _Entry) -> m.WeChatMessage:
    """37 (§6.3): RecommendInfo + Content XML; ``fromusername`` is the requester's wxid."""
    info = m.RecommendInfo.from_wire(e.raw.get("RecommendInfo"))
    root = _first(decode_xml(e.body), "msg")
    if not info.user_name:
        return e.unsupported("friend request without RecommendInfo.UserName")
    real = _real_id(xml_attr(root, ".", "fromusername"))
    chatroom = _real_id(xml_attr(root, ".", "chatroomusername"))
    return m.FriendRequest(
        **e.common,
        requester=info,
        greeting=info.content or xml_attr(root, ".", "content"),
        ticket=info.ticket or xml_attr(root, ".", "ticket"),
        real_id=real,
        chatroom_real_id=chatroom if chatroom and is_group(chatroom) else None,
        encrypt_user_name=xml_attr(root, ".", "encryptusername"),
        head_img_url=_card_head(root),
        leaked_ids=_leaks([(info.user_name, real or "")]),
    )


def _system(e: _Entry) -> m.WeChatMessage:
    text = strip_links(decode_text(e.body))
    if _RED_PACKET_NOTICE in text:
        return m.RedPacketNotice(**e.common, text=text)
    return m.SystemMessage(**e.common, text=text)


def _recall_or_none(e: _Entry) -> m.Recall | m.Unsupported | None:
    """A ``<sysmsg type="revokemsg">`` (§6.5), or None when the body is no revokemsg."""
    root, sender = decode_xml(e.body), e.common["sender"]
    if root is None and is_group(e.common["chat"]) and not e.common["from_self"]:
        prefix, rest = split_group_prefix(e.body)  # system MsgTypes skip the prefix split
        if prefix is not None:
            root, sender = decode_xml(rest), UserName(prefix)
    revoke = _first(root, "revokemsg")
    if revoke is None:
        return None
    msgid = xml_text(revoke, "msgid")
    if not _MSG_ID.fullmatch(msgid):
        return e.unsupported("revokemsg without a valid <msgid>")
    session = _real_id(xml_text(revoke, "session"))
    recall = m.Recall(
        **e.common,
        revoked_msg_id=None if int(msgid) == 0 else MsgId(msgid),
        session_real_id=session,
        replace_text=xml_text(revoke, "replacemsg"),
        leaked_ids=_leaks([(e.common["chat"], session or "")]),
    )
    if is_group(e.common["chat"]) and sender == e.common["chat"]:
        # Own recall done on the phone: From = group, To = self, no prefix (§6.5).
        return attrs.evolve(recall, sender=e.self_user_name, from_self=True)
    return attrs.evolve(recall, sender=sender)


def _recall(e: _Entry) -> m.WeChatMessage:
    return _recall_or_none(e) or e.unsupported("10002 without a revokemsg")


def _status_notify(e: _Entry) -> m.WeChatMessage:
    """51 (§3.2, §6.3); code 4 pairs StatusNotifyUserName with the ``<username>`` list."""
    code = e.i("StatusNotifyCode")
    names = tuple(UserName(n.strip()) for n in e.s("StatusNotifyUserName").split(",") if n.strip())
    leaks: dict[UserName, RealId] = {}
    if code == 4:
        listed = xml_text(decode_xml(e.body), "op/username")
        real_ids = [r.strip() for r in listed.split(",") if r.strip()]
        if len(real_ids) == len(names):
            leaks = _leaks(zip(names, real_ids, strict=True))
        elif real_ids:
            log.warning(
                "StatusNotify %s: %d UserNames but %d real ids, not pairing them",
                e.common["msg_id"],
                len(names),
                len(real_ids),
            )
    return m.StatusNotify(**e.common, code=code, user_names=names, leaked_ids=leaks)


def _voip(e: _Entry) -> m.WeChatMessage:
    return m.VoipMessage(**e.common)


def _possible_friend(e: _Entry) -> m.WeChatMessage:
    return m.PossibleFriend(**e.common)


# ---- MsgType 49 (AppMsgType, §6.4) -----------------------------------------------------------


@attrs.frozen
class _App:
    """An app message's XML and the fields most AppMsgTypes share (§6.4)."""

    e: _Entry
    root: ET.Element | None
    appmsg: ET.Element | None
    app_type: int
    title: str
    url: str
    description: str

    def leaks(self) -> dict[UserName, RealId]:
        return _leaks([(self.e.common["sender"], xml_text(self.root, "fromusername"))])


def _app_link(a: _App) -> m.WeChatMessage:
    articles = tuple(
        m.Article(
            title=xml_text(item, "title"),
            url=xml_text(item, "url"),
            digest=xml_text(item, "digest"),
            cover=xml_text(item, "cover"),
            pub_time=to_int(xml_text(item, "pub_time")),
        )
        for item in (a.appmsg.iterfind("mmreader/category/item") if a.appmsg is not None else ())
    )
    url = a.url or (articles[0].url if articles else "")
    if not url:
        return a.e.unsupported("link without url", a.app_type)
    return m.LinkMessage(
        **a.e.common,
        title=a.title or (articles[0].title if articles else ""),
        url=url,
        description=a.description,
        thumb_url=xml_text(a.appmsg, "thumburl"),
        app_name=xml_text(a.root, "appinfo/appname"),
        articles=articles,
        leaked_ids=a.leaks(),
    )


def _app_file(a: _App) -> m.WeChatMessage:
    media_id = a.e.s("MediaId")
    attach_id = xml_text(a.appmsg, "appattach/attachid")
    if not media_id and not attach_id:
        return a.e.unsupported("file without MediaId", a.app_type)
    return m.FileMessage(
        **a.e.common,
        file_name=a.title,
        file_size=a.e.i("FileSize") or to_int(xml_text(a.appmsg, "appattach/totallen")),
        media_id=media_id,
        encry_file_name=a.e.s("EncryFileName"),
        file_ext=xml_text(a.appmsg, "appattach/fileext"),
        attach_id=attach_id,
        leaked_ids=a.leaks(),
    )


def _app_music(a: _App) -> m.WeChatMessage:
    return m.MusicMessage(
        **a.e.common,
        title=a.title,
        description=a.description,
        url=a.url,
        data_url=xml_text(a.appmsg, "dataurl"),
        low_data_url=xml_text(a.appmsg, "lowdataurl"),
        thumb_url=xml_text(a.appmsg, "thumburl"),
        app_name=xml_text(a.root, "appinfo/appname"),
        leaked_ids=a.leaks(),
    )


def _app_transfer(a: _App) -> m.WeChatMessage:
    return m.TransferNotice(
        **a.e.common,
        title=a.title,
        description=a.description,
        fee_desc=xml_text(a.appmsg, "wcpayinfo/feedesc"),
        memo=xml_text(a.appmsg, "wcpayinfo/pay_memo"),
        pay_sub_type=to_int(xml_text(a.appmsg, "wcpayinfo/paysubtype")),
        leaked_ids=a.leaks(),
    )


def _app_red_packet(a: _App) -> m.WeChatMessage:
    text = "\n".join(part for part in (a.title, a.description) if part)
    return m.RedPacketNotice(**a.e.common, text=text, leaked_ids=a.leaks())


def _app_mini_program(a: _App) -> m.WeChatMessage:
    return m.MiniProgramMessage(
        **a.e.common,
        title=a.title,
        description=a.description,
        url=a.url,
        source_display_name=xml_text(a.appmsg, "sourcedisplayname"),
        weapp_user_name=xml_text(a.appmsg, "weappinfo/username"),
        weapp_app_id=xml_text(a.appmsg, "weappinfo/appid"),
        page_path=xml_text(a.appmsg, "weappinfo/pagepath"),
        leaked_ids=a.leaks(),
    )


def _app_history(a: _App) -> m.WeChatMessage:
    record = xml_text(a.appmsg, "recorditem")
    info = (decode_xml(record, escaped=False) or decode_xml(record)) if record else None
    items: list[m.HistoryItem] = []
    for item in info.iter("dataitem") if info is not None else ():
        if len(items) >= _MAX_HISTORY_ITEMS:
            break
        items.append(
            m.HistoryItem(
                source_name=xml_text(item, "sourcename"),
                text=xml_text(item, "datadesc") or xml_text(item, "datatitle"),
                time=xml_text(item, "sourcetime"),
            )
        )
    return m.MergedHistoryMessage(
        **a.e.common,
        title=a.title,
        description=a.description,
        items=tuple(items),
        leaked_ids=a.leaks(),
    )


def _app_quote(a: _App) -> m.WeChatMessage:
    refer = a.appmsg.find("refermsg") if a.appmsg is not None else None
    if refer is None:
        return _app_text(a)
    svrid = xml_text(refer, "svrid")
    quoted_type = to_int(xml_text(refer, "type"))
    content = xml_text(refer, "content")
    if quoted_type == 49:  # an app message is quoted as its XML: show its title
        quoted = decode_xml(content, escaped=False) or decode_xml(content)
        content = xml_text(_first(quoted, "appmsg"), "title")
    elif quoted_type != 1:  # media: only a placeholder would make sense
        content = ""
    return m.QuoteMessage(
        **a.e.common,
        text=a.title,
        reply_to=MsgId(svrid) if _MSG_ID.fullmatch(svrid) and int(svrid) else None,
        quoted_type=quoted_type,
        quoted_display_name=xml_text(refer, "displayname"),
        quoted_content=content,
        quoted_sender_real_id=_real_id(xml_text(refer, "fromusr")),
        quoted_chat_real_id=_real_id(xml_text(refer, "chatusr")),
        leaked_ids=a.leaks(),
    )


def _app_text(a: _App) -> m.WeChatMessage:
    if not a.title:
        return a.e.unsupported("app text without title", a.app_type)
    return m.TextMessage(**a.e.common, text=a.title, leaked_ids=a.leaks())


def _app_emoticon(a: _App) -> m.WeChatMessage:
    return m.EmoticonMessage(
        **a.e.common,
        md5=xml_text(a.appmsg, "appattach/emoticonmd5"),
        leaked_ids=a.leaks(),
    )


_APP_HANDLERS: dict[int, Callable[[_App], m.WeChatMessage]] = {
    0: _app_history,
    1: _app_text,
    3: _app_music,
    4: _app_link,
    5: _app_link,
    6: _app_file,
    8: _app_emoticon,
    19: _app_history,
    33: _app_mini_program,
    57: _app_quote,
    2000: _app_transfer,
    2001: _app_red_packet,
}
# Handlers that can work from the entry's own fields when the XML is unreadable.
_APP_WITHOUT_XML = frozenset({4, 5, 6})


def _app(e: _Entry) -> m.WeChatMessage:
    """49 (§6.4): dispatch on AppMsgType (the XML ``<type>`` when the field is 0)."""
    root = decode_xml(e.body)
    appmsg = _first(root, "appmsg")
    app_type = e.i("AppMsgType") or max(to_int(xml_text(appmsg, "type"), 0), 0)
    handler = _APP_HANDLERS.get(app_type)
    if handler is None:
        return e.unsupported(f"unsupported AppMsgType {app_type}", app_type)
    if appmsg is None and app_type not in _APP_WITHOUT_XML:
        return e.unsupported("app message XML unreadable", app_type)
    app = _App(
        e=e,
        root=root,
        appmsg=appmsg,
        app_type=app_type,
        title=xml_text(appmsg, "title") or decode_text(e.s("FileName")).strip(),
        url=xml_text(appmsg, "url") or decode_url(e.s("Url")),
        description=xml_text(appmsg, "des"),
    )
    return handler(app)


_HANDLERS: dict[int, Callable[[_Entry], m.WeChatMessage]] = {
    1: _text,
    3: _image,
    34: _voice,
    37: _friend_request,
    40: _possible_friend,
    42: _share_card,
    43: _video,
    47: _emoticon,
    48: _location,
    49: _app,
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
    e = _entry(raw, self_user_name)
    if isinstance(e, m.Unsupported):
        return e
    msg_type = e.common["msg_type"]
    if msg_type not in _USER_CONTENT_TYPES and "revokemsg" in e.body:
        recall = _recall_or_none(e)
        if recall is not None:
            return recall
    handler = _HANDLERS.get(msg_type)
    if handler is None:
        return e.unsupported(f"unknown MsgType {msg_type}")
    return handler(e)


def _bare_unsupported(raw: object, self_user_name: UserName, reason: str) -> m.Unsupported:
    """An Unsupported with whatever common fields can be read without trusting ``raw``."""

    def get(key: str) -> object:
        try:
            return raw.get(key) if isinstance(raw, Mapping) else None
        except Exception:  # the entry itself is what failed; read nothing more from it
            return None

    content = get("Content")
    return m.Unsupported(
        msg_id=_msg_id(get("MsgId")),
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
    malformed entries or contents become :class:`Unsupported` (logged; Content only at
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
    other malformed or unknown ones come back as :class:`Unsupported`. A missing or non-list
    ``add_msg_list`` gives ``[]``. De-duplication on MsgId is the caller's job (§5).
    """
    if add_msg_list is None:
        return []
    if not isinstance(add_msg_list, list | tuple):
        log.warning("AddMsgList is a %s, not a list; ignoring it", type(add_msg_list).__name__)
        return []
    parsed = (parse_message(raw, self_user_name) for raw in add_msg_list)
    return [msg for msg in parsed if msg.msg_id]

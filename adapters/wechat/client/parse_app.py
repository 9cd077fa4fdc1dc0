"""MsgType 49 app messages, dispatched on AppMsgType (PROTOCOL.md §6.4)."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable

import attrs

from adapters.wechat.client import messages as m
from adapters.wechat.client.parse_entry import (
    MAX_HISTORY_ITEMS,
    MSG_ID_RE,
    Entry,
    first,
    leaks,
    real_id,
)
from adapters.wechat.client.text import (
    decode_text,
    decode_url,
    decode_xml,
    to_int,
    xml_text,
)
from adapters.wechat.client.types import MsgId, RealId, UserName

log = logging.getLogger(__name__)


@attrs.frozen
class _App:
    """An app message's XML and the fields most AppMsgTypes share (§6.4)."""

    e: Entry
    root: ET.Element | None
    appmsg: ET.Element | None
    app_type: int
    title: str
    url: str
    description: str

    def leaks(self) -> dict[UserName, RealId]:
        return leaks([(self.e.common["sender"], xml_text(self.root, "fromusername"))])


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
        if len(items) >= MAX_HISTORY_ITEMS:
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
        content = xml_text(first(quoted, "appmsg"), "title")
    elif quoted_type != 1:  # media: only a placeholder would make sense
        content = ""
    return m.QuoteMessage(
        **a.e.common,
        text=a.title,
        reply_to=MsgId(svrid) if MSG_ID_RE.fullmatch(svrid) and int(svrid) else None,
        quoted_type=quoted_type,
        quoted_display_name=xml_text(refer, "displayname"),
        quoted_content=content,
        quoted_sender_real_id=real_id(xml_text(refer, "fromusr")),
        quoted_chat_real_id=real_id(xml_text(refer, "chatusr")),
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


def parse_app(e: Entry) -> m.WeChatMessage:
    """49 (§6.4): dispatch on AppMsgType (the XML ``<type>`` when the field is 0)."""
    root = decode_xml(e.body)
    appmsg = first(root, "appmsg")
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

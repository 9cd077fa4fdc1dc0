"""Hand-built MsgType 49 entries for every AppMsgType of PROTOCOL.md §6.4."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.wechat.client.messages import (
    Article,
    EmoticonMessage,
    FileMessage,
    HistoryItem,
    LinkMessage,
    MergedHistoryMessage,
    MiniProgramMessage,
    MusicMessage,
    QuoteMessage,
    RedPacketNotice,
    TextMessage,
    TransferNotice,
    UnknownMessage,
    WeChatMessage,
)
from adapters.wechat.client.parse import parse_message
from adapters.wechat.client.text import encode_text
from adapters.wechat.client.types import UserName

SELF = UserName("@5e1f")
PEER = UserName("@9ee4")
GROUP = UserName("@@6a0b")
MEMBER = "@3e3b"


def app(
    app_type: int, inner: str, *, field: int | None = None, frm: str = PEER, **extra: Any
) -> WeChatMessage:
    """Parse a 49 entry whose appmsg XML is ``inner``; ``field`` overrides AppMsgType."""
    xml = (
        f'<msg><appmsg appid="" sdkver="0">{inner}<type>{app_type}</type></appmsg>'
        "<fromusername>wxid_s3nd3r</fromusername><appinfo><appname>App</appname></appinfo></msg>"
    )
    content = encode_text(xml)
    if frm == GROUP:
        content = f"{MEMBER}:<br/>{content}"
    raw = {
        "MsgId": "4000000000000000001",
        "FromUserName": frm,
        "ToUserName": SELF,
        "MsgType": 49,
        "Content": content,
        "CreateTime": 1700000000,
        "AppMsgType": app_type if field is None else field,
        **extra,
    }
    return parse_message(raw, SELF)


def test_link_with_sender_real_id_leak_in_group() -> None:
    msg = app(5, "<title>T &amp; U</title><des>D</des><url>http://x/?a=1&amp;b=2</url>", frm=GROUP)
    assert isinstance(msg, LinkMessage)
    assert (msg.title, msg.description, msg.url) == ("T & U", "D", "http://x/?a=1&b=2")
    assert msg.sender == MEMBER and msg.app_name == "App"
    assert dict(msg.leaked_ids) == {MEMBER: "wxid_s3nd3r"}


def test_official_account_articles_mmreader() -> None:
    items = "".join(
        f"<item><title>A{i}</title><url>http://mp/{i}</url><digest>d{i}</digest>"
        f"<cover>http://c/{i}</cover><pub_time>170000000{i}</pub_time></item>"
        for i in (1, 2)
    )
    category = f'<category type="0" count="2">{items}</category>'
    inner = f"<title></title><url></url><mmreader>{category}</mmreader>"
    msg = app(5, inner)
    assert isinstance(msg, LinkMessage)
    assert msg.articles == (
        Article("A1", "http://mp/1", "d1", "http://c/1", 1700000001),
        Article("A2", "http://mp/2", "d2", "http://c/2", 1700000002),
    )
    assert (msg.title, msg.url) == ("A1", "http://mp/1")


def test_link_falls_back_to_entry_fields_when_xml_is_garbage() -> None:
    raw = {
        "MsgId": "4000000000000000002",
        "FromUserName": PEER,
        "ToUserName": SELF,
        "MsgType": 49,
        "AppMsgType": 5,
        "Content": "&lt;msg&gt;&lt;appmsg",
        "FileName": "Title &amp; more",
        "Url": "http://x/?a=1&amp;b=2",
    }
    msg = parse_message(raw, SELF)
    assert isinstance(msg, LinkMessage)
    assert (msg.title, msg.url) == ("Title & more", "http://x/?a=1&b=2")


def test_link_without_url_is_unsupported() -> None:
    msg = app(5, "<title>T</title>")
    assert isinstance(msg, UnknownMessage) and msg.app_msg_type == 5


def test_video_link_type_4() -> None:
    msg = app(4, "<title>V</title><url>http://v/1</url>")
    assert isinstance(msg, LinkMessage) and msg.url == "http://v/1"


def test_file_attachment() -> None:
    inner = (
        "<title>report.pdf</title><appattach><totallen>2048</totallen>"
        "<attachid>@cdn_1</attachid><fileext>pdf</fileext></appattach>"
    )
    msg = app(6, inner, MediaId="@crypt_m", EncryFileName="report%2Epdf", FileSize="2048")
    assert isinstance(msg, FileMessage)
    assert (msg.file_name, msg.file_size, msg.file_ext) == ("report.pdf", 2048, "pdf")
    assert (msg.media_id, msg.encry_file_name, msg.attach_id) == (
        "@crypt_m",
        "report%2Epdf",
        "@cdn_1",
    )


def test_file_size_from_xml_when_field_missing() -> None:
    msg = app(6, "<title>a.bin</title><appattach><totallen>77</totallen></appattach>", MediaId="@m")
    assert isinstance(msg, FileMessage) and msg.file_size == 77


def test_file_without_media_id_is_unsupported() -> None:
    msg = app(6, "<title>a.bin</title>")
    assert isinstance(msg, UnknownMessage) and msg.reason == "file without MediaId"


def test_music() -> None:
    inner = (
        "<title>Song</title><des>Singer</des><url>http://m/p</url><dataurl>http://m/s.m4a</dataurl>"
    )
    msg = app(3, inner)
    assert isinstance(msg, MusicMessage)
    assert (msg.title, msg.description, msg.url, msg.data_url) == (
        "Song",
        "Singer",
        "http://m/p",
        "http://m/s.m4a",
    )


def test_transfer() -> None:
    inner = (
        "<title>微信转账</title><des>收到转账0.01元。如需收钱，请在手机上查看</des>"
        "<wcpayinfo><paysubtype>1</paysubtype><feedesc><![CDATA[￥0.01]]></feedesc>"
        "<pay_memo><![CDATA[lunch]]></pay_memo></wcpayinfo>"
    )
    msg = app(2000, inner)
    assert isinstance(msg, TransferNotice)
    assert (msg.title, msg.fee_desc, msg.memo, msg.pay_sub_type) == (
        "微信转账",
        "￥0.01",
        "lunch",
        1,
    )
    assert msg.description.startswith("收到转账0.01元")


def test_red_packet_app_message() -> None:
    msg = app(2001, "<title>恭喜发财，大吉大利</title><des>微信红包</des>")
    assert isinstance(msg, RedPacketNotice) and msg.text == "恭喜发财，大吉大利\n微信红包"


def test_mini_program() -> None:
    inner = (
        "<title>Game</title><des>Play</des><url>https://mp.weixin.qq.com/x</url>"
        "<sourcedisplayname>Mini</sourcedisplayname><weappinfo><pagepath>pages/i.html</pagepath>"
        "<username>gh_abc@app</username><appid>wx123</appid></weappinfo>"
    )
    msg = app(33, inner)
    assert isinstance(msg, MiniProgramMessage)
    assert (msg.title, msg.source_display_name, msg.page_path) == ("Game", "Mini", "pages/i.html")
    assert (msg.weapp_user_name, msg.weapp_app_id) == ("gh_abc@app", "wx123")


@pytest.mark.parametrize("app_type", [19, 0])
def test_merged_history(app_type: int) -> None:
    record = (
        '<recordinfo><datalist count="2">'
        '<dataitem datatype="1"><datadesc>hello</datadesc><sourcename>Ann</sourcename>'
        "<sourcetime>2020-01-01 10:00</sourcetime></dataitem>"
        '<dataitem datatype="2"><datadesc>[图片]</datadesc><sourcename>Bob</sourcename></dataitem>'
        "</datalist></recordinfo>"
    )
    inner = (
        "<title>群聊的聊天记录</title><des>Ann: hello\nBob: [图片]</des>"
        f"<recorditem><![CDATA[{record}]]></recorditem>"
    )
    msg = app(app_type, inner)
    assert isinstance(msg, MergedHistoryMessage)
    assert msg.title == "群聊的聊天记录" and msg.description == "Ann: hello\nBob: [图片]"
    assert msg.items == (
        HistoryItem("Ann", "hello", "2020-01-01 10:00"),
        HistoryItem("Bob", "[图片]", ""),
    )


def test_merged_history_without_recorditem() -> None:
    msg = app(19, "<title>Chat history</title><des>a\nb</des>")
    assert isinstance(msg, MergedHistoryMessage) and msg.items == ()


def test_quote_reply() -> None:
    inner = (
        "<title>I agree</title><refermsg><type>1</type><svrid>6071299654335939419</svrid>"
        "<fromusr>wxid_orig</fromusr><chatusr>123@chatroom</chatusr>"
        "<displayname>Ann</displayname><content>original &amp; text</content></refermsg>"
    )
    msg = app(57, inner, frm=GROUP)
    assert isinstance(msg, QuoteMessage)
    assert (msg.text, msg.reply_to, msg.quoted_type) == ("I agree", "6071299654335939419", 1)
    assert (msg.quoted_display_name, msg.quoted_content) == ("Ann", "original & text")
    assert (msg.quoted_sender_real_id, msg.quoted_chat_real_id) == ("wxid_orig", "123@chatroom")
    assert msg.sender == MEMBER and dict(msg.leaked_ids) == {MEMBER: "wxid_s3nd3r"}


def test_quote_of_app_message_and_of_image() -> None:
    quoted = encode_text("<msg><appmsg><title>Linked</title></appmsg></msg>").replace("<br/>", "")
    refer = f"<type>49</type><svrid>9</svrid><content>{quoted}</content>"
    inner = f"<title>see</title><refermsg>{refer}</refermsg>"
    msg = app(57, inner)
    assert isinstance(msg, QuoteMessage) and msg.quoted_content == "Linked" and msg.reply_to == "9"
    image = app(
        57,
        "<title>nice</title><refermsg><type>3</type><svrid>0</svrid><content>x</content></refermsg>",
    )
    assert isinstance(image, QuoteMessage) and image.quoted_content == "" and image.reply_to is None


def test_quote_without_refermsg_is_plain_text() -> None:
    msg = app(57, "<title>just text</title>")
    assert isinstance(msg, TextMessage) and msg.text == "just text"


def test_app_text_and_emoticon() -> None:
    text = app(1, "<title>from an app</title>")
    assert isinstance(text, TextMessage) and text.text == "from an app"
    sticker = app(8, "<appattach><emoticonmd5>abcdef</emoticonmd5></appattach>")
    assert isinstance(sticker, EmoticonMessage) and sticker.md5 == "abcdef"


def test_type_from_xml_when_field_is_zero() -> None:
    msg = app(5, "<title>T</title><url>http://u</url>", field=0)
    assert isinstance(msg, LinkMessage) and msg.url == "http://u"


@pytest.mark.parametrize("app_type", [2, 7, 17, 36, 99999])
def test_unsupported_app_types_keep_title(app_type: int) -> None:
    msg = app(app_type, "<title>我发起了位置共享</title>", FileName="我发起了位置共享")
    assert isinstance(msg, UnknownMessage)
    assert msg.app_msg_type == app_type and msg.title == "我发起了位置共享"
    assert msg.reason == f"unsupported AppMsgType {app_type}"


def test_unreadable_xml_of_a_type_that_needs_it_is_unsupported() -> None:
    raw = {
        "MsgId": "4000000000000000003",
        "FromUserName": PEER,
        "ToUserName": SELF,
        "MsgType": 49,
        "AppMsgType": 33,
        "Content": "not xml at all",
    }
    msg = parse_message(raw, SELF)
    assert isinstance(msg, UnknownMessage)
    assert msg.reason == "app message XML unreadable" and msg.raw_content == "not xml at all"


def test_person_real_id_is_never_leaked_onto_a_group() -> None:
    # A group message without prefix has the group as sender: its <fromusername> is a person.
    content = encode_text(
        "<msg><appmsg><title>T</title><url>http://u</url><type>5</type></appmsg>"
        "<fromusername>wxid_someone</fromusername></msg>"
    )
    raw = {
        "MsgId": "1",
        "FromUserName": GROUP,
        "ToUserName": SELF,
        "MsgType": 49,
        "AppMsgType": 5,
        "Content": content,
    }
    msg = parse_message(raw, SELF)
    assert isinstance(msg, LinkMessage) and msg.sender == GROUP and msg.leaked_ids == {}

"""Content strings as servers encode them: escaping, emoji spans, XML bodies (PROTOCOL.md §6)."""

from __future__ import annotations

import re
from xml.sax.saxutils import quoteattr

_KEYCAP = re.compile("([0-9#*])\ufe0f?\u20e3")
_FLAG = re.compile("([\U0001f1e6-\U0001f1ff])([\U0001f1e6-\U0001f1ff])")
_EMOJI = re.compile("([\U0001f000-\U0001faff\u2600-\u27bf])\ufe0f?")


def _span(code: str) -> str:
    return f'<span class="emoji emoji{code}"></span>'


def emoji_spans(text: str) -> str:
    """Replace emoji by ``<span class="emoji emoji1f600"></span>`` (PROTOCOL.md §6.2).

    Flags become one span of two 5-hex code points, keycaps one span of 2+4 hex digits; the
    variation selector U+FE0F is dropped. Other characters are left alone.
    """
    text = _KEYCAP.sub(lambda m: _span(f"{ord(m.group(1)):02x}20e3"), text)
    text = _FLAG.sub(lambda m: _span(f"{ord(m.group(1)):x}{ord(m.group(2)):x}"), text)
    return _EMOJI.sub(lambda m: _span(f"{ord(m.group(1)):x}"), text)


def escape_text(text: str) -> str:
    """A typed text as it travels in ``Content``: HTML-escaped, newlines as ``<br/>``, emoji as
    spans (PROTOCOL.md §6.2).
    """
    escaped = (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
    escaped = escaped.replace("\r\n", "\n").replace("\n", "<br/>")
    return emoji_spans(escaped)


def escape_xml(xml: str) -> str:
    """An XML body as it travels in ``Content``: ``<>&`` escaped, quotes raw, newlines as
    ``<br/>`` (PROTOCOL.md §6.2). Raw newlines never appear, so group prefixes stay parseable.
    """
    escaped = xml.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("\n", "<br/>")


def _attrs(**values: object) -> str:
    return " ".join(f"{key}={quoteattr(str(value))}" for key, value in values.items())


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def image_xml(*, md5: str, length: int, thumb_width: int, thumb_height: int) -> str:
    """The unescaped XML of an incoming image (MsgType 3, PROTOCOL.md §6.3)."""
    img = _attrs(
        aeskey=md5,
        encryver="0",
        cdnthumbaeskey=md5,
        cdnthumburl="30" + md5 * 2,
        cdnthumblength=str(length // 10 + 1),
        cdnthumbheight=str(thumb_height),
        cdnthumbwidth=str(thumb_width),
        cdnmidheight="0",
        cdnmidwidth="0",
        cdnhdheight="0",
        cdnhdwidth="0",
        cdnmidimgurl="30" + md5 * 2,
        length=str(length),
        md5=md5,
    )
    return f'<?xml version="1.0"?>\n<msg>\n\t<img {img} />\n</msg>\n'


def voice_xml(*, sender: str, length_ms: int, size: int, bufid: str) -> str:
    """The unescaped XML of an incoming voice message (MsgType 34, §6.3)."""
    voice = _attrs(
        endflag="1",
        cancelflag="0",
        forwardflag="0",
        voiceformat="4",
        voicelength=str(length_ms),
        length=str(size),
        bufid=bufid,
        clientmsgid=bufid,
        fromusername=sender,
    )
    return f"<msg><voicemsg {voice} /></msg>"


def video_xml(*, sender: str, md5: str, size: int, play_length_s: int) -> str:
    """The unescaped XML of an incoming video (MsgType 43, §6.3)."""
    video = _attrs(
        aeskey=md5,
        cdnthumbaeskey=md5,
        cdnvideourl="30" + md5 * 2,
        cdnthumburl="30" + md5 * 2,
        length=str(size),
        playlength=str(play_length_s),
        cdnthumblength="1024",
        cdnthumbwidth="960",
        cdnthumbheight="540",
        fromusername=sender,
        md5=md5,
        newmd5=md5,
        isad="0",
    )
    return f'<?xml version="1.0"?>\n<msg>\n\t<videomsg {video} />\n</msg>\n'


def emoji_xml(*, sender: str, receiver: str, md5: str, size: int) -> str:
    """The unescaped XML of an incoming emoticon (MsgType 47, §6.3)."""
    emoji = _attrs(
        fromusername=sender,
        tousername=receiver,
        type="2",
        idbuffer="media:0_0",
        md5=md5,
        len=str(size),
        productid="",
        androidmd5=md5,
        androidlen=str(size),
        cdnurl=f"http://emoji.qpic.cn/wx_emoji/{md5}/",
        designerid="",
        thumburl="",
        encrypturl=f"http://emoji.qpic.cn/wx_emoji/{md5}e/",
        aeskey=md5,
        width="240",
        height="240",
    )
    return f'<msg><emoji {emoji}></emoji><gameext type="0" content="0"></gameext></msg>'


def _appmsg(*, appid: str, title: str, des: str, kind: int, url: str, attach: str) -> str:
    return (
        f'<msg><appmsg appid={quoteattr(appid)} sdkver="0"><title>{_text(title)}</title>'
        f"<des>{_text(des)}</des><action>view</action><type>{kind}</type><showtype>0</showtype>"
        f"<content></content><url>{_text(url)}</url><lowurl></lowurl><dataurl></dataurl>"
        f"<lowdataurl></lowdataurl><appattach>{attach}</appattach><extinfo></extinfo>"
        "<sourceusername></sourceusername><sourcedisplayname></sourcedisplayname>"
        "<commenturl></commenturl><thumburl></thumburl></appmsg><fromusername></fromusername>"
        "<scene>0</scene><appinfo><version>1</version><appname></appname></appinfo>"
        "<commenturl></commenturl></msg>"
    )


def file_appmsg_xml(*, title: str, size: int, attach_id: str, ext: str) -> str:
    """The unescaped XML of a file message (MsgType 49, AppMsgType 6, §6.4)."""
    attach = (
        f"<totallen>{size}</totallen><attachid>{_text(attach_id)}</attachid>"
        f"<emoticonmd5></emoticonmd5><fileext>{_text(ext)}</fileext>"
    )
    return _appmsg(appid="wx6618f1cfc6c132f8", title=title, des="", kind=6, url="", attach=attach)


def link_appmsg_xml(*, title: str, description: str, url: str) -> str:
    """The unescaped XML of a shared link (MsgType 49, AppMsgType 5, §6.4)."""
    attach = (
        "<totallen>0</totallen><attachid></attachid><emoticonmd5></emoticonmd5><fileext></fileext>"
    )
    return _appmsg(appid="", title=title, des=description, kind=5, url=url, attach=attach)


def card_xml(*, stranger: str, nickname: str, alias: str, ticket: str) -> str:
    """The unescaped XML of a shared contact card (MsgType 42, §6.3)."""
    card = _attrs(
        bigheadimgurl="",
        smallheadimgurl="",
        username=stranger,
        nickname=nickname,
        shortpy="",
        alias=alias,
        imagestatus="3",
        scene="17",
        province="",
        city="",
        sign="",
        sex="0",
        certflag="0",
        certinfo="",
        antispamticket=ticket,
    )
    return f'<?xml version="1.0"?>\n<msg {card} />\n'


def friend_request_xml(
    *, wxid: str, stranger: str, nickname: str, greeting: str, alias: str, ticket: str
) -> str:
    """The unescaped XML of a friend request (MsgType 37, §6.3)."""
    request = _attrs(
        fromusername=wxid,
        encryptusername=stranger,
        fromnickname=nickname,
        content=greeting,
        shortpy="",
        imagestatus="3",
        scene="14",
        country="CN",
        province="",
        city="",
        sign="",
        percard="1",
        sex="0",
        alias=alias,
        ticket=ticket,
        opcode="2",
        chatroomusername="",
    )
    return f'<msg {request}><brandlist count="0" ver="0"></brandlist></msg>'


def location_ori_content(*, lat: float, lng: float, label: str) -> str:
    """``OriContent`` of a location (MsgType 1, SubMsgType 48, §6.3); raw XML with newlines."""
    loc = _attrs(
        x=f"{lat:.6f}",
        y=f"{lng:.6f}",
        scale="16",
        label=label,
        maptype="0",
        poiname="[位置]",
        poiid="",
    )
    return f'<?xml version="1.0"?>\n<msg>\n\t<location {loc} />\n</msg>\n'


def recall_content(*, session: str, old_msg_id: str, msg_id: str, replace_msg: str) -> str:
    """The escaped Content of a 10002 recall, exactly as PROTOCOL.md §6.5 shows it.

    ``session`` is the real conversation id (``wxid_...`` or ``NNN@chatroom``); ``msg_id`` is the
    recalled message's MsgId; ``replace_msg`` e.g. ``"Alice" 撤回了一条消息``.
    """
    return (
        '&lt;sysmsg type="revokemsg"&gt;&lt;revokemsg&gt;'
        f"&lt;session&gt;{session}&lt;/session&gt;"
        f"&lt;oldmsgid&gt;{old_msg_id}&lt;/oldmsgid&gt;"
        f"&lt;msgid&gt;{msg_id}&lt;/msgid&gt;"
        f"&lt;replacemsg&gt;&lt;![CDATA[{replace_msg}]]&gt;&lt;/replacemsg&gt;"
        "&lt;/revokemsg&gt;&lt;/sysmsg&gt;"
    )


def recalled_by(nickname: str) -> str:
    """``"<nick>" 撤回了一条消息``; the nick keeps its emoji spans, as servers send it (§6.5)."""
    return f'"{emoji_spans(nickname)}" 撤回了一条消息'


#: replacemsg of a recall done by the account itself (§6.5).
RECALLED_BY_SELF = "你撤回了一条消息"


def sync_conv_content(real_ids: list[str]) -> str:
    """Content of the 51 / StatusNotifyCode 4 message listing recent chats by real id (§6.3)."""
    return (
        "&lt;msg&gt;<br/>&lt;op id='4'&gt;<br/>"
        f"&lt;username&gt;{','.join(real_ids)}&lt;/username&gt;<br/>"
        "&lt;unreadchatlist&gt;<br/>&lt;/unreadchatlist&gt;<br/>"
        "&lt;unreadfunctionlist&gt;<br/>&lt;/unreadfunctionlist&gt;<br/>"
        "&lt;/op&gt;<br/>&lt;/msg&gt;"
    )

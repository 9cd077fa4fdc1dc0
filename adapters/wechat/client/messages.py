"""Typed events for the entries of webwxsync ``AddMsgList`` (PROTOCOL.md §6)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from adapters.wechat.client.text import decode_text, to_int
from adapters.wechat.client.types import MsgId, RealId, UserName, is_group


def _frozen_ids(value: Mapping[UserName, RealId]) -> Mapping[UserName, RealId]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class BaseMessage:
    """Fields every AddMsgList entry has (PROTOCOL.md §6.1).

    ``chat`` is the peer: ``ToUserName`` when the account itself sent the message (``From``
    is self or ``""``), else ``FromUserName``. ``sender`` is who wrote it: the group member
    named by the ``@sender:<br/>`` prefix, self for ``from_self``, else the peer (a group's
    own UserName for group system messages). ``create_time`` is unix seconds. ``msg_type``
    is the raw MsgType. ``leaked_ids`` maps session UserNames to real ids the payload
    revealed (37 ``fromusername``, 34/43 old XML ``fromusername``, 49 ``<fromusername>``,
    10002 ``<session>``, 51/4 ``<username>`` list; PROTOCOL.md §11), for identity matching.
    """

    msg_id: MsgId
    msg_type: int
    from_user_name: UserName
    to_user_name: UserName
    chat: UserName
    sender: UserName
    from_self: bool
    create_time: int
    leaked_ids: Mapping[UserName, RealId] = attrs.field(
        factory=dict, converter=_frozen_ids, hash=False
    )

    @property
    def is_group(self) -> bool:
        """True when ``chat`` is a group (``@@…``, §3.5)."""
        return is_group(self.chat)


@attrs.frozen(kw_only=True)
class TextMessage(BaseMessage):
    """MsgType 1 (PROTOCOL.md §6.3): ``text`` decoded (emoji, newlines, entities, §6.2),
    group prefix removed. ``mentions`` lists display names mentioned as ``@name\\u2005``
    (groups only)."""

    text: str
    mentions: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class LocationMessage(BaseMessage):
    """A shared location: MsgType 1 with SubMsgType 48, or old MsgType 48 (PROTOCOL.md §6.3).

    ``latitude``/``longitude`` are WGS84-ish degrees from OriContent ``<location x= y=>`` or
    the ``Url`` ``coord=``; None when neither gave valid numbers. ``label`` is the address.
    """

    label: str
    latitude: float | None
    longitude: float | None
    poi_name: str = ""


@attrs.frozen(kw_only=True)
class ImageMessage(BaseMessage):
    """MsgType 3 (PROTOCOL.md §6.3). The image is downloaded later by ``msg_id``
    (webwxgetmsgimg, §9). ``width``/``height`` are the thumbnail's pixels (ImgWidth/ImgHeight);
    ``md5``/``size`` (bytes) only come with the old XML Content (0/"" otherwise)."""

    width: int = 0
    height: int = 0
    md5: str = ""
    size: int = 0


@attrs.frozen(kw_only=True)
class VoiceMessage(BaseMessage):
    """MsgType 34 (PROTOCOL.md §6.3): ``voice_length_ms`` from VoiceLength; mp3 via
    webwxgetvoice by ``msg_id`` (§9)."""

    voice_length_ms: int = 0


@attrs.frozen(kw_only=True)
class VideoMessage(BaseMessage):
    """MsgType 43, or 62 micro video (PROTOCOL.md §6.3): ``play_length_s`` from PlayLength,
    ``width``/``height`` of the poster thumbnail; mp4 via webwxgetvideo by ``msg_id`` (§9)."""

    play_length_s: int = 0
    width: int = 0
    height: int = 0


@attrs.frozen(kw_only=True)
class EmoticonMessage(BaseMessage):
    """MsgType 47 (or app message 8) sticker (PROTOCOL.md §6.3). GIF via webwxgetmsgimg
    ``type=big`` by ``msg_id``; ``md5``/``cdn_url``/``product_id`` when the XML has them
    (store emoticons may come with empty Content)."""

    md5: str = ""
    cdn_url: str = ""
    product_id: str = ""
    width: int = 0
    height: int = 0


@attrs.frozen
class Article:
    """One ``<mmreader>`` item of an official-account link card (PROTOCOL.md §6.4)."""

    title: str
    url: str
    digest: str = ""
    cover: str = ""
    pub_time: int = 0


@attrs.frozen(kw_only=True)
class LinkMessage(BaseMessage):
    """App message 5 (URL; also 4, a video link) (PROTOCOL.md §6.4). ``articles`` holds the
    ``<mmreader>`` items of official-account pushes (empty for a plain link)."""

    title: str
    url: str
    description: str = ""
    thumb_url: str = ""
    app_name: str = ""
    articles: tuple[Article, ...] = ()


@attrs.frozen(kw_only=True)
class FileMessage(BaseMessage):
    """App message 6, an attachment (PROTOCOL.md §6.4); downloaded with webwxgetmedia using
    ``media_id`` and ``encry_file_name`` (§9). ``file_size`` in bytes."""

    file_name: str
    file_size: int = 0
    media_id: str = ""
    encry_file_name: str = ""
    file_ext: str = ""
    attach_id: str = ""


@attrs.frozen(kw_only=True)
class MusicMessage(BaseMessage):
    """App message 3, a music card; ``data_url`` streams the audio (PROTOCOL.md §6.4)."""

    title: str
    description: str = ""
    url: str = ""
    data_url: str = ""
    low_data_url: str = ""
    thumb_url: str = ""
    app_name: str = ""


@attrs.frozen(kw_only=True)
class TransferNotice(BaseMessage):
    """App message 2000, a money transfer notice (PROTOCOL.md §6.4). ``fee_desc`` is the
    amount text from ``<wcpayinfo>`` (e.g. ``￥0.01``); the transfer itself needs the phone."""

    title: str
    description: str = ""
    fee_desc: str = ""
    memo: str = ""
    pay_sub_type: int = 0


@attrs.frozen(kw_only=True)
class RedPacketNotice(BaseMessage):
    """A red packet arrived: app message 2001, MsgType 1 with AppMsgType 2001, or the 10000
    notice "收到红包，请在手机上查看" (PROTOCOL.md §6.3, §6.4). Opening it needs the phone."""

    text: str


@attrs.frozen(kw_only=True)
class MiniProgramMessage(BaseMessage):
    """App message 33, a mini program card (PROTOCOL.md §6.4). ``weapp_user_name`` is the
    program's ``gh_…`` account, ``page_path`` the page it opens."""

    title: str
    description: str = ""
    url: str = ""
    source_display_name: str = ""
    weapp_user_name: str = ""
    weapp_app_id: str = ""
    page_path: str = ""


@attrs.frozen
class HistoryItem:
    """One entry of a forwarded chat history: who wrote it, its text (or a placeholder such
    as "[图片]" for media) and the time string as sent (PROTOCOL.md §6.4)."""

    source_name: str
    text: str
    time: str = ""


@attrs.frozen(kw_only=True)
class MergedHistoryMessage(BaseMessage):
    """App message 19 (or 0): forwarded chat history (PROTOCOL.md §6.4). ``description`` is
    the server's summary lines; ``items`` the parsed ``<recorditem>`` entries, if any."""

    title: str
    description: str = ""
    items: tuple[HistoryItem, ...] = ()


@attrs.frozen(kw_only=True)
class QuoteMessage(BaseMessage):
    """App message 57, a reply quoting an earlier message (PROTOCOL.md §6.4 ``<refermsg>``).

    ``text`` is the reply; ``reply_to`` the quoted ``<svrid>`` (a MsgId, None if absent or 0);
    ``quoted_type`` its MsgType; ``quoted_content`` its text (a title for app messages, ""
    for media); the ``quoted_*_real_id`` are the quoted sender's and chat's real ids.
    """

    text: str
    reply_to: MsgId | None = None
    quoted_type: int = 0
    quoted_display_name: str = ""
    quoted_content: str = ""
    quoted_sender_real_id: RealId | None = None
    quoted_chat_real_id: RealId | None = None


@attrs.frozen
class RecommendInfo:
    """The ``RecommendInfo`` object of 37/42 messages (PROTOCOL.md §6.1): the person or
    account a friend request or card is about. ``user_name`` is a session UserName for that
    person; text fields are decoded."""

    user_name: UserName
    nick_name: str = ""
    alias: str = ""
    province: str = ""
    city: str = ""
    signature: str = ""
    content: str = ""
    ticket: str = ""
    sex: int = 0
    scene: int = 0
    verify_flag: int = 0
    attr_status: int = 0
    op_code: int = 0

    @property
    def is_official_account(self) -> bool:
        """``VerifyFlag & 8`` (§3.5)."""
        return bool(self.verify_flag & 8)

    @classmethod
    def from_wire(cls, obj: Any) -> RecommendInfo:
        """Build from the wire object; missing/ill-typed fields become empty/0."""
        info: Mapping[str, Any] = obj if isinstance(obj, Mapping) else {}

        def s(key: str) -> str:
            value = info.get(key)
            return decode_text(value) if isinstance(value, str) else ""

        return cls(
            user_name=UserName(s("UserName")),
            nick_name=s("NickName"),
            alias=s("Alias"),
            province=s("Province"),
            city=s("City"),
            signature=s("Signature"),
            content=s("Content"),
            ticket=s("Ticket"),
            sex=to_int(info.get("Sex")),
            scene=to_int(info.get("Scene")),
            verify_flag=to_int(info.get("VerifyFlag")),
            attr_status=to_int(info.get("AttrStatus")),
            op_code=to_int(info.get("OpCode")),
        )


@attrs.frozen(kw_only=True)
class ShareCard(BaseMessage):
    """MsgType 42, a shared contact card (PROTOCOL.md §6.3). ``card`` describes the shared
    contact; ``encrypt_user_name`` is its ``v1_…@stranger`` id from the XML."""

    card: RecommendInfo
    encrypt_user_name: str = ""
    head_img_url: str = ""


@attrs.frozen(kw_only=True)
class FriendRequest(BaseMessage):
    """MsgType 37 from ``fmessage`` (PROTOCOL.md §6.3). Accept it with webwxverifyuser using
    ``requester.user_name`` and ``ticket`` (§10). ``real_id`` is the requester's wxid (also in
    ``leaked_ids``), ``chatroom_real_id`` the group they found you in, if any."""

    requester: RecommendInfo
    greeting: str = ""
    ticket: str = ""
    real_id: RealId | None = None
    chatroom_real_id: RealId | None = None
    encrypt_user_name: str = ""
    head_img_url: str = ""


@attrs.frozen(kw_only=True)
class SystemMessage(BaseMessage):
    """MsgType 10000 (or 9999 SYSNOTICE): a line from WeChat itself — friend added, group
    invites/renames, rate-limit warnings (PROTOCOL.md §6.3). ``text`` is decoded with links
    reduced to their text."""

    text: str


@attrs.frozen(kw_only=True)
class Recall(BaseMessage):
    """A message was recalled: MsgType 10002, or a ``revokemsg`` sysmsg in any system
    MsgType (PROTOCOL.md §6.5). ``revoked_msg_id`` is ``<msgid>``, the MsgId of the recalled
    message; None means ``<msgid>`` was 0: the official client then takes the last message
    self sent in that chat. ``session_real_id`` is ``<session>`` (the chat's real id);
    ``replace_text`` the notice ("X 撤回了一条消息"). A group recall without prefix is the
    account's own recall from the phone: ``sender`` is self and ``from_self`` True."""

    revoked_msg_id: MsgId | None
    session_real_id: RealId | None = None
    replace_text: str = ""


@attrs.frozen(kw_only=True)
class StatusNotify(BaseMessage):
    """MsgType 51 (PROTOCOL.md §3.2, §6.3): ``code`` 1 read, 2 entered chat, 4 conversation
    list, 5 left chat; ``user_names`` from StatusNotifyUserName. For code 4 ``leaked_ids``
    pairs each UserName with its real id from the ``<username>`` list (only when both lists
    have the same length, so a misaligned payload never pairs the wrong ids)."""

    code: int
    user_names: tuple[UserName, ...] = ()


@attrs.frozen(kw_only=True)
class VoipMessage(BaseMessage):
    """MsgType 50/52/53: a voice/video call event (PROTOCOL.md §6.3); nothing to fetch."""


@attrs.frozen(kw_only=True)
class PossibleFriend(BaseMessage):
    """MsgType 40, a friend suggestion (PROTOCOL.md §6.3); clients ignore it."""


@attrs.frozen(kw_only=True)
class UnknownMessage(BaseMessage):
    """Anything not understood: unknown MsgType/AppMsgType, malformed entry or content
    (PROTOCOL.md §6). ``raw_content`` is the wire Content (``""`` if it was not a string),
    ``reason`` a short English explanation, ``title`` the decoded FileName if any. A
    malformed entry without a usable MsgId has ``msg_id == ""``."""

    raw_content: str
    reason: str
    app_msg_type: int = 0
    title: str = ""


WeChatMessage = (
    TextMessage
    | LocationMessage
    | ImageMessage
    | VoiceMessage
    | VideoMessage
    | EmoticonMessage
    | LinkMessage
    | FileMessage
    | MusicMessage
    | TransferNotice
    | RedPacketNotice
    | MiniProgramMessage
    | MergedHistoryMessage
    | QuoteMessage
    | ShareCard
    | FriendRequest
    | SystemMessage
    | Recall
    | StatusNotify
    | VoipMessage
    | PossibleFriend
    | UnknownMessage
)
"""Every event ``parse_message`` can return; match on it with ``match``."""

"""Hand-built AddMsgList entries of every MsgType of PROTOCOL.md §6.3 except 49 (own file)."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.wechat.client.messages import (
    EmoticonMessage,
    FriendRequest,
    ImageMessage,
    LocationMessage,
    PossibleFriend,
    Recall,
    RedPacketNotice,
    ShareCard,
    StatusNotify,
    SystemMessage,
    TextMessage,
    UnknownMessage,
    VideoMessage,
    VoiceMessage,
    VoipMessage,
    WeChatMessage,
)
from adapters.wechat.client.parse import parse_message
from adapters.wechat.client.text import encode_text
from adapters.wechat.client.types import UserName

SELF = UserName("@5e1f")
PEER = UserName("@9ee4")
GROUP = UserName("@@6a0b")
MEMBER = "@3e3b"


def entry(msg_type: int, content: str = "", frm: str = PEER, to: str = SELF, **extra: Any) -> Any:
    return {
        "MsgId": "5000000000000000001",
        "FromUserName": frm,
        "ToUserName": to,
        "MsgType": msg_type,
        "Content": content,
        "CreateTime": 1700000000,
        "Status": 3,
        **extra,
    }


def parse(raw: Any) -> WeChatMessage:
    return parse_message(raw, SELF)


def revoke_xml(msgid: str, session: str = "wxid_peer1", sep: str = "") -> str:
    return encode_text(
        f'<sysmsg type="revokemsg">{sep}<revokemsg>{sep}<session>{session}</session>{sep}'
        f"<oldmsgid>1057515481</oldmsgid><msgid>{msgid}</msgid>{sep}"
        '<replacemsg><![CDATA["Bob" 撤回了一条消息]]></replacemsg></revokemsg></sysmsg>'
    )


# ---- text, peer and sender resolution (§6.1, §6.2) -------------------------------------------


def test_text_from_peer() -> None:
    msg = parse(entry(1, "hello<br/>world &amp; more"))
    assert isinstance(msg, TextMessage)
    assert msg.text == "hello\nworld & more"
    assert (msg.chat, msg.sender, msg.from_self) == (PEER, PEER, False)
    assert (msg.msg_id, msg.msg_type, msg.create_time) == ("5000000000000000001", 1, 1700000000)


def test_text_sent_by_self_from_another_device() -> None:
    msg = parse(entry(1, "mine", frm=SELF, to=PEER))
    assert isinstance(msg, TextMessage)
    assert (msg.chat, msg.sender, msg.from_self) == (PEER, SELF, True)


def test_empty_from_counts_as_self() -> None:
    msg = parse(entry(1, "mine", frm="", to=PEER))
    assert (msg.chat, msg.sender, msg.from_self) == (PEER, SELF, True)


def test_group_text_prefix_and_mentions() -> None:
    content = f"{MEMBER}:<br/>@Alice\u2005@自己\u2005看这个"
    msg = parse(entry(1, content, frm=GROUP))
    assert isinstance(msg, TextMessage)
    assert (msg.chat, msg.sender, msg.from_self) == (GROUP, MEMBER, False)
    assert msg.text == "@Alice\u2005@自己\u2005看这个"
    assert msg.mentions == ("Alice", "自己")


def test_group_text_raw_wxid_prefix() -> None:
    msg = parse(entry(1, "wxid_m3mb3r:<br/>hi", frm=GROUP))
    assert isinstance(msg, TextMessage) and msg.sender == "wxid_m3mb3r" and msg.text == "hi"


def test_group_text_from_self_is_not_split() -> None:
    msg = parse(entry(1, "note:<br/>line", frm=SELF, to=GROUP))
    assert isinstance(msg, TextMessage)
    assert (msg.text, msg.sender, msg.chat, msg.from_self) == ("note:\nline", SELF, GROUP, True)


def test_direct_text_looking_like_prefix_is_not_split() -> None:
    msg = parse(entry(1, "@abc:<br/>hi"))
    assert isinstance(msg, TextMessage) and msg.text == "@abc:\nhi" and msg.sender == PEER
    assert msg.mentions == ()


def test_group_system_message_has_no_prefix() -> None:
    msg = parse(entry(10000, "abc:<br/>你邀请&quot;B&quot;加入了群聊", frm=GROUP))
    assert isinstance(msg, SystemMessage)
    assert msg.text == 'abc:\n你邀请"B"加入了群聊' and msg.sender == GROUP


# ---- location (1/48, 48) ---------------------------------------------------------------------


def test_group_location_from_url_and_content_label() -> None:
    content = f"{MEMBER}:<br/>北京市海淀区:<br/>/cgi-bin/mmwebwx-bin/webwxgetpubliclinkimg?url=xxx"
    url = "http://apis.map.qq.com/uri/v1/geocoder?coord=39.98,116.31"
    msg = parse(entry(1, content, frm=GROUP, SubMsgType=48, Url=url))
    assert isinstance(msg, LocationMessage)
    assert (msg.label, msg.latitude, msg.longitude) == ("北京市海淀区", 39.98, 116.31)
    assert msg.sender == MEMBER


def test_old_msgtype_48_with_xml_content() -> None:
    xml = (
        '<msg><location x="-33.86" y="151.2" scale="16" label="Sydney &amp; co" poiname="Opera"/>'
        "</msg>"
    )
    msg = parse(entry(48, encode_text(xml)))
    assert isinstance(msg, LocationMessage)
    assert (msg.label, msg.latitude, msg.longitude, msg.poi_name) == (
        "Sydney & co",
        -33.86,
        151.2,
        "Opera",
    )


def test_location_with_invalid_coordinates_keeps_label() -> None:
    ori = '<msg><location x="200" y="nan" label="Nowhere"/></msg>'
    msg = parse(entry(1, "Nowhere:<br/>/cgi-bin/x", SubMsgType=48, OriContent=ori))
    assert isinstance(msg, LocationMessage)
    assert (msg.label, msg.latitude, msg.longitude) == ("Nowhere", None, None)


def test_red_packet_on_text_message() -> None:
    msg = parse(entry(1, "[红包]恭喜发财", AppMsgType=2001))
    assert isinstance(msg, RedPacketNotice) and msg.text == "[红包]恭喜发财"


# ---- media (3, 34, 43, 62, 47) ---------------------------------------------------------------


def test_image_opaque_token_in_group() -> None:
    msg = parse(entry(3, f"{MEMBER}:<br/>@{'ab12' * 40}", frm=GROUP, ImgWidth=90, ImgHeight=120))
    assert isinstance(msg, ImageMessage)
    assert (msg.sender, msg.width, msg.height, msg.md5, msg.size) == (MEMBER, 90, 120, "", 0)


def test_voice_length_and_old_xml_leak_in_group() -> None:
    xml = '<msg><voicemsg voicelength="3000" fromusername="wxid_m3mb3r" /></msg>'
    msg = parse(entry(34, f"{MEMBER}:<br/>{encode_text(xml)}", frm=GROUP, VoiceLength=2999))
    assert isinstance(msg, VoiceMessage)
    assert msg.voice_length_ms == 2999
    assert dict(msg.leaked_ids) == {MEMBER: "wxid_m3mb3r"}


@pytest.mark.parametrize("msg_type", [43, 62])
def test_video_and_micro_video(msg_type: int) -> None:
    msg = parse(entry(msg_type, "@cafe", PlayLength=7, ImgWidth=320, ImgHeight=240))
    assert isinstance(msg, VideoMessage)
    assert (msg.play_length_s, msg.width, msg.height, msg.msg_type) == (7, 320, 240, msg_type)
    assert dict(msg.leaked_ids) == {}


def test_store_emoticon_with_empty_content() -> None:
    msg = parse(entry(47, "", HasProductId=1, ImgWidth=100, ImgHeight=80))
    assert isinstance(msg, EmoticonMessage)
    assert (msg.md5, msg.cdn_url, msg.width, msg.height) == ("", "", 100, 80)


# ---- cards and requests (37, 40, 42) ---------------------------------------------------------


def recommend(**fields: Any) -> dict[str, Any]:
    return {"UserName": "@77aa", "NickName": "Zoe", "Scene": 17, "VerifyFlag": 24, **fields}


def test_share_card_of_official_account() -> None:
    xml = '<?xml version="1.0"?>\n<msg username="v1_abc@stranger" nickname="Zoe" certflag="24"/>\n'
    msg = parse(entry(42, encode_text(xml), RecommendInfo=recommend()))
    assert isinstance(msg, ShareCard)
    assert msg.card.user_name == "@77aa" and msg.card.is_official_account
    assert msg.encrypt_user_name == "v1_abc@stranger" and msg.leaked_ids == {}


def test_friend_request_without_chatroom() -> None:
    info = recommend(NickName='Ann <span class="emoji emoji1f600"></span>', Ticket="v2_t@stranger")
    xml = '<msg fromusername="wxid_ann" content="hi" ticket="v2_t@stranger" chatroomusername=""/>'
    msg = parse(entry(37, encode_text(xml), frm="fmessage", RecommendInfo=info))
    assert isinstance(msg, FriendRequest)
    assert msg.requester.nick_name == "Ann \U0001f600" and msg.greeting == "hi"
    assert (msg.real_id, msg.chatroom_real_id, msg.ticket) == ("wxid_ann", None, "v2_t@stranger")
    assert dict(msg.leaked_ids) == {"@77aa": "wxid_ann"}


def test_friend_request_without_recommend_info_is_unsupported() -> None:
    msg = parse(entry(37, "&lt;msg/&gt;", frm="fmessage"))
    assert isinstance(msg, UnknownMessage) and "RecommendInfo" in msg.reason


def test_possible_friend_and_voip() -> None:
    assert isinstance(parse(entry(40, "&lt;msg/&gt;")), PossibleFriend)
    for msg_type in (50, 52, 53):
        msg = parse(entry(msg_type, "&lt;voipmsg type=&quot;VoIPBubbleMsg&quot;/&gt;"))
        assert isinstance(msg, VoipMessage) and msg.msg_type == msg_type


# ---- system, red packet notice, sysnotice (10000, 9999) --------------------------------------


def test_system_message_links_and_emoji() -> None:
    wire = '你已添加了Ann<span class="emoji emoji1f600"></span>，&lt;a href="weixin://x"&gt;打招呼&lt;/a&gt;'
    msg = parse(entry(10000, wire, Status=4))
    assert isinstance(msg, SystemMessage) and msg.text == "你已添加了Ann\U0001f600，打招呼"


def test_red_packet_system_notice_in_group() -> None:
    msg = parse(entry(10000, "收到红包，请在手机上查看", frm=GROUP))
    assert isinstance(msg, RedPacketNotice)
    assert msg.text == "收到红包，请在手机上查看" and msg.chat == GROUP


def test_sysnotice_9999() -> None:
    msg = parse(entry(9999, "notice"))
    assert isinstance(msg, SystemMessage) and msg.msg_type == 9999 and msg.text == "notice"


# ---- recall (10002 and revokemsg in other system types, §6.5) --------------------------------


def test_recall_by_group_member_with_prefix_and_br_tab() -> None:
    content = f"{MEMBER}:<br/>" + revoke_xml(
        "6071299654335939419", "6726457518@chatroom", "<br/>\t"
    )
    msg = parse(entry(10002, content, frm=GROUP, Status=4))
    assert isinstance(msg, Recall)
    assert (msg.revoked_msg_id, msg.sender, msg.from_self) == ("6071299654335939419", MEMBER, False)
    assert msg.replace_text == '"Bob" 撤回了一条消息'
    assert dict(msg.leaked_ids) == {GROUP: "6726457518@chatroom"}


def test_recall_in_group_without_prefix_is_own() -> None:
    msg = parse(entry(10002, revoke_xml("42", "6726457518@chatroom"), frm=GROUP))
    assert isinstance(msg, Recall)
    assert (msg.sender, msg.from_self, msg.chat) == (SELF, True, GROUP)


def test_recall_own_direct_message_from_phone() -> None:
    msg = parse(entry(10002, revoke_xml("42"), frm=SELF, to=PEER))
    assert isinstance(msg, Recall)
    assert (msg.chat, msg.sender, msg.from_self) == (PEER, SELF, True)
    assert dict(msg.leaked_ids) == {PEER: "wxid_peer1"}


def test_recall_with_msgid_zero_means_last_own_message() -> None:
    msg = parse(entry(10002, revoke_xml("0")))
    assert isinstance(msg, Recall) and msg.revoked_msg_id is None


def test_recall_session_of_wrong_kind_is_not_leaked() -> None:
    msg = parse(entry(10002, revoke_xml("42", "1234@chatroom")))  # a group id for a 1:1 chat
    assert isinstance(msg, Recall) and msg.session_real_id == "1234@chatroom"
    assert msg.leaked_ids == {}


@pytest.mark.parametrize("msg_type", [10000, 9999, 10001])
def test_revokemsg_in_other_system_types_is_a_recall(msg_type: int) -> None:
    msg = parse(entry(msg_type, revoke_xml("77")))
    assert isinstance(msg, Recall) and msg.revoked_msg_id == "77" and msg.msg_type == msg_type


def test_revokemsg_typed_as_text_by_a_user_is_text() -> None:
    msg = parse(entry(1, revoke_xml("77")))
    assert isinstance(msg, TextMessage) and msg.text.startswith('<sysmsg type="revokemsg">')


@pytest.mark.parametrize(
    "content",
    [
        encode_text('<sysmsg type="pat"><pat/></sysmsg>'),
        revoke_xml("not-a-number"),
        "&lt;sysmsg&gt;broken",
    ],
)
def test_10002_without_usable_revokemsg_is_unsupported(content: str) -> None:
    msg = parse(entry(10002, content))
    assert isinstance(msg, UnknownMessage) and msg.raw_content == content and msg.msg_type == 10002


# ---- status notify (51) ----------------------------------------------------------------------


@pytest.mark.parametrize("code", [1, 2, 5])
def test_status_notify_codes(code: int) -> None:
    msg = parse(entry(51, "", frm=SELF, to=PEER, StatusNotifyCode=code, StatusNotifyUserName=PEER))
    assert isinstance(msg, StatusNotify)
    assert (msg.code, msg.user_names, msg.chat, msg.from_self) == (code, (PEER,), PEER, True)
    assert msg.leaked_ids == {}


def test_status_notify_4_misaligned_lists_leak_nothing() -> None:
    content = encode_text("<msg><op id='4'><username>wxid_a,wxid_b</username></op></msg>")
    names = f"{PEER},@1111,@2222"
    msg = parse(
        entry(51, content, frm=SELF, to=SELF, StatusNotifyCode=4, StatusNotifyUserName=names)
    )
    assert isinstance(msg, StatusNotify) and len(msg.user_names) == 3 and msg.leaked_ids == {}


def test_status_notify_4_pairs_persons_and_groups() -> None:
    content = encode_text(
        "<msg><op id='4'><username>wxid_a,123@chatroom,filehelper</username></op></msg>"
    )
    names = f"{PEER},{GROUP},filehelper"
    msg = parse(
        entry(51, content, frm=SELF, to=SELF, StatusNotifyCode=4, StatusNotifyUserName=names)
    )
    assert isinstance(msg, StatusNotify)
    assert dict(msg.leaked_ids) == {PEER: "wxid_a", GROUP: "123@chatroom"}


def test_unknown_msg_type_is_unsupported() -> None:
    msg = parse(entry(12345, "whatever"))
    assert isinstance(msg, UnknownMessage)
    assert (msg.reason, msg.raw_content, msg.msg_type) == (
        "unknown MsgType 12345",
        "whatever",
        12345,
    )
    assert msg.chat == PEER and msg.msg_id == "5000000000000000001"

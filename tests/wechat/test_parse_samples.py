"""Genuine captured payloads (tests/data/wechat) replayed through the message parser."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.wechat.client.messages import (
    EmoticonMessage,
    FileMessage,
    FriendRequest,
    ImageMessage,
    LinkMessage,
    LocationMessage,
    MusicMessage,
    Recall,
    ShareCard,
    StatusNotify,
    SystemMessage,
    TextMessage,
    VideoMessage,
    VoiceMessage,
)
from adapters.wechat.client.parse import parse_message, parse_sync_messages
from adapters.wechat.client.text import decode_text, encode_text
from adapters.wechat.client.types import Contact, UserName
from tests.wechat import samples

ME = UserName("@me")
GROUP = UserName("@@0123456789abcdef")


def load(name: str) -> Any:
    return samples.load(name)


def read(name: str) -> str:
    return samples.text(name).strip("\n")


def wrap(msg_type: int, content: str, from_user: str, **extra: Any) -> dict[str, Any]:
    """A minimal AddMsgList entry around a captured Content string."""
    return {
        "MsgId": "7000000000000000001",
        "FromUserName": from_user,
        "ToUserName": ME,
        "MsgType": msg_type,
        "Content": content,
        "CreateTime": 1600000000,
        **extra,
    }


def test_location_submsgtype48() -> None:
    raw = load("webwxsync-msg-1-location-submsgtype48-redacted.json")
    msg = parse_message(raw, UserName(raw["ToUserName"]))
    assert isinstance(msg, LocationMessage)
    assert (msg.label, msg.latitude, msg.longitude) == ("深圳市xxxx", 22.0, 113.0)
    assert msg.poi_name == "[位置]"
    assert msg.msg_id == "790000000000000" and msg.chat == "@xxxxxxxxxxxxxxxx"
    assert not msg.from_self and msg.create_time == 1560000000


def test_system_friend_added() -> None:
    raw = load("webwxsync-msg-10000-friend-added.json")
    msg = parse_message(raw, UserName(raw["ToUserName"]))
    assert isinstance(msg, SystemMessage)
    assert msg.text == "You have added 李卓桓.PreAngel as your WeChat contact. Start chatting!"
    assert msg.msg_id == "3382012679535022763"  # not the imprecise NewMsgId
    assert msg.chat == msg.sender == raw["FromUserName"]


def test_recall_1to1_with_br_tab_separators() -> None:
    raw = load("webwxsync-msg-10002-recall-1to1-redacted.json")
    # The publisher redacted From and To to the same string, so self is neither here.
    msg = parse_message(raw, ME)
    assert isinstance(msg, Recall)
    assert msg.revoked_msg_id == "41000000000000000"
    assert msg.session_real_id == "wxid_xxxxxxx"
    assert msg.replace_text == '"xx" 撤回了一条消息'
    assert msg.chat == msg.sender == "@xxxxxxxxxxxxxxxxxxx" and not msg.from_self
    assert dict(msg.leaked_ids) == {"@xxxxxxxxxxxxxxxxxxx": "wxid_xxxxxxx"}


def test_recall_own_in_group_has_no_prefix() -> None:
    raw = load("webwxsync-msg-10002-recall-self-in-group.json")
    me = UserName(raw["ToUserName"])
    msg = parse_message(raw, me)
    assert isinstance(msg, Recall)
    assert msg.revoked_msg_id == "4241293912041778012"
    assert msg.chat == raw["FromUserName"] and msg.is_group
    assert msg.sender == me and msg.from_self
    assert msg.replace_text == "你撤回了一条消息"
    assert dict(msg.leaked_ids) == {raw["FromUserName"]: "5538097630@chatroom"}


def test_image_old_xml() -> None:
    raw = load("webwxsync-msg-3-image-xml-2017.json")
    msg = parse_message(raw, UserName(raw["ToUserName"]))
    assert isinstance(msg, ImageMessage)
    assert (msg.width, msg.height) == (90, 120)
    assert msg.md5 == "5a774ad813f40fb3ca81349d82101423" and msg.size == 139120
    assert msg.msg_id == "6081337643309445027"


def test_voice_leaks_sender_real_id() -> None:
    raw = load("webwxsync-msg-34-voice-2017.json")
    msg = parse_message(raw, UserName(raw["ToUserName"]))
    assert isinstance(msg, VoiceMessage)
    assert msg.voice_length_ms == 2112
    assert dict(msg.leaked_ids) == {"@a257b99314d8313862cd44ab02fe0f81": "zyfandlzz"}


def test_friend_request() -> None:
    raw = load("webwxsync-msg-37-friend-request.json")
    msg = parse_message(raw, UserName(raw["ToUserName"]))
    assert isinstance(msg, FriendRequest)
    requester = "@04a0fa314d0d8d50dc54e2ec908744ebf46b87404d143fd9a6692182dd90bd49"
    assert msg.requester.user_name == requester
    assert msg.requester.nick_name == "李卓桓.PreAngel" and msg.requester.alias == "zixia008"
    assert msg.greeting == '我是群聊"Wechaty"的李卓桓.PreAngel'
    assert msg.ticket.startswith("v2_ba70dfbdb1b1") and msg.ticket.endswith("@stranger")
    assert msg.real_id == "wxid_a8d806dzznm822"
    assert msg.chatroom_real_id == "2332413729@chatroom"
    assert msg.encrypt_user_name.startswith("v1_c1e03a32")
    assert dict(msg.leaked_ids) == {requester: "wxid_a8d806dzznm822"}
    assert msg.chat == "fmessage"


def test_share_card() -> None:
    raw = load("webwxsync-msg-42-card-2017.json")
    msg = parse_message(raw, UserName(raw["ToUserName"]))
    assert isinstance(msg, ShareCard)
    assert msg.card.nick_name == "LittleCoder机器人" and msg.card.scene == 17
    assert msg.card.user_name == "@173bd4ce01b725f327c221a06017260734d4607001d1dc82ba6b99c1ef77fb92"
    assert msg.encrypt_user_name.startswith("v1_183ca2dd") and not msg.card.is_official_account
    assert msg.head_img_url.endswith("/0")


def test_video_old_xml() -> None:
    raw = load("webwxsync-msg-43-video-2017.json")
    msg = parse_message(raw, UserName(raw["ToUserName"]))
    assert isinstance(msg, VideoMessage)
    assert (msg.play_length_s, msg.width, msg.height) == (2, 960, 540)
    assert dict(msg.leaked_ids) == {"@a257b99314d8313862cd44ab02fe0f81": "zyfandlzz"}


def test_link_card() -> None:
    raw = load("webwxsync-msg-49-5-link-truncated.json")
    msg = parse_message(raw, UserName(raw["ToUserName"]))
    assert isinstance(msg, LinkMessage)
    assert msg.title == "约返:0.99 优惠卷:5 付费价33.00"
    assert msg.url == "http://t.cn/RrBhwLB"
    assert msg.description.startswith("唯资眉笔水眉笔") and msg.articles == ()
    assert msg.thumb_url.startswith("https://img.alicdn.com/")


def test_file_in_group() -> None:
    raw = load("webwxsync-msg-49-6-file-in-group-redacted.json")
    msg = parse_message(raw, ME)
    assert isinstance(msg, FileMessage)
    assert msg.chat == raw["FromUserName"] and msg.sender == "@xxxxxxxxxxxxxxxxx"
    assert (msg.file_name, msg.file_size, msg.file_ext) == ("fileName.zip", 1024, "zip")
    assert msg.media_id == "@crypt_xxxxxxxxxxxxxxxxxxxxxxxxxxx"
    assert msg.encry_file_name == "fileName%2Ezip" and msg.attach_id == "@cdn_qwerty_abcd_1"


def test_statusnotify_4_pairs_real_ids() -> None:
    raw = load("webwxsync-msg-51-statusnotify-4-syncconv.json")
    me = UserName(raw["FromUserName"])
    msg = parse_message(raw, me)
    assert isinstance(msg, StatusNotify)
    assert msg.code == 4 and len(msg.user_names) == 14 and msg.user_names[0] == "filehelper"
    assert msg.from_self and msg.chat == me
    leaks = dict(msg.leaked_ids)
    assert leaks[me] == "wxid_58jz348qthxu22"
    assert (
        leaks[UserName("@@91725f3540c33f3dd9b2ce623b35843ede8d485ff12e19c561195328ef027bfa")]
        == "2522583537@chatroom"
    )
    assert leaks[UserName("@4aa0cd5d652b389d2ac02eaaa92efb30")] == "gh_a9506d05eeba"
    # Special accounts are their own real id: nothing leaked for them.
    assert "filehelper" not in leaks and "weixin" not in leaks and len(leaks) == 10


def test_text_1to1() -> None:
    raw = load("webwxsync-msg-text-1to1-puppet-wechat.json")
    msg = parse_message(raw, UserName(raw["ToUserName"]))
    assert isinstance(msg, TextMessage)
    assert msg.text == "test123" and msg.msg_id == "179242112323992762"
    assert msg.chat == msg.sender == "@0bb3e4dd746fdbd4a80546aef66f4085"
    assert msg.create_time == 1461652670 and msg.mentions == ()


def test_sync_response_emoticon_statusnotify_video_text() -> None:
    me = UserName("@f0c04abe389590b02d91684d99584439")
    peer = "@d77f22c1444fcbd7092fa2464899391a3cc0d6a9ec79b0770ce91be01a66a09b"
    body = load("webwxsync-response-emoticon-statusnotify-video-text.json")
    emoticon, read_mark, video, text = parse_sync_messages(body["AddMsgList"], me)
    assert isinstance(emoticon, EmoticonMessage)
    assert emoticon.md5 == "594560af0d32d92224682ee2c292877a"
    assert emoticon.cdn_url.startswith("http://emoji.qpic.cn/wx_emoji/NBYII27")
    assert (emoticon.width, emoticon.height, emoticon.product_id) == (240, 210, "")
    assert isinstance(read_mark, StatusNotify)
    assert read_mark.code == 1 and read_mark.user_names == (peer,)
    assert read_mark.from_self and read_mark.chat == peer
    assert isinstance(video, VideoMessage)
    assert (video.play_length_s, video.width, video.height) == (10, 290, 512)
    assert isinstance(text, TextMessage) and text.text == "为什么这么冷"
    assert all(m.chat == peer for m in (emoticon, video, text))


def test_sync_response_selfsent_filehelper() -> None:
    me = UserName("@2b7a7b2a286a0241e6383435c9119a010767378339fe743f08dcedf860fa8684")
    body = load("webwxsync-response-selfsent-filehelper-enter-quit-session.json")
    enter, hi, here, leave = parse_sync_messages(body["AddMsgList"], me)
    assert isinstance(enter, StatusNotify) and enter.code == 2
    assert isinstance(leave, StatusNotify) and leave.code == 5
    assert isinstance(hi, TextMessage) and isinstance(here, TextMessage)
    assert (hi.text, here.text) == ("hi", "here")
    for msg in (enter, hi, here, leave):
        assert msg.chat == "filehelper" and msg.sender == me and msg.from_self


def test_group_text_prefix_2016() -> None:
    me = UserName("@31908794c3035a00b386bc9ef0526ee8d95b3c426d53fb4f9466b67d7a0b5fef")
    body = load("webwxsync-addmsglist-group-text-prefix-2016.json")
    group_text, direct = parse_sync_messages(body["AddMsgList"], me)
    assert isinstance(group_text, TextMessage) and isinstance(direct, TextMessage)
    assert group_text.text == "好了，收工，你们聊"
    assert group_text.sender == "@f88c48e531bc7de94072a206729750ff"
    assert group_text.chat.startswith("@@cd020d32") and group_text.is_group
    assert direct.text == "牛逼哄哄的啊！" and direct.sender == direct.chat and not direct.is_group


def test_modcontactlist_new_group_2016() -> None:
    body = load("webwxsync-modcontactlist-new-group-2016.json")
    (group,) = (Contact.from_wire(c) for c in body["ModContactList"])
    assert group.is_group and group.member_count == 2
    assert group.chat_room_owner == (
        "@31908794c3035a00b386bc9ef0526ee8d95b3c426d53fb4f9466b67d7a0b5fef"
    )
    names = [decode_text(member.nick_name) for member in group.members]
    assert names == ["膜法师", "狂风落尽深红色绿树成荫子满枝"]
    assert [member.uin for member in group.members] == [236008826, 2684027137]
    assert decode_text(group.nick_name) == ""


def test_recall_content_1to1() -> None:
    msg = parse_message(wrap(10002, read("recall-content-1to1.txt"), "@peer"), ME)
    assert isinstance(msg, Recall)
    assert msg.revoked_msg_id == "2512199943216137293"
    assert msg.session_real_id == "wxid_80r79dvk0aoa21"
    assert msg.replace_text == '"龙马" 撤回了一条消息'
    assert msg.sender == msg.chat == "@peer" and not msg.from_self
    assert dict(msg.leaked_ids) == {"@peer": "wxid_80r79dvk0aoa21"}


def test_recall_content_group_member_with_prefix() -> None:
    content = read("recall-content-group-member-with-prefix.txt")
    msg = parse_message(wrap(10002, content, GROUP), ME)
    assert isinstance(msg, Recall)
    assert msg.sender == "@129260f862259b5abff0904ee8810664b36f64e74e9d580bd86cd4ba366227a2"
    assert not msg.from_self and msg.chat == GROUP
    assert msg.revoked_msg_id == "6071299654335939419"
    assert msg.replace_text == '"超！神罗天征！\U0001f47e" 撤回了一条消息'
    assert dict(msg.leaked_ids) == {GROUP: "6726457518@chatroom"}


@pytest.mark.parametrize("msg_type", [10002, 10000])
def test_recall_content_newer_with_announcement_id(msg_type: int) -> None:
    content = "@member01:<br/>" + read("recall-content-newer-with-announcement_id.txt")
    msg = parse_message(wrap(msg_type, content, GROUP), ME)
    assert isinstance(msg, Recall)
    assert msg.revoked_msg_id == "2351104337353368038"
    assert msg.session_real_id == "48659484053@chatroom"
    assert msg.replace_text == '"ロリ何で最高です" 撤回了一条消息'
    assert msg.sender == "@member01" and msg.msg_type == msg_type


def test_sysmsg_10000_group_invite() -> None:
    content = read("sysmsg-10000-group-invite-content.txt")
    msg = parse_message(wrap(10000, content, GROUP), ME)
    assert isinstance(msg, SystemMessage)
    assert msg.text == '" \U0001f338卷卷卷\U0001f338"邀请"Hou$e"加入了群聊'
    assert msg.sender == msg.chat == GROUP


def test_appmsg_3_music() -> None:
    content = encode_text(read("appmsg-3-music-content.xml"))
    msg = parse_message(wrap(49, content, "@peer", AppMsgType=3), ME)
    assert isinstance(msg, MusicMessage)
    stream = (
        "http://ws.stream.qqmusic.qq.com/C100003i9hMt1bgui0.m4a?vkey=6867EF99F3684"
        "&guid=ffffffffc104ea2964a111cf3ff3edaf&fromtag=46"
    )
    assert msg.data_url == stream and msg.low_data_url == stream
    assert msg.app_name == "摇一摇搜歌" and msg.title == ""
    assert msg.thumb_url == "http://imgcache.qq.com/music/photo/album/63/180_albumpic_143163_0.jpg"


def test_emoji_47() -> None:
    content = encode_text(read("emoji-47-content.xml"))
    msg = parse_message(wrap(47, content, "@peer", HasProductId=1), ME)
    assert isinstance(msg, EmoticonMessage)
    assert msg.md5 == "e68363487d8f0519c4e1047de403b2e7"
    assert msg.product_id == "com.tencent.xin.emoticon.bilibili"
    assert msg.cdn_url == (
        "http://emoji.qpic.cn/wx_emoji/eFygWtxcoMF8M0oCCsksMA0gplXAFQNpiaqsmOicbXl1OC4Tyx18SGsQ/"
    )

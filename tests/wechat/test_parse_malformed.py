"""Malformed AddMsgList entries become UnknownMessage (or are dropped), never an exception."""

from __future__ import annotations

import logging
import typing
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.wechat.client.messages import (
    EmoticonMessage,
    FriendRequest,
    TextMessage,
    UnknownMessage,
    WeChatMessage,
)
from adapters.wechat.client.parse import parse_message, parse_sync_messages
from adapters.wechat.client.text import MAX_CONTENT_CHARS
from adapters.wechat.client.types import UserName

SELF = UserName("@5e1f")
EVENT_TYPES = typing.get_args(WeChatMessage)
MSG_TYPES = [1, 3, 34, 37, 40, 42, 43, 47, 48, 49, 50, 51, 52, 53, 62, 9999, 10000, 10002, 7]


def entry(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "MsgId": "3000000000000000001",
        "FromUserName": "@9ee4",
        "ToUserName": SELF,
        "MsgType": 1,
        "Content": "hi",
        "CreateTime": 1700000000,
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


@pytest.mark.parametrize("raw", [None, [], "text", 42, b"bytes", ("MsgId", "1")])
def test_entry_that_is_not_an_object(raw: Any) -> None:
    msg = parse_message(raw, SELF)
    assert (
        isinstance(msg, UnknownMessage)
        and msg.msg_id == ""
        and msg.reason == "entry is not an object"
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"MsgId": ...}, "missing or invalid MsgId"),
        ({"MsgId": "12ab"}, "missing or invalid MsgId"),
        ({"MsgId": True}, "missing or invalid MsgId"),
        ({"MsgId": 1.5}, "missing or invalid MsgId"),
        ({"MsgType": ...}, "missing or invalid MsgType"),
        ({"MsgType": "text"}, "missing or invalid MsgType"),
        ({"MsgType": -1}, "missing or invalid MsgType"),
        ({"FromUserName": 12}, "FromUserName/ToUserName is not a string"),
        ({"ToUserName": ["@a"]}, "FromUserName/ToUserName is not a string"),
        ({"Content": 12}, "Content is not a string"),
        ({"Content": {"a": 1}}, "Content is not a string"),
    ],
)
def test_malformed_common_fields(fields: dict[str, Any], reason: str) -> None:
    msg = parse_message(entry(**fields), SELF)
    assert isinstance(msg, UnknownMessage) and msg.reason == reason


class Hostile(Mapping[str, Any]):
    """A mapping that fails on every read, standing in for a parser bug."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def test_a_failure_inside_the_parser_becomes_unsupported() -> None:
    msg = parse_message(Hostile(), SELF)
    assert isinstance(msg, UnknownMessage) and msg.reason == "parser error: RuntimeError"
    assert parse_sync_messages([Hostile(), entry()], SELF)[0].msg_id == "3000000000000000001"


def test_lenient_field_types_are_accepted() -> None:
    msg = parse_message(entry(MsgId=3000000000000000001, MsgType="1", CreateTime="17"), SELF)
    assert isinstance(msg, TextMessage)
    assert (msg.msg_id, msg.create_time, msg.text) == ("3000000000000000001", 17, "hi")
    missing = parse_message(entry(Content=None, CreateTime=None, FromUserName=None), SELF)
    assert isinstance(missing, TextMessage) and missing.text == "" and missing.from_self


def test_huge_content_is_unsupported_not_parsed() -> None:
    content = "&lt;msg&gt;" + "x" * (MAX_CONTENT_CHARS + 1)
    msg = parse_message(entry(MsgType=49, Content=content, AppMsgType=5), SELF)
    assert isinstance(msg, UnknownMessage) and msg.reason.startswith("Content too large")
    assert msg.msg_id == "3000000000000000001"


def test_large_but_allowed_text_is_kept() -> None:
    text = "字" * 200_000
    msg = parse_message(entry(Content=text), SELF)
    assert isinstance(msg, TextMessage) and msg.text == text


@pytest.mark.parametrize(
    "content",
    [
        "&lt;msg&gt;&lt;appmsg&gt;&lt;title&gt;x",
        '&lt;!DOCTYPE m [&lt;!ENTITY a "aaaaaaaa"&gt;&lt;!ENTITY b "&amp;a;&amp;a;&amp;a;"&gt;]&gt;'
        "&lt;msg&gt;&amp;b;&lt;/msg&gt;",
        "<<<>>>&&&;;;",
        "@x:<br/>",
    ],
)
def test_garbage_xml_in_app_message_and_recall(content: str) -> None:
    for msg_type in (49, 10002):
        msg = parse_message(entry(MsgType=msg_type, Content=content, AppMsgType=6), SELF)
        assert isinstance(msg, UnknownMessage) and msg.raw_content == content


def test_garbage_xml_in_types_with_enough_fields_still_parses() -> None:
    info = {"UserName": "@77aa", "NickName": "Zoe", "Ticket": "v2_t"}
    request = parse_message(entry(MsgType=37, Content="&lt;msg", RecommendInfo=info), SELF)
    assert isinstance(request, FriendRequest)
    assert request.requester.nick_name == "Zoe" and request.real_id is None
    sticker = parse_message(entry(MsgType=47, Content="&lt;msg&gt;&lt;emoji"), SELF)
    assert isinstance(sticker, EmoticonMessage) and sticker.md5 == ""


def test_recommend_info_with_wrong_types() -> None:
    info = {"UserName": "@77aa", "NickName": 5, "Sex": "x", "Scene": None, "VerifyFlag": [1]}
    msg = parse_message(entry(MsgType=42, Content="", RecommendInfo=info), SELF)
    assert msg.msg_type == 42 and not isinstance(msg, UnknownMessage)


def test_parse_sync_messages_drops_entries_without_msg_id() -> None:
    entries = [
        entry(MsgId="1", Content="a"),
        None,
        entry(MsgId=...),
        entry(MsgId="2", MsgType=12345),
        entry(MsgId="3", Content=["x"]),
        entry(MsgId="4", Content="b"),
    ]
    parsed = parse_sync_messages(entries, SELF)
    assert [m.msg_id for m in parsed] == ["1", "2", "3", "4"]
    assert [type(m) for m in parsed] == [TextMessage, UnknownMessage, UnknownMessage, TextMessage]


@pytest.mark.parametrize("value", [None, {}, "list", 5, {"AddMsgList": []}])
def test_parse_sync_messages_with_no_list(value: Any) -> None:
    assert parse_sync_messages(value, SELF) == []


def test_body_is_not_logged_above_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="adapters.wechat.client.parse")
    parse_message(entry(MsgType="bad", Content="very-private-words"), SELF)
    parse_message(entry(MsgType=12345, Content="very-private-words"), SELF)
    above_debug = [r for r in caplog.records if r.levelno > logging.DEBUG]
    assert above_debug, "malformed input must be logged"
    assert all("very-private-words" not in r.getMessage() for r in above_debug)


# ---- property: parse_message never raises ----------------------------------------------------

FIELDS = [
    "MsgId", "FromUserName", "ToUserName", "MsgType", "Content", "CreateTime", "SubMsgType",
    "AppMsgType", "OriContent", "Url", "FileName", "FileSize", "MediaId", "EncryFileName",
    "VoiceLength", "PlayLength", "ImgWidth", "ImgHeight", "StatusNotifyCode",
    "StatusNotifyUserName", "RecommendInfo", "HasProductId",
]  # fmt: skip
FRAGMENTS = [
    "<br/>", "&lt;", "&gt;", "&amp;", "&quot;", "msg", "appmsg", "sysmsg", "revokemsg", "msgid",
    "refermsg", "svrid", "<span class=\"emoji emoji1f600\"></span>", "emoji1f1e8", "@abc:<br/>",
    "wxid_x", "@chatroom", "<![CDATA[", "]]>", "=\"", "/", " ", "\u2005", "@", ":", "0", "9",
    "location", "x=\"1\"", "<", ">", "&",
]  # fmt: skip
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
wireish = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=5), max_size=40).map("".join)


@settings(derandomize=True, max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), json_values | wireish))
def test_parse_message_never_raises_on_arbitrary_dicts(raw: dict[str, Any]) -> None:
    msg = parse_message(raw, SELF)
    assert isinstance(msg, EVENT_TYPES)
    assert not (isinstance(msg, UnknownMessage) and msg.reason.startswith("parser error")), msg


@settings(derandomize=True, max_examples=400, deadline=None)
@given(
    msg_type=st.sampled_from(MSG_TYPES),
    app_type=st.sampled_from([0, 1, 3, 4, 5, 6, 8, 19, 33, 57, 2000, 2001]),
    frm=st.sampled_from(["@9ee4", "@@6a0b", SELF, ""]),
    content=wireish,
    ori=wireish,
)
def test_parse_message_never_raises_on_wire_like_content(
    msg_type: int, app_type: int, frm: str, content: str, ori: str
) -> None:
    raw = entry(MsgType=msg_type, AppMsgType=app_type, FromUserName=frm, Content=content,
                OriContent=ori, StatusNotifyCode=4, StatusNotifyUserName=content)  # fmt: skip
    msg = parse_message(raw, SELF)
    assert isinstance(msg, EVENT_TYPES) and msg.msg_id == "3000000000000000001"
    assert not (isinstance(msg, UnknownMessage) and msg.reason.startswith("parser error")), msg

"""Common fields of an AddMsgList entry, shared by the message parsers (PROTOCOL.md §6.1)."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

import attrs

from adapters.wechat.client import messages as m
from adapters.wechat.client.text import (
    MAX_CONTENT_CHARS,
    decode_text,
    split_group_prefix,
    to_int,
)
from adapters.wechat.client.types import MsgId, RealId, UserName, is_group

log = logging.getLogger(__name__)

MSG_ID_RE = re.compile(r"[0-9]{1,32}")
# wxid_…, gh_…, custom WeChat ids, special accounts, NNN@chatroom; never `@…` session names
# nor `v1_…@stranger` temporary ids (PROTOCOL.md §11).
REAL_ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}(?:@chatroom)?")
COORD_RE = re.compile(r"coord=(-?[0-9]{1,3}(?:\.[0-9]+)?),(-?[0-9]{1,3}(?:\.[0-9]+)?)")
LOCATION_LABEL_RE = re.compile(r"(.*?):<br\s*/?>/cgi-bin/", re.DOTALL)
# MsgTypes whose Content a user wrote: a `revokemsg` in them is text, not a recall — otherwise
# anyone could redact messages by sending the XML as a chat message.
USER_CONTENT_TYPES = frozenset({1, 3, 34, 42, 43, 47, 48, 49, 62})
SYSTEM_TYPES = frozenset({9999, 10000})
RED_PACKET_NOTICE = "收到红包"
MAX_HISTORY_ITEMS = 500


class Common(TypedDict):
    msg_id: MsgId
    msg_type: int
    from_user_name: UserName
    to_user_name: UserName
    chat: UserName
    sender: UserName
    from_self: bool
    create_time: int


@attrs.frozen
class Entry:
    """One AddMsgList entry being parsed: ``body`` is Content minus the group prefix."""

    raw: Mapping[str, Any]
    common: Common
    body: str
    self_user_name: UserName

    def s(self, key: str) -> str:
        value = self.raw.get(key)
        return value if isinstance(value, str) else ""

    def i(self, key: str) -> int:
        return to_int(self.raw.get(key))

    def unsupported(self, reason: str, app_msg_type: int = 0, title: str = "") -> m.UnknownMessage:
        log.info(
            "Unsupported WeChat message %s (MsgType %d): %s",
            self.common["msg_id"],
            self.common["msg_type"],
            reason,
        )
        return m.UnknownMessage(
            **self.common,
            raw_content=self.s("Content"),
            reason=reason,
            app_msg_type=app_msg_type,
            title=decode_text(self.s("FileName")),
        )


def leaks(pairs: Iterable[tuple[str, str]]) -> dict[UserName, RealId]:
    """Keep the pairs that really reveal a real id for a session UserName (PROTOCOL.md §11)."""
    out: dict[UserName, RealId] = {}
    for user_name, real in pairs:
        real = real.strip()
        if not user_name or user_name == real or not REAL_ID_RE.fullmatch(real):
            continue
        if is_group(user_name) != is_group(real):  # a person's id never names a group
            continue
        out[UserName(user_name)] = RealId(real)
    return out


def real_id(text: str) -> RealId | None:
    text = text.strip()
    return RealId(text) if REAL_ID_RE.fullmatch(text) else None


def first(root: ET.Element | None, tag: str) -> ET.Element | None:
    """``root`` itself if it is ``<tag>``, else its first ``<tag>`` descendant."""
    if root is None:
        return None
    return root if root.tag == tag else root.find(f".//{tag}")


def str_field(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return ""
    return value if isinstance(value, str) else None


def parse_msg_id(value: object) -> MsgId:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return MsgId(value) if isinstance(value, str) and MSG_ID_RE.fullmatch(value) else MsgId("")


def read_entry(raw: Mapping[str, Any], self_user_name: UserName) -> Entry | m.UnknownMessage:
    """Common fields and peer/sender resolution (PROTOCOL.md §6.1, §6.2)."""
    problems = []
    msg_id = parse_msg_id(raw.get("MsgId"))
    if not msg_id:
        problems.append("missing or invalid MsgId")
    from_user, to_user = str_field(raw, "FromUserName"), str_field(raw, "ToUserName")
    if from_user is None or to_user is None:
        problems.append("FromUserName/ToUserName is not a string")
    msg_type = to_int(raw.get("MsgType"), -1)
    if msg_type < 0:
        problems.append("missing or invalid MsgType")
    content = str_field(raw, "Content")
    if content is None:
        problems.append("Content is not a string")
    elif len(content) > MAX_CONTENT_CHARS:
        problems.append(f"Content too large ({len(content)} characters)")
    from_user, to_user = UserName(from_user or ""), UserName(to_user or "")
    from_self = from_user in (self_user_name, "")
    chat = to_user if from_self else from_user
    common = Common(
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
    if not problems and not from_self and is_group(chat) and msg_type not in SYSTEM_TYPES:
        prefix, body = split_group_prefix(body)
        if prefix is not None:
            common["sender"] = UserName(prefix)
    entry = Entry(raw, common, body, self_user_name)
    if problems:
        log.warning(
            "Skipping malformed WeChat message %s (MsgType %s): %s",
            msg_id or "?",
            msg_type,
            "; ".join(problems),
        )
        log.debug("Malformed WeChat message Content: %r", (content or "")[:2000])
        return m.UnknownMessage(
            **common, raw_content=content or "", reason="; ".join(problems), title=""
        )
    return entry

"""Typed values of the WeChat web protocol: ids, hosts, credentials, SyncKey and contacts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NewType

import attrs

#: Session-scoped id: ``@`` + 32/64 hex (people), ``@@`` + 64 hex (groups), or a special
#: account name such as ``filehelper``. Re-issued at every login (PROTOCOL.md §11).
UserName = NewType("UserName", str)
#: Server message id, a 64-bit decimal string (17-19 digits) (PROTOCOL.md §6.1).
MsgId = NewType("MsgId", str)
#: Client-chosen id of a sent message, a numeric string (PROTOCOL.md §7).
ClientMsgId = NewType("ClientMsgId", str)
#: Real, stable account id leaked by some payloads: ``wxid_...``, ``gh_...``, ``NNN@chatroom``
#: (PROTOCOL.md §11).
RealId = NewType("RealId", str)
#: QR login uuid (PROTOCOL.md §2.1).
Uuid = NewType("Uuid", str)


def is_group(user_name: str) -> bool:
    """True for group UserNames (``@@...``) and real group ids (``...@chatroom``) (§3.5)."""
    return user_name.startswith("@@") or user_name.endswith("@chatroom")


@attrs.frozen
class Hosts:
    """The four host roles of PROTOCOL.md §1, each a base URL like ``https://wx.qq.com``."""

    login: str
    api: str
    file: str
    push: str

    @classmethod
    def for_api_host(cls, api_base: str) -> Hosts:
        """Derive login/file/push hosts from the API host with the 2022 table of §1.

        ``api_base`` is ``scheme://host[:port]``. A base that contains none of the WeChat host
        names (e.g. a local simulator) is used for every role, as itchat does.
        """
        scheme, _, host = api_base.partition("://")
        table = (
            ("wx2.qq.com", "login.wx2.qq.com", "file.wx2.qq.com", "webpush.wx2.qq.com"),
            ("wx8.qq.com", "login.wx8.qq.com", "file.wx8.qq.com", "webpush.wx8.qq.com"),
            ("qq.com", "login.wx.qq.com", "file.wx.qq.com", "webpush.wx.qq.com"),
            (
                "web2.wechat.com",
                "login.web2.wechat.com",
                "file.web2.wechat.com",
                "webpush.web2.wechat.com",
            ),
            ("wechat.com", "login.web.wechat.com", "file.web.wechat.com", "webpush.web.wechat.com"),
        )
        for needle, login, file, push in table:
            if needle in host:
                return cls(
                    login=f"{scheme}://{login}",
                    api=api_base,
                    file=f"{scheme}://{file}",
                    push=f"{scheme}://{push}",
                )
        return cls(login=api_base, api=api_base, file=api_base, push=api_base)


@attrs.frozen
class Credentials:
    """What webwxnewloginpage returns (PROTOCOL.md §2.4). Secrets are kept out of ``repr``.

    ``uin`` is the real account uin (decimal string); ``skey`` may be empty in UOS mode.
    """

    uin: str
    sid: str = attrs.field(repr=False)
    skey: str = attrs.field(repr=False)
    pass_ticket: str = attrs.field(repr=False)
    device_id: str = attrs.field(repr=False)

    def base_request(self) -> dict[str, Any]:
        """The ``BaseRequest`` object every JSON API body carries (PROTOCOL.md §1)."""
        uin: int | str = int(self.uin) if self.uin.isdigit() else self.uin
        return {"Uin": uin, "Sid": self.sid, "Skey": self.skey, "DeviceID": self.device_id}


@attrs.frozen
class SyncKey:
    """A SyncKey or SyncCheckKey: ordered ``(Key, Val)`` pairs (PROTOCOL.md §4, §5)."""

    pairs: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any] | None) -> SyncKey:
        """Parse ``{"Count": n, "List": [{"Key": k, "Val": v}, ...]}``; missing → empty."""
        if not obj:
            return cls()
        return cls(tuple((int(item["Key"]), int(item["Val"])) for item in obj.get("List") or ()))

    def to_wire(self) -> dict[str, Any]:
        """The JSON object sent in a webwxsync body."""
        return {
            "Count": len(self.pairs),
            "List": [{"Key": k, "Val": v} for k, v in self.pairs],
        }

    def formatted(self) -> str:
        """The synccheck ``synckey`` parameter: ``1_698325105|2_698325111|...``."""
        return "|".join(f"{k}_{v}" for k, v in self.pairs)

    @classmethod
    def from_formatted(cls, text: str) -> SyncKey:
        """Parse the synccheck form ``1_698325105|2_698325111|...`` (inverse of ``formatted``).

        Raises ``ValueError`` on a malformed pair; an empty string gives an empty key.
        """
        pairs = []
        for part in filter(None, text.split("|")):
            key, sep, val = part.partition("_")
            if not sep:
                raise ValueError(f"not a Key_Val pair: {part!r}")
            pairs.append((int(key), int(val)))
        return cls(tuple(pairs))

    def __bool__(self) -> bool:
        return bool(self.pairs)


def _s(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return "" if value is None else str(value)


def _i(obj: Mapping[str, Any], key: str) -> int:
    try:
        return int(obj.get(key) or 0)
    except (TypeError, ValueError, OverflowError):
        return 0


@attrs.frozen
class Member:
    """One entry of a group's ``MemberList`` (PROTOCOL.md §3.4)."""

    user_name: UserName
    nick_name: str = ""
    display_name: str = ""
    uin: int = 0
    attr_status: int = 0
    key_word: str = ""

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> Member:
        """Build from a MemberList entry; missing fields default to empty/0."""
        return cls(
            user_name=UserName(_s(obj, "UserName")),
            nick_name=_s(obj, "NickName"),
            display_name=_s(obj, "DisplayName"),
            uin=_i(obj, "Uin"),
            attr_status=_i(obj, "AttrStatus"),
            key_word=_s(obj, "KeyWord"),
        )


@attrs.frozen
class Contact:
    """A contact, group or special account as webwxinit/webwxgetcontact/webwxbatchgetcontact
    and ModContactList return it (PROTOCOL.md §3.3, §3.4). Text fields are raw wire strings
    (emoji still as ``<span>``); ``members`` is empty unless the payload listed them.
    """

    user_name: UserName
    nick_name: str = ""
    remark_name: str = ""
    alias: str = ""
    sex: int = 0
    province: str = ""
    city: str = ""
    signature: str = ""
    head_img_url: str = ""
    contact_flag: int = 0
    verify_flag: int = 0
    uin: int = 0
    key_word: str = ""
    encry_chat_room_id: str = ""
    member_count: int = 0
    members: tuple[Member, ...] = ()
    chat_room_owner: str = ""
    display_name: str = ""
    attr_status: int = 0

    @property
    def is_group(self) -> bool:
        """True for ``@@`` group UserNames (§3.5)."""
        return is_group(self.user_name)

    @property
    def is_official_account(self) -> bool:
        """``VerifyFlag & 8`` and not a group (§3.5)."""
        return not self.is_group and bool(self.verify_flag & 8)

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> Contact:
        """Build from a contact object; tolerates missing fields and ``null`` lists."""
        listed = obj.get("MemberList")
        members: Sequence[Any] = listed if isinstance(listed, list | tuple) else ()
        return cls(
            user_name=UserName(_s(obj, "UserName")),
            nick_name=_s(obj, "NickName"),
            remark_name=_s(obj, "RemarkName"),
            alias=_s(obj, "Alias"),
            sex=_i(obj, "Sex"),
            province=_s(obj, "Province"),
            city=_s(obj, "City"),
            signature=_s(obj, "Signature"),
            head_img_url=_s(obj, "HeadImgUrl"),
            contact_flag=_i(obj, "ContactFlag"),
            verify_flag=_i(obj, "VerifyFlag"),
            uin=_i(obj, "Uin"),
            key_word=_s(obj, "KeyWord"),
            encry_chat_room_id=_s(obj, "EncryChatRoomId"),
            member_count=_i(obj, "MemberCount"),
            members=tuple(Member.from_wire(m) for m in members if isinstance(m, Mapping)),
            chat_room_owner=_s(obj, "ChatRoomOwner"),
            display_name=_s(obj, "DisplayName"),
            attr_status=_i(obj, "AttrStatus"),
        )

"""JSON shapes of the web API: contacts, members, messages, error skeletons (PROTOCOL.md §3-§6)."""

from __future__ import annotations

import hashlib
from typing import Any

from .content import emoji_spans
from .model import Account, Contact, Group, MsgTemplate, Session

ICON = "/cgi-bin/mmwebwx-bin/webwxgeticon"
HEADIMG = "/cgi-bin/mmwebwx-bin/webwxgetheadimg"

#: Special accounts listed in every address book, with their wire NickName (§3.5).
SPECIAL_NICKNAMES = {"filehelper": "文件传输助手"}


def base_response(ret: int = 0, errmsg: str = "") -> dict[str, Any]:
    """``{"Ret": ret, "ErrMsg": errmsg}``."""
    return {"Ret": ret, "ErrMsg": errmsg}


def _attr_status(real_id: str) -> int:
    return int(hashlib.sha256(real_id.encode()).hexdigest()[:5], 16)


def _pinyin(text: str) -> tuple[str, str]:
    """ASCII names only: (initials, full) like PYInitial/PYQuanPin; empty otherwise."""
    if not text.isascii():
        return "", ""
    words = [w for w in text.split() if w]
    return "".join(w[0] for w in words).upper(), "".join(words).lower()


def _icon(session: Session, real_id: str, seq: int, skey: str) -> str:
    path = HEADIMG if real_id.endswith("@chatroom") else ICON
    return f"{path}?seq={seq}&username={session.user_name(real_id)}&skey={skey}"


def contact_entry(session: Session, contact: Contact) -> dict[str, Any]:
    """A person as webwxinit/webwxgetcontact/webwxbatchgetcontact list it (§3.3)."""
    py_initial, py_full = _pinyin(contact.nickname)
    remark_initial, remark_full = _pinyin(contact.remark_name)
    flag = (3 if contact.friend else 0) | (0x800 if contact.pinned else 0)
    return {
        "Uin": 0,
        "UserName": session.user_name(contact.wxid),
        "NickName": emoji_spans(contact.nickname),
        "HeadImgUrl": _icon(session, contact.wxid, contact.avatar_seq, session.skey),
        "ContactFlag": flag,
        "MemberCount": 0,
        "MemberList": [],
        "RemarkName": emoji_spans(contact.remark_name),
        "HideInputBarFlag": 0,
        "Sex": contact.sex,
        "Signature": emoji_spans(contact.signature),
        "VerifyFlag": 0,
        "OwnerUin": 0,
        "PYInitial": py_initial,
        "PYQuanPin": py_full,
        "RemarkPYInitial": remark_initial,
        "RemarkPYQuanPin": remark_full,
        "StarFriend": 0,
        "AppAccountFlag": 0,
        "Statues": 0,
        "AttrStatus": (
            _attr_status(contact.wxid) if contact.attr_status is None else contact.attr_status
        ),
        "Province": contact.province,
        "City": contact.city,
        "Alias": contact.alias,
        "SnsFlag": 1 if contact.friend else 0,
        "UniFriend": 0,
        "DisplayName": "",
        "ChatRoomId": 0,
        "KeyWord": contact.wxid[:3],
        "EncryChatRoomId": "",
        "IsOwner": 0,
    }


def special_entry(session: Session, name: str) -> dict[str, Any]:
    """A special account such as ``filehelper`` (ContactFlag 3, KeyWord = first 3 chars)."""
    entry = contact_entry(session, Contact(wxid=name, nickname=SPECIAL_NICKNAMES.get(name, name)))
    entry.update(PYInitial="WJCSZS", PYQuanPin="wenjianchuanshuzhushou", SnsFlag=0, AttrStatus=0)
    return entry


def self_entry(session: Session) -> dict[str, Any]:
    """The ``User`` object of webwxinit (§3.1)."""
    account = session.account
    return {
        "Uin": account.uin,
        "UserName": session.self_name,
        "NickName": emoji_spans(account.nickname),
        "HeadImgUrl": _icon(session, account.id, 1, session.skey),
        "RemarkName": "",
        "PYInitial": "",
        "PYQuanPin": "",
        "RemarkPYInitial": "",
        "RemarkPYQuanPin": "",
        "HideInputBarFlag": 0,
        "StarFriend": 0,
        "Sex": 0,
        "Signature": "",
        "AppAccountFlag": 0,
        "VerifyFlag": 0,
        "ContactFlag": 0,
        "WebWxPluginSwitch": 0,
        "HeadImgFlag": 1,
        "SnsFlag": 17,
    }


def member_entry(
    session: Session, group: Group, real_id: str, *, with_names: bool = True
) -> dict[str, Any]:
    """One MemberList entry of a group (§3.4); init's partial lists carry no NickName."""
    account = session.account
    nickname = account.nickname_of(real_id)
    contact = account.contacts.get(real_id)
    attr = _attr_status(real_id)
    if contact is not None and contact.attr_status is not None:
        attr = contact.attr_status
    return {
        "Uin": 0,
        "UserName": session.user_name(real_id),
        "NickName": emoji_spans(nickname) if with_names else "",
        "AttrStatus": attr if with_names else 0,
        "PYInitial": "",
        "PYQuanPin": "",
        "RemarkPYInitial": "",
        "RemarkPYQuanPin": "",
        "MemberStatus": 0,
        "DisplayName": emoji_spans(group.display_names.get(real_id, "")) if with_names else "",
        "KeyWord": real_id[:3] if with_names else "",
    }


def group_members(group: Group, account: Account) -> list[str]:
    """Real ids of everyone in the group, the account included when it is a member."""
    return ([account.id] if group.self_member else []) + list(group.members)


def group_entry(
    session: Session, group: Group, *, members: str = "full", icon_skey: str = ""
) -> dict[str, Any]:
    """A group as webwxbatchgetcontact (``members="full"``), webwxinit (``"partial"``) or
    webwxgetcontact (``"none"``) list it (§3.1, §3.3, §3.4). ModContactList uses ``"full"``.

    ``"none"`` is a group saved to the address book as the real webwxgetcontact lists it:
    ``MemberCount`` 0 and an empty MemberList (§3.3 "groups saved to contacts (without
    members)"; every entry of sample webwxgetcontact-response.json has MemberCount 0), so
    clients fetch members with webwxbatchgetcontact (itchat ``update_chatroom``).
    """
    account = session.account
    everyone = group_members(group, account)
    if members == "none":
        member_list: list[dict[str, Any]] = []
    else:
        member_list = [
            member_entry(session, group, real_id, with_names=members == "full")
            for real_id in everyone
        ]
    py_initial, py_full = _pinyin(group.topic)
    owner_is_self = group.owner == account.id
    return {
        "Uin": 0,
        "UserName": session.user_name(group.id),
        "NickName": emoji_spans(group.topic),
        "HeadImgUrl": _icon(session, group.id, group.avatar_seq, icon_skey),
        "ContactFlag": 3 if group.saved else 2,
        "MemberCount": 0 if members == "none" else len(everyone),
        "MemberList": member_list,
        "RemarkName": "",
        "HideInputBarFlag": 0,
        "Sex": 0,
        "Signature": "",
        "VerifyFlag": 0,
        "OwnerUin": account.uin if owner_is_self else 0,
        "PYInitial": py_initial,
        "PYQuanPin": py_full,
        "RemarkPYInitial": "",
        "RemarkPYQuanPin": "",
        "StarFriend": 0,
        "AppAccountFlag": 0,
        "Statues": 1,
        "AttrStatus": 0,
        "Province": "",
        "City": "",
        "Alias": "",
        "SnsFlag": 0,
        "UniFriend": 0,
        "DisplayName": "",
        "ChatRoomId": 0,
        "KeyWord": "",
        "EncryChatRoomId": session.encry_id(group.id),
        "IsOwner": 1 if owner_is_self else 0,
        "ChatRoomOwner": session.user_name(group.owner),
    }


def entry_for(session: Session, real_id: str) -> dict[str, Any] | None:
    """The full entry (as ModContactList carries it) of a contact, group or special account."""
    account = session.account
    if real_id in account.groups:
        return group_entry(session, account.groups[real_id], members="full")
    if real_id in account.contacts:
        return contact_entry(session, account.contacts[real_id])
    if real_id in SPECIAL_NICKNAMES:
        return special_entry(session, real_id)
    return None


def placeholder(account: Account, real_id: str) -> str:
    """The MsgTemplate placeholder of a real id (``{{self}}`` for the account itself)."""
    if real_id == account.id:
        return "{{self}}"
    if real_id.endswith("@chatroom"):
        return f"{{{{group:{real_id}}}}}"
    return f"{{{{user:{real_id}}}}}"


def empty_recommend_info() -> dict[str, Any]:
    """The all-empty ``RecommendInfo`` of ordinary messages (§6.1)."""
    return {
        "UserName": "",
        "NickName": "",
        "QQNum": 0,
        "Province": "",
        "City": "",
        "Content": "",
        "Signature": "",
        "Alias": "",
        "Scene": 0,
        "VerifyFlag": 0,
        "AttrStatus": 0,
        "Sex": 0,
        "Ticket": "",
        "OpCode": 0,
    }


def message_fields(msg_id: str, **overrides: Any) -> dict[str, Any]:
    """A complete AddMsgList entry (field order as served, §6.1) with ``overrides`` applied.

    ``NewMsgId`` is the MsgId as a JSON number.
    """
    entry: dict[str, Any] = {
        "MsgId": msg_id,
        "FromUserName": "",
        "ToUserName": "",
        "MsgType": 1,
        "Content": "",
        "Status": 3,
        "ImgStatus": 1,
        "CreateTime": 0,
        "VoiceLength": 0,
        "PlayLength": 0,
        "FileName": "",
        "FileSize": "",
        "MediaId": "",
        "Url": "",
        "AppMsgType": 0,
        "StatusNotifyCode": 0,
        "StatusNotifyUserName": "",
        "RecommendInfo": empty_recommend_info(),
        "ForwardFlag": 0,
        "AppInfo": {"AppID": "", "Type": 0},
        "HasProductId": 0,
        "Ticket": "",
        "ImgHeight": 0,
        "ImgWidth": 0,
        "SubMsgType": 0,
        "NewMsgId": int(msg_id),
        "OriContent": "",
        "EncryFileName": "",
    }
    entry.update(overrides)
    return entry


def _substitute(session: Session, value: Any) -> Any:
    if isinstance(value, str):
        return session.substitute(value)
    if isinstance(value, dict):
        return {key: _substitute(session, item) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(session, item) for item in value]
    return value


def render_message(session: Session, template: MsgTemplate) -> dict[str, Any]:
    """The AddMsgList entry of ``template`` with this session's UserNames filled in."""
    rendered: dict[str, Any] = {}
    for key, value in template.fields.items():
        if key == "Content" and not template.substitute_content:
            rendered[key] = value
        else:
            rendered[key] = _substitute(session, value)
    if template.prefix is not None:
        content = rendered.get("Content", "")
        rendered["Content"] = f"{session.user_name(template.prefix)}:<br/>{content}"
    return rendered


def empty_profile() -> dict[str, Any]:
    """The zeroed ``Profile`` of webwxsync (§5)."""
    return {
        "BitFlag": 0,
        "UserName": {"Buff": ""},
        "NickName": {"Buff": ""},
        "BindUin": 0,
        "BindEmail": {"Buff": ""},
        "BindMobile": {"Buff": ""},
        "Status": 0,
        "Sex": 0,
        "PersonalCard": 0,
        "Alias": "",
        "HeadImgUpdateFlag": 0,
        "HeadImgUrl": "",
        "Signature": "",
    }


def sync_response(ret: int = 0, errmsg: str = "", **fields: Any) -> dict[str, Any]:
    """A webwxsync response; with only ``ret`` it is the error skeleton of §5."""
    body: dict[str, Any] = {
        "BaseResponse": base_response(ret, errmsg),
        "AddMsgCount": 0,
        "AddMsgList": [],
        "ModContactCount": 0,
        "ModContactList": [],
        "DelContactCount": 0,
        "DelContactList": [],
        "ModChatRoomMemberCount": 0,
        "ModChatRoomMemberList": [],
        "Profile": empty_profile(),
        "ContinueFlag": 0,
        "SyncKey": {"Count": 0, "List": []},
        "SKey": "",
    }
    body.update(fields)
    return body


def init_error(ret: int, errmsg: str = "") -> dict[str, Any]:
    """The zeroed webwxinit skeleton with a non-zero Ret (§3.1, sample webwxinit-error-ret1)."""
    user = {
        key: ("" if isinstance(value, str) else 0) for key, value in self_entry_template().items()
    }
    return {
        "BaseResponse": base_response(ret, errmsg),
        "Count": 0,
        "ContactList": [],
        "SyncKey": {"Count": 0, "List": []},
        "User": user,
        "ChatSet": "",
        "SKey": "",
        "ClientVersion": 0,
        "SystemTime": 0,
        "GrayScale": 0,
        "InviteStartCount": 0,
        "MPSubscribeMsgCount": 0,
        "MPSubscribeMsgList": [],
        "ClickReportInterval": 0,
    }


def self_entry_template() -> dict[str, Any]:
    """Key order and value kinds of the ``User`` object (for the zeroed skeleton)."""
    keys_str = ("UserName", "NickName", "HeadImgUrl", "RemarkName", "PYInitial", "PYQuanPin")
    keys_str2 = ("RemarkPYInitial", "RemarkPYQuanPin")
    entry: dict[str, Any] = {"Uin": 0}
    entry.update(dict.fromkeys(keys_str, ""))
    entry.update(dict.fromkeys(keys_str2, ""))
    entry.update(HideInputBarFlag=0, StarFriend=0, Sex=0, Signature="", AppAccountFlag=0)
    entry.update(VerifyFlag=0, ContactFlag=0, WebWxPluginSwitch=0, HeadImgFlag=0, SnsFlag=0)
    return entry

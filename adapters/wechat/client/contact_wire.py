"""Decoding the contact-list answers (webwxinit, webwxgetcontact, webwxbatchgetcontact;
PROTOCOL.md §3.1, §3.3, §3.4) straight into compact objects.

A big account's answers are large: 500 groups of 100 members are 50,000 ``MemberList``
entries of a dozen fields each, most of which (``PYQuanPin``, ``MemberStatus``…) the bridge
never reads. ``json.loads`` would build a dict per entry (about 40 MB for those 50,000)
before ``Contact.from_wire`` keeps six fields of each. Here msgspec decodes the bytes into
typed structs that hold only the fields we read, without the dicts; strings given for numbers
are converted as ``Contact.from_wire`` does. An answer that does not fit those types (a
field of another type, ``null`` where a list is expected…) is decoded again the tolerant way
(``json`` + ``from_wire``), so an odd payload costs time, never contacts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from sys import intern
from typing import Any, TypeVar

import msgspec

from adapters.wechat.client.results import ContactPage, contacts_from_batch
from adapters.wechat.client.types import Contact, Member, UserName
from adapters.wechat.client.wire import load_json

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class _Member(msgspec.Struct, rename="pascal"):
    user_name: str | None = ""
    nick_name: str | None = ""
    display_name: str | None = ""
    uin: int | None = 0
    attr_status: int | None = 0
    key_word: str | None = ""


class _RecentContact(msgspec.Struct, rename="pascal"):
    """A contact without ``MemberList``: a webwxinit ``ContactList`` entry, whose member list
    is partial (members without NickName, §3.1) and not decoded at all; the group is
    fetched whole later."""

    user_name: str | None = ""
    nick_name: str | None = ""
    remark_name: str | None = ""
    alias: str | None = ""
    sex: int | None = 0
    province: str | None = ""
    city: str | None = ""
    signature: str | None = ""
    head_img_url: str | None = ""
    contact_flag: int | None = 0
    verify_flag: int | None = 0
    uin: int | None = 0
    key_word: str | None = ""
    encry_chat_room_id: str | None = ""
    member_count: int | None = 0
    chat_room_owner: str | None = ""
    display_name: str | None = ""
    attr_status: int | None = 0


class _Contact(_RecentContact, rename="pascal"):
    member_list: list[_Member] | None = None


class _BaseResponse(msgspec.Struct, rename="pascal"):
    ret: int | None = -1
    err_msg: str | None = ""


class _ContactPage(msgspec.Struct, rename="pascal"):
    base_response: _BaseResponse | None = None
    member_list: list[_Contact] | None = None
    seq: int | None = 0


class _ContactBatch(msgspec.Struct, rename="pascal"):
    base_response: _BaseResponse | None = None
    contact_list: list[_Contact] | None = None


class _Init(msgspec.Struct, rename="pascal"):
    base_response: _BaseResponse | None = None
    contact_list: list[_RecentContact] | None = None
    # Small parts, decoded as plain JSON values for ``InitResult.from_wire``.
    user: Any = None
    sync_key: Any = None
    chat_set: Any = None
    s_key: Any = msgspec.field(default=None, name="SKey")
    system_time: Any = None
    invite_start_count: Any = None


def _member(m: _Member) -> Member:
    # The same person is a member of many groups: one copy of their names for all of them.
    return Member(
        user_name=UserName(intern(m.user_name or "")),
        nick_name=intern(m.nick_name or ""),
        display_name=m.display_name or "",
        uin=m.uin or 0,
        attr_status=m.attr_status or 0,
        key_word=m.key_word or "",
    )


def _contact(c: _RecentContact) -> Contact:
    listed = c.member_list if isinstance(c, _Contact) else None
    return Contact(
        user_name=UserName(c.user_name or ""),
        nick_name=c.nick_name or "",
        remark_name=c.remark_name or "",
        alias=c.alias or "",
        sex=c.sex or 0,
        province=c.province or "",
        city=c.city or "",
        signature=c.signature or "",
        head_img_url=c.head_img_url or "",
        contact_flag=c.contact_flag or 0,
        verify_flag=c.verify_flag or 0,
        uin=c.uin or 0,
        key_word=c.key_word or "",
        encry_chat_room_id=c.encry_chat_room_id or "",
        member_count=c.member_count or 0,
        members=tuple(_member(m) for m in listed or ()),
        chat_room_owner=c.chat_room_owner or "",
        display_name=c.display_name or "",
        attr_status=c.attr_status or 0,
    )


def _base(base: _BaseResponse | None) -> dict[str, Any]:
    """The ``BaseResponse`` as the dict ``wire.check_base_response`` reads."""
    if base is None:
        return {}
    return {"BaseResponse": {"Ret": -1 if base.ret is None else base.ret, "ErrMsg": base.err_msg}}


def _decode(endpoint: str, body: bytes, kind: type[_T], fallback: Callable[[], _T]) -> _T:
    try:
        return msgspec.json.decode(body, type=kind, strict=False)
    except msgspec.ValidationError as exc:
        # Say which field, never its value (it may be a name).
        log.info("%s: unusual answer (%s); decoded field by field", endpoint, str(exc)[:120])
        return fallback()
    except msgspec.DecodeError:
        return fallback()  # not JSON: the tolerant path raises the usual ProtocolError


def decode_page(endpoint: str, body: bytes) -> tuple[dict[str, Any], list[Contact], int]:
    """A webwxgetcontact answer (§3.3): ``(base, contacts, seq)``; ``base`` holds the
    ``BaseResponse`` for ``wire.check_base_response``. Raises ``ProtocolError`` for a body
    that is not a JSON object."""

    def tolerant() -> _ContactPage | dict[str, Any]:
        return load_json(endpoint, body)

    page = _decode(endpoint, body, _ContactPage, tolerant)  # type: ignore[arg-type]
    if isinstance(page, dict):
        parsed = ContactPage.from_wire(page)
        return page, list(parsed.contacts), parsed.seq
    return _base(page.base_response), [_contact(c) for c in page.member_list or ()], page.seq or 0


def decode_batch(endpoint: str, body: bytes) -> tuple[dict[str, Any], list[Contact]]:
    """A webwxbatchgetcontact answer (§3.4): ``(base, contacts)`` with full member lists.
    Raises ``ProtocolError`` for a body that is not a JSON object."""

    def tolerant() -> _ContactBatch | dict[str, Any]:
        return load_json(endpoint, body)

    batch = _decode(endpoint, body, _ContactBatch, tolerant)  # type: ignore[arg-type]
    if isinstance(batch, dict):
        return batch, list(contacts_from_batch(batch))
    return _base(batch.base_response), [_contact(c) for c in batch.contact_list or ()]


def decode_init(endpoint: str, body: bytes) -> tuple[dict[str, Any], tuple[Contact, ...]]:
    """A webwxinit answer (§3.1): ``(obj, recent)``: ``obj`` has every field but
    ``ContactList`` as plain JSON values (for ``InitResult.from_wire``), ``recent`` the
    recent chats without their partial member lists. Raises ``ProtocolError`` for a body
    that is not a JSON object."""

    def tolerant() -> _Init | dict[str, Any]:
        return load_json(endpoint, body)

    init = _decode(endpoint, body, _Init, tolerant)  # type: ignore[arg-type]
    if isinstance(init, dict):
        recent = tuple(
            Contact.from_wire({**c, "MemberList": []})
            for c in init.get("ContactList") or ()
            if isinstance(c, Mapping)
        )
        return {k: v for k, v in init.items() if k != "ContactList"}, recent
    obj = {
        **_base(init.base_response),
        "User": init.user,
        "SyncKey": init.sync_key,
        "ChatSet": init.chat_set,
        "SKey": init.s_key,
        "SystemTime": init.system_time,
        "InviteStartCount": init.invite_start_count,
    }
    return obj, tuple(_contact(c) for c in init.contact_list or ())

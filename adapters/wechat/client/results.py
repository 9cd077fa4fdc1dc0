"""Typed results of the WeChat JSON APIs, built from their wire objects with ``from_wire``."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from adapters.wechat.client.types import ClientMsgId, Contact, MsgId, SyncKey, UserName


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return "" if value is None else str(value)


def _int(obj: Mapping[str, Any], key: str) -> int:
    try:
        return int(obj.get(key) or 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def _objects(obj: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The JSON objects of list ``key``; ``null``, a non-list and non-object entries are
    dropped."""
    items = obj.get(key)
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        return []
    return [item for item in items if isinstance(item, Mapping)]


def _key_int(value: object) -> int | None:
    """A SyncKey ``Key``/``Val``: a non-negative JSON integer or decimal string (< 2**64)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, int) and 0 <= value < 2**64:
        return value
    return None


def sync_key_of(value: object) -> tuple[SyncKey, str]:
    """``(key, problem)`` for a SyncKey/SyncCheckKey wire value (PROTOCOL.md §5).

    ``problem`` is "" for a well-formed key ``{"Count": n, "List": [{"Key": k, "Val": v}…]}``
    with at least one pair, else a short description that holds no key values (safe to log):
    "missing", "not an object", "List is not a list", "entry 3 is malformed", "empty". The
    key is empty whenever there is a problem. Never raises.
    """
    if value is None:
        return SyncKey(), "missing"
    if not isinstance(value, Mapping):
        return SyncKey(), "not an object"
    items = value.get("List")
    if not isinstance(items, list):
        return SyncKey(), "List is not a list"
    pairs: list[tuple[int, int]] = []
    for index, item in enumerate(items):
        key = _key_int(item.get("Key")) if isinstance(item, Mapping) else None
        val = _key_int(item.get("Val")) if isinstance(item, Mapping) else None
        if key is None or val is None:
            return SyncKey(), f"entry {index} is malformed"
        pairs.append((key, val))
    if not pairs:
        return SyncKey(), "empty"
    return SyncKey(tuple(pairs)), ""


@attrs.frozen
class InitResult:
    """webwxinit (PROTOCOL.md §3.1): self, recent chats, the first SyncKey.

    ``chat_set`` is the ``ChatSet`` list without empties/duplicates, in order; ``skey`` is the
    re-issued skey ("" when absent; a secret, kept out of ``repr``).
    """

    user: Contact
    contacts: tuple[Contact, ...]
    sync_key: SyncKey
    chat_set: tuple[UserName, ...]
    skey: str = attrs.field(repr=False)
    system_time: int = 0
    invite_start_count: int = 0

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> InitResult:
        """Build from a webwxinit response object (BaseResponse already checked)."""
        seen: dict[str, None] = {}
        for name in _str(obj, "ChatSet").split(","):
            if name:
                seen.setdefault(name)
        user = obj.get("User")
        return cls(
            user=Contact.from_wire(user if isinstance(user, Mapping) else {}),
            contacts=tuple(Contact.from_wire(c) for c in _objects(obj, "ContactList")),
            sync_key=SyncKey.from_wire(obj.get("SyncKey")),
            chat_set=tuple(UserName(name) for name in seen),
            skey=_str(obj, "SKey"),
            system_time=_int(obj, "SystemTime"),
            invite_start_count=_int(obj, "InviteStartCount"),
        )


@attrs.frozen
class ContactPage:
    """One webwxgetcontact page (§3.3); ``seq`` 0 means it was the last page."""

    contacts: tuple[Contact, ...]
    seq: int

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> ContactPage:
        """Build from a webwxgetcontact response object."""
        return cls(
            contacts=tuple(Contact.from_wire(c) for c in _objects(obj, "MemberList")),
            seq=_int(obj, "Seq"),
        )


def contacts_from_batch(obj: Mapping[str, Any]) -> tuple[Contact, ...]:
    """The ``ContactList`` of a webwxbatchgetcontact response (§3.4)."""
    return tuple(Contact.from_wire(c) for c in _objects(obj, "ContactList"))


@attrs.frozen
class SyncResponse:
    """A webwxsync response (PROTOCOL.md §5).

    ``messages`` are the raw ``AddMsgList`` objects (parsed by the message parser),
    ``mod_contacts`` the ``ModContactList`` entries, ``del_contacts`` the UserNames of
    ``DelContactList``. ``sync_key``/``sync_check_key`` are the keys as returned (possibly
    empty: the caller keeps its old key then, as the official client replaces a key only
    when the new one has Count > 0). ``key_problem`` says, without key values, what was
    wrong with a missing or malformed ``SyncKey`` (or a malformed ``SyncCheckKey``; a
    missing one is fine), "" when nothing was. ``profile`` is ``Profile`` when its
    ``BitFlag`` is non-zero (self profile changed), else None.
    """

    messages: tuple[Mapping[str, Any], ...]
    mod_contacts: tuple[Contact, ...]
    del_contacts: tuple[UserName, ...]
    sync_key: SyncKey
    sync_check_key: SyncKey
    continue_flag: int = 0
    skey: str = attrs.field(default="", repr=False)
    profile: Mapping[str, Any] | None = attrs.field(default=None, eq=False)
    key_problem: str = ""

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> SyncResponse:
        """Build from a webwxsync response object (BaseResponse already checked).

        Never raises: lists that are not lists read as empty, entries that are not objects
        are dropped, a bad SyncKey is reported in ``key_problem``.
        """
        profile = obj.get("Profile")
        changed = isinstance(profile, Mapping) and _int(profile, "BitFlag") != 0
        sync_key, key_problem = sync_key_of(obj.get("SyncKey"))
        check_value = obj.get("SyncCheckKey")
        check_key, check_problem = sync_key_of(check_value)
        if key_problem:
            key_problem = f"SyncKey {key_problem}"
        elif check_value is not None and check_problem not in ("", "empty"):
            key_problem = f"SyncCheckKey {check_problem}"
        skey = obj.get("SKey")
        return cls(
            messages=tuple(_objects(obj, "AddMsgList")),
            mod_contacts=tuple(Contact.from_wire(c) for c in _objects(obj, "ModContactList")),
            del_contacts=tuple(
                UserName(_str(c, "UserName")) for c in _objects(obj, "DelContactList")
            ),
            sync_key=sync_key,
            sync_check_key=check_key,
            continue_flag=_int(obj, "ContinueFlag"),
            skey=skey if isinstance(skey, str) else "",
            profile=profile if changed and isinstance(profile, Mapping) else None,
            key_problem=key_problem,
        )


@attrs.frozen
class SendResult:
    """A sent message (PROTOCOL.md §7): ``msg_id`` is the server MsgID (needed to revoke and
    to recognise the echo in webwxsync); ``local_id`` == ``client_msg_id`` is the client id."""

    msg_id: MsgId
    local_id: ClientMsgId
    client_msg_id: ClientMsgId

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any], client_msg_id: ClientMsgId) -> SendResult:
        """Build from ``{"BaseResponse":…, "MsgID": "…", "LocalID": "…"}``; a missing LocalID
        falls back to the id that was sent."""
        local = _str(obj, "LocalID") or client_msg_id
        return cls(MsgId(_str(obj, "MsgID")), ClientMsgId(local), client_msg_id)


@attrs.frozen
class UploadResult:
    """The final webwxuploadmedia answer (§7): ``media_id`` to reference in a send,
    ``start_pos`` = bytes the server holds (= size when complete)."""

    media_id: str
    start_pos: int = 0
    encry_file_name: str = ""
    thumb_height: int = 0
    thumb_width: int = 0

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> UploadResult:
        """Build from a webwxuploadmedia response object."""
        return cls(
            media_id=_str(obj, "MediaId"),
            start_pos=_int(obj, "StartPos"),
            encry_file_name=_str(obj, "EncryFileName"),
            thumb_height=_int(obj, "CDNThumbImgHeight"),
            thumb_width=_int(obj, "CDNThumbImgWidth"),
        )


@attrs.frozen
class RevokeResult:
    """A webwxrevokemsg answer (§8): the server's ``Introduction`` and ``SysWording`` texts."""

    introduction: str = ""
    sys_wording: str = ""

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> RevokeResult:
        """Build from a webwxrevokemsg response object."""
        return cls(_str(obj, "Introduction"), _str(obj, "SysWording"))


class StatusNotifyCode(enum.IntEnum):
    """webwxstatusnotify ``Code`` values (PROTOCOL.md §3.2)."""

    READ = 1
    ENTER_SESSION = 2
    INITED = 3
    SYNC_CONV = 4
    QUIT_SESSION = 5


class LoginMethod(enum.Enum):
    """How a session was obtained: resumed from the session file, push login, or QR scan."""

    RESUMED = "resumed"
    PUSH = "push"
    QR = "qr"


@attrs.frozen
class LoginInfo:
    """The outcome of a successful login or resume.

    ``user`` is self (at least ``user_name``; after a resume only the persisted fields),
    ``contacts`` the recent chats of webwxinit (empty after a resume), ``uin`` the real
    account uin (decimal string, stable across logins).
    """

    method: LoginMethod
    user: Contact
    uin: str
    contacts: tuple[Contact, ...] = ()
    chat_set: tuple[UserName, ...] = ()


@attrs.frozen
class Download:
    """A downloaded media body (§9). ``file_name`` comes from Content-Disposition ("" if none)."""

    data: bytes = attrs.field(repr=False)
    content_type: str = ""
    file_name: str = ""
    status: int = 200

    @property
    def size(self) -> int:
        """Body length in bytes."""
        return len(self.data)

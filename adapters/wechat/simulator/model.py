"""The simulator's state: accounts and their phones, QR logins, web sessions and sync streams."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
from collections import deque
from typing import Any

import attrs

from . import ids

#: Event selectors of synccheck (PROTOCOL.md §4).
SELECTOR_MESSAGE = 2
SELECTOR_MODIFIED = 4
SELECTOR_ADDED_OR_DELETED = 6
SELECTOR_STATUS = 7

_PLACEHOLDER = re.compile(r"\{\{(?:(user|group):([^{}]+)|self)\}\}")


@attrs.frozen
class SimulatorOptions:
    """Tunables of one simulator instance. Times are seconds of the simulator clock.

    ``send_burst_limit`` sends within ``send_burst_window_s`` are allowed; the next one answers
    1205 (PROTOCOL.md §12). ``sync_batch_size`` caps AddMsgList per webwxsync (ContinueFlag=1
    when more is pending). webwxnewloginpage without ``fun=new&version=v2`` answers a 301
    without Location carrying cookies and the XML body; ``strict_v2`` leaves that body out
    (§2.4). ``diverge_sync_keys`` leaves Key 3 of the returned SyncKey
    behind while SyncCheckKey advances when 51 enter/quit messages are delivered (§4).
    """

    synccheck_hold_s: float = 25.0
    login_poll_hold_s: float = 25.0
    revoke_window_s: float = 120.0
    send_burst_limit: int = 60
    send_burst_window_s: float = 60.0
    contact_page_size: int = 500
    sync_batch_size: int = 50
    qr_ttl_s: float = 300.0
    strict_v2: bool = False
    diverge_sync_keys: bool = False


@attrs.define(eq=False)
class Contact:
    """A person in an account's address book (``friend``) or a stranger met in a group."""

    wxid: str
    nickname: str
    remark_name: str = ""
    alias: str = ""
    sex: int = 0
    province: str = ""
    city: str = ""
    signature: str = ""
    friend: bool = True
    pinned: bool = False
    avatar_seq: int = attrs.field(factory=lambda: secrets.randbelow(10**9))
    #: AttrStatus as served; None: derived from the wxid (stable, rarely shared).
    attr_status: int | None = None
    #: Which picture webwxgeticon serves: "" = one of its own (stable per account and
    #: ``avatar_seq``); any other value names a picture, the same bytes for every contact
    #: naming it ("default": WeChat's default avatar, shared by many accounts).
    avatar: str = ""


@attrs.define(eq=False)
class Group:
    """A group chat; ``members`` are wxids besides the account itself."""

    id: str
    topic: str
    members: list[str]
    owner: str
    saved: bool = True
    self_member: bool = True
    display_names: dict[str, str] = attrs.field(factory=dict)
    avatar_seq: int = attrs.field(factory=lambda: secrets.randbelow(10**9))


@attrs.define(eq=False)
class Media:
    """Bytes uploaded through webwxuploadmedia, addressable by MediaId (PROTOCOL.md §7)."""

    media_id: str
    data: bytes
    filename: str
    mime: str
    account_id: str
    media_type: str = "doc"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@attrs.define(eq=False)
class StoredMessage:
    """What the simulator remembers of a message for downloads and recalls.

    ``sender``/``chat`` are real ids (wxid, ``NNN@chatroom``, ``filehelper``); ``sender`` is the
    account's own id for messages it sent. ``create_time`` is unix seconds (simulator clock).
    """

    msg_id: str
    sender: str
    chat: str
    msg_type: int
    create_time: int
    media: bytes | None = None
    thumb: bytes | None = None
    filename: str = ""
    mime: str = ""
    media_id: str = ""
    revoked: bool = False


@attrs.frozen(eq=False)
class MsgTemplate:
    """An AddMsgList entry with ``{{user:<wxid>}}``, ``{{group:<id>}}``, ``{{self}}``
    placeholders, rendered per session because UserNames change at every login (§11).

    ``prefix`` is the real id of a group sender, rendered as ``@UserName:<br/>`` before Content.
    Content itself is substituted only when ``substitute_content`` (the raw control route).
    """

    fields: dict[str, Any]
    prefix: str | None = None
    substitute_content: bool = False


@attrs.frozen(eq=False)
class Event:
    """One entry of a session's sync stream: a message, a modified contact or a deleted one."""

    seq: int
    selector: int
    message: MsgTemplate | None = None
    modified: str | None = None
    deleted: str | None = None


@attrs.define(eq=False)
class Session:
    """One web login of an account: its cookies, UserName map and sync streams (§2.4, §4, §5).

    Messages, contact changes (selectors 2/4/6) form the *main* stream, addressed by Key 2 of
    the SyncKey; 51 enter/quit notices (selector 7) form the *status* stream, addressed by Key 3.
    """

    account: Account
    uos: bool
    login_time: int
    #: Opened by webwxnewloginpage without ``version=v2`` (the 301): clients may hold only
    #: the cookies, so like UOS sessions it takes an empty Skey and any pass_ticket (§1, §2.4).
    cookie_login: bool = False
    sid: str = attrs.field(factory=ids.wxsid)
    skey: str = attrs.field(factory=ids.skey)
    pass_ticket: str = attrs.field(factory=ids.pass_ticket)
    data_ticket: str = attrs.field(factory=ids.data_ticket)
    auth_ticket: str = attrs.field(factory=ids.auth_ticket)
    uvid: str = attrs.field(factory=ids.uvid)
    names: dict[str, str] = attrs.field(factory=dict)
    by_name: dict[str, str] = attrs.field(factory=dict)
    encry: dict[str, str] = attrs.field(factory=dict)
    main: list[Event] = attrs.field(factory=list)
    status: list[Event] = attrs.field(factory=list)
    status_delivered: int = 0
    synced: bool = False
    ended: int | None = None
    bases: dict[int, int] = attrs.field(
        factory=lambda: {k: 600_000_000 + secrets.randbelow(99_000_000) for k in (1, 2, 3, 11)}
    )
    _changed: asyncio.Event = attrs.field(factory=asyncio.Event)

    def __attrs_post_init__(self) -> None:
        self._bind(self.account.id, ids.self_user_name())

    @property
    def cookie_auth(self) -> bool:
        """Whether the cookies alone authenticate (empty Skey, any pass_ticket): UOS sessions
        (itchat-uos sends Skey "" and its DeviceID as pass_ticket, PROTOCOL.md §1) and
        sessions whose login answer may have given the client nothing but cookies (§2.4)."""
        return self.uos or self.cookie_login

    def _bind(self, real_id: str, user_name: str) -> str:
        self.names[real_id] = user_name
        self.by_name[user_name] = real_id
        return user_name

    @property
    def self_name(self) -> str:
        return self.names[self.account.id]

    def user_name(self, real_id: str) -> str:
        """The session UserName of a real id, issuing a fresh one on first use (§11)."""
        if real_id in ids.SPECIAL_ACCOUNTS:
            return real_id
        if real_id in self.names:
            return self.names[real_id]
        if real_id.endswith("@chatroom"):
            return self._bind(real_id, ids.group_user_name())
        return self._bind(real_id, ids.person_user_name())

    def real_id(self, user_name: str) -> str | None:
        """The real id behind a UserName of this session, or None when unknown."""
        if user_name in ids.SPECIAL_ACCOUNTS:
            return user_name
        return self.by_name.get(user_name)

    def encry_id(self, group_id: str) -> str:
        """The group's session-scoped EncryChatRoomId (§3.4)."""
        if group_id not in self.encry:
            self.encry[group_id] = ids.encry_chat_room_id()
        return self.encry[group_id]

    def group_for(self, name: str) -> str | None:
        """Resolve a group by its UserName or EncryChatRoomId; the real group id or None."""
        real = self.real_id(name)
        if real and real.endswith("@chatroom"):
            return real
        for group_id, encry in self.encry.items():
            if encry == name:
                return group_id
        return None

    def substitute(self, text: str) -> str:
        """Replace ``{{user:x}}``, ``{{group:x}}`` and ``{{self}}`` by this session's UserNames."""

        def repl(match: re.Match[str]) -> str:
            if match.group(1) is None:
                return self.self_name
            return self.user_name(match.group(2))

        return _PLACEHOLDER.sub(repl, text)

    def push(
        self,
        selector: int,
        *,
        message: MsgTemplate | None = None,
        modified: str | None = None,
        deleted: str | None = None,
    ) -> None:
        """Append to the main stream (or the status stream for selector 7) and wake synccheck."""
        stream = self.status if selector == SELECTOR_STATUS else self.main
        stream.append(Event(len(stream) + 1, selector, message, modified, deleted))
        self.wake()

    def end(self, retcode: int) -> None:
        """Kill the session: every later call answers ``retcode`` (1100/1101/1102)."""
        if self.ended is None:
            self.ended = retcode
        self.wake()

    def wake(self) -> None:
        """Release every long poll waiting on this session."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        """Wait up to ``seconds`` for :meth:`wake`."""
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), seconds)

    def pending_selector(self, main_cursor: int, status_cursor: int) -> int:
        """The synccheck selector for a client at these cursors: 0 when it has everything."""
        if main_cursor < len(self.main):
            return self.main[max(main_cursor, 0)].selector
        if status_cursor < len(self.status):
            return SELECTOR_STATUS
        return 0


@attrs.define(eq=False)
class Account:
    """A WeChat account: its phone, address book, groups, messages and current web session."""

    id: str
    nickname: str
    alias: str = ""
    uin: int = attrs.field(factory=ids.uin)
    refuse_login: bool = False
    require_uos: bool = False
    auto_scan: bool = False
    contacts: dict[str, Contact] = attrs.field(factory=dict)
    groups: dict[str, Group] = attrs.field(factory=dict)
    messages: dict[str, StoredMessage] = attrs.field(factory=dict)
    outbox: list[dict[str, Any]] = attrs.field(factory=list)
    #: Chats the web client marked read (webwxstatusnotify Code 1), in order: ``{"chat":
    #: real id, "time": unix s}``.
    reads: list[dict[str, Any]] = attrs.field(factory=list)
    session: Session | None = None
    offline: list[tuple[int, MsgTemplate]] = attrs.field(factory=list)
    auth_tickets: set[str] = attrs.field(factory=set)
    sends: deque[float] = attrs.field(factory=deque)
    throttled: bool = False
    #: webwxgeticon/webwxgetheadimg requests its web sessions made (PROTOCOL.md §9, §12).
    icon_fetches: int = 0

    def live_session(self) -> Session | None:
        """The current web session if it is still alive."""
        if self.session is not None and self.session.ended is None:
            return self.session
        return None

    def deliver(self, template: MsgTemplate, selector: int = SELECTOR_MESSAGE) -> None:
        """Hand a message to the web session, or keep it for the next login (the phone has it)."""
        session = self.live_session()
        if session is None:
            self.offline.append((selector, template))
        else:
            session.push(selector, message=template)

    def push_modified(self, real_id: str, selector: int = SELECTOR_MODIFIED) -> None:
        """Tell the live session that a contact or group changed (ModContactList)."""
        session = self.live_session()
        if session is not None:
            session.push(selector, modified=real_id)

    def push_deleted(self, real_id: str) -> None:
        """Tell the live session that a contact is gone (DelContactList, selector 6)."""
        session = self.live_session()
        if session is not None:
            session.push(SELECTOR_ADDED_OR_DELETED, deleted=real_id)

    def allow_operation(self, now: float, options: SimulatorOptions) -> bool:
        """Count one send/group operation; False (answer 1205) past the burst limit (§12).

        ``throttled`` stays True from the first refusal until an operation is allowed again
        (one burst, one "发送消息过于频繁" notice).
        """
        while self.sends and self.sends[0] <= now - options.send_burst_window_s:
            self.sends.popleft()
        if len(self.sends) >= options.send_burst_limit:
            return False
        self.throttled = False
        self.sends.append(now)
        return True

    def nickname_of(self, real_id: str) -> str:
        """NickName of a contact, group topic, or the account's own NickName."""
        if real_id == self.id:
            return self.nickname
        if real_id in self.contacts:
            return self.contacts[real_id].nickname
        if real_id in self.groups:
            return self.groups[real_id].topic
        return real_id


@attrs.define(eq=False)
class Login:
    """A QR (or push) login attempt and the code its login poll reports (PROTOCOL.md §2.3).

    ``code`` is the current state (408 waiting, 201 scanned, 200 confirmed, 400 expired,
    202 cancelled, 500 error); ``reported`` is the last code a poll returned.
    """

    uuid: str
    created: float
    desktop: bool = False
    account: Account | None = None
    code: int = 408
    reported: int = 0
    ticket: str = ""
    push: bool = False
    consumed: bool = False
    _changed: asyncio.Event = attrs.field(factory=asyncio.Event)

    def set(self, code: int) -> None:
        """Move to ``code`` and wake the waiting login poll."""
        self.code = code
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        """Wait up to ``seconds`` for :meth:`set`."""
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), seconds)

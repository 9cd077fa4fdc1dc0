"""Translation from parsed WeChat messages and contacts to the bridge's model (no I/O)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from sys import intern
from typing import overload
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from adapters.wechat.client import messages as m
from adapters.wechat.client.results import StatusNotifyCode
from adapters.wechat.client.text import decode_text
from adapters.wechat.client.types import Contact, Member, RealId, UserName, is_group
from bridge.model import (
    Address,
    ChatKind,
    ChatRead,
    Content,
    GroupMember,
    Link,
    Location,
    Mention,
    Message,
    Notice,
    Profile,
    RemoteId,
    Revocation,
    Text,
    member_names,
)

#: What ends a mention in a text, after ``@name`` (PROTOCOL.md §6.2).
MENTION_END = "\u2005"
#: Messages whose content is a file fetched by MsgId (PROTOCOL.md §9).
MediaMessage = m.ImageMessage | m.VoiceMessage | m.VideoMessage | m.EmoticonMessage | m.FileMessage


#: Query parameters of WeChat URLs that are session credentials (PROTOCOL.md §2), never stored.
SESSION_PARAMS = frozenset({"skey", "pass_ticket"})


def without_session_secrets(url: str) -> str:
    """``url`` (e.g. a contact's ``HeadImgUrl``, ``/cgi-bin/mmwebwx-bin/webwxgeticon?seq=1&
    username=@x&skey=@crypt_...``, PROTOCOL.md §3.3) without its ``skey``/``pass_ticket``
    query parameters: what the bridge may store. Whoever fetches it adds the live session's
    credentials again. Other parameters keep their order."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower() not in SESSION_PARAMS]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept, safe="@")))


def profile_from_contact(
    contact: Contact, *, real_id: str = "", self_user_name: str = ""
) -> Profile:
    """A bridge ``Profile`` from a wire ``Contact`` (PROTOCOL.md §3.3, §11).

    Names are decoded (emoji spans, entities). Group ``members`` holds the members' decoded
    nicknames (else group card names), the input of member-set overlap matching.
    """
    nick = decode_text(contact.nick_name)
    remark = decode_text(contact.remark_name)
    members = member_names(
        intern(name)  # one copy per person, however many groups they are in
        for name in (decode_text(mb.nick_name or mb.display_name) for mb in contact.members)
        if name
    )
    return Profile(
        address=Address(contact.user_name),
        kind=ChatKind.GROUP if contact.is_group else ChatKind.DIRECT,
        name=remark or nick,
        real_id=real_id,
        alias=contact.alias,
        remark_name=remark,
        nick_name=nick,
        sex=contact.sex,
        province=decode_text(contact.province),
        city=decode_text(contact.city),
        signature=decode_text(contact.signature),
        attr_status=contact.attr_status,
        avatar_url=without_session_secrets(contact.head_img_url),
        members=members,
        is_self=bool(self_user_name) and contact.user_name == self_user_name,
    )


def profile_from_member(member: Member, *, real_id: str = "") -> Profile:
    """A bridge ``Profile`` of one entry of a group's ``MemberList`` (PROTOCOL.md §3.4): its
    NickName, ``DisplayName`` (the name it gave itself in this group, ``group_name``),
    ``AttrStatus`` and ``KeyWord``; ``real_id`` if one leaked for its UserName (§11)."""
    nick = decode_text(member.nick_name)
    card = decode_text(member.display_name)
    return Profile(
        address=Address(member.user_name),
        kind=ChatKind.DIRECT,
        name=nick or card,
        real_id=real_id,
        nick_name=nick,
        attr_status=member.attr_status,
        key_word=member.key_word,
        group_name=card,
    )


class GroupMembers(Sequence[GroupMember]):
    """``ContactBook.members`` as a view of ``groups``' member lists (PROTOCOL.md §3.4): each
    ``GroupMember`` is built when iterated and not kept, so the 50,000 entries of a large
    account are never all held (the core reads only the members of groups with member
    identities, ``bridge.identity_members.with_members``). The account (``self_user_name``)
    and entries without a UserName or NickName (webwxinit's partial lists, §3.1) are left
    out. ``groups`` and ``real_ids`` must not change while the view is in use (the channel
    passes a snapshot); safe to iterate from a worker thread."""

    def __init__(
        self, groups: Sequence[Contact], real_ids: Mapping[UserName, str], self_user_name: str
    ) -> None:
        self._groups = tuple(groups)
        self._real_ids = real_ids
        self._self = self_user_name
        self._len: int | None = None

    def _listed(self) -> Iterator[tuple[Contact, Member]]:
        for group in self._groups:
            for member in group.members:
                if member.user_name and member.nick_name and member.user_name != self._self:
                    yield group, member

    def __iter__(self) -> Iterator[GroupMember]:
        for group, member in self._listed():
            real = self._real_ids.get(member.user_name, "")
            yield GroupMember(Address(group.user_name), profile_from_member(member, real_id=real))

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(1 for _ in self._listed())
        return self._len

    @overload
    def __getitem__(self, index: int) -> GroupMember: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[GroupMember]: ...
    def __getitem__(self, index: int | slice) -> GroupMember | Sequence[GroupMember]:
        return tuple(self)[index]  # rare: the core iterates


def group_members(
    groups: Sequence[Contact], real_ids: Mapping[UserName, str], self_user_name: str
) -> GroupMembers:
    """Everyone the member lists of ``groups`` show, for ``ContactBook.members``, as a
    ``GroupMembers`` view (built as iterated)."""
    return GroupMembers(groups, real_ids, self_user_name)


def _notice_text(msg: m.WeChatMessage) -> str | None:
    """User-facing text for messages that become an ``m.notice``; None for other kinds."""
    match msg:
        case m.SystemMessage(text=text):
            return text
        case m.RedPacketNotice(text=text):
            return text or "Received a red packet; view it on your phone."
        case m.TransferNotice(title=title, description=desc, fee_desc=fee):
            return " ".join(part for part in (title, fee, desc) if part) or "Money transfer"
        case m.FriendRequest(requester=who, greeting=greeting):
            name = decode_text(who.nick_name) or who.alias or "someone"
            said = f": {greeting}" if greeting else ""
            return f"Friend request from {name}{said} (accept it on your phone)"
        case m.ShareCard(card=card):
            name = decode_text(card.nick_name) or card.alias or "a contact"
            return f"Shared a contact card: {name}"
        case m.VoipMessage():
            return "[voice/video call; answer it on your phone]"
        case m.MiniProgramMessage(title=title, source_display_name=source):
            return f"[mini program] {title}" + (f" ({source})" if source else "")
        case m.MergedHistoryMessage(title=title, items=items):
            lines = [f"{it.source_name}: {it.text}" for it in items]
            return "\n".join([f"[chat history] {title}", *lines])
        case m.UnknownMessage(msg_type=msg_type, app_msg_type=app_type, title=title):
            kind = f"{msg_type}/{app_type}" if app_type else str(msg_type)
            what = f" “{title}”" if title else ""
            return f"[a WeChat message of type {kind}{what} that the bridge cannot show]"
    return None


def content_of(msg: m.WeChatMessage) -> Content | None:
    """The bridge content of a non-media message; None for media (downloaded by the channel),
    recalls, status notifications and friend suggestions. PROTOCOL.md §6.3, §6.4."""
    match msg:
        case m.TextMessage(text=text):
            return Text(text)
        case m.QuoteMessage(text=text):
            return Text(text)
        case m.LocationMessage(latitude=lat, longitude=lng, label=label) if (
            lat is not None and lng is not None
        ):
            return Location(lat, lng, label)
        case m.LocationMessage(label=label):
            return Text(f"[location] {label}")
        case m.LinkMessage(url=url, title=title, description=desc):
            return Link(url, title, desc)
        case m.MusicMessage(url=url, title=title, description=desc, data_url=data_url):
            return Link(url or data_url, title, desc)
    notice = _notice_text(msg)
    return Notice(notice) if notice is not None else None


def reply_target(msg: m.WeChatMessage) -> RemoteId | None:
    """The MsgId a quote (49/57) answers, as a ``RemoteId``."""
    if isinstance(msg, m.QuoteMessage) and msg.reply_to:
        return RemoteId(msg.reply_to)
    return None


def to_message(msg: m.WeChatMessage, content: Content) -> Message:
    """Wrap ``content`` with the routing fields of ``msg`` (PROTOCOL.md §6.1)."""
    return Message(
        chat=Address(msg.chat),
        sender=Address(msg.sender),
        remote_id=RemoteId(msg.msg_id),
        content=content,
        timestamp=float(msg.create_time),
        chat_kind=ChatKind.GROUP if is_group(msg.chat) else ChatKind.DIRECT,
        reply_to=reply_target(msg),
        from_self=msg.from_self,
    )


def to_revocation(msg: m.Recall) -> Revocation | None:
    """A recall (10002, PROTOCOL.md §6.5) as a ``Revocation``; None when ``<msgid>`` was 0."""
    if msg.revoked_msg_id is None:
        return None
    return Revocation(
        chat=Address(msg.chat),
        sender=Address(msg.sender),
        remote_id=RemoteId(msg.revoked_msg_id),
        timestamp=float(msg.create_time),
    )


def to_chat_read(msg: m.StatusNotify) -> ChatRead | None:
    """The phone read a chat (51 / StatusNotifyCode 1, PROTOCOL.md §3.2, §6.3) as a
    ``ChatRead`` of the chat StatusNotifyUserName names (else the message's peer). None for
    the other codes (entering or leaving a chat, the conversation list) and a read of no chat
    or of the account itself."""
    if msg.code != StatusNotifyCode.READ:
        return None
    chat = msg.user_names[0] if msg.user_names else msg.chat
    if not chat or chat == msg.from_user_name == msg.to_user_name:
        return None
    # Without a MsgId (malformed), the chat and time still tell one read from the next.
    remote_id = msg.msg_id or f"read:{chat}:{msg.create_time}"
    return ChatRead(Address(chat), RemoteId(remote_id), float(msg.create_time))


def new_leaks(msg: m.WeChatMessage, known: Mapping[UserName, RealId]) -> dict[UserName, RealId]:
    """The UserName → real id pairs ``msg`` reveals that ``known`` does not hold yet (§11)."""
    return {u: r for u, r in msg.leaked_ids.items() if u and r and known.get(u) != r}


def mentioned(
    account: Contact | None, group: Contact | None, names: Sequence[str]
) -> tuple[Mention, ...]:
    """The mentions ``@name`` + U+2005 of a group text (PROTOCOL.md §6.2): the members of
    ``group`` or the ``account`` itself, by group card name or NickName, each with the text
    ``@name`` + U+2005 that names it. Names no one has are left out."""
    by_name: dict[str, UserName] = {}
    people = ([account] if account is not None else []) + list(group.members if group else ())
    for person in people:
        for name in (person.display_name, person.nick_name):
            by_name.setdefault(decode_text(name), person.user_name)
    by_name.pop("", None)
    return tuple(Mention(Address(by_name[n]), f"@{n}{MENTION_END}") for n in names if n in by_name)


def with_mentions(body: str, mentions: Sequence[tuple[str, str]]) -> str:
    """``body`` with the text naming each mentioned user replaced by WeChat's mention,
    ``@name`` + U+2005 (PROTOCOL.md §6.2). ``mentions`` holds (text in ``body``, name) pairs
    in order of appearance; a text not found after the previous one is left alone."""
    out: list[str] = []
    position = 0
    for text, name in mentions:
        found = body.find(text, position) if text and name else -1
        if found < 0:
            continue
        out.append(body[position:found] + f"@{name}{MENTION_END}")
        position = found + len(text)
    return "".join(out) + body[position:]

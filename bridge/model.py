"""Typed, frozen values and events that cross the ``Channel`` boundary."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Sequence
from typing import NewType

import attrs

#: Name an adapter is registered under (entry point group ``chatbridge.adapters``).
AdapterName = NewType("AdapterName", str)
#: An adapter's own id for a chat or a user. For WeChat it is a UserName, valid for one login
#: session only; for Matrix a room or user id, stable forever.
Address = NewType("Address", str)
#: An adapter's own id for one message (WeChat MsgId, Matrix event id).
RemoteId = NewType("RemoteId", str)
#: A bridge-assigned stable id of a remote contact or group, outliving every UserName.
IdentityId = NewType("IdentityId", str)


def identity_address(identity: IdentityId) -> Address:
    """The address by which the side hosting portals (side B) knows the remote chat or person
    ``identity``: the stable identity id itself, so portals and ghosts survive side A's
    address changes."""
    return Address(identity)


class ChatKind(enum.Enum):
    """Whether a chat is with one person or a group."""

    DIRECT = "direct"
    GROUP = "group"


def member_names(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` sorted, each once: the form of ``Profile.members``. A sorted tuple, not a
    set: a set of a 100-member group's names takes 4 KiB, this tuple 0.8 KiB, and a re-login
    of a big account holds a few thousand of them at once (the book, the stored fingerprints
    read back, the updates behind them)."""
    return tuple(sorted(set(names)))


@attrs.frozen
class Profile:
    """What is known about a remote user or group: display data plus the fingerprint fields
    identity matching uses (see ``bridge/identity.py``). Empty string = unknown.

    ``members`` (groups only) holds member display names or real ids, for member-set overlap,
    sorted and each once (``member_names`` makes any iterable so).
    ``attr_status`` is WeChat's ``AttrStatus`` bitfield (PROTOCOL.md §3.3, §11; 0 = unknown).
    ``avatar_hash`` is the SHA-256 (hex) of the avatar's bytes, set by the core only for the
    few contacts whose avatar it fetched (``SupportsAvatars``; PROTOCOL.md §9, §11); '' =
    not fetched.

    Group members (``GroupMember``) also have ``key_word``, WeChat's ``KeyWord``: the first 3
    characters of the real id (PROTOCOL.md §3.4, §11), and ``group_name``, the name the
    member gave itself in the group (``DisplayName``, the group card name). ``member_of`` is
    set by the core only, never by an adapter: for the identity of a group member who is not
    a contact, the identity id of the group it is known in ('' for everyone else).
    """

    address: Address
    kind: ChatKind = ChatKind.DIRECT
    name: str = ""
    real_id: str = ""
    alias: str = ""
    remark_name: str = ""
    nick_name: str = ""
    sex: int = 0
    province: str = ""
    city: str = ""
    signature: str = ""
    attr_status: int = 0
    avatar_url: str = ""
    members: tuple[str, ...] = attrs.field(default=(), converter=member_names)
    avatar_hash: str = ""
    is_self: bool = False
    key_word: str = ""
    group_name: str = ""
    member_of: IdentityId = IdentityId("")

    @property
    def display_name(self) -> str:
        """The name a user knows this contact by: remark, else nickname, else ``name``."""
        return self.remark_name or self.nick_name or self.name or self.address


# ---- message content -------------------------------------------------------------------------


@attrs.frozen
class Mention:
    """A user a text mentions, in the bridge's own terms: ``address`` is the user on the side
    the text is on (as for a sender, side B knows a remote person by its stable identity
    id), ``text`` the part of the body that names them, exactly as written there ('' when
    the body does not name them). Each adapter reads and writes its network's syntax:
    WeChat ``@NickName`` + U+2005 (PROTOCOL.md §6.2), Matrix pills and ``m.mentions``."""

    address: Address
    text: str = ""


def _mentions(values: tuple[Mention | str, ...]) -> tuple[Mention, ...]:
    # Journal entries written before mentions had a text hold bare addresses.
    return tuple(v if isinstance(v, Mention) else Mention(Address(v)) for v in values)


@attrs.frozen
class Text:
    """Plain text, optionally with an HTML ``formatted`` body (Matrix ``org.matrix.custom.html``).

    ``mentions`` are the users the text mentions, in order (see ``Mention``).
    """

    body: str
    formatted: str | None = None
    mentions: tuple[Mention, ...] = attrs.field(default=(), converter=_mentions)


class MediaKind(enum.Enum):
    """What kind of file a ``Media`` is; decides how the other side shows it."""

    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    FILE = "file"
    STICKER = "sticker"


@attrs.frozen
class Media:
    """A file with its metadata. ``data`` holds the bytes; sizes in bytes, ``duration_ms`` in
    milliseconds, ``width``/``height`` in pixels (0 = unknown).

    A received file whose bytes are not at hand yet has empty ``data`` and says where they
    are: ``ref`` is the receiving adapter's own locator (``SupportsMediaFetch``; it never
    holds a credential), ``sha256`` names the file the core spooled them to
    (``bridge.store.MediaSpool``), ``expected_size`` is the size announced (0 = unknown).
    The core resolves both before a ``Media`` reaches ``SupportsMedia.send_media``.
    """

    kind: MediaKind
    data: bytes = attrs.field(default=b"", repr=lambda d: f"<{len(d)} bytes>")
    mimetype: str = "application/octet-stream"
    filename: str = ""
    duration_ms: int = 0
    width: int = 0
    height: int = 0
    caption: str = ""
    ref: str = ""
    sha256: str = ""
    expected_size: int = 0

    @property
    def size(self) -> int:
        """Size of ``data`` in bytes (the announced size while the bytes are elsewhere)."""
        return len(self.data) or self.expected_size

    @property
    def is_reference(self) -> bool:
        """True when the bytes are elsewhere (``ref`` or ``sha256``), not in ``data``."""
        return not self.data and bool(self.ref or self.sha256)


@attrs.frozen
class Location:
    """A point on the map: WGS84 degrees, plus the place's label."""

    latitude: float
    longitude: float
    label: str = ""

    @property
    def geo_uri(self) -> str:
        """RFC 5870 ``geo:`` URI, as Matrix ``m.location`` expects."""
        return f"geo:{self.latitude},{self.longitude}"


@attrs.frozen
class Link:
    """A link card: url with title and description."""

    url: str
    title: str = ""
    description: str = ""


@attrs.frozen
class Notice:
    """Text from the system rather than a person (join notices, friend requests, failures)."""

    text: str


Content = Text | Media | Location | Link | Notice


# ---- what a send leaves behind for later actions ---------------------------------------------


@attrs.frozen
class SentMessage:
    """What sending a message produced, kept by the core with the message map so that a
    later revoke works after a restart: the message's ``remote_id`` on the target network,
    ``timestamp`` (unix seconds) when that network accepted it, ``revoke_data`` (text opaque
    to the core that revoking it needs; WeChat: the ClientMsgId, PROTOCOL.md §8; '' for
    none) and ``text`` (the message as the target network shows it, which a later reply may
    quote; '' for none). The core passes the same value back to ``SupportsRevoke.revoke``.
    """

    remote_id: RemoteId
    timestamp: float = attrs.field(factory=time.time)
    revoke_data: str = ""
    text: str = ""


@attrs.frozen
class Quoted:
    """The message a reply answers, as the core keeps it: its ``remote_id`` on the side the
    reply goes to, its ``text`` there ('' when it is no text or not known) and its
    ``author`` (``None`` when unknown; a profile with ``is_self`` for the account itself,
    whose address may be empty). Adapters that cannot mark replies natively quote it
    (WeChat, PROTOCOL.md §6.4)."""

    remote_id: RemoteId
    text: str = ""
    author: Profile | None = None


# ---- inbound events --------------------------------------------------------------------------


@attrs.frozen
class Message:
    """A message that arrived in ``chat`` from ``sender``.

    ``timestamp`` is unix seconds. ``from_self`` is true for what the logged-in account itself
    sent from another device (phone). ``reply_to`` is the ``RemoteId`` of the quoted message.
    ``replaces`` is set on an edit carried as a recall and a new message (for a network
    without edits): the ``RemoteId`` of the message it corrects, whose later revocations and
    replies it takes over on the other side (the core keeps which stands for which on disk).
    """

    chat: Address
    sender: Address
    remote_id: RemoteId
    content: Content
    timestamp: float
    chat_kind: ChatKind = ChatKind.DIRECT
    reply_to: RemoteId | None = None
    from_self: bool = False
    replaces: RemoteId | None = None


@attrs.frozen
class Revocation:
    """The message ``remote_id`` in ``chat`` was recalled / redacted by ``sender``."""

    chat: Address
    sender: Address
    remote_id: RemoteId
    timestamp: float


@attrs.frozen
class ChatRead:
    """The account owner read ``chat`` on another device (their phone), at ``timestamp``
    (unix s): the other side marks the chat read as the owner (Matrix: their read receipt
    through double puppeting). ``remote_id`` is the source's id of the notification, for
    de-duplication (WeChat: the MsgId of the MsgType 51 / StatusNotifyCode 1 message,
    PROTOCOL.md §3.2, §6.3); ``up_to`` is the message read up to on the source side when
    the source says (``None``: everything bridged so far). Journaled in the chat's queue,
    unlike ``ReadReceipt`` (the owner's receipt from side B, relayed at once)."""

    chat: Address
    remote_id: RemoteId
    timestamp: float
    up_to: RemoteId | None = None


@attrs.frozen
class ReadReceipt:
    """``sender`` (the account's owner) has read ``chat`` up to the message ``remote_id``
    (Matrix spec "Receipts": an ``m.read`` receipt; WeChat: webwxstatusnotify Code 1,
    PROTOCOL.md §3.2). Ephemeral: the core relays it at once and does not journal it;
    ``timestamp`` is unix seconds."""

    chat: Address
    sender: Address
    remote_id: RemoteId
    timestamp: float


@attrs.frozen
class ProfileUpdate:
    """A contact or group appeared or changed (name, avatar, members, leaked real id)."""

    profile: Profile


@attrs.frozen
class GroupMember:
    """``profile`` (a person) is listed in the member list of the group at ``group``."""

    group: Address
    profile: Profile


@attrs.frozen
class ContactBook:
    """The complete contact book after a login: the input of identity matching.

    ``members``: who the member lists of its groups show (WeChat: webwxbatchgetcontact's
    ``MemberList``, PROTOCOL.md §3.4), one entry per group and member, the account itself
    left out; what keeps group members who are not contacts on their identity across logins
    (``bridge.identity.match_members``). Empty when the network sends none.
    """

    profiles: tuple[Profile, ...]
    members: Sequence[GroupMember] = ()


@attrs.frozen
class QRCodeNeeded:
    """Login step "display and wait": scan this QR code with the network's app to log in.
    ``payload`` is the encoded text, ``png`` an image of it; ``hint`` (optional, user-facing)
    says where the app's scanner is, e.g. ``Me → Scan``. A later ``QRCodeNeeded`` replaces
    an expired code."""

    payload: str
    png: bytes = attrs.field(repr=False)
    hint: str = ""


@attrs.frozen
class ConfirmOnPhone:
    """Login step "display and wait": the remote service asked the account's phone to
    confirm a login (no QR to scan). ``hint`` (optional, user-facing) says what to tap and
    what happens if nobody does, e.g. that a ``QRCodeNeeded`` follows."""

    hint: str = ""


class InputKind(enum.Enum):
    """What a login asks the user to type: a code the network sent them, a password (the
    bot deletes the message holding it once read), or any other text."""

    CODE = "code"
    PASSWORD = "password"
    TEXT = "text"


@attrs.frozen
class InputNeeded:
    """Login step "user input": the login waits for the user to type something (model:
    mautrix bridgev2's ``user_input`` step). ``prompt`` is user-facing (e.g. "Enter the code
    we sent to +1 555…"); the answer goes to ``SupportsLogin.submit_login_input``, after
    which the next step, ``LoggedIn`` or ``LoggedOut`` follows."""

    kind: InputKind
    prompt: str


@attrs.frozen
class LoggedIn:
    """Login complete (or a saved session resumed): the account ``account`` (its profile)
    is logged in and receiving."""

    account: Profile


@attrs.frozen
class LoggedOut:
    """The remote session ended, or a login failed; ``reason`` is user-facing text. A new
    login is needed."""

    reason: str


@attrs.frozen
class Disconnected:
    """The connection dropped but the session lives; the adapter reconnects by itself."""

    reason: str
    retry_in_s: float = 0.0


@attrs.frozen
class IntakeStalled:
    """The core cannot journal what a side received (``reason``: the database error, as
    user-facing text); it acknowledges nothing meanwhile and tries again in ``retry_in_s``
    seconds. Sent once per stall, by the core itself, through ``on_state``."""

    reason: str
    retry_in_s: float = 0.0


@attrs.frozen
class IntakeResumed:
    """The journal accepts what a side received again, after an ``IntakeStalled``."""


#: The login steps a ``SupportsLogin`` adapter emits before ``LoggedIn`` / ``LoggedOut``.
LoginStep = QRCodeNeeded | ConfirmOnPhone | InputNeeded
StateEvent = LoginStep | LoggedIn | LoggedOut | Disconnected | IntakeStalled | IntakeResumed
Event = Message | Revocation | ChatRead | ReadReceipt | ProfileUpdate | ContactBook | StateEvent

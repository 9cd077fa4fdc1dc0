"""Typed, frozen values and events that cross the ``Channel`` boundary."""

from __future__ import annotations

import enum
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


class ChatKind(enum.Enum):
    """Whether a chat is with one person or a group."""

    DIRECT = "direct"
    GROUP = "group"


@attrs.frozen
class Profile:
    """What is known about a remote user or group: display data plus the fingerprint fields
    identity matching uses (see ``bridge/identity.py``). Empty string = unknown.

    ``members`` (groups only) holds member display names or real ids, for member-set overlap.
    ``attr_status`` is WeChat's ``AttrStatus`` bitfield (PROTOCOL.md §3.3, §11; 0 = unknown).
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
    members: frozenset[str] = frozenset()
    is_self: bool = False

    @property
    def display_name(self) -> str:
        """The name a user knows this contact by: remark, else nickname, else ``name``."""
        return self.remark_name or self.nick_name or self.name or self.address


# ---- message content -------------------------------------------------------------------------


@attrs.frozen
class Text:
    """Plain text, optionally with an HTML ``formatted`` body (Matrix ``org.matrix.custom.html``).

    ``mentions`` are the addresses of users mentioned in the text.
    """

    body: str
    formatted: str | None = None
    mentions: tuple[Address, ...] = ()


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
    milliseconds, ``width``/``height`` in pixels (0 = unknown)."""

    kind: MediaKind
    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    mimetype: str = "application/octet-stream"
    filename: str = ""
    duration_ms: int = 0
    width: int = 0
    height: int = 0
    caption: str = ""

    @property
    def size(self) -> int:
        """Size of ``data`` in bytes."""
        return len(self.data)


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


# ---- inbound events --------------------------------------------------------------------------


@attrs.frozen
class Message:
    """A message that arrived in ``chat`` from ``sender``.

    ``timestamp`` is unix seconds. ``from_self`` is true for what the logged-in account itself
    sent from another device (phone). ``reply_to`` is the ``RemoteId`` of the quoted message.
    """

    chat: Address
    sender: Address
    remote_id: RemoteId
    content: Content
    timestamp: float
    chat_kind: ChatKind = ChatKind.DIRECT
    reply_to: RemoteId | None = None
    from_self: bool = False


@attrs.frozen
class Revocation:
    """The message ``remote_id`` in ``chat`` was recalled / redacted by ``sender``."""

    chat: Address
    sender: Address
    remote_id: RemoteId
    timestamp: float


@attrs.frozen
class ProfileUpdate:
    """A contact or group appeared or changed (name, avatar, members, leaked real id)."""

    profile: Profile


@attrs.frozen
class ContactBook:
    """The complete contact book after a login: the input of identity matching."""

    profiles: tuple[Profile, ...]


@attrs.frozen
class QRCodeNeeded:
    """Scan this QR code to log in. ``payload`` is the encoded text, ``png`` an image of it."""

    payload: str
    png: bytes = attrs.field(repr=False)


@attrs.frozen
class ConfirmOnPhone:
    """The remote service asked the account's phone to confirm a login (no QR to scan);
    a ``QRCodeNeeded`` follows if nobody confirms in time."""


@attrs.frozen
class LoggedIn:
    """The account ``account`` (its profile) is logged in and receiving."""

    account: Profile


@attrs.frozen
class LoggedOut:
    """The remote session ended; ``reason`` is user-facing text. A new login is needed."""

    reason: str


@attrs.frozen
class Disconnected:
    """The connection dropped but the session lives; the adapter reconnects by itself."""

    reason: str
    retry_in_s: float = 0.0


StateEvent = QRCodeNeeded | ConfirmOnPhone | LoggedIn | LoggedOut | Disconnected
Event = Message | Revocation | ProfileUpdate | ContactBook | StateEvent

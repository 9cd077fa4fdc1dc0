"""Frozen records of the store's tables, built from database rows with ``from_row``."""

from __future__ import annotations

import enum
import sys

import attrs

from bridge.ids import EntryId, EventId, LoginId, MatrixUserId, RoomId
from bridge.model import Address, ChatKind, Event, IdentityId, Profile, RemoteId
from bridge.store.codec import decode_event, decode_profile
from bridge.store.db import Row


class Side(enum.Enum):
    """Which channel of a relay: ``A`` is the remote network whose chats get portals (WeChat),
    ``B`` the side the portals live on (Matrix)."""

    A = "a"
    B = "b"

    @property
    def other(self) -> Side:
        """The opposite side."""
        return Side.B if self is Side.A else Side.A


class Origin(enum.Enum):
    """Where a bridged message was first written: on side A, side B, or by the bridge."""

    A = "a"
    B = "b"
    BRIDGE = "bridge"


class LoginState(enum.Enum):
    """``PENDING``: created, never logged in; ``ACTIVE``: logged in; ``LOGGED_OUT``."""

    PENDING = "pending"
    ACTIVE = "active"
    LOGGED_OUT = "logged_out"


class IdentityState(enum.Enum):
    """``AMBIGUOUS``: after a re-login, more than one contact matches; waits for the user."""

    NORMAL = "normal"
    AMBIGUOUS = "ambiguous"


class EntryState(enum.Enum):
    """Journal entry states. ``HELD`` waits for an identity to be resolved."""

    PENDING = "pending"
    DELIVERED = "delivered"
    HELD = "held"
    FAILED = "failed"


@attrs.frozen
class Login:
    """A Matrix user's account on a remote network (``channel`` is the adapter name).

    ``account`` is the remote account's own id once known ('' before), ``session_path`` the
    file holding the session blob (written 0600 by the adapter). Times are unix seconds.
    """

    id: LoginId
    matrix_user: MatrixUserId
    channel: str
    account: str
    session_path: str | None
    state: LoginState
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Row) -> Login:
        """Build from a ``logins`` row."""
        return cls(
            id=LoginId(row["id"]),
            matrix_user=MatrixUserId(row["matrix_user"]),
            channel=row["channel"],
            account=row["account"],
            session_path=row["session_path"],
            state=LoginState(row["state"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@attrs.frozen
class StoredIdentity:
    """A remote contact or group with a stable bridge-assigned ``id``.

    ``profile`` is its fingerprint (the last known profile; its ``address`` may be stale).
    ``address`` is the current session's address, ``None`` while unbound or ambiguous.
    ``candidates`` are the profiles of the addresses it could be while ``AMBIGUOUS``.
    """

    id: IdentityId
    login_id: LoginId
    kind: ChatKind
    profile: Profile
    address: Address | None
    state: IdentityState
    candidates: tuple[Profile, ...] = ()

    @classmethod
    def from_row(cls, row: Row, candidates: tuple[Profile, ...] = ()) -> StoredIdentity:
        """Build from an ``identities`` row plus its ``identity_candidates`` profiles.

        A re-login reads back every identity (50,000 for a big account): the login id is
        one shared string, and a bound address equal to the fingerprint's is that string."""
        address = row["address"]
        profile = decode_profile(row["fingerprint"])
        if address is not None and address == profile.address:
            address = profile.address
        return cls(
            id=IdentityId(row["id"]),
            login_id=LoginId(sys.intern(row["login_id"])),
            kind=ChatKind(row["kind"]),
            profile=profile,
            address=None if address is None else Address(address),
            state=IdentityState(row["state"]),
            candidates=candidates,
        )

    @property
    def ambiguous(self) -> bool:
        """True while the user has to say which contact this is."""
        return self.state is IdentityState.AMBIGUOUS


@attrs.frozen
class Portal:
    """The side-B chat (Matrix room) mirroring an identity."""

    identity_id: IdentityId
    room: RoomId

    @classmethod
    def from_row(cls, row: Row) -> Portal:
        """Build from a ``portals`` row."""
        return cls(identity_id=IdentityId(row["identity_id"]), room=RoomId(row["room"]))


@attrs.frozen
class MessageLink:
    """One bridged message: its id on side A (``remote_id``, WeChat MsgId) and on side B
    (``event_id``).

    Either id is ``None`` for the bridge's own notices, which exist on one side only.
    ``sender`` is the stable id of who wrote it (identity id or Matrix user id);
    ``timestamp`` unix seconds; ``revoked`` once a revocation was carried out. What the
    bridge's own send of it (on the side other than ``origin``) returned is kept for a later
    revoke: ``sent_at`` (unix s, ``None`` for rows older than schema 3) and ``revoke_data``
    (opaque to the core). ``quote_text`` is its text on side A, which a reply may quote.
    """

    id: int
    login_id: LoginId
    remote_id: RemoteId | None
    revoke_data: str | None
    event_id: EventId | None
    identity_id: IdentityId | None
    room: RoomId | None
    sender: str
    origin: Origin
    timestamp: float
    revoked: bool
    sent_at: float | None = None
    quote_text: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> MessageLink:
        """Build from a ``message_map`` row."""
        return cls(
            id=row["id"],
            login_id=LoginId(row["login_id"]),
            remote_id=None if row["remote_id"] is None else RemoteId(row["remote_id"]),
            revoke_data=row["revoke_data"],
            event_id=None if row["event_id"] is None else EventId(row["event_id"]),
            identity_id=None if row["identity_id"] is None else IdentityId(row["identity_id"]),
            room=None if row["room"] is None else RoomId(row["room"]),
            sender=row["sender"],
            origin=Origin(row["origin"]),
            timestamp=row["timestamp"],
            revoked=bool(row["revoked"]),
            sent_at=row["sent_at"],
            quote_text=row["quote_text"],
        )

    def id_on(self, side: Side) -> RemoteId | None:
        """This message's id on ``side``."""
        if side is Side.A:
            return self.remote_id
        return None if self.event_id is None else RemoteId(self.event_id)


@attrs.frozen
class JournalEntry:
    """An inbound event kept until it is delivered to the other side.

    ``chat`` is the chat address on the ``source`` side as received; ``chat_key`` names the
    ordered queue it belongs to; ``sender_key`` the sender's identity (side A messages).
    ``payload`` is the ``codec`` text of the event. Times are unix seconds. ``mapped`` is
    True when the entry was read by ``JournalRepo.next_pending`` and its message was in the
    message map at that moment (a replay, or the echo of the bridge's own send).
    """

    id: EntryId
    login_id: LoginId
    source: Side
    chat: Address
    chat_key: str
    sender_key: str | None
    dedup_key: str | None
    payload: str
    state: EntryState
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    mapped: bool = False

    @classmethod
    def from_row(cls, row: Row) -> JournalEntry:
        """Build from a ``journal`` row (the payload is decoded by ``event()``)."""
        return cls(
            id=EntryId(row["id"]),
            login_id=LoginId(row["login_id"]),
            source=Side(row["source"]),
            chat=Address(row["chat"]),
            chat_key=row["chat_key"],
            sender_key=row["sender_key"],
            dedup_key=row["dedup_key"],
            payload=row["payload"],
            state=EntryState(row["state"]),
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            last_error=row["last_error"],
            created_at=row["created_at"],
            mapped=bool(row.get("mapped", False)),
        )

    def event(self) -> Event:
        """The journaled event. Raises ``CodecError`` if the payload is corrupt."""
        return decode_event(self.payload)

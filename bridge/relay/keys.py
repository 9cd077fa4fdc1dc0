"""Typed names of the relay's per-chat queues and of the journal's de-duplication keys; the
only place their text form is made or read (it is stored in the journal)."""

from __future__ import annotations

from typing import NewType

from bridge.model import Address, ChatRead, IdentityId, Message, RemoteId, Revocation

#: A per-chat delivery queue (``journal.chat_key``): a side-A chat's identity id, a side-B
#: chat that is no portal, or the entries held for an ambiguous address.
QueueKey = NewType("QueueKey", str)
#: What makes a journal entry unique per login and side (``journal.dedup_key``).
DedupKey = NewType("DedupKey", str)

_ROOM = "b:"
_HELD = "held:"


def identity_key(identity: IdentityId) -> QueueKey:
    """The queue of the chat whose stable identity is ``identity`` (either side)."""
    return QueueKey(identity)


def room_key(room: Address) -> QueueKey:
    """The queue of a side-B chat that is not (yet) a portal."""
    return QueueKey(_ROOM + room)


def held_key(address: Address) -> QueueKey:
    """The queue name of entries held for the ambiguous ``address`` (never delivered from)."""
    return QueueKey(_HELD + address)


def is_held(key: str) -> bool:
    """Whether ``key`` names held entries, which wait for the user and are not delivered."""
    return key.startswith(_HELD)


def identity_of(key: str) -> IdentityId | None:
    """The identity whose queue ``key`` is; ``None`` for a room or held queue."""
    return None if key.startswith((_ROOM, _HELD)) else IdentityId(key)


def message_key(remote_id: RemoteId) -> DedupKey:
    """The de-duplication key of the message ``remote_id`` from one side."""
    return DedupKey(f"msg:{remote_id}")


def dedup_key(event: Message | Revocation | ChatRead) -> DedupKey:
    """The journal's de-duplication key of a message, revocation or read from one side."""
    if isinstance(event, Message):
        return message_key(event.remote_id)
    if isinstance(event, ChatRead):
        return DedupKey(f"read:{event.remote_id}")
    return DedupKey(f"rev:{event.remote_id}")

"""Lossless JSON serialization of ``bridge.model`` events and profiles for the journal."""

from __future__ import annotations

import base64
import enum
import json
import sys
from typing import Any

import attrs

from bridge.errors import StoreError
from bridge.model import (
    ChatKind,
    ChatRead,
    ConfirmOnPhone,
    ContactBook,
    Disconnected,
    Event,
    GroupMember,
    Link,
    Location,
    LoggedIn,
    LoggedOut,
    Media,
    MediaKind,
    Mention,
    Message,
    Notice,
    Profile,
    ProfileUpdate,
    QRCodeNeeded,
    Revocation,
    Text,
)

#: Bumped when the encoding changes incompatibly; stored in every payload.
FORMAT = 1

# Tags are part of the on-disk format: never rename one, even if its class is renamed.
_CLASSES: dict[str, type[Any]] = {
    "profile": Profile,
    "text": Text,
    "media": Media,
    "location": Location,
    "link": Link,
    "notice": Notice,
    "message": Message,
    "revocation": Revocation,
    "profile_update": ProfileUpdate,
    "contact_book": ContactBook,
    "qr_code_needed": QRCodeNeeded,
    "confirm_on_phone": ConfirmOnPhone,
    "logged_in": LoggedIn,
    "logged_out": LoggedOut,
    "disconnected": Disconnected,
    "mention": Mention,
    "chat_read": ChatRead,
    "group_member": GroupMember,
}
_TAGS = {cls: tag for tag, cls in _CLASSES.items()}
_ENUMS: dict[str, type[enum.Enum]] = {"chat_kind": ChatKind, "media_kind": MediaKind}
_ENUM_TAGS = {cls: tag for tag, cls in _ENUMS.items()}


class CodecError(StoreError):
    """A journal payload could not be encoded or decoded (corrupt, or from a newer version)."""


def _to_json(value: Any) -> Any:
    # Every non-JSON value carries a one-key tag object, so decoding needs no type hints.
    if attrs.has(type(value)):
        tag = _TAGS.get(type(value))
        if tag is None:
            raise CodecError(f"cannot encode a {type(value).__name__}")
        fields = {f.name: _to_json(getattr(value, f.name)) for f in attrs.fields(type(value))}
        return {"@": tag, **fields}
    if isinstance(value, enum.Enum):
        return {"@enum": _ENUM_TAGS[type(value)], "value": value.value}
    if isinstance(value, bytes):
        return {"@bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, frozenset):
        return {"@set": sorted(_to_json(v) for v in value)}
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise CodecError(f"cannot encode a {type(value).__name__}")


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    if not isinstance(value, dict):
        return value
    if "@" in value:
        cls = _CLASSES.get(value["@"])
        if cls is None:
            raise CodecError(f"unknown payload type {value['@']!r}")
        names = {f.name for f in attrs.fields(cls)}
        kwargs = {k: _from_json(v) for k, v in value.items() if k in names}
        return cls(**kwargs)
    if "@enum" in value:
        return _ENUMS[value["@enum"]](value["value"])
    if "@bytes" in value:
        return base64.b64decode(value["@bytes"], validate=True)
    if "@set" in value:
        return frozenset(_from_json(v) for v in value["@set"])
    raise CodecError(f"untagged object in payload: {sorted(value)}")


def encode(obj: Event | Profile) -> str:
    """Serialize an event or profile to a JSON text. Raises ``CodecError``."""
    if type(obj) is Profile:  # identity fingerprints: thousands per contact book
        return json.dumps({"format": FORMAT, "value": _profile_json(obj)}, ensure_ascii=False)
    return json.dumps({"format": FORMAT, "value": _to_json(obj)}, ensure_ascii=False)


_PROFILE_FIELDS = tuple(f.name for f in attrs.fields(Profile))
_PROFILE_NAMES = frozenset(_PROFILE_FIELDS)


def _profile_json(profile: Profile) -> dict[str, Any]:
    """``_to_json(profile)`` without the generic walk (the same JSON)."""
    value: dict[str, Any] = {"@": "profile"}
    for name in _PROFILE_FIELDS:
        value[name] = getattr(profile, name)
    value["kind"] = {"@enum": "chat_kind", "value": profile.kind.value}
    value["members"] = {"@set": sorted(profile.members)}
    return value


def decode(text: str | bytes) -> Any:
    """Parse what ``encode`` produced back into an equal object. Raises ``CodecError``.

    Unknown fields are ignored so that an older chatbridge can read a newer field set; a
    missing field takes its default.
    """
    try:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise CodecError("payload has no known format version")
        return _from_json(document["value"])
    except (ValueError, KeyError, TypeError) as e:
        raise CodecError(f"corrupt payload: {e}") from e


def decode_event(text: str | bytes) -> Event:
    """``decode`` restricted to events. Raises ``CodecError`` for anything else."""
    value = decode(text)
    if not isinstance(
        value,
        Message
        | Revocation
        | ChatRead
        | ProfileUpdate
        | ContactBook
        | QRCodeNeeded
        | ConfirmOnPhone
        | LoggedIn
        | LoggedOut
        | Disconnected,
    ):
        raise CodecError(f"payload is a {type(value).__name__}, not an event")
    return value


#: ``Profile`` fields that many stored identities share (names, places, and ``member_of``,
#: the group of each of its ~100 members): decoded once per value, not once per identity.
_SHARED_FIELDS = frozenset(
    {"name", "nick_name", "remark_name", "group_name", "key_word", "member_of", "province", "city"}
)


def _intern(name: object) -> object:
    return sys.intern(name) if type(name) is str else name


def decode_profile(text: str | bytes) -> Profile:
    """``decode`` restricted to a ``Profile``. Raises ``CodecError`` for anything else."""
    try:  # the common case first, without the generic walk
        document = json.loads(text)
        value = document["value"] if document.get("format") == FORMAT else None
        if isinstance(value, dict) and value.get("@") == "profile":
            fields: dict[str, Any] = {
                k: _intern(v) if k in _SHARED_FIELDS else v
                for k, v in value.items()
                if k in _PROFILE_NAMES
            }
            fields["kind"] = ChatKind(fields["kind"]["value"])
            # A person in many groups: one copy of their name for all of them.
            fields["members"] = tuple(map(_intern, fields["members"]["@set"]))
            if all(isinstance(v, str | int | ChatKind | tuple) for v in fields.values()):
                return Profile(**fields)
    except (ValueError, KeyError, TypeError, AttributeError):
        pass  # the generic decoder says what is wrong
    value = decode(text)
    if not isinstance(value, Profile):
        raise CodecError(f"payload is a {type(value).__name__}, not a profile")
    return value

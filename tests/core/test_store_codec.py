"""The journal codec turns every event type into JSON and back without losing anything."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.model import (
    Address,
    ChatKind,
    ChatRead,
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
    RemoteId,
    Revocation,
    Text,
)
from bridge.store.codec import CodecError, decode, decode_event, decode_profile, encode

texts = st.text(max_size=40)
addresses = st.builds(Address, st.text(min_size=1, max_size=20))
remote_ids = st.builds(RemoteId, st.text(alphabet="0123456789", min_size=1, max_size=19))
# Unix seconds as floats: repr round-trips through JSON exactly.
times = st.floats(min_value=0, max_value=4e9, allow_nan=False)

profiles = st.builds(
    Profile,
    address=addresses,
    kind=st.sampled_from(ChatKind),
    name=texts,
    real_id=texts,
    alias=texts,
    remark_name=texts,
    nick_name=texts,
    sex=st.integers(0, 2),
    province=texts,
    city=texts,
    signature=texts,
    avatar_url=texts,
    members=st.frozensets(texts, max_size=5),
    is_self=st.booleans(),
    key_word=texts,
    group_name=texts,
)
contents = st.one_of(
    st.builds(
        Text,
        body=texts,
        formatted=st.none() | texts,
        mentions=st.lists(st.builds(Mention, addresses, texts), max_size=3).map(tuple),
    ),
    st.builds(
        Media,
        kind=st.sampled_from(MediaKind),
        data=st.binary(max_size=300),
        mimetype=texts,
        filename=texts,
        duration_ms=st.integers(0, 10**7),
        width=st.integers(0, 10**4),
        height=st.integers(0, 10**4),
        caption=texts,
    ),
    st.builds(
        Location,
        latitude=st.floats(-90, 90),
        longitude=st.floats(-180, 180),
        label=texts,
    ),
    st.builds(Link, url=texts, title=texts, description=texts),
    st.builds(Notice, text=texts),
)
events = st.one_of(
    st.builds(
        Message,
        chat=addresses,
        sender=addresses,
        remote_id=remote_ids,
        content=contents,
        timestamp=times,
        chat_kind=st.sampled_from(ChatKind),
        reply_to=st.none() | remote_ids,
        from_self=st.booleans(),
    ),
    st.builds(Revocation, chat=addresses, sender=addresses, remote_id=remote_ids, timestamp=times),
    st.builds(
        ChatRead,
        chat=addresses,
        remote_id=remote_ids,
        timestamp=times,
        up_to=st.none() | remote_ids,
    ),
    st.builds(ProfileUpdate, profile=profiles),
    st.builds(
        ContactBook,
        profiles=st.lists(profiles, max_size=4).map(tuple),
        members=st.lists(st.builds(GroupMember, addresses, profiles), max_size=3).map(tuple),
    ),
    st.builds(QRCodeNeeded, payload=texts, png=st.binary(max_size=100)),
    st.builds(LoggedIn, account=profiles),
    st.builds(LoggedOut, reason=texts),
    st.builds(Disconnected, reason=texts, retry_in_s=st.floats(0, 1e4)),
)


@settings(max_examples=300, deadline=None)
@given(events)
def test_every_event_round_trips(event: Event) -> None:
    text = encode(event)
    json.loads(text)  # plain JSON, storable in a TEXT column
    assert decode_event(text) == event


@given(profiles)
def test_profiles_round_trip(profile: Profile) -> None:
    assert decode_profile(encode(profile)) == profile


def test_media_bytes_survive_exactly() -> None:
    data = bytes(range(256)) * 4
    msg = Message(
        chat=Address("@a"),
        sender=Address("@b"),
        remote_id=RemoteId("1"),
        content=Media(MediaKind.IMAGE, data, "image/png", "cat.png", width=2, height=3),
        timestamp=1.25,
    )
    back = decode_event(encode(msg))
    assert isinstance(back, Message) and isinstance(back.content, Media)
    assert back.content.data == data


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "{}",
        '{"format": 999, "value": null}',
        '{"format": 1, "value": {"@": "no_such_type"}}',
        '{"format": 1, "value": {"@": "text"}}',
        '{"format": 1, "value": {"untagged": 1}}',
        '{"format": 1, "value": {"@bytes": "***"}}',
    ],
)
def test_corrupt_payloads_raise_codec_error(payload: str) -> None:
    with pytest.raises(CodecError):
        decode(payload)


def test_decode_event_refuses_a_profile_and_vice_versa() -> None:
    profile = Profile(Address("@a"))
    with pytest.raises(CodecError):
        decode_event(encode(profile))
    with pytest.raises(CodecError):
        decode_profile(encode(LoggedOut("bye")))


def test_unknown_fields_from_a_newer_version_are_ignored() -> None:
    document = json.loads(encode(Notice("hello")))
    document["value"]["colour"] = "red"
    assert decode(json.dumps(document)) == Notice("hello")


def test_mentions_journaled_as_bare_addresses_read_back_as_mentions() -> None:
    # Journal entries written before a mention carried the text naming it.
    old = {"format": 1, "value": {"@": "text", "body": "@Ann\u2005hi", "mentions": ["wx_ann"]}}
    assert decode(json.dumps(old)) == Text("@Ann\u2005hi", mentions=(Mention(Address("wx_ann")),))

"""Mentions between Matrix events and the bridge's model: pills in, pills and m.mentions out
(spec "User and room mentions")."""

from __future__ import annotations

from typing import Any

from adapters.matrix import render
from adapters.matrix.types import EventId, RoomEvent, RoomId, UserId
from bridge.model import Address, Mention, Text

CAROL = "@wechat_id-c:example.org"


def event(content: dict[str, Any]) -> RoomEvent:
    return RoomEvent(
        EventId("$e"), RoomId("!r"), UserId("@me:example.org"), "m.room.message", content
    )


def identity_of(user: UserId) -> str | None:
    return "id-c" if user == CAROL else None


def test_pills_become_mentions_with_the_text_that_names_them() -> None:
    pill = f'<a href="https://matrix.to/#/{CAROL}">Carol (WeChat)</a>'
    mine = '<a href="https://matrix.to/#/%40me%3Aexample.org">me</a>'
    room = '<a href="https://matrix.to/#/#hike:example.org">#hike</a>'
    content = {
        "msgtype": "m.text",
        "body": "Carol (WeChat): bring it, someone says me in #hike",
        "format": "org.matrix.custom.html",
        "formatted_body": f"{pill}: bring it, someone says {mine} in {room}",
    }

    text = render.parse_text(event(content), identity_of=identity_of)

    assert text.body == content["body"]  # each network writes its own syntax
    assert text.mentions == (
        Mention(Address("id-c"), "Carol (WeChat): "),
        Mention(Address("@me:example.org"), "me "),
    )


def test_a_pill_without_a_label_is_still_a_mention() -> None:
    content = {
        "msgtype": "m.text",
        "body": "hello there",
        "format": "org.matrix.custom.html",
        "formatted_body": f'hello <a href="https://matrix.to/#/{CAROL}"></a>',
    }
    text = render.parse_text(event(content), identity_of=identity_of)
    assert text.mentions == (Mention(Address("id-c")),)
    assert text.body == f"hello {CAROL}"  # the HTML, read as text, names whom it mentions


def test_mentions_out_fill_m_mentions_and_become_pills_in_the_html() -> None:
    text = Text("@Demo User\u2005@Carol W.\u2005 who brings the <tent>?")
    pills = (
        render.Pill(UserId("@me:example.org"), "@Demo User\u2005"),
        render.Pill(UserId(CAROL), "@Carol W.\u2005"),
        render.Pill(UserId("@nobody:example.org"), "@Nobody\u2005"),
    )

    content = render.message_content(text, mentions=pills)

    assert content["body"] == text.body
    assert content["m.mentions"] == {
        "user_ids": sorted(["@me:example.org", CAROL, "@nobody:example.org"])
    }
    assert content["formatted_body"] == (
        '<a href="https://matrix.to/#/%40me%3Aexample.org">Demo User</a>\u2005'
        '<a href="https://matrix.to/#/%40wechat_id-c%3Aexample.org">Carol W.</a>\u2005'
        " who brings the &lt;tent&gt;?"
    )


def test_a_flood_of_pills_is_cut_to_max_mentions() -> None:
    pill = f'<a href="https://matrix.to/#/{CAROL}">Carol</a>'
    content = {
        "msgtype": "m.text",
        "body": "Carol " * 1000,
        "format": "org.matrix.custom.html",
        "formatted_body": pill * 1000,
    }
    text = render.parse_text(event(content), identity_of=identity_of)
    assert len(text.mentions) == render.MAX_MENTIONS

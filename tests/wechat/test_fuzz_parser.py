"""Fuzzing the message parser and ``SyncResponse.from_wire`` with mutated genuine captures
(tests/data/wechat): no exception escapes and no case takes more than a few milliseconds.

Hypothesis drives the mutations (derandomized, so CI runs the same cases every time): a field
replaced by any JSON value or removed, Content cut, spliced or flooded with the shapes that
hurt parsers (unterminated emoji spans, nested or repeated XML, group prefixes, entities).
Each case is timed on its own; 50 ms is a generous bound for inputs of at most ~40 kB, which
the parser handles in well under a millisecond per KB (benchmarks/parser_bench.py).
"""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.wechat.client.messages import WeChatMessage
from adapters.wechat.client.parse import parse_message, parse_sync_messages
from adapters.wechat.client.results import SyncResponse
from adapters.wechat.client.types import UserName
from tests.wechat import samples

BOUND_S = 0.050
FUZZ = settings(
    max_examples=300,
    deadline=None,  # timed per case below, against BOUND_S
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Single AddMsgList entries captured from real servers.
ENTRY_SAMPLES = [
    "webwxsync-msg-1-location-submsgtype48-redacted.json",
    "webwxsync-msg-10000-friend-added.json",
    "webwxsync-msg-10002-recall-1to1-redacted.json",
    "webwxsync-msg-10002-recall-self-in-group.json",
    "webwxsync-msg-3-image-xml-2017.json",
    "webwxsync-msg-34-voice-2017.json",
    "webwxsync-msg-37-friend-request.json",
    "webwxsync-msg-42-card-2017.json",
    "webwxsync-msg-43-video-2017.json",
    "webwxsync-msg-49-5-link-truncated.json",
    "webwxsync-msg-49-6-file-in-group-redacted.json",
    "webwxsync-msg-51-statusnotify-4-syncconv.json",
    "webwxsync-msg-text-1to1-puppet-wechat.json",
]
#: Whole webwxsync answers (or their AddMsgList/ModContactList part).
RESPONSE_SAMPLES = [
    "webwxsync-response-emoticon-statusnotify-video-text.json",
    "webwxsync-response-selfsent-filehelper-enter-quit-session.json",
    "webwxsync-addmsglist-group-text-prefix-2016.json",
    "webwxsync-modcontactlist-new-group-2016.json",
]
#: Captured Content strings and the MsgType/AppMsgType they came with.
CONTENT_SAMPLES = {
    "appmsg-3-music-content.xml": (49, 3),
    "emoji-47-content.xml": (47, 0),
    "recall-content-1to1.txt": (10002, 0),
    "recall-content-group-member-with-prefix.txt": (10002, 0),
    "recall-content-newer-with-announcement_id.txt": (10002, 0),
    "sysmsg-10000-group-invite-content.txt": (10000, 0),
}
HOSTILE = [
    '<span class="emoji emoji1f600"',
    '<span class="emoji ',
    "<span ",
    "&lt;x&gt;",
    "&lt;/x&gt;",
    "<x>",
    "&lt;msg&gt;&lt;appmsg&gt;",
    "@0123abcd:<br/>",
    "<br/>",
    "&amp;",
    "&#",
    "\u2005@",
    "&lt;![CDATA[",
    " ",
]
OPEN_SPANS = ['<span class="emoji emoji1f600"', "<span class='emoji emoji1f1e81f1f3'"]
ME = UserName("@me")
RESPONSE_KEYS = ["SyncKey", "SyncCheckKey", "AddMsgList", "ModContactList", "DelContactList"]
RESPONSE_KEYS += ["Profile", "SKey", "ContinueFlag"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def _entries() -> list[dict[str, Any]]:
    found = [samples.load(name) for name in ENTRY_SAMPLES]
    for name in RESPONSE_SAMPLES:
        found += [m for m in samples.load(name).get("AddMsgList") or [] if isinstance(m, dict)]
    for name, (msg_type, app_type) in CONTENT_SAMPLES.items():
        found.append(
            {
                "MsgId": "7000000000000000001",
                "FromUserName": "@@0123456789abcdef",
                "ToUserName": ME,
                "MsgType": msg_type,
                "AppMsgType": app_type,
                "Content": samples.text(name),
            }
        )
    return found


ENTRIES = _entries()
RESPONSES = [samples.load(name) for name in RESPONSE_SAMPLES]


@st.composite
def mutated_content(draw: st.DrawFn, content: str) -> str:
    """Content cut, spliced with text, or flooded with a hostile fragment."""
    cut = draw(st.integers(0, len(content)))
    how = draw(st.sampled_from(["cut", "splice", "flood", "prefix-flood", "open-span", "nest"]))
    if how == "cut":
        return content[:cut]
    if how == "splice":
        return content[:cut] + draw(st.text(max_size=60)) + content[cut:]
    if how == "open-span":  # an emoji span that never closes, then whitespace
        span = draw(st.sampled_from(OPEN_SPANS))
        return content[:cut] + span + " " * draw(st.integers(1, 30_000))
    if how == "nest":  # elements nested as deep as the size allows
        depth = draw(st.integers(1, 3_000))
        return content[:cut] + "&lt;x&gt;" * depth + "&lt;/x&gt;" * depth + content[cut:]
    fragment = draw(st.sampled_from(HOSTILE))
    flood = fragment * draw(st.integers(1, 30_000 // len(fragment)))
    return flood + content if how == "prefix-flood" else content[:cut] + flood


@st.composite
def mutated_entry(draw: st.DrawFn) -> dict[str, Any]:
    entry = dict(draw(st.sampled_from(ENTRIES)))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*sorted(entry), "Content", "MsgType", "AppMsgType"]))
        action = draw(st.sampled_from(["content", "content", "value", "drop"]))
        if action == "content" and isinstance(entry.get("Content"), str):
            entry["Content"] = draw(mutated_content(entry["Content"]))
        elif action == "drop":
            entry.pop(key, None)
        else:
            entry[key] = draw(json_values)
    return entry


@st.composite
def mutated_response(draw: st.DrawFn) -> dict[str, Any]:
    response = dict(draw(st.sampled_from(RESPONSES)))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*RESPONSE_KEYS, *sorted(response)]))
        action = draw(st.sampled_from(["value", "drop", "key-entry", "entries"]))
        if action == "drop":
            response.pop(key, None)
        elif action == "key-entry":
            pairs = [{"Key": draw(json_values), "Val": draw(json_values)}]
            response[key] = {"Count": draw(json_values), "List": pairs}
        elif action == "entries":
            response[key] = [draw(mutated_entry()), draw(json_values)]
        else:
            response[key] = draw(json_values)
    return response


def timed(run: Any, *args: Any) -> Any:
    """``run(*args)``, asserting that its CPU time stays under ``BOUND_S``. A run over the
    bound is repeated and the best of three counts: a quadratic input is slow every time,
    while a pause of the shared machine (another process, the garbage collector) is not."""
    best = float("inf")
    for _ in range(3):
        start = time.thread_time()
        result = run(*args)
        best = min(best, time.thread_time() - start)
        if best < BOUND_S:
            return result
    raise AssertionError(f"{run.__name__} took {best * 1000:.1f} ms of CPU, best of 3")


@FUZZ
@given(mutated_entry())
def test_parse_message_never_raises_and_stays_fast(entry: dict[str, Any]) -> None:
    message = timed(parse_message, entry, ME)
    assert isinstance(message, WeChatMessage)


@FUZZ
@given(st.lists(mutated_entry(), max_size=4) | json_values)
def test_parse_sync_messages_never_raises_and_stays_fast(add_msg_list: Any) -> None:
    parsed = timed(parse_sync_messages, add_msg_list, ME)
    assert all(isinstance(m, WeChatMessage) for m in parsed)


@FUZZ
@given(mutated_response())
def test_sync_result_from_wire_never_raises_and_stays_fast(response: dict[str, Any]) -> None:
    result = timed(SyncResponse.from_wire, response)
    if result.key_problem:
        assert not result.sync_key or result.key_problem.startswith("SyncCheckKey")
    else:
        assert result.sync_key  # a usable key whenever nothing is reported
    timed(parse_sync_messages, list(result.messages), ME)


def test_the_mutation_sources_are_genuine_captures() -> None:
    assert len(ENTRIES) >= 20 and len(RESPONSES) == 4
    assert all(isinstance(SyncResponse.from_wire(r), SyncResponse) for r in RESPONSES)

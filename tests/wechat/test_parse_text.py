"""Wire text decoding: emoji spans, entities, ``<br/>``, group prefixes, mentions, XML."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.wechat.client.text import (
    MAX_CONTENT_CHARS,
    decode_emoji,
    decode_text,
    decode_url,
    decode_xml,
    encode_text,
    find_mentions,
    split_group_prefix,
    strip_links,
    xml_attr,
    xml_text,
)


def span(code: str) -> str:
    return f'<span class="emoji emoji{code}"></span>'


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("1f600", "\U0001f600"),
        ("2764", "\u2764"),
        ("a9", "\u00a9"),
        ("1F604", "\U0001f604"),
        ("1f1e81f1f3", "\U0001f1e8\U0001f1f3"),  # flag: 5 + 5 hex
        ("1f1fa1f1f8", "\U0001f1fa\U0001f1f8"),
        ("2320e3", "#\ufe0f\u20e3"),  # keycap: 2 + 4 hex, made fully qualified
        ("3120e3", "1\ufe0f\u20e3"),
        ("2a20e3", "*\ufe0f\u20e3"),
    ],
)
def test_emoji_span_to_unicode(code: str, expected: str) -> None:
    assert decode_emoji(f"a{span(code)}b") == f"a{expected}b"


@pytest.mark.parametrize(
    ("bad", "good"),
    [
        ("1f63c", "\U0001f601"),
        ("1f639", "\U0001f602"),
        ("1f63a", "\U0001f603"),
        ("1f4ab", "\U0001f616"),
        ("1f64d", "\U0001f614"),
        ("1f63b", "\U0001f60d"),
        ("1f63d", "\U0001f618"),
        ("1f64e", "\U0001f621"),
        ("1f63f", "\U0001f622"),
    ],
)
def test_known_bad_emoji_codes_are_corrected(bad: str, good: str) -> None:
    assert decode_text(span(bad)) == good


def test_missing_closing_bracket_bug() -> None:
    assert decode_text('hi <span class="emoji emoji1f450"</span>!') == "hi \U0001f450!"


@pytest.mark.parametrize("code", ["110000", "d800", "1234567", "0"])
def test_impossible_emoji_code_becomes_replacement_char(code: str) -> None:
    assert decode_text(f"x{span(code)}y") == "x\ufffdy"


def test_spans_in_a_row_and_in_names() -> None:
    nick = f"{span('1f338')}卷卷卷{span('1f338')}{span('1f1e81f1f3')}"
    assert decode_text(nick) == "\U0001f338卷卷卷\U0001f338\U0001f1e8\U0001f1f3"


def test_br_and_entities() -> None:
    wire = "line1<br/>a &lt;b&gt; &amp; &quot;q&quot;<br/>&amp;lt;"
    assert decode_text(wire) == 'line1\na <b> & "q"\n&lt;'


def test_typed_br_stays_literal() -> None:
    # The user typed "<br/>": the server escaped it, so it must not become a newline.
    assert decode_text("a&lt;br/&gt;b<br/>c") == "a<br/>b\nc"


def test_escaped_span_text_stays_literal() -> None:
    wire = '&lt;span class="emoji emoji1f600"&gt;&lt;/span&gt;'
    assert decode_text(wire) == '<span class="emoji emoji1f600"></span>'


def test_decode_url() -> None:
    assert decode_url("http://a/b?x=1&amp;y=2 ") == "http://a/b?x=1&y=2"


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\r")))
def test_encode_then_decode_roundtrips(text: str) -> None:
    assert decode_text(encode_text(text)) == text


def test_strip_links() -> None:
    text = '<a href="weixin://findfriend/verifycontact">发送朋友验证</a> 对方开启了验证'
    assert strip_links(text) == "发送朋友验证 对方开启了验证"
    assert strip_links("a < b > c") == "a < b > c"


@pytest.mark.parametrize(
    ("wire", "sender", "rest"),
    [
        (
            "@f88c48e531bc7de94072a206729750ff:<br/>好了",
            "@f88c48e531bc7de94072a206729750ff",
            "好了",
        ),
        ("wxid_abc-12:<br/>hi", "wxid_abc-12", "hi"),
        ("@abc:<br/>&lt;msg&gt;", "@abc", "&lt;msg&gt;"),
        ("@abc:<br/>x:<br/>y", "@abc", "x:<br/>y"),
        ("no prefix here", None, "no prefix here"),
        ("text @abc:<br/>later", None, "text @abc:<br/>later"),
        ("@a b:<br/>x", None, "@a b:<br/>x"),
    ],
)
def test_split_group_prefix(wire: str, sender: str | None, rest: str) -> None:
    assert split_group_prefix(wire) == (sender, rest)


def test_find_mentions() -> None:
    text = "@Alice\u2005hi @Bob Smith\u2005 and @Alice\u2005 mail a@b.com @not mentioned"
    assert find_mentions(text) == ("Alice", "Bob Smith")
    assert find_mentions("@Alice hi") == ()


def test_decode_xml_drops_trailing_br_after_root() -> None:
    root = decode_xml("&lt;msg&gt;&lt;a&gt;1&lt;/a&gt;&lt;/msg&gt;&lt;br/&gt;<br/>")
    assert root is not None and xml_text(root, "a") == "1"


def test_decode_xml_double_escaped_attribute_and_bare_ampersand() -> None:
    root = decode_xml(
        '&lt;msg content="say &amp;quot;hi&amp;quot;"&gt;&lt;u&gt;a&amp;b&lt;/u&gt;&lt;/msg&gt;'
    )
    assert root is not None
    assert xml_attr(root, ".", "content") == 'say "hi"'
    assert xml_text(root, "u") == "a&b"


def test_decode_xml_with_br_tab_separators_and_cdata() -> None:
    wire = "&lt;a&gt;<br/>\t&lt;b&gt;&lt;![CDATA[x &lt; y]]&gt;&lt;/b&gt;<br/>&lt;/a&gt;"
    root = decode_xml(wire)
    assert root is not None and xml_text(root, "b") == "x < y"


@pytest.mark.parametrize(
    "wire",
    [
        "",
        "plain text",
        "&lt;msg&gt;&lt;unclosed&gt;",
        '&lt;!DOCTYPE x [&lt;!ENTITY a "aaaa"&gt;]&gt;&lt;x&gt;&amp;a;&lt;/x&gt;',
        "<" * 10_000,
        "&lt;a&gt;" + "x" * (MAX_CONTENT_CHARS + 1) + "&lt;/a&gt;",
    ],
)
def test_decode_xml_rejects_bad_input(wire: str) -> None:
    assert decode_xml(wire) is None


def test_xml_helpers_on_missing_nodes() -> None:
    assert xml_text(None, "a") == "" and xml_attr(None, ".", "x") == ""
    root = decode_xml("<a><b/></a>", escaped=False)
    assert xml_text(root, "b") == "" and xml_attr(root, "c", "x") == ""

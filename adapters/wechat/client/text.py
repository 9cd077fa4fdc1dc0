"""Decoding of WeChat wire text: emoji spans, ``<br/>``, HTML entities, group prefixes, XML."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

import defusedxml
import defusedxml.ElementTree as SafeET

#: Content longer than this (characters) is not decoded or parsed as XML: no genuine message
#: comes close (merged-history XML is the largest, tens of kB).
MAX_CONTENT_CHARS = 1_000_000
#: XML Content is parsed only up to these bounds (else it reads as not XML, and the entry
#: becomes "unsupported"): genuine payloads nest 6 levels deep (msg/appmsg/mmreader/category/
#: item/title, PROTOCOL.md §6.4) and hold a few hundred elements at most.
MAX_XML_CHARS = 262_144
MAX_XML_DEPTH = 32
MAX_XML_ELEMENTS = 1024

# The server's known wrong emoji codes, corrected as itchat does (PROTOCOL.md §6.2).
_BAD_EMOJI_CODES = {
    "1f63c": "1f601",
    "1f639": "1f602",
    "1f63a": "1f603",
    "1f4ab": "1f616",
    "1f64d": "1f614",
    "1f63b": "1f60d",
    "1f63d": "1f618",
    "1f64e": "1f621",
    "1f63f": "1f622",
}
# `>` may be missing after the class attribute (server bug seen after emoji1f450, §6.2).
# Possessive quantifiers: two whitespace runs around optional tokens would otherwise
# backtrack quadratically on an unterminated span (`<span class="emoji emoji1f600"` + spaces).
_EMOJI_SPAN = re.compile(
    r"""<span\s++class\s*+=\s*+["']emoji\s++emoji([0-9a-fA-F]{1,12})\s*+["']\s*+/?>?\s*+</span>"""
)
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
# Official client regex (§6.2): `@<UserName>:<br/>` or a raw wxid prefix.
_GROUP_PREFIX = re.compile(r"(@[a-zA-Z0-9]+|[a-zA-Z0-9_-]+):<br\s*/?>")
# `@<display name>` followed by U+2005 (§6.2); names never contain `@` or U+2005.
_MENTION = re.compile("@([^@\u2005\n]{1,64}?)\u2005")
_LINK_TAG = re.compile(r"</?(?:a|_wc_custom_link_)(?:\s[^<>]*)?>", re.IGNORECASE)
_ROOT_TAG = re.compile(r"<(?![?!])([A-Za-z_][\w.\-]*)")
_BARE_AMPERSAND = re.compile(r"&(?!#\d+;|#x[0-9a-fA-F]+;|[A-Za-z]\w*;)")
_KEYCAP_BASES = frozenset("0123456789#*")
_INT = re.compile(r"-?[0-9]{1,24}")


def _codepoints(code: str) -> list[int] | None:
    """Split a span's hex code into code points: 10 hex = 5+5 (flags), 6 = 2+4 (keycaps),
    8 = 4+4, 9 = 5+4, up to 5 = one code point (§6.2). None when not representable."""
    n = len(code)
    if n <= 5:
        parts = [code]
    elif n in (6, 8, 9, 10):
        cut = {6: 2, 8: 4, 9: 5, 10: 5}[n]
        parts = [code[:cut], code[cut:]]
    else:
        return None
    points = [int(p, 16) for p in parts]
    if any(p == 0 or p > 0x10FFFF or 0xD800 <= p <= 0xDFFF for p in points):
        return None
    return points


def _emoji(code: str) -> str:
    code = code.lower()
    code = _BAD_EMOJI_CODES.get(code, code)
    points = _codepoints(code)
    if points is None:
        return "\ufffd"
    chars = "".join(map(chr, points))
    # Keycaps are sent without the variation selector; the fully qualified form renders
    # as an emoji everywhere.
    if len(points) == 2 and points[1] == 0x20E3 and chars[0] in _KEYCAP_BASES:
        return chars[0] + "\ufe0f\u20e3"
    return chars


def decode_emoji(wire: str) -> str:
    """Replace every ``<span class="emoji emojiXXXX"></span>`` by its Unicode characters.

    Handles two-code-point forms, the server's wrong codes and the missing-``>`` bug
    (PROTOCOL.md §6.2). Codes that are no valid character become U+FFFD. Nothing else of
    ``wire`` changes.
    """
    if "emoji" not in wire:
        return wire
    return _EMOJI_SPAN.sub(lambda m: _emoji(m.group(1)), wire)


def decode_text(wire: str) -> str:
    """Turn wire text (message Content, NickName, RemarkName, DisplayName) into plain text.

    Emoji spans become Unicode, ``<br/>`` becomes ``\\n``, then HTML entities are unescaped
    once (PROTOCOL.md §6.2). Order matters: a user who typed ``<br/>`` gets it back
    literally, since the server sent it as ``&lt;br/&gt;``. Never raises.
    """
    if not wire:
        return ""
    return html.unescape(_BR.sub("\n", decode_emoji(wire)))


def decode_url(wire: str) -> str:
    """Unescape an HTML-escaped URL field (``Url``: ``&amp;`` → ``&``, PROTOCOL.md §6.4)."""
    return html.unescape(wire).strip()


def encode_text(text: str) -> str:
    """The wire form of plain text as the server delivers it: ``&``, ``<``, ``>`` escaped
    and newlines as ``<br/>`` (PROTOCOL.md §6.2). Emoji stay Unicode. ``decode_text``
    reverses it."""
    return html.escape(text, quote=False).replace("\r\n", "\n").replace("\n", "<br/>")


def strip_links(text: str) -> str:
    """Drop ``<a href=…>``/``</a>`` (and WeChat's ``_wc_custom_link_``) tags from decoded
    system-message text, keeping the link text (PROTOCOL.md §6.3, MsgType 10000)."""
    return _LINK_TAG.sub("", text)


def split_group_prefix(wire: str) -> tuple[str | None, str]:
    """Split ``@<sender>:<br/>`` (or ``<wxid>:<br/>``) off group message Content.

    Returns ``(sender, rest)``; ``sender`` is None and ``rest`` is ``wire`` when there is no
    prefix. Only call it for messages a group delivered from another member: own messages
    and system messages (10000) carry no prefix (PROTOCOL.md §6.2).
    """
    m = _GROUP_PREFIX.match(wire)
    if m is None:
        return None, wire
    return m.group(1), wire[m.end() :]


def find_mentions(text: str) -> tuple[str, ...]:
    """Display names mentioned as ``@<name>\\u2005`` in decoded group text, in order, without
    repeats (PROTOCOL.md §6.2)."""
    seen: dict[str, None] = {}
    for m in _MENTION.finditer(text):
        name = m.group(1).strip()
        if name:
            seen.setdefault(name, None)
    return tuple(seen)


def _trim_to_root(text: str) -> str:
    """Cut anything after the root element's closing tag (e.g. a trailing ``<br/>``)."""
    m = _ROOT_TAG.search(text)
    if m is None:
        return text
    end = text.rfind(f"</{m.group(1)}>")
    if end == -1:
        return text
    return text[: end + len(m.group(1)) + 3]


class _TooDeep(Exception):
    """The document passed MAX_XML_DEPTH or MAX_XML_ELEMENTS."""


class _BoundedBuilder(ET.TreeBuilder):
    """A TreeBuilder that gives up (``_TooDeep``) as soon as the document nests deeper than
    MAX_XML_DEPTH or opens more than MAX_XML_ELEMENTS elements; the parser stops there."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = self._elements = 0

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        self._depth += 1
        self._elements += 1
        if self._depth > MAX_XML_DEPTH or self._elements > MAX_XML_ELEMENTS:
            raise _TooDeep
        return super().start(tag, attrs)

    def end(self, tag: str) -> ET.Element:
        self._depth -= 1
        return super().end(tag)


def _bounded_parse(text: str) -> ET.Element:
    """Parse ``text`` with defusedxml (no DTD entities, no external references) within the
    depth and element bounds, so one parse costs at most linear time in a bounded input.
    Raises ``ET.ParseError``, ``defusedxml.DefusedXmlException``, ``_TooDeep``."""
    parser = SafeET.DefusedXMLParser(target=_BoundedBuilder())
    parser.feed(text)
    root: ET.Element = parser.close()
    return root


def _try_parse(text: str) -> ET.Element | None:
    """The parsed root, or None when ``text`` is not well-formed XML. Raises ``_TooDeep``."""
    try:
        return _bounded_parse(_trim_to_root(text.strip()))
    except (ET.ParseError, defusedxml.DefusedXmlException, ValueError):
        return None


def _unescape(text: str) -> str:
    """``html.unescape(text)``, with the entities XML Content is made of (``&lt;``, ``&gt;``,
    ``&quot;``) replaced first by plain ``str.replace``, which is many times faster on
    entity-dense input. Same result: those three never overlap ``&amp;…`` and their
    replacements cannot form a new entity."""
    if "&" not in text:
        return text
    fast = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    return html.unescape(fast) if "&" in fast else fast


def decode_xml(wire: str, *, escaped: bool = True) -> ET.Element | None:
    """Parse XML Content (appmsg, sysmsg, emoji, card …) whose group prefix is already split off.

    With ``escaped`` (the wire form): emoji spans → Unicode, ``<br/>`` → ``\\n``, HTML
    unescape, then parse with defusedxml (PROTOCOL.md §6.2). Text after the root element is
    ignored; bare ``&`` left by single-escaping servers are tolerated. Returns None for
    anything that is not well-formed XML (or is larger than MAX_XML_CHARS, nests deeper than
    MAX_XML_DEPTH, holds more than MAX_XML_ELEMENTS elements, or uses DTDs/entities) — never
    raises.
    """
    if not wire or len(wire) > MAX_XML_CHARS:
        return None
    try:
        if not escaped:
            return _try_parse(wire)
        text = _BR.sub("\n", decode_emoji(wire))
        unescaped = _unescape(text)
        tried: set[str] = set()
        for candidate in (
            unescaped,
            _BARE_AMPERSAND.sub("&amp;", unescaped),
            # Only the brackets escaped: the XML parser resolves `&amp;`/`&quot;` itself.
            text.replace("&lt;", "<").replace("&gt;", ">"),
        ):
            if candidate in tried:
                continue
            tried.add(candidate)
            root = _try_parse(candidate)
            if root is not None:
                return root
    except _TooDeep:
        return None  # the other candidates hold the same elements
    return None


def xml_text(root: ET.Element | None, path: str) -> str:
    """Stripped text of the first element at ``path`` under ``root`` (ElementTree path
    syntax), or ``""`` when absent."""
    if root is None:
        return ""
    node = root.find(path)
    if node is None or node.text is None:
        return ""
    return node.text.strip()


def xml_attr(root: ET.Element | None, path: str, name: str) -> str:
    """Stripped attribute ``name`` of the element at ``path`` (``"."`` = ``root``), or ``""``."""
    if root is None:
        return ""
    node = root if path == "." else root.find(path)
    if node is None:
        return ""
    return (node.get(name) or "").strip()


def to_int(value: object, default: int = 0) -> int:
    """``int(value)`` for ints and decimal strings (not bools), else ``default``."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value)
    return default

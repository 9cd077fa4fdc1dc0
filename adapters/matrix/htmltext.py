"""Matrix HTML (``formatted_body``) to plain text for networks without markup.

Follows the subset of HTML the Matrix spec lets clients send ("m.room.message msgtypes",
``org.matrix.custom.html``). Parsed with BeautifulSoup (``beautifulsoup4``, stdlib
``html.parser`` backend); what a plain-text reader needs is kept: emphasis is dropped, a
link becomes its text and its URL, lists get bullets or numbers, quotes ``> `` lines, code
stays as written, a reply fallback (``<mx-reply>``, spec "Rich replies") goes.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from bs4 import BeautifulSoup
from bs4.element import Comment, NavigableString, PageElement, Tag

#: Elements deeper than this are read as their bare text (hostile nesting costs no recursion).
MAX_DEPTH = 64

_BLOCKS = frozenset(
    {"div", "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "details", "summary", "caption"}
)
_SPACES = re.compile(r"[ \t\r\n\f]+")
#: Where a block ends or starts a line (LINE) or a paragraph (PARA) is wanted; a run of them
#: and of ``<br>`` newlines becomes as many line breaks as its largest wish.
LINE, PARA = "\x1e", "\x1f"
#: A line break and a space inside ``<pre>`` (and a list's indent), kept from whitespace
#: clean-up until the end.
PRE_NL, PRE_SP = "\x1c", "\x1d"
_BREAKS = re.compile("[ \n\x1e\x1f]*[\n\x1e\x1f][ \n\x1e\x1f]*")
_PILL_PREFIX = "https://matrix.to/#/"


def html_to_text(markup: str) -> str:
    """The plain text a reader of ``markup`` (Matrix HTML) should see.

    ``<b>``/``<i>``/``<u>``/``<s>``/``<font>``/``<span>`` keep only their text; ``<a>``
    becomes "text (URL)" (just the URL when the text is the URL; just the name for a
    ``matrix.to`` pill of a user or room); ``<br>`` a line break, ``<p>`` a paragraph,
    ``<ul>``/``<ol>`` "• " or "1. " lines (nested ones indented), ``<blockquote>`` lines
    starting ``> ``, ``<pre>``/``<code>`` their text untouched, ``<hr>`` a line of dashes,
    ``<img>`` its ``alt``. ``<mx-reply>`` is dropped. Never raises for malformed HTML.
    """
    soup = BeautifulSoup(markup, "html.parser")
    for reply in soup.find_all("mx-reply"):
        reply.decompose()
    return _tidy(_children(soup, 0)).replace(PRE_NL, "\n").replace(PRE_SP, " ")


def _children(node: Tag, depth: int) -> str:
    return "".join(_render(child, depth + 1) for child in node.children)


def _render(node: PageElement, depth: int) -> str:
    if isinstance(node, Comment):
        return ""
    if isinstance(node, NavigableString):
        return _SPACES.sub(" ", str(node))
    if not isinstance(node, Tag):
        return ""
    if depth > MAX_DEPTH:
        return _SPACES.sub(" ", node.get_text())
    name = node.name.lower()
    match name:
        case "br":
            return "\n"
        case "pre":
            code = node.get_text().strip("\n")
            return LINE + code.replace("\n", PRE_NL).replace(" ", PRE_SP) + LINE
        case "code":
            return node.get_text()
        case "a":
            return _link(node, depth)
        case "img":
            alt = node.get("alt")
            return alt if isinstance(alt, str) else ""
        case "hr":
            return LINE + "——————" + LINE
        case "p":
            return PARA + _children(node, depth) + PARA
        case "blockquote":
            inner = _tidy(_children(node, depth)).replace(PRE_NL, PRE_NL + "> ")
            return PARA + "\n".join(f"> {line}".rstrip() for line in inner.split("\n")) + PARA
        case "ul" | "ol":
            return _list(node, depth, numbered=name == "ol")
        case "li":
            return LINE + _tidy(_children(node, depth)) + LINE
        case "td" | "th":
            return _children(node, depth).strip() + "\t"
        case "script" | "style" | "head" | "title":
            return ""
        case _ if name in _BLOCKS:
            return LINE + _children(node, depth) + LINE
        case _:
            return _children(node, depth)


def _breaks(run: re.Match[str]) -> str:
    text = run.group()
    wanted = 2 if PARA in text else 1 if LINE in text else 0
    return "\n" * max(wanted, text.count("\n"))


def _tidy(text: str) -> str:
    """A block's text: break markers resolved, no blank lines at its ends, no spaces at the
    end of a line."""
    text = _BREAKS.sub(_breaks, text.strip(" " + LINE + PARA + "\n"))
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _link(node: Tag, depth: int) -> str:
    label = _children(node, depth).strip()
    href = node.get("href")
    if not isinstance(href, str) or not href.strip():
        return label
    href = href.strip()
    if href.startswith(_PILL_PREFIX) and unquote(href[len(_PILL_PREFIX) :])[:1] in "@!#":
        return label or unquote(href[len(_PILL_PREFIX) :]).split("?", 1)[0]
    if not label or label in (href, href.removeprefix("mailto:")):
        return href.removeprefix("mailto:") if label != href else href
    return f"{label} ({href})"


def _list(node: Tag, depth: int, *, numbered: bool) -> str:
    start = node.get("start")
    number = int(start) if isinstance(start, str) and start.isdigit() else 1
    lines: list[str] = []
    for item in node.find_all("li", recursive=False):
        marker = f"{number}. " if numbered else "• "
        number += 1
        text = _tidy(_children(item, depth + 1)).split("\n")
        lines.append(marker + text[0])
        lines.extend(PRE_SP * len(marker) + line if line else "" for line in text[1:])
    edge = LINE if node.find_parent("li") is not None else PARA
    return edge + "\n".join(lines) + edge

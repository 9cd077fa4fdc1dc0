"""The bot's Markdown texts as Matrix HTML (``formatted_body``, spec "m.room.message msgtypes").

Rendered with markdown-it-py (CommonMark; raw HTML in the text is escaped, a line break is a
``<br>``), so what the bot writes as `` `login` `` shows as code in every client.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

_RENDERER = MarkdownIt("commonmark", {"breaks": True, "html": False})
_ONE_PARAGRAPH = re.compile(r"\A<p>((?:(?!</?p>).)*)</p>\n?\Z", re.DOTALL)


def markdown_html(text: str) -> str:
    """``text`` (CommonMark) as HTML; a text of one paragraph comes without the ``<p>``
    around it. HTML tags typed in ``text`` are shown, not interpreted."""
    rendered = _RENDERER.render(text)
    single = _ONE_PARAGRAPH.match(rendered)
    return (single.group(1) if single else rendered).strip()

"""Replies on WeChat as text quotes (the web protocol cannot send native ones)."""

from __future__ import annotations

#: The separator WeChat's desktop clients put under a quote for clients without quotes.
QUOTE_SEPARATOR = "- - - - - - - - - - - - - - -"


def quote(name: str, text: str, reply: str) -> str:
    """``reply`` under a quote of ``name``'s ``text`` (cut to 60 characters), in the style
    desktop WeChat uses for clients without native quotes (AppMsgType 57, PROTOCOL.md
    §6.4): ``「name：text」``, a separator line, the reply."""
    excerpt = text if len(text) <= 60 else text[:59] + "…"
    return f"「{name}：{excerpt}」\n{QUOTE_SEPARATOR}\n{reply}"

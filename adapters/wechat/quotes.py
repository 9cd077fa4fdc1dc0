"""Replies on WeChat as text quotes: a bounded cache of recent texts and the quote format."""

from __future__ import annotations

from collections import OrderedDict

from adapters.wechat.client.types import MsgId, UserName

#: How many recent texts are kept for quoting them in replies.
QUOTE_CACHE_SIZE = 5000
#: The separator WeChat's desktop clients put under a quote for clients without quotes.
QUOTE_SEPARATOR = "- - - - - - - - - - - - - - -"


class QuoteCache:
    """The most recent texts by MsgId (inbound and sent), so a reply can quote one. The web
    protocol cannot send WeChat's native quotes (AppMsgType 57, PROTOCOL.md §6.4), so a reply
    goes as text in the style desktop WeChat uses for such clients: ``「name：text」``, a
    separator line, the reply."""

    def __init__(self, size: int = QUOTE_CACHE_SIZE) -> None:
        self._size = size
        self._texts: OrderedDict[MsgId, tuple[UserName, str]] = OrderedDict()

    def remember(self, msg_id: MsgId, author: UserName, text: str) -> None:
        """Keep ``text`` written by ``author``; the oldest entry goes beyond the size. (The
        author's name is looked up only when a reply quotes the text.)"""
        self._texts[msg_id] = (author, text)
        self._texts.move_to_end(msg_id)
        while len(self._texts) > self._size:
            self._texts.popitem(last=False)

    def get(self, msg_id: MsgId) -> tuple[UserName, str] | None:
        """The author and text of ``msg_id``; None when it is not (or no longer) known."""
        return self._texts.get(msg_id)


def quote(name: str, text: str, reply: str) -> str:
    """``reply`` under a quote of ``name``'s ``text`` (cut to 60 characters)."""
    excerpt = text if len(text) <= 60 else text[:59] + "…"
    return f"「{name}：{excerpt}」\n{QUOTE_SEPARATOR}\n{reply}"

"""Fetching a login session's whole contact book (PROTOCOL.md §3.1, §3.3, §3.4)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from adapters.wechat.client.client import WeChatClient
from adapters.wechat.client.errors import SessionInvalid, WeChatError
from adapters.wechat.client.types import Contact, UserName

log = logging.getLogger(__name__)

#: Groups per webwxbatchgetcontact request (the official client's batch, §3.4).
GROUP_BATCH = 50


async def fetch_contact_book(
    client: WeChatClient, recent: Iterable[Contact]
) -> dict[UserName, Contact]:
    """UserName -> contact for the recent chats of webwxinit (``recent``), every page of
    webwxgetcontact and, for each group among them, the group with its full member list
    (webwxbatchgetcontact, ``GROUP_BATCH`` at a time): webwxinit lists members partially
    and webwxgetcontact not at all (§3.1, §3.3).

    Pages and batches are decoded one at a time into compact ``Contact`` values, so the raw
    answers of a big account are never held together. A failing request ends the fetch
    with what was fetched so far (logged). Raises ``SessionInvalid`` when the session ended
    meanwhile (its book is of no use then).
    """
    book = {c.user_name: c for c in recent}
    try:
        async for page in client.contact_pages():
            for contact in page:
                book[contact.user_name] = contact
        groups = [u for u, c in book.items() if c.is_group and not c.members]
        for start in range(0, len(groups), GROUP_BATCH):
            chunk = groups[start : start + GROUP_BATCH]
            for contact in await client.batch_get_contacts(chunk):
                book[contact.user_name] = contact
    except SessionInvalid:
        raise
    except WeChatError as exc:
        log.warning("contact list incomplete after login: %s", exc)
    return book

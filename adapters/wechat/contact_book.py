"""Fetching a login session's whole contact book (PROTOCOL.md §3.1, §3.3, §3.4)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import attrs

from adapters.wechat.client.client import WeChatClient
from adapters.wechat.client.errors import SessionInvalid, WeChatError
from adapters.wechat.client.types import Contact, Member, UserName

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
    answers of a big account are never held together, and a person listed alike in several
    groups is one ``Member`` value shared by their lists (a big account's 50,000 entries are a
    few thousand people). A failing request ends the fetch
    with what was fetched so far (logged). Raises ``SessionInvalid`` when the session ended
    meanwhile (its book is of no use then).
    """
    book = {c.user_name: c for c in recent}
    seen: dict[Member, Member] = {}
    try:
        async for page in client.contact_pages():
            for contact in page:
                book[contact.user_name] = contact
        groups = [u for u, c in book.items() if c.is_group and not c.members]
        for start in range(0, len(groups), GROUP_BATCH):
            chunk = groups[start : start + GROUP_BATCH]
            for contact in await client.batch_get_contacts(chunk):
                book[contact.user_name] = _shared_members(contact, seen)
    except SessionInvalid:
        raise
    except WeChatError as exc:
        log.warning("contact list incomplete after login: %s", exc)
    return book


def _shared_members(contact: Contact, seen: dict[Member, Member]) -> Contact:
    """``contact`` whose member list reuses the equal ``Member`` values of lists before it
    (``seen``, added to)."""
    if not contact.members:
        return contact
    return attrs.evolve(contact, members=tuple(seen.setdefault(m, m) for m in contact.members))

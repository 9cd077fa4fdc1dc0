"""Init, status notify, contact lists and contact/group operations (PROTOCOL.md §3, §10)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import attrs

from adapters.wechat.client import calls
from adapters.wechat.client.connection import Connection
from adapters.wechat.client.results import (
    ContactPage,
    InitResult,
    StatusNotifyCode,
    contacts_from_batch,
)
from adapters.wechat.client.types import Contact, MsgId, UserName

log = logging.getLogger(__name__)


async def init(conn: Connection) -> InitResult:
    """webwxinit (§3.1): sets self, the re-issued skey and both SyncKeys on ``conn``.

    Raises ``ApiError`` (``SessionInvalid`` for 1100–1102), ``NetworkError``.
    """
    obj = await conn.call_json(calls.webwxinit(conn.creds(), ms=calls.now_ms()))
    result = InitResult.from_wire(obj)
    if result.skey:
        conn.credentials = attrs.evolve(conn.creds(), skey=result.skey)
    conn.self_user = result.user
    # Until webwxsync names a SyncCheckKey, synccheck uses the SyncKey (§4).
    conn.sync_key = result.sync_key
    conn.sync_check_key = result.sync_key
    log.info(
        "webwxinit ok: %d recent chats, SyncKey Count %d",
        len(result.contacts),
        len(result.sync_key.pairs),
    )
    return result


async def status_notify(conn: Connection, code: StatusNotifyCode, to_user: UserName) -> MsgId:
    """webwxstatusnotify (§3.2): Code 3 after init (to self), 1 to mark ``to_user`` read.
    Returns the MsgID the server answers with. Raises ``ApiError``, ``NetworkError``."""
    me = conn.me()
    call = calls.statusnotify(
        conn.creds(), code=int(code), from_user=me, to_user=to_user, ms=calls.now_ms()
    )
    obj = await conn.call_json(call)
    return MsgId(str(obj.get("MsgID") or ""))


async def get_contacts(conn: Connection) -> list[Contact]:
    """Every contact of webwxgetcontact, following ``Seq`` until 0 (§3.3), at most
    ``config.max_contact_pages`` pages. Raises ``ApiError``, ``NetworkError``."""
    contacts: list[Contact] = []
    seq = 0
    for page_no in range(conn.config.max_contact_pages):
        call = calls.getcontact(conn.creds(), seq=seq, ms=calls.now_ms())
        page = ContactPage.from_wire(await conn.call_json(call))
        contacts.extend(page.contacts)
        log.debug("webwxgetcontact page %d: %d contacts", page_no, len(page.contacts))
        if page.seq == 0:
            break
        seq = page.seq
    else:
        log.warning("webwxgetcontact: stopped after %d pages", conn.config.max_contact_pages)
    return contacts


async def batch_get_contacts(
    conn: Connection, user_names: Iterable[UserName], *, chat_room: UserName | None = None
) -> list[Contact]:
    """webwxbatchgetcontact in batches of 50 (§3.4): groups come with their full MemberList;
    with ``chat_room`` the UserNames are members of that group (non-friends included).
    Raises ``ApiError``, ``NetworkError``."""
    entries = [calls.batch_entry(name, chat_room) for name in user_names]
    found: list[Contact] = []
    for batch in calls.batches(entries):
        call = calls.batchgetcontact(conn.creds(), batch, ms=calls.now_ms())
        found.extend(contacts_from_batch(await conn.call_json(call)))
    return found

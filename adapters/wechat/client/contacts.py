"""Init, status notify, contact lists and contact/group operations (PROTOCOL.md §3, §10)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable

import attrs

from adapters.wechat.client import calls
from adapters.wechat.client.calls import Call
from adapters.wechat.client.connection import Connection
from adapters.wechat.client.contact_wire import decode_batch, decode_init, decode_page
from adapters.wechat.client.results import InitResult, StatusNotifyCode
from adapters.wechat.client.types import Contact, MsgId, UserName
from adapters.wechat.client.wire import base_ret, check_base_response

log = logging.getLogger(__name__)


async def init(conn: Connection) -> InitResult:
    """webwxinit (§3.1): sets self, the re-issued skey and both SyncKeys on ``conn``. The
    recent chats come without their member lists (partial there, §3.1): groups are fetched
    whole with ``batch_get_contacts``.

    Raises ``ApiError`` (``SessionInvalid`` for 1100–1102), ``NetworkError``.
    """
    call = calls.webwxinit(conn.creds(), ms=calls.now_ms())
    obj, recent = decode_init(call.endpoint, await _body(conn, call))
    _check(call, obj)
    result = attrs.evolve(InitResult.from_wire(obj), contacts=recent)
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


async def _body(conn: Connection, call: Call) -> bytes:
    return (await conn.http.send(call, conn.hosts)).body


def _check(call: Call, obj: dict[str, object]) -> None:
    ret, _ = base_ret(obj)
    if ret != 0:
        log.info("%s answered Ret %s", call.endpoint, ret)
    check_base_response(call.endpoint, obj)


async def contact_pages(conn: Connection) -> AsyncIterator[list[Contact]]:
    """The pages of webwxgetcontact, following ``Seq`` until 0 (§3.3), at most
    ``config.max_contact_pages`` pages, each as soon as it is decoded (a caller that
    consumes them one by one never holds the raw answers of the others). Raises
    ``ApiError``, ``NetworkError``, ``ProtocolError``."""
    seq = 0
    for page_no in range(conn.config.max_contact_pages):
        call = calls.getcontact(conn.creds(), seq=seq, ms=calls.now_ms())
        base, contacts, next_seq = decode_page(call.endpoint, await _body(conn, call))
        _check(call, base)
        log.debug("webwxgetcontact page %d: %d contacts", page_no, len(contacts))
        yield contacts
        if next_seq == 0:
            return
        seq = next_seq
    log.warning("webwxgetcontact: stopped after %d pages", conn.config.max_contact_pages)


async def get_contacts(conn: Connection) -> list[Contact]:
    """Every contact of webwxgetcontact (``contact_pages`` joined). Raises ``ApiError``,
    ``NetworkError``, ``ProtocolError``."""
    return [c async for page in contact_pages(conn) for c in page]


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
        base, contacts = decode_batch(call.endpoint, await _body(conn, call))
        _check(call, base)
        found.extend(contacts)
    return found

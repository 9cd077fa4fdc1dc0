"""webwxinit, webwxstatusnotify, synccheck and webwxsync: the session's sync machinery (§3-§5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from . import ids, wire
from .content import sync_conv_content
from .httputil import (
    API,
    api_json,
    authenticate,
    error_response,
    read_json,
    refresh_sync_cookies,
    script,
    synccheck_text,
    world_of,
)
from .model import SELECTOR_MESSAGE, Account, MsgTemplate, Session
from .wire import placeholder
from .world import World

_RECENT_FRIENDS = 8
#: Entries of webwxinit's ContactList: the top of the recent chats only ("Count ~10"; the
#: genuine capture has 9, PROTOCOL.md §3.1). The 51/code-4 message lists all of them.
INIT_CHATS = 10


def recent_chats(account: Account) -> list[str]:
    """Real ids of the "recent chats": filehelper, the groups, the first few friends."""
    groups = [g.id for g in account.groups.values() if g.self_member]
    friends = [c.wxid for c in account.contacts.values() if c.friend][:_RECENT_FRIENDS]
    return ["filehelper", *groups, *friends]


def sync_key(
    world: World, session: Session, main: int, status: int, *, full: bool
) -> dict[str, Any]:
    """A SyncKey/SyncCheckKey for these stream cursors (PROTOCOL.md §4, §5).

    Init has 4 keys (1, 2, 3, 1000); after the first webwxsync 7 (1, 2, 3, 11, 201, 1000,
    1001). Key 2 carries the main-stream cursor, Key 3 the status-stream cursor; 201, 1000
    and 1001 are unix timestamps.
    """
    b = session.bases
    pairs = [(1, b[1] + main), (2, b[2] + main), (3, b[3] + status)]
    if full:
        pairs += [
            (11, b[11] + main),
            (201, int(world.now())),
            (1000, session.login_time),
            (1001, session.login_time - 3799),
        ]
    else:
        pairs.append((1000, session.login_time))
    return {"Count": len(pairs), "List": [{"Key": k, "Val": v} for k, v in pairs]}


def _cursor(value: int | None, base: int, length: int) -> int:
    if value is None:
        return 0
    cursor = value - base
    return cursor if 0 <= cursor <= length else 0 if cursor < 0 else length


def _pairs_from_json(obj: Any) -> dict[int, int]:
    pairs: dict[int, int] = {}
    if isinstance(obj, Mapping):
        for item in obj.get("List") or ():
            try:
                pairs[int(item["Key"])] = int(item["Val"])
            except (KeyError, TypeError, ValueError):
                continue
    return pairs


def _pairs_from_text(text: str) -> dict[int, int]:
    pairs: dict[int, int] = {}
    for part in text.split("|"):
        key, _, val = part.partition("_")
        if key.isdigit() and val.isdigit():
            pairs[int(key)] = int(val)
    return pairs


def cursors(session: Session, pairs: dict[int, int]) -> tuple[int, int]:
    """(main, status) cursors encoded in Key 2 and Key 3; out-of-range values clamp."""
    b = session.bases
    return (
        _cursor(pairs.get(2), b[2], len(session.main)),
        _cursor(pairs.get(3), b[3], len(session.status)),
    )


async def webwxinit(request: web.Request) -> web.Response:
    """``POST …/webwxinit`` → self, the first ``INIT_CHATS`` recent chats, the 4-key SyncKey
    (PROTOCOL.md §3.1)."""
    world = world_of(request)
    body = await read_json(request)
    session = authenticate(request, body.get("BaseRequest"), need_base_request=True)
    if not isinstance(session, Session):
        return error_response("webwxinit", session)
    account = session.account
    contacts: list[dict[str, Any]] = []
    for real_id in recent_chats(account)[:INIT_CHATS]:
        if real_id in account.groups:
            group = account.groups[real_id]
            entry = wire.group_entry(session, group, members="partial", icon_skey=session.skey)
        elif real_id in account.contacts:
            entry = wire.contact_entry(session, account.contacts[real_id])
        else:
            entry = wire.special_entry(session, real_id)
        contacts.append(entry)
    chat_set = "".join(f"{c['UserName']}," for c in contacts)
    return api_json(
        {
            "BaseResponse": wire.base_response(),
            "Count": len(contacts),
            "ContactList": contacts,
            "SyncKey": sync_key(world, session, 0, 0, full=False),
            "User": wire.self_entry(session),
            "ChatSet": chat_set,
            "SKey": session.skey,
            "ClientVersion": 385876258,
            "SystemTime": int(world.now()),
            "GrayScale": 1,
            "InviteStartCount": 40,
            "MPSubscribeMsgCount": 0,
            "MPSubscribeMsgList": [],
            "ClickReportInterval": 600000,
        }
    )


async def statusnotify(request: web.Request) -> web.Response:
    """``POST …/webwxstatusnotify``: Code 3 queues the 51/StatusNotifyCode 4 message whose
    ``<username>`` list of real ids is aligned with StatusNotifyUserName (§3.2, §6.3); Code 1
    (READED) records the chat ``ToUserName`` as read in ``Account.reads`` (``GET
    /_sim/accounts/{account}/reads``), an unknown UserName answers Ret 1.
    """
    world = world_of(request)
    body = await read_json(request)
    session = authenticate(request, body.get("BaseRequest"), need_base_request=True)
    if not isinstance(session, Session):
        return error_response("webwxstatusnotify", session)
    if body.get("Code") == 3:
        account = session.account
        chats = recent_chats(account)
        fields = wire.message_fields(
            ids.msg_id(),
            FromUserName="{{self}}",
            ToUserName="{{self}}",
            MsgType=51,
            Content=sync_conv_content(chats),
            CreateTime=int(world.now()),
            StatusNotifyCode=4,
            StatusNotifyUserName=",".join(placeholder(account, c) for c in chats),
        )
        session.push(SELECTOR_MESSAGE, message=MsgTemplate(fields))
    elif body.get("Code") == 1:
        # READED: the web client marked the chat read; the phone shows it read (§3.2).
        chat = session.real_id(str(body.get("ToUserName", "")))
        if chat is None:
            return error_response("webwxstatusnotify", 1, "unknown ToUserName")
        session.account.reads.append({"chat": chat, "time": int(world.now())})
    return api_json({"BaseResponse": wire.base_response(), "MsgID": ids.msg_id()})


async def synccheck(request: web.Request) -> web.Response:
    """``GET …/synccheck?…&synckey=1_…|2_…`` long poll (PROTOCOL.md §4).

    Answers at once when the client's SyncCheckKey is behind (selector 2 messages, 4 contact
    changes, 6 added/deleted contacts, 7 phone enter/quit), otherwise holds up to
    ``synccheck_hold_s`` and wakes as soon as something arrives. Auth failures and dead
    sessions answer ``retcode`` 1100/1101/1102 with selector 0.
    """
    world = world_of(request)
    session = authenticate(request)
    if not isinstance(session, Session):
        return script(synccheck_text(session))
    if request.query.get("sid", session.sid) != session.sid:
        return script(synccheck_text(1102))
    pairs = _pairs_from_text(request.query.get("synckey", ""))
    main, status = cursors(session, pairs)
    selector = session.pending_selector(main, status)
    deadline = world.now() + world.options.synccheck_hold_s
    while selector == 0 and session.ended is None and world.now() < deadline:
        await session.wait(deadline - world.now())
        selector = session.pending_selector(main, status)
    if session.ended is not None:
        return script(synccheck_text(session.ended))
    return script(synccheck_text(0, selector))


async def webwxsync(request: web.Request) -> web.Response:
    """``POST …/webwxsync`` → AddMsgList/ModContactList/DelContactList past the body's SyncKey
    (PROTOCOL.md §5), at most ``sync_batch_size`` main-stream entries (ContinueFlag 1 when more
    wait), with the new SyncKey and SyncCheckKey and refreshed cookies.
    """
    world = world_of(request)
    body = await read_json(request)
    session = authenticate(request, body.get("BaseRequest"), need_base_request=True)
    if not isinstance(session, Session):
        return error_response("webwxsync", session)
    pairs = _pairs_from_json(body.get("SyncKey"))
    main, old_status = cursors(session, pairs)
    batch = session.main[main : main + world.options.sync_batch_size]
    added: list[dict[str, Any]] = []
    modified: list[dict[str, Any]] = []
    deleted: list[dict[str, Any]] = []
    for event in batch:
        if event.message is not None:
            added.append(wire.render_message(session, event.message))
        elif event.modified is not None:
            entry = wire.entry_for(session, event.modified)
            if entry is not None:
                modified.append(entry)
        elif event.deleted is not None:
            deleted.append({"UserName": session.user_name(event.deleted), "ContactFlag": 0})
    status_batch = session.status[session.status_delivered :]
    session.status_delivered = len(session.status)
    added.extend(wire.render_message(session, e.message) for e in status_batch if e.message)
    new_main = main + len(batch)
    new_status = len(session.status)
    check_key = sync_key(world, session, new_main, new_status, full=True)
    key = check_key
    if world.options.diverge_sync_keys and status_batch:
        key = sync_key(world, session, new_main, old_status, full=True)
    session.synced = True
    response = api_json(
        wire.sync_response(
            AddMsgCount=len(added),
            AddMsgList=added,
            ModContactCount=len(modified),
            ModContactList=modified,
            DelContactCount=len(deleted),
            DelContactList=deleted,
            ContinueFlag=1 if new_main < len(session.main) else 0,
            SyncKey=key,
            SyncCheckKey=check_key,
        )
    )
    refresh_sync_cookies(response, session, session.login_time)
    return response


def add_routes(app: web.Application) -> None:
    """Register init, statusnotify, synccheck and webwxsync."""
    app.router.add_post(f"{API}/webwxinit", webwxinit)
    app.router.add_post(f"{API}/webwxstatusnotify", statusnotify)
    app.router.add_get(f"{API}/synccheck", synccheck)
    app.router.add_post(f"{API}/webwxsync", webwxsync)

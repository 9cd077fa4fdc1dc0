"""Address book and group APIs: webwxgetcontact, webwxbatchgetcontact, webwxoplog,
webwxupdatechatroom (PROTOCOL.md §3.3, §3.4, §10)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import wire
from .httputil import API, api_json, authenticate, error_response, read_json, world_of
from .model import Session
from .phone import system_message

TOO_FREQUENT = "操作太频繁，请稍后再试。"


async def getcontact(request: web.Request) -> web.Response:
    """``GET …/webwxgetcontact?seq=N`` → one page of the address book (PROTOCOL.md §3.3).

    Lists filehelper, friends and saved groups (``MemberCount`` 0, no members: clients ask
    webwxbatchgetcontact for them, see ``wire.group_entry``). Pages hold
    ``contact_page_size`` entries; ``Seq`` is the offset of the next page, 0 on the last.
    """
    world = world_of(request)
    session = authenticate(request)
    if not isinstance(session, Session):
        return error_response("webwxgetcontact", session)
    account = session.account
    entries = [wire.special_entry(session, "filehelper")]
    entries += [wire.contact_entry(session, c) for c in account.contacts.values() if c.friend]
    entries += [
        wire.group_entry(session, g, members="none", icon_skey=session.skey)
        for g in account.groups.values()
        if g.saved and g.self_member
    ]
    try:
        seq = max(int(request.query.get("seq", "0")), 0)
    except ValueError:
        seq = 0
    size = world.options.contact_page_size
    page = entries[seq : seq + size]
    next_seq = seq + size if seq + size < len(entries) else 0
    return api_json(
        {
            "BaseResponse": wire.base_response(),
            "Seq": next_seq,
            "MemberCount": len(page),
            "MemberList": page,
        }
    )


async def batchgetcontact(request: web.Request) -> web.Response:
    """``POST …/webwxbatchgetcontact?type=ex`` (PROTOCOL.md §3.4).

    ``{"UserName": "@@…", "ChatRoomId"|"EncryChatRoomId": ""}`` → the group with its full
    MemberList; ``{"UserName": "@…", "EncryChatRoomId": <group UserName or EncryChatRoomId or
    "">}`` → the person (friend or a stranger met in that group). Unknown names are skipped.
    """
    body = await read_json(request)
    session = authenticate(request, body.get("BaseRequest"), need_base_request=True)
    if not isinstance(session, Session):
        return error_response("webwxbatchgetcontact", session)
    account = session.account
    found: list[dict[str, Any]] = []
    for item in body.get("List") or ():
        name = str(item.get("UserName", "")) if isinstance(item, dict) else ""
        if name.startswith("@@"):
            group_id = session.group_for(name)
            if group_id is not None and group_id in account.groups:
                found.append(wire.group_entry(session, account.groups[group_id], members="full"))
            continue
        real_id = session.real_id(name)
        entry = wire.entry_for(session, real_id) if real_id else None
        if entry is not None:
            found.append(entry)
    return api_json(
        {"BaseResponse": wire.base_response(), "Count": len(found), "ContactList": found}
    )


async def oplog(request: web.Request) -> web.Response:
    """``POST …/webwxoplog``: CmdId 2 sets RemarkName (kept across logins), CmdId 3 pins
    (``OP`` 1/0) (PROTOCOL.md §10). The change comes back as a ModContactList (selector 4).
    Unknown UserName or CmdId → Ret 1.
    """
    body = await read_json(request)
    session = authenticate(request, body.get("BaseRequest"), need_base_request=True)
    if not isinstance(session, Session):
        return error_response("webwxoplog", session)
    account = session.account
    real_id = session.real_id(str(body.get("UserName", "")))
    contact = account.contacts.get(real_id or "")
    cmd = body.get("CmdId")
    if contact is None or cmd not in (2, 3):
        return error_response("webwxoplog", 1, "unknown contact or CmdId")
    if cmd == 2:
        contact.remark_name = str(body.get("RemarkName") or "")
        account.outbox.append(
            {"kind": "remark", "to": contact.wxid, "remark_name": contact.remark_name}
        )
    else:
        contact.pinned = bool(body.get("OP"))
    account.push_modified(contact.wxid)
    return api_json({"BaseResponse": wire.base_response()})


async def updatechatroom(request: web.Request) -> web.Response:
    """``POST …/webwxupdatechatroom?fun=modtopic|addmember|invitemember|delmember`` (§10).

    ``modtopic`` renames (``NewTopic``); ``addmember``/``invitemember`` add comma-separated
    UserNames (friends only, else 1204); ``delmember`` removes (owner only, else Ret 1). Each
    change is pushed as ModContactList plus a 10000 system line; 1205 past the burst limit.
    """
    world = world_of(request)
    body = await read_json(request)
    session = authenticate(request, body.get("BaseRequest"), need_base_request=True)
    if not isinstance(session, Session):
        return error_response("webwxupdatechatroom", session)
    account = session.account
    group_id = session.group_for(str(body.get("ChatRoomName", "")))
    group = account.groups.get(group_id or "")
    fun = request.query.get("fun", "")
    if group is None or not group.self_member:
        return error_response("webwxupdatechatroom", 1, "unknown chatroom")
    if not account.allow_operation(world.now(), world.options):
        return error_response("webwxupdatechatroom", 1205, TOO_FREQUENT)
    empty = {"BaseResponse": wire.base_response(), "MemberCount": 0, "MemberList": []}
    if fun == "modtopic":
        group.topic = str(body.get("NewTopic") or "")
        account.outbox.append({"kind": "modtopic", "to": group.id, "topic": group.topic})
        system_message(world, account, group.id, f"你修改群名为“{group.topic}”")
        account.push_modified(group.id)
        return api_json(empty)
    key = {"addmember": "AddMemberList", "invitemember": "InviteMemberList"}.get(fun)
    if fun == "delmember":
        key = "DelMemberList"
    if key is None:
        return error_response("webwxupdatechatroom", 1, f"unsupported fun {fun!r}")
    names = [n for n in str(body.get(key) or "").split(",") if n]
    real_ids = [session.real_id(n) for n in names]
    if fun == "delmember":
        if group.owner != account.id:
            return error_response("webwxupdatechatroom", 1, "only the owner can remove members")
        removed = [r for r in real_ids if r in group.members]
        group.members = [m for m in group.members if m not in removed]
        account.outbox.append({"kind": "delmember", "to": group.id, "members": removed})
        for real_id in removed:
            system_message(
                world, account, group.id, f'你将"{account.nickname_of(real_id)}"移出了群聊'
            )
        account.push_modified(group.id)
        return api_json(empty)
    friends = [account.contacts.get(r or "") for r in real_ids]
    if not real_ids or any(c is None or not c.friend for c in friends):
        return error_response("webwxupdatechatroom", 1204)
    added = [c.wxid for c in friends if c is not None and c.wxid not in group.members]
    group.members.extend(added)
    account.outbox.append({"kind": fun, "to": group.id, "members": added})
    for real_id in added:
        system_message(
            world, account, group.id, f'你邀请"{account.nickname_of(real_id)}"加入了群聊'
        )
    account.push_modified(group.id)
    entries = [wire.member_entry(session, group, r) for r in added]
    return api_json(
        {"BaseResponse": wire.base_response(), "MemberCount": len(entries), "MemberList": entries}
    )


def add_routes(app: web.Application) -> None:
    """Register the address-book and group routes."""
    app.router.add_get(f"{API}/webwxgetcontact", getcontact)
    app.router.add_post(f"{API}/webwxbatchgetcontact", batchgetcontact)
    app.router.add_post(f"{API}/webwxoplog", oplog)
    app.router.add_post(f"{API}/webwxupdatechatroom", updatechatroom)

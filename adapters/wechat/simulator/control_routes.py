"""The ``/_sim/`` control API: accounts, contacts, groups, phones, faults (README.md here)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import ids, phone
from .httputil import control_error, control_json, has_lone_surrogate, world_of
from .login_routes import scan
from .model import SELECTOR_ADDED_OR_DELETED, SELECTOR_MESSAGE, Account, Contact, Group
from .phone import PhoneError
from .world import Fault

Handler = Callable[[web.Request], Awaitable[web.Response]]
_CONTACT_TEXT = ("nickname", "remark_name", "alias", "province", "city", "signature", "avatar")
_ACCOUNT_FLAGS = ("refuse_login", "require_uos", "auto_scan")


class ControlError(Exception):
    """Bad control request; becomes ``{"error": …}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.text()
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise ControlError(400, "body is not JSON") from exc
    if not isinstance(body, dict):
        raise ControlError(400, "body must be a JSON object")
    if has_lone_surrogate(body):
        # Nothing the real server delivers is invalid UTF-8 (PROTOCOL.md §1: UTF-8 bodies);
        # refusing here keeps every later webwxsync of the session serialisable.
        raise ControlError(400, "a string holds a lone UTF-16 surrogate (not valid UTF-8)")
    return body


def _account(request: web.Request) -> Account:
    account = world_of(request).accounts.get(request.match_info["account"])
    if account is None:
        raise ControlError(404, f"unknown account {request.match_info['account']}")
    return account


def _guard(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except (ControlError, PhoneError) as exc:
            return control_error(exc.status, str(exc))
        except (TypeError, ValueError) as exc:
            return control_error(400, f"bad value: {exc}")

    return wrapped


def _contact_view(c: Contact) -> dict[str, Any]:
    return {
        "wxid": c.wxid,
        "nickname": c.nickname,
        "remark_name": c.remark_name,
        "alias": c.alias,
        "sex": c.sex,
        "province": c.province,
        "city": c.city,
        "signature": c.signature,
        "avatar": c.avatar,
        "friend": c.friend,
    }


def _group_view(g: Group) -> dict[str, Any]:
    return {"group": g.id, "topic": g.topic, "members": list(g.members), "owner": g.owner}


async def create_account(request: web.Request) -> web.Response:
    body = await _body(request)
    world = world_of(request)
    if not body.get("nickname"):
        raise ControlError(400, "nickname is required")
    wxid = str(body.get("wxid") or ids.wxid())
    if wxid in world.accounts:
        raise ControlError(409, f"account {wxid} exists")
    account = Account(id=wxid, nickname=str(body["nickname"]), alias=str(body.get("alias") or ""))
    for flag in _ACCOUNT_FLAGS:
        setattr(account, flag, bool(body.get(flag, False)))
    world.accounts[wxid] = account
    return control_json({"account": wxid, "uin": account.uin})


async def get_account(request: web.Request) -> web.Response:
    a = _account(request)
    return control_json(
        {
            "account": a.id,
            "nickname": a.nickname,
            "alias": a.alias,
            "uin": a.uin,
            **{flag: getattr(a, flag) for flag in _ACCOUNT_FLAGS},
            "logged_in": a.live_session() is not None,
            "icon_fetches": a.icon_fetches,
            "contacts": [_contact_view(c) for c in a.contacts.values()],
            "groups": [_group_view(g) for g in a.groups.values()],
        }
    )


async def patch_account(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    for key in ("nickname", "alias"):
        if key in body:
            setattr(account, key, str(body[key]))
    for flag in _ACCOUNT_FLAGS:
        if flag in body:
            setattr(account, flag, bool(body[flag]))
    return control_json({"account": account.id})


def _apply_contact(contact: Contact, body: dict[str, Any]) -> None:
    for key in _CONTACT_TEXT:
        if key in body:
            setattr(contact, key, str(body[key] or ""))
    if "sex" in body:
        contact.sex = int(body["sex"] or 0)
    if "attr_status" in body:
        contact.attr_status = None if body["attr_status"] is None else int(body["attr_status"])
    if "friend" in body:
        contact.friend = bool(body["friend"])
    if "avatar" in body:  # a new picture is a new avatar version (HeadImgUrl seq, §3.3)
        contact.avatar_seq = secrets.randbelow(10**9)


async def create_contact(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    if not body.get("nickname"):
        raise ControlError(400, "nickname is required")
    wxid = str(body.get("wxid") or ids.wxid())
    if wxid in account.contacts or wxid == account.id:
        raise ControlError(409, f"contact {wxid} exists")
    contact = Contact(wxid=wxid, nickname=str(body["nickname"]))
    _apply_contact(contact, body)
    account.contacts[wxid] = contact
    session = account.live_session()
    if session is not None:
        session.user_name(wxid)
        if contact.friend:
            account.push_modified(wxid, SELECTOR_ADDED_OR_DELETED)
    return control_json({"contact": wxid})


async def patch_contact(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    contact = account.contacts.get(request.match_info["wxid"])
    if contact is None:
        raise ControlError(404, f"unknown contact {request.match_info['wxid']}")
    was_friend = contact.friend
    _apply_contact(contact, body)
    if contact.friend != was_friend and not contact.friend:
        account.push_deleted(contact.wxid)
    else:
        selector = SELECTOR_ADDED_OR_DELETED if contact.friend != was_friend else 4
        account.push_modified(contact.wxid, selector)
    return control_json({"contact": contact.wxid})


async def delete_contact(request: web.Request) -> web.Response:
    account = _account(request)
    wxid = request.match_info["wxid"]
    contact = account.contacts.get(wxid)
    if contact is None:
        raise ControlError(404, f"unknown contact {wxid}")
    contact.friend = False
    if not any(wxid in g.members for g in account.groups.values()):
        del account.contacts[wxid]
    account.push_deleted(wxid)
    return control_json({"contact": wxid})


def _members(account: Account, wxids: Any) -> list[str]:
    if not isinstance(wxids, list):
        raise ControlError(400, "members must be a list of wxids")
    unknown = [w for w in wxids if w not in account.contacts]
    if unknown:
        raise ControlError(400, f"members are not contacts of the account: {unknown}")
    return [str(w) for w in wxids]


async def create_group(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    members = _members(account, body.get("members", []))
    group_id = str(body.get("id") or ids.chatroom_id())
    if not group_id.endswith("@chatroom") or group_id in account.groups:
        raise ControlError(409, f"bad or existing group id {group_id}")
    owner = str(body.get("owner") or account.id)
    group = Group(id=group_id, topic=str(body.get("topic") or ""), members=members, owner=owner)
    group.saved = bool(body.get("saved", True))
    group.display_names.update(
        {str(k): str(v) for k, v in (body.get("display_names") or {}).items()}
    )
    account.groups[group_id] = group
    session = account.live_session()
    if session is not None:
        session.user_name(group_id)
        account.push_modified(group_id)
    return control_json({"group": group_id})


async def patch_group(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    group = account.groups.get(request.match_info["group"])
    if group is None:
        raise ControlError(404, f"unknown group {request.match_info['group']}")
    if "topic" in body:
        group.topic = str(body["topic"] or "")
    for wxid in _members(account, body.get("add", [])):
        if wxid not in group.members:
            group.members.append(wxid)
    removed = set(_members(account, body.get("remove", [])))
    group.members = [m for m in group.members if m not in removed]
    group.display_names.update(
        {str(k): str(v) for k, v in (body.get("display_names") or {}).items()}
    )
    if "self_member" in body:
        group.self_member = bool(body["self_member"])
    account.push_modified(group.id)
    return control_json({"group": group.id})


async def post_scan(request: web.Request) -> web.Response:
    world, body = world_of(request), await _body(request)
    account = world.accounts.get(str(body.get("account", "")))
    if account is None:
        raise ControlError(404, f"unknown account {body.get('account')}")
    uuid = body.get("uuid")
    login = world.logins.get(str(uuid)) if uuid else world.newest_login(account)
    if login is None or login.consumed or login.code not in (408, 201):
        raise ControlError(404, "no QR login is waiting for a scan")
    if login.push and login.account is not account:
        raise ControlError(409, "this push login belongs to another account")
    scan(
        world,
        account,
        login,
        confirm=bool(body.get("confirm", True)),
        cancel=bool(body.get("cancel")),
    )
    return control_json({"uuid": login.uuid, "code": login.code})


async def post_qr(request: web.Request) -> web.Response:
    world, body = world_of(request), await _body(request)
    uuid = body.get("uuid")
    login = world.logins.get(str(uuid)) if uuid else world.newest_login()
    code = body.get("code")
    if login is None:
        raise ControlError(404, "no such QR login")
    if code not in (400, 202, 500):
        raise ControlError(400, "code must be 400, 202 or 500")
    login.set(int(code))
    return control_json({"uuid": login.uuid, "code": login.code})


async def get_logins(request: web.Request) -> web.Response:
    logins = world_of(request).logins.values()
    return control_json(
        {
            "logins": [
                {
                    "uuid": lg.uuid,
                    "code": lg.code,
                    "account": lg.account.id if lg.account else None,
                    "push": lg.push,
                    "consumed": lg.consumed,
                }
                for lg in logins
            ]
        }
    )


async def post_message(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    return control_json({"msg_id": phone.incoming(world_of(request), account, body)})


async def post_raw(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    message = body.get("message")
    if not isinstance(message, dict):
        raise ControlError(400, "message must be a JSON object")
    phone.raw(account, message, int(body.get("selector", SELECTOR_MESSAGE)))
    return control_json({"msg_id": message.get("MsgId")})


async def post_recall(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    recall_id = phone.recall(world_of(request), account, str(body.get("msg_id", "")))
    return control_json({"msg_id": recall_id})


async def post_phone(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    msg_id = phone.phone_action(
        world_of(request), account, str(body.get("action", "")), str(body.get("chat", ""))
    )
    return control_json({"msg_id": msg_id})


async def get_outbox(request: web.Request) -> web.Response:
    return control_json({"outbox": _account(request).outbox})


async def get_reads(request: web.Request) -> web.Response:
    return control_json({"reads": _account(request).reads})


async def get_session(request: web.Request) -> web.Response:
    account = _account(request)
    session = account.session
    if session is None:
        return control_json({"logged_in": False, "ended": None, "user_names": {}})
    return control_json(
        {
            "logged_in": session.ended is None,
            "ended": session.ended,
            "uos": session.uos,
            "self": session.self_name,
            "user_names": dict(session.names),
            "encry_chat_room_ids": dict(session.encry),
            "synced": session.synced,
        }
    )


async def post_logout(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    session = account.live_session()
    if session is None:
        raise ControlError(409, "account is not logged in")
    retcode = int(body.get("retcode", 1101))
    session.end(retcode)
    return control_json({"ended": retcode})


async def post_fault(request: web.Request) -> web.Response:
    world, body = world_of(request), await _body(request)
    if not body.get("endpoint"):
        raise ControlError(400, "endpoint is required")
    count = body.get("count", 1)
    fault = Fault(
        endpoint=str(body["endpoint"]),
        status=int(body["status"]) if body.get("status") is not None else None,
        retcode=int(body["retcode"]) if body.get("retcode") is not None else None,
        delay_s=float(body["delay_s"]) if body.get("delay_s") is not None else None,
        drop=bool(body.get("drop", False)),
        count=None if count is None else int(count),
        body=body.get("body"),
    )
    world.faults.append(fault)
    return control_json({"faults": len(world.faults)})


async def delete_faults(request: web.Request) -> web.Response:
    world = world_of(request)
    world.faults.clear()
    return control_json({"faults": 0})


async def post_clock(request: web.Request) -> web.Response:
    world, body = world_of(request), await _body(request)
    world.clock_offset += float(body.get("advance_s", 0))
    return control_json({"now": world.now()})


async def get_media(request: web.Request) -> web.Response:
    """The bytes of an uploaded file by the sha256 an outbox entry names."""
    world, digest = world_of(request), request.match_info["sha256"]
    for media in world.media.values():
        if media.sha256 == digest:
            return web.Response(body=media.data, content_type="application/octet-stream")
    raise ControlError(404, "no uploaded media with that sha256")


def add_routes(app: web.Application) -> None:
    """Register every ``/_sim/`` route (documented in this package's README.md)."""
    acc = "/_sim/accounts/{account}"
    routes: list[tuple[str, str, Handler]] = [
        ("POST", "/_sim/accounts", create_account),
        ("GET", acc, get_account),
        ("PATCH", acc, patch_account),
        ("POST", f"{acc}/contacts", create_contact),
        ("PATCH", f"{acc}/contacts/{{wxid}}", patch_contact),
        ("DELETE", f"{acc}/contacts/{{wxid}}", delete_contact),
        ("POST", f"{acc}/groups", create_group),
        ("PATCH", f"{acc}/groups/{{group}}", patch_group),
        ("POST", f"{acc}/messages", post_message),
        ("POST", f"{acc}/raw", post_raw),
        ("POST", f"{acc}/recall", post_recall),
        ("POST", f"{acc}/phone", post_phone),
        ("GET", f"{acc}/outbox", get_outbox),
        ("GET", f"{acc}/reads", get_reads),
        ("GET", f"{acc}/session", get_session),
        ("POST", f"{acc}/logout", post_logout),
        ("POST", "/_sim/scan", post_scan),
        ("POST", "/_sim/qr", post_qr),
        ("GET", "/_sim/logins", get_logins),
        ("POST", "/_sim/faults", post_fault),
        ("DELETE", "/_sim/faults", delete_faults),
        ("POST", "/_sim/clock", post_clock),
        ("GET", "/_sim/media/{sha256}", get_media),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _guard(handler))

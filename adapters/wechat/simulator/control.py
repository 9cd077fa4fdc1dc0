"""A typed async client of the simulator's ``/_sim/`` control API (see README.md here)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp
import attrs


class SimulatorControlError(Exception):
    """The control API refused a request; ``status`` is the HTTP status, text its error."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"simulator control answered {status}: {message}")


@attrs.frozen
class ScanResult:
    """Which login a scan acted on and the code its login poll will report (201/200/202)."""

    uuid: str
    code: int


@attrs.frozen
class SessionView:
    """An account's current web session as the simulator sees it.

    ``user_names`` maps real ids (wxid, ``NNN@chatroom``, the account id) to this session's
    UserNames; ``ended`` is the retcode a dead session answers (None while alive).
    """

    logged_in: bool
    ended: int | None
    uos: bool
    self_name: str
    user_names: Mapping[str, str]
    encry_chat_room_ids: Mapping[str, str]

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> SessionView:
        """Build from ``GET /_sim/accounts/{account}/session``."""
        return cls(
            logged_in=bool(obj.get("logged_in")),
            ended=obj.get("ended"),
            uos=bool(obj.get("uos")),
            self_name=str(obj.get("self") or ""),
            user_names=dict(obj.get("user_names") or {}),
            encry_chat_room_ids=dict(obj.get("encry_chat_room_ids") or {}),
        )


@attrs.frozen
class OutboxEntry:
    """One thing the account's web client did: ``kind`` is text, image, video, emoticon, file,
    appmsg, message, revoke, remark, modtopic, addmember, invitemember or delmember. ``to`` is
    a wxid, ``NNN@chatroom`` or ``filehelper``; ``raw`` keeps every field.
    """

    kind: str
    to: str
    msg_id: str
    text: str
    sha256: str
    filename: str
    raw: Mapping[str, Any]

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> OutboxEntry:
        """Build from one element of ``GET …/outbox``."""
        return cls(
            kind=str(obj.get("kind", "")),
            to=str(obj.get("to", "")),
            msg_id=str(obj.get("msg_id", "")),
            text=str(obj.get("text", "")),
            sha256=str(obj.get("sha256", "")),
            filename=str(obj.get("filename") or ""),
            raw=dict(obj),
        )


def _drop_none(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


class SimulatorControl:
    """Calls the control API of the simulator at ``base_url``; use ``async with`` or close().

    Every method raises :class:`SimulatorControlError` on a non-2xx answer and
    ``aiohttp.ClientError`` when the simulator cannot be reached.
    """

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._own = session is None
        self._http = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def __aenter__(self) -> SimulatorControl:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this object created it."""
        if self._own and not self._http.closed:
            await self._http.close()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with self._http.request(method, self.base_url + path, json=body) as response:
            data = await response.json(content_type=None)
            if response.status >= 300:
                message = data.get("error", "") if isinstance(data, dict) else str(data)
                raise SimulatorControlError(response.status, message)
            return data

    # Accounts, contacts, groups -------------------------------------------------------------

    async def create_account(
        self,
        nickname: str,
        *,
        wxid: str | None = None,
        alias: str | None = None,
        refuse_login: bool = False,
        require_uos: bool = False,
        auto_scan: bool = False,
    ) -> str:
        """Create an account (its phone); returns the account id (its wxid)."""
        body = _drop_none(nickname=nickname, wxid=wxid, alias=alias)
        body.update(refuse_login=refuse_login, require_uos=require_uos, auto_scan=auto_scan)
        return str((await self._call("POST", "/_sim/accounts", body))["account"])

    async def get_account(self, account: str) -> dict[str, Any]:
        """Everything about an account: flags, uin, contacts, groups, ``logged_in``."""
        result: dict[str, Any] = await self._call("GET", f"/_sim/accounts/{account}")
        return result

    async def update_account(self, account: str, **fields: Any) -> None:
        """Change nickname, alias, refuse_login, require_uos or auto_scan."""
        await self._call("PATCH", f"/_sim/accounts/{account}", fields)

    async def add_contact(
        self,
        account: str,
        nickname: str,
        *,
        remark_name: str | None = None,
        alias: str | None = None,
        sex: int | None = None,
        province: str | None = None,
        city: str | None = None,
        signature: str | None = None,
        wxid: str | None = None,
        friend: bool = True,
        attr_status: int | None = None,
        avatar: str | None = None,
    ) -> str:
        """Add a friend (or with ``friend=False`` a stranger for groups); returns its wxid.
        ``attr_status`` overrides the AttrStatus served for it (default: from the wxid);
        ``avatar`` names the picture webwxgeticon serves for it (default: one of its own;
        contacts naming the same picture get the same bytes, "default" for WeChat's)."""
        body = _drop_none(
            nickname=nickname,
            remark_name=remark_name,
            alias=alias,
            sex=sex,
            province=province,
            city=city,
            signature=signature,
            wxid=wxid,
            attr_status=attr_status,
            avatar=avatar,
        )
        body["friend"] = friend
        return str(
            (await self._call("POST", f"/_sim/accounts/{account}/contacts", body))["contact"]
        )

    async def update_contact(self, account: str, wxid: str, **fields: Any) -> None:
        """Change contact fields (rename, new remark...); pushes a ModContactList."""
        await self._call("PATCH", f"/_sim/accounts/{account}/contacts/{wxid}", fields)

    async def icon_fetches(self, account: str) -> int:
        """How many avatars (webwxgeticon/webwxgetheadimg) ``account``'s web sessions fetched."""
        return int((await self.get_account(account))["icon_fetches"])

    async def delete_contact(self, account: str, wxid: str) -> None:
        """Unfriend; pushes a DelContactList."""
        await self._call("DELETE", f"/_sim/accounts/{account}/contacts/{wxid}")

    async def add_group(
        self,
        account: str,
        topic: str,
        members: list[str],
        *,
        owner: str | None = None,
        display_names: Mapping[str, str] | None = None,
        saved: bool = True,
        group_id: str | None = None,
    ) -> str:
        """Create a group with the account and ``members`` (wxids); returns ``NNN@chatroom``."""
        body = _drop_none(
            topic=topic,
            members=members,
            owner=owner,
            display_names=dict(display_names) if display_names else None,
            id=group_id,
        )
        body["saved"] = saved
        return str((await self._call("POST", f"/_sim/accounts/{account}/groups", body))["group"])

    async def update_group(self, account: str, group: str, **fields: Any) -> None:
        """Change ``topic``, ``add``/``remove`` members, ``display_names``, ``self_member``."""
        await self._call("PATCH", f"/_sim/accounts/{account}/groups/{group}", fields)

    # Login ----------------------------------------------------------------------------------

    async def scan(
        self, account: str, uuid: str | None = None, *, confirm: bool = True, cancel: bool = False
    ) -> ScanResult:
        """The account's phone scans the newest waiting QR (or ``uuid``) and confirms it."""
        body = _drop_none(account=account, uuid=uuid)
        body.update(confirm=confirm, cancel=cancel)
        data = await self._call("POST", "/_sim/scan", body)
        return ScanResult(uuid=str(data["uuid"]), code=int(data["code"]))

    async def set_qr_code(self, code: int, uuid: str | None = None) -> None:
        """Make a waiting login poll report 400 (expired), 202 (cancelled) or 500."""
        await self._call("POST", "/_sim/qr", _drop_none(code=code, uuid=uuid))

    async def logins(self) -> list[dict[str, Any]]:
        """Every QR/push login: uuid, code, account, push, consumed."""
        return list((await self._call("GET", "/_sim/logins"))["logins"])

    async def session(self, account: str) -> SessionView:
        """The account's current session and its UserNames."""
        return SessionView.from_wire(await self._call("GET", f"/_sim/accounts/{account}/session"))

    async def logout(self, account: str, retcode: int = 1101) -> None:
        """End the web session from the phone: later calls answer ``retcode``."""
        await self._call("POST", f"/_sim/accounts/{account}/logout", {"retcode": retcode})

    # Messages -------------------------------------------------------------------------------

    async def send_message(
        self,
        account: str,
        sender: str,
        type: str = "text",
        *,
        group: str | None = None,
        text: str | None = None,
        data: bytes | None = None,
        filename: str | None = None,
        **extra: Any,
    ) -> str:
        """A contact (a member of ``group``) sends a message to the account; returns the MsgId.

        ``type``: text, image, voice, video, file, emoticon, location, link, card, system,
        friend_request. ``extra``: e.g. ``label``/``lat``/``lng``, ``title``/``url``,
        ``card={"nickname": …}``, ``voice_length_ms``, ``play_length_s``, ``nickname``.
        """
        body = _drop_none(type=type, group=group, text=text, filename=filename, **extra)
        body["from"] = sender
        if data is not None:
            body["data_base64"] = base64.b64encode(data).decode()
        return str((await self._call("POST", f"/_sim/accounts/{account}/messages", body))["msg_id"])

    async def send_raw(self, account: str, message: Mapping[str, Any], selector: int = 2) -> None:
        """Deliver one AddMsgList entry verbatim (``{{user:wxid}}``, ``{{group:id}}``,
        ``{{self}}`` replaced by current UserNames)."""
        body = {"message": dict(message), "selector": selector}
        await self._call("POST", f"/_sim/accounts/{account}/raw", body)

    async def recall(self, account: str, msg_id: str) -> str:
        """The sender recalls ``msg_id``; returns the MsgId of the 10002 message."""
        body = {"msg_id": msg_id}
        return str((await self._call("POST", f"/_sim/accounts/{account}/recall", body))["msg_id"])

    async def phone_action(self, account: str, action: str, chat: str) -> str:
        """The phone enters/quits/reads a chat (51 message, selector 7)."""
        body = {"action": action, "chat": chat}
        return str((await self._call("POST", f"/_sim/accounts/{account}/phone", body))["msg_id"])

    async def outbox(self, account: str) -> list[OutboxEntry]:
        """What the account's web client sent, in order."""
        data = await self._call("GET", f"/_sim/accounts/{account}/outbox")
        return [OutboxEntry.from_wire(item) for item in data["outbox"]]

    async def reads(self, account: str) -> list[tuple[str, int]]:
        """The chats the account's web client marked read (webwxstatusnotify Code 1), in
        order, as ``(chat real id, unix s)``."""
        data = await self._call("GET", f"/_sim/accounts/{account}/reads")
        return [(str(r["chat"]), int(r["time"])) for r in data["reads"]]

    async def media(self, sha256: str) -> bytes:
        """The bytes of a file the account's web client uploaded (an outbox ``sha256``)."""
        async with self._http.get(f"{self.base_url}/_sim/media/{sha256}") as response:
            if response.status != 200:
                raise SimulatorControlError(response.status, await response.text())
            return await response.read()

    # Faults and clock -----------------------------------------------------------------------

    async def add_fault(
        self,
        endpoint: str,
        *,
        status: int | None = None,
        retcode: int | None = None,
        delay_s: float | None = None,
        drop: bool = False,
        count: int | None = 1,
        answer: Any = None,
    ) -> None:
        """Make the next ``count`` requests to ``endpoint`` (e.g. ``"synccheck"``) fail;
        ``answer`` (a JSON value) is served verbatim in place of the real answer."""
        body = _drop_none(endpoint=endpoint, status=status, retcode=retcode, delay_s=delay_s)
        body.update(drop=drop, count=count)
        if answer is not None:
            body["body"] = answer
        await self._call("POST", "/_sim/faults", body)

    async def clear_faults(self) -> None:
        """Remove every pending fault."""
        await self._call("DELETE", "/_sim/faults")

    async def advance_clock(self, seconds: float) -> float:
        """Move the simulator clock forward (ages messages past the revoke window)."""
        return float((await self._call("POST", "/_sim/clock", {"advance_s": seconds}))["now"])

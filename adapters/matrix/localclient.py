"""A plain Matrix client for a local homeserver (demo, tests): :class:`MatrixUser` talks the
client-server API as any Matrix client would, and the ``wait_*`` helpers poll for what a user
sees. (Moved out of ``adapters.matrix.localsynapse``, which re-exports these names.)"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

_sync_numbers = itertools.count(1)


class MatrixError(Exception):
    """A client-server API call of :class:`MatrixUser` failed: HTTP ``status``, JSON ``body``
    and its ``errcode`` (``M_FORBIDDEN``...) when there is one."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        self.errcode = body.get("errcode") if isinstance(body, dict) else None
        super().__init__(f"HTTP {status}: {body}")


class MatrixUser:
    """A logged-in Matrix user talking the plain client-server API (Matrix spec "Client-Server
    API") as any Matrix client would: no appservice, no masquerading. Every call raises
    :class:`MatrixError` on a non-200 answer and ``aiohttp.ClientError`` if the homeserver
    cannot be reached; each opens its own short HTTP session, so nothing needs closing."""

    def __init__(self, homeserver: str, user_id: str, access_token: str) -> None:
        self.homeserver = homeserver
        self.user_id = user_id
        self._headers = {"Authorization": f"Bearer {access_token}"}

    async def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """Call ``path`` (under ``/_matrix/client``); returns the JSON answer or raises."""
        url = f"{self.homeserver}/_matrix/client{path}"
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.request(method, url, json=body, params=params, headers=self._headers) as resp,
        ):
            data = await resp.json(content_type=None)
            if resp.status != 200:
                raise MatrixError(resp.status, data)
            return data

    async def create_room(self, **body: Any) -> str:
        """``createRoom`` with ``body``; returns the room id."""
        room_id: str = (await self.request("POST", "/v3/createRoom", body))["room_id"]
        return room_id

    async def join(self, room: str) -> str:
        """Join (or accept the invite to) ``room``; returns the room id."""
        room_id: str = (await self.request("POST", f"/v3/join/{quote(room, safe='')}", {}))[
            "room_id"
        ]
        return room_id

    async def invite(self, room_id: str, user_id: str) -> None:
        """Invite ``user_id`` to ``room_id``."""
        await self.request("POST", f"/v3/rooms/{quote(room_id)}/invite", {"user_id": user_id})

    async def send(
        self, room_id: str, content: dict[str, Any], event_type: str = "m.room.message"
    ) -> str:
        """Send an event; returns its event id."""
        path = f"/v3/rooms/{quote(room_id)}/send/{event_type}/{uuid.uuid4().hex}"
        event_id: str = (await self.request("PUT", path, content))["event_id"]
        return event_id

    async def send_text(self, room_id: str, body: str) -> str:
        """Send an ``m.text`` message; returns its event id."""
        return await self.send(room_id, {"msgtype": "m.text", "body": body})

    async def redact(self, room_id: str, event_id: str) -> str:
        """Redact ``event_id``; returns the redaction's event id."""
        path = f"/v3/rooms/{quote(room_id)}/redact/{quote(event_id)}/{uuid.uuid4().hex}"
        redaction_id: str = (await self.request("PUT", path, {}))["event_id"]
        return redaction_id

    async def messages(self, room_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The last ``limit`` events of the room timeline, oldest first."""
        data = await self.request(
            "GET", f"/v3/rooms/{quote(room_id)}/messages", dir="b", limit=str(limit)
        )
        return list(reversed(data["chunk"]))

    async def event(self, room_id: str, event_id: str) -> dict[str, Any]:
        """One event as this user sees it now (redacted events come back stripped)."""
        data: dict[str, Any] = await self.request(
            "GET", f"/v3/rooms/{quote(room_id)}/event/{quote(event_id)}"
        )
        return data

    async def state(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any]:
        """The content of a state event."""
        path = f"/v3/rooms/{quote(room_id)}/state/{event_type}/{quote(state_key, safe='')}"
        data: dict[str, Any] = await self.request("GET", path)
        return data

    async def display_names(self, room_id: str) -> dict[str, str]:
        """Joined members of ``room_id`` to their display names in it (the user id when a
        member has none)."""
        data = await self.request("GET", f"/v3/rooms/{quote(room_id)}/joined_members")
        joined: dict[str, Any] = data.get("joined", {})
        return {user: str(info.get("display_name") or user) for user, info in joined.items()}

    async def set_displayname(self, name: str) -> None:
        """Set this user's display name."""
        path = f"/v3/profile/{quote(self.user_id)}/displayname"
        await self.request("PUT", path, {"displayname": name})

    async def invites(self) -> list[str]:
        """Ids of the rooms this user is invited to now (from an initial ``/sync``)."""
        # Synapse answers a repeated identical /sync from its response cache for minutes: a
        # new ``timeout`` each time makes each request new (an initial sync returns at once).
        data = await self.request("GET", "/v3/sync", timeout=str(next(_sync_numbers)))
        return list(data.get("rooms", {}).get("invite", {}))

    async def upload(self, data: bytes, *, mimetype: str, filename: str) -> str:
        """Upload ``data`` to the media repository; returns its ``mxc://`` URI."""
        url = f"{self.homeserver}/_matrix/media/v3/upload"
        headers = {**self._headers, "Content-Type": mimetype}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=data, headers=headers, params={"filename": filename}) as resp,
        ):
            body = await resp.json(content_type=None)
            if resp.status != 200:
                raise MatrixError(resp.status, body)
            mxc: str = body["content_uri"]
            return mxc

    async def download(self, mxc: str) -> bytes:
        """Fetch ``mxc://server/id`` through the authenticated media API."""
        server, _, media_id = mxc.removeprefix("mxc://").partition("/")
        url = f"{self.homeserver}/_matrix/client/v1/media/download/{server}/{media_id}"
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, headers=self._headers) as resp,
        ):
            if resp.status != 200:
                raise MatrixError(resp.status, await resp.text())
            return await resp.read()


# ---- waiting for what a user sees ------------------------------------------------------------

#: A client-server API event as JSON.
Event = dict[str, Any]


async def wait_until(check: Callable[[], Awaitable[Any]], *, within_s: float = 30.0) -> Any:
    """Poll the async ``check`` every 0.1 s until it returns something truthy; return that.
    Raises ``TimeoutError`` after ``within_s`` seconds."""
    async with asyncio.timeout(within_s):
        while not (result := await check()):  # noqa: ASYNC110 (polling the homeserver)
            await asyncio.sleep(0.1)
        return result


def events_after(events: Sequence[Event], event_id: str | None) -> Sequence[Event]:
    """The events that follow ``event_id`` (all of them when it is None, none when absent)."""
    if event_id is None:
        return events
    ids = [e.get("event_id") for e in events]
    return events[ids.index(event_id) + 1 :] if event_id in ids else []


async def wait_for_event(
    user: MatrixUser,
    room: str,
    check: Callable[[Event], bool],
    *,
    after: str | None = None,
    within_s: float = 30.0,
) -> Event:
    """The first event of ``room``'s last 100 (as ``user`` sees them, after event ``after``)
    for which ``check`` is true, waiting for it. Raises ``TimeoutError``."""

    async def find() -> Event | None:
        events = events_after(await user.messages(room, limit=100), after)
        return next((e for e in events if check(e)), None)

    found: Event = await wait_until(find, within_s=within_s)
    return found


async def wait_for_message(
    user: MatrixUser,
    room: str,
    *,
    from_: str | None = None,
    contains: str = "",
    msgtype: str | None = None,
    after: str | None = None,
    within_s: float = 30.0,
) -> Event:
    """The first ``m.room.message`` in ``room`` (as ``user`` sees it, after event ``after``)
    sent by ``from_``, whose body contains ``contains`` and whose msgtype is ``msgtype``."""

    def check(event: Event) -> bool:
        content = event.get("content", {})
        return (
            event.get("type") == "m.room.message"
            and (from_ is None or event.get("sender") == from_)
            and contains in str(content.get("body", ""))
            and (msgtype is None or content.get("msgtype") == msgtype)
        )

    return await wait_for_event(user, room, check, after=after, within_s=within_s)


async def accept_invite(user: MatrixUser, known: set[str], *, within_s: float = 30.0) -> str:
    """Wait for an invite of ``user`` to a room not in ``known``, join it, add it to ``known``
    and return its id."""

    async def new_invite() -> str | None:
        fresh = [r for r in await user.invites() if r not in known]
        return fresh[0] if fresh else None

    room: str = await wait_until(new_invite, within_s=within_s)
    await user.join(room)
    known.add(room)
    return room

"""A ``BridgeService`` run against the session Synapse and a WeChat simulator, and what a
Matrix user does with it (DM the bot, send commands, wait for replies and invites)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from adapters.matrix.types import RoomEvent, Transaction
from adapters.wechat.simulator.control import SimulatorControl
from bridge.config import Config, DatabaseConfig, PermissionLevel, Permissions, WeChatConfig
from bridge.service import BridgeService
from tests.matrix.conftest import TransactionRecorder
from tests.matrix.synapse import MatrixUser, Synapse, free_port
from tests.wechat.conftest import SimulatorHandle

#: A user id the harness's permissions refuse (registered once per session).
REFUSED_LOCALPART = "service-stranger"

Event = dict[str, Any]


def wire_event(event: RoomEvent) -> dict[str, Any]:
    """``event`` back in the JSON shape of a transaction's ``events`` list."""
    data: dict[str, Any] = {
        "event_id": event.event_id,
        "room_id": event.room_id,
        "sender": event.sender,
        "type": event.type,
        "content": dict(event.content),
        "origin_server_ts": event.timestamp_ms,
    }
    if event.state_key is not None:
        data["state_key"] = event.state_key
    if event.redacts is not None:
        data["redacts"] = event.redacts
    return data


class Forwarder:
    """Hands each transaction the session appservice receives to the service's own
    appservice server over HTTP (with the hs_token); a non-200 answer fails the transaction
    so the homeserver retries it."""

    def __init__(self, url: str, hs_token: str) -> None:
        self._url = url
        self._headers = {"Authorization": f"Bearer {hs_token}"}
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))

    async def __call__(self, txn: Transaction) -> None:
        url = f"{self._url}/_matrix/app/v1/transactions/{txn.txn_id}"
        body = {"events": [wire_event(e) for e in txn.events]}
        async with self._http.put(url, json=body, headers=self._headers) as resp:
            if resp.status != 200:
                raise RuntimeError(f"the bridge answered transaction {txn.txn_id} {resp.status}")

    async def close(self) -> None:
        await self._http.close()


def service_config(
    base: Config, folder: Path, wechat_url: str, *, refused: str, port: int | None = None
) -> Config:
    """The session config moved to ``folder`` (database, sessions), the appservice on a port
    of its own, WeChat at ``wechat_url``, every ``localhost`` user allowed but ``refused``."""
    port = port or free_port()
    appservice = attrs.evolve(base.appservice, port=port, address=f"http://127.0.0.1:{port}")
    rules = ((base.homeserver.domain, PermissionLevel.USER), (refused, PermissionLevel.NONE))
    return attrs.evolve(
        base,
        appservice=appservice,
        database=DatabaseConfig(folder / "chatbridge.db"),
        wechat=WeChatConfig(base_url=wechat_url, uos=True),
        permissions=Permissions(rules=rules),
    )


class BridgeHarness:
    """One ``BridgeService`` for one test; ``restart()`` replaces it by a new one on the same
    database (as after a process restart)."""

    def __init__(
        self,
        base: Config,
        recorder: TransactionRecorder,
        synapse: Synapse,
        simulator: SimulatorHandle,
        folder: Path,
    ) -> None:
        self.recorder = recorder
        self.synapse = synapse
        self.simulator = simulator
        self.folder = folder
        self.refused_user_id = f"@{REFUSED_LOCALPART}:{base.homeserver.domain}"
        self.config = service_config(base, folder, simulator.base_url, refused=self.refused_user_id)
        self.service = BridgeService(self.config)
        self._forwarder: Forwarder | None = None

    @property
    def bot(self) -> str:
        """The bot's user id."""
        return self.config.bot_user_id

    async def start(self) -> None:
        """Start the service, then route the homeserver's transactions to it."""
        await self.service.start()
        appservice = self.config.appservice
        self._forwarder = Forwarder(f"http://127.0.0.1:{appservice.port}", appservice.hs_token)
        self.recorder.forward_to = self._forwarder

    async def stop(self) -> None:
        """Stop routing transactions (they are answered by the recorder alone), then the
        service."""
        self.recorder.forward_to = None
        if self._forwarder is not None:
            await self._forwarder.close()
            self._forwarder = None
        await self.service.stop()

    async def restart(
        self, meanwhile: Callable[[], Awaitable[object]] | None = None, **options: Any
    ) -> None:
        """Stop the service, await ``meanwhile()``, start a new one on the same config and
        database; ``options`` are ``BridgeService`` keyword arguments."""
        await self.stop()
        if meanwhile is not None:
            await meanwhile()
        self.service = BridgeService(self.config, **options)
        await self.start()

    async def close(self) -> None:
        """Stop everything (idempotent)."""
        await self.stop()

    # ---- what a Matrix user does -------------------------------------------------------------

    async def open_dm(self, user: MatrixUser) -> str:
        """``user`` creates a DM with the bot and waits until the bot has joined it."""
        return await open_dm(user, self.bot)

    async def command(self, user: MatrixUser, room: str, text: str, expect: str) -> Event:
        """``user`` sends ``text`` in ``room``; returns the bot's first message after it whose
        body contains ``expect``."""
        sent = await user.send_text(room, text)
        return await wait_for_message(user, room, from_=self.bot, contains=expect, after=sent)


async def open_dm(user: MatrixUser, bot: str) -> str:
    """``user`` creates a DM with ``bot`` and waits until the bot has joined it."""
    room = await user.create_room(is_direct=True, invite=[bot])
    await wait_until(lambda: _joined(user, room, bot))
    return room


async def _joined(user: MatrixUser, room: str, member: str) -> bool:
    try:
        state = await user.state(room, "m.room.member", member)
    except Exception:
        return False
    return state.get("membership") == "join"


async def wait_until(check: Callable[[], Any], *, within_s: float = 30.0) -> Any:
    """Poll the async ``check`` until it returns something truthy, and return that.
    ``within_s`` only guards against a hang (``TimeoutError``)."""
    async with asyncio.timeout(within_s):
        while not (result := await check()):  # noqa: ASYNC110 (polling the homeserver)
            await asyncio.sleep(0.1)
        return result


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
    """The first ``m.room.message`` in ``room`` (as ``user`` sees it) after event ``after``,
    sent by ``from_``, whose body contains ``contains`` and whose msgtype is ``msgtype``."""

    async def find() -> Event | None:
        for event in _after(await user.messages(room, limit=100), after):
            content = event.get("content", {})
            if (
                event.get("type") == "m.room.message"
                and (from_ is None or event.get("sender") == from_)
                and contains in str(content.get("body", ""))
                and (msgtype is None or content.get("msgtype") == msgtype)
            ):
                return event
        return None

    found: Event = await wait_until(find, within_s=within_s)
    return found


def _after(events: Sequence[Event], event_id: str | None) -> Sequence[Event]:
    if event_id is None:
        return events
    ids = [e.get("event_id") for e in events]
    return events[ids.index(event_id) + 1 :] if event_id in ids else []


async def bot_messages(
    user: MatrixUser, room: str, bot: str, *, after: str | None = None
) -> list[str]:
    """The bodies of the bot's messages in ``room`` (after event ``after``), oldest first."""
    events = _after(await user.messages(room, limit=100), after)
    return [
        str(e["content"].get("body", ""))
        for e in events
        if e.get("sender") == bot and e.get("type") == "m.room.message"
    ]


_sync_numbers = itertools.count(1)


async def invites(user: MatrixUser) -> list[str]:
    """The rooms ``user`` is invited to now. (``MatrixUser.invites`` repeats the same initial
    ``/sync``, which Synapse answers from its response cache for 2 minutes; a different
    ``timeout`` makes each request new, and an initial sync returns at once anyway.)"""
    data = await user.request("GET", "/v3/sync", timeout=str(next(_sync_numbers)))
    return list(data.get("rooms", {}).get("invite", {}))


async def accept_invite(user: MatrixUser, known: set[str], *, within_s: float = 30.0) -> str:
    """Wait for an invite of ``user`` to a room not in ``known``, join it, return its id."""

    async def new_invite() -> str | None:
        fresh = [r for r in await invites(user) if r not in known]
        return fresh[0] if fresh else None

    room: str = await wait_until(new_invite, within_s=within_s)
    await user.join(room)
    known.add(room)
    return room


async def wait_for_event(
    user: MatrixUser,
    room: str,
    check: Callable[[Event], bool],
    *,
    after: str | None = None,
    within_s: float = 30.0,
) -> Event:
    """The first event in ``room`` (as ``user`` sees it, after event ``after``) for which
    ``check`` is true."""

    async def find() -> Event | None:
        events = _after(await user.messages(room, limit=100), after)
        return next((e for e in events if check(e)), None)

    found: Event = await wait_until(find, within_s=within_s)
    return found


async def upload(user: MatrixUser, data: bytes, *, mimetype: str, filename: str) -> str:
    """``user`` uploads ``data`` to the homeserver's media repository; returns its mxc URI.
    (``MatrixUser`` has no upload; its access token is only kept in its headers.)"""
    url = f"{user.homeserver}/_matrix/media/v3/upload"
    headers = {**user._headers, "Content-Type": mimetype}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=data, headers=headers, params={"filename": filename}) as resp,
    ):
        body = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"upload failed: {resp.status} {body}")
        mxc: str = body["content_uri"]
        return mxc


#: How many friends' real ids a login reveals (the simulator's "recent chats", PROTOCOL.md
#: §11): friends added later never get theirs known.
RECENT_FRIENDS = 8


async def add_namesakes(
    control: SimulatorControl, account: str, name: str = "Sam"
) -> tuple[str, str]:
    """Two friends of ``account`` both called ``name`` (male, nothing else) whose real ids no
    login reveals, so that after a re-login nothing tells them apart; returns their wxids."""
    friends = [c for c in (await control.get_account(account))["contacts"] if c["friend"]]
    for n in range(len(friends), RECENT_FRIENDS):
        await control.add_contact(account, f"Neighbour {n}", wxid=f"wxid_neighbour{n}")
    first = await control.add_contact(account, name, wxid=f"wxid_{name.lower()}", sex=1)
    second = await control.add_contact(account, name, wxid=f"wxid_{name.lower()}_twin", sex=1)
    return first, second

"""A ``BridgeService`` run against the session Synapse and a WeChat simulator, and what a
Matrix user does with it (DM the bot, send commands, wait for replies and invites)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import yaml

from adapters.matrix.localsynapse import (
    Event,
    MatrixUser,
    Synapse,
    accept_invite,
    events_after,
    free_port,
    wait_for_event,
    wait_for_message,
    wait_until,
)
from adapters.matrix.types import RoomEvent, Transaction
from adapters.wechat.simulator.control import SimulatorControl
from bridge.config import Config, DatabaseConfig, PermissionLevel, Permissions
from bridge.service import BridgeService
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.wechat.conftest import SimulatorHandle

#: The repository root (the bridge process runs there).
REPO = Path(__file__).resolve().parents[2]

#: A user id the harness's permissions refuse (registered once per session).
REFUSED_LOCALPART = "service-stranger"


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
        body: dict[str, Any] = {"events": [wire_event(e) for e in txn.events]}
        if txn.ephemeral:
            body["ephemeral"] = [
                {"type": e.type, "room_id": e.room_id, "content": dict(e.content)}
                for e in txn.ephemeral
            ]
        body.update(txn.devices.to_wire())
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
        network="wechat",
        network_config={"base_url": wechat_url, "uos": True},
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


class BridgeProcess:
    """``python -m bridge -c config.yaml`` as a child process on a fresh database, its WeChat
    side the test's simulator; the session appservice forwards the homeserver's transactions
    to it (failing them while it is down, so that the homeserver retries them).

    ``configure``, if given, edits the config (the parsed ``config.yaml``, a dict) before it is
    written: how a test gets other permissions, another database path or other options.
    ``edit_config`` does the same later, e.g. before a ``start()`` after ``close()``.
    """

    def __init__(
        self,
        setup: BridgeSetup,
        recorder: TransactionRecorder,
        simulator: SimulatorHandle,
        folder: Path,
        *,
        configure: Callable[[dict[str, Any]], object] | None = None,
    ) -> None:
        raw = yaml.safe_load(setup.config_path.read_text())
        self.port = free_port()
        raw["appservice"].update(port=self.port, address=f"http://127.0.0.1:{self.port}")
        raw["database"] = {"path": str(folder / "chatbridge.db")}
        raw["wechat"] = {"base_url": simulator.base_url, "uos": True}
        raw["logging"] = {"level": "INFO"}
        if configure is not None:
            configure(raw)
        self.config_path = folder / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(raw))
        self.log_path = folder / "bridge.log"
        self.bot = setup.config.bot_user_id
        self._recorder = recorder
        self._forwarder = Forwarder(
            f"http://127.0.0.1:{self.port}", setup.config.appservice.hs_token
        )
        self._proc: asyncio.subprocess.Process | None = None

    def edit_config(self, edit: Callable[[dict[str, Any]], object]) -> None:
        """Apply ``edit`` to the config file (read, edited in place, written back)."""
        raw = yaml.safe_load(self.config_path.read_text())
        edit(raw)
        self.config_path.write_text(yaml.safe_dump(raw))

    async def start(self) -> None:
        """Start the process and wait until its appservice listens."""
        with self.log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bridge", "-c", str(self.config_path),
                cwd=REPO, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        await wait_until(self._listening)
        self._recorder.forward_to = self._forwarder

    async def _listening(self) -> bool:
        if self._proc is not None and self._proc.returncode is not None:
            raise RuntimeError(f"the bridge exited:\n{self.log_path.read_text()[-3000:]}")
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{self.port}/health") as resp,
            ):
                return resp.status == 200 and bool((await resp.json()).get("listening"))
        except aiohttp.ClientError:
            return False

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()

    async def close(self) -> None:
        """Stop forwarding, then end the process (SIGTERM, SIGKILL if it hangs)."""
        self._recorder.forward_to = None
        await self._forwarder.close()
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                async with asyncio.timeout(30):
                    await self._proc.wait()
            except TimeoutError:
                await self.kill()


#: What the bot's greeting in a new DM says (``MatrixHub``).
GREETING = "This room is your management room"


async def open_dm(user: MatrixUser, bot: str) -> str:
    """``user`` creates a DM with ``bot`` and waits until the bot has joined it and greeted
    (so that the greeting is not taken for the answer to what the user sends next)."""
    room = await user.create_room(is_direct=True, invite=[bot])
    await wait_until(lambda: _joined(user, room, bot))
    await wait_for_message(user, room, from_=bot, contains=GREETING)
    return room


async def _joined(user: MatrixUser, room: str, member: str) -> bool:
    try:
        state = await user.state(room, "m.room.member", member)
    except Exception:
        return False
    return state.get("membership") == "join"


async def bot_messages(
    user: MatrixUser, room: str, bot: str, *, after: str | None = None
) -> list[str]:
    """The bodies of the bot's messages in ``room`` (after event ``after``), oldest first."""
    events = events_after(await user.messages(room, limit=100), after)
    return [
        str(e["content"].get("body", ""))
        for e in events
        if e.get("sender") == bot and e.get("type") == "m.room.message"
    ]


#: How many friends' real ids a login reveals (the simulator's "recent chats", PROTOCOL.md
#: §11): friends added later never get theirs known.
RECENT_FRIENDS = 8


async def add_namesakes(
    control: SimulatorControl, account: str, name: str = "Sam"
) -> tuple[str, str]:
    """Two friends of ``account`` both called ``name`` (male, the same AttrStatus and avatar,
    nothing else) whose real ids no login reveals, so that after a re-login nothing tells
    them apart; returns their wxids."""
    friends = [c for c in (await control.get_account(account))["contacts"] if c["friend"]]
    for n in range(len(friends), RECENT_FRIENDS):
        await control.add_contact(account, f"Neighbour {n}", wxid=f"wxid_neighbour{n}")
    same = {"sex": 1, "attr_status": 4133, "avatar": f"{name.lower()}'s picture"}
    first = await control.add_contact(account, name, wxid=f"wxid_{name.lower()}", **same)
    second = await control.add_contact(account, name, wxid=f"wxid_{name.lower()}_twin", **same)
    return first, second


__all__ = ["Event", "accept_invite", "wait_for_event", "wait_for_message", "wait_until"]

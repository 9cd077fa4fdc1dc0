"""Latency and throughput of the running bridge between WeChat and Matrix, with baselines.

Run: ``.venv/bin/python benchmarks/bridge_bench.py [--messages N] [--chats 50] [--burst M]``.
Everything runs on 127.0.0.1 from a temporary folder: a Synapse process, the bridge as its own
process (``python -m bridge``, the real ``BridgeService``), and in this process the WeChat
simulator, a Matrix user's client (``/sync`` long poll) and a tiny second appservice that only
timestamps transactions. The method is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.matrix.localsynapse import Synapse, free_port
from adapters.wechat.simulator import SimulatorControl, start_simulator
from adapters.wechat.simulator.demo import create_demo
from adapters.wechat.simulator.model import Account
from bridge.config import Config
from bridge.registration import generate_registration

REPO = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"bm-[a-z]+-\d+")
USER = "benchuser"
POLL_S = 0.002  # the WeChat outbox poll interval
IN_FLIGHT = 16  # concurrent requests during bursts
SYNC_FILTER = json.dumps(
    {
        "presence": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
        "room": {
            "timeline": {"limit": 1000},
            "state": {"lazy_load_members": True},
            "ephemeral": {"not_types": ["*"]},
            "account_data": {"not_types": ["*"]},
        },
    }
)
Event = dict[str, Any]


class Arrivals:
    """When (``time.perf_counter()`` s) each marker was first seen at one observation point."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Future[float]] = {}

    def saw(self, text: str, now: float) -> None:
        """Record every marker in ``text`` as seen at ``now``."""
        for marker in MARKER.findall(text):
            if marker not in self.times:
                self.times[marker] = now
                waiter = self._waiters.pop(marker, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)

    async def wait(self, marker: str) -> float:
        """The time ``marker`` was (or will be) seen."""
        if marker in self.times:
            return self.times[marker]
        waiter = self._waiters.setdefault(marker, asyncio.get_running_loop().create_future())
        return await asyncio.shield(waiter)

    async def last(self, markers: Iterable[str]) -> float:
        """The time the last of ``markers`` was seen."""
        return max([await self.wait(m) for m in markers])


class Client:
    """Client-server API calls with one token over one keep-alive HTTP session."""

    def __init__(self, http: aiohttp.ClientSession, homeserver: str, token: str) -> None:
        self._http = http
        self._base = f"{homeserver}/_matrix/client"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._txn = 0

    async def call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        """The JSON answer of ``path``; raises ``RuntimeError`` on a non-200 status."""
        url = self._base + path
        async with self._http.request(
            method, url, json=body, params=params, headers=self._headers
        ) as resp:
            data = await resp.json(content_type=None)
            if resp.status != 200:
                raise RuntimeError(f"{method} {path}: {resp.status} {data}")
            return data

    async def send_text(self, room: str, text: str, **params: str) -> str:
        """Send an ``m.text`` (``user_id=`` in ``params`` to masquerade); returns its event id."""
        self._txn += 1
        path = f"/v3/rooms/{quote(room)}/send/m.room.message/bm{self._txn}"
        body = {"msgtype": "m.text", "body": text}
        event_id: str = (await self.call("PUT", path, body, **params))["event_id"]
        return event_id


class Syncer:
    """The Matrix user's ``/sync`` long poll: markers go to ``arrivals`` the moment a response
    is parsed; every invite is accepted; all timeline events are kept for setup waits."""

    def __init__(self, client: Client, arrivals: Arrivals) -> None:
        self.client = client
        self.arrivals = arrivals
        self.events: list[tuple[str, Event]] = []
        self.invites: dict[str, float] = {}
        self.joined: set[str] = set()
        self.limited = 0
        self.synced = False
        self.error: Exception | None = None
        self._rooms_seen: set[str] = set()
        self._since = ""
        self._changed = asyncio.Event()
        self._joins: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Sync forever (cancel to stop); a failure is kept for ``until`` to raise."""
        try:
            await self._sync()
        except Exception as exc:
            self.error = exc
            self._changed.set()

    async def _sync(self) -> None:
        data = await self.client.call("GET", "/v3/sync", filter=SYNC_FILTER, timeout="0")
        self._since = data["next_batch"]
        self.synced = True
        self._changed.set()
        while True:
            data = await self.client.call(
                "GET", "/v3/sync", filter=SYNC_FILTER, timeout="30000", since=self._since
            )
            now = time.perf_counter()
            self._since = data["next_batch"]
            rooms = data.get("rooms", {})
            for room, joined in rooms.get("join", {}).items():
                timeline = joined.get("timeline", {})
                # A room's first appearance is limited by design (its history before the join).
                self.limited += bool(timeline.get("limited")) and room in self._rooms_seen
                self._rooms_seen.add(room)
                for event in timeline.get("events", []):
                    if event.get("type") == "m.room.message":
                        self.arrivals.saw(str(event.get("content", {}).get("body", "")), now)
                    self.events.append((room, event))
            for room in rooms.get("invite", {}):
                if room not in self.invites:
                    self.invites[room] = now
                    task = asyncio.create_task(self._join(room))
                    self._joins.add(task)
                    task.add_done_callback(self._joins.discard)
            self._changed.set()

    async def _join(self, room: str) -> None:
        await self.client.call("POST", f"/v3/join/{quote(room)}", {})
        self.joined.add(room)
        self._changed.set()

    async def until(self, check: Callable[[], Any]) -> Any:
        """Wait until ``check()`` (re-run after each sync or join) is truthy; return it."""
        while not (result := check()):
            if self.error is not None:
                raise RuntimeError(f"the user's /sync failed: {self.error}")
            self._changed.clear()
            await self._changed.wait()
        return result

    def find(self, room: str, match: Callable[[Event], bool]) -> Event | None:
        """The first kept event of ``room`` matching ``match``."""
        return next((e for r, e in self.events if r == room and match(e)), None)


async def start_receiver(hs_token: str, port: int, arrivals: Arrivals) -> web.AppRunner:
    """The baseline appservice: timestamps each transaction's messages once its body is read."""

    async def transaction(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {hs_token}":
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        body = await request.json()
        now = time.perf_counter()
        for event in body.get("events", []):
            if event.get("type") == "m.room.message":
                arrivals.saw(str(event.get("content", {}).get("body", "")), now)
        return web.json_response({})

    app = web.Application()
    app.router.add_put("/_matrix/app/v1/transactions/{txn}", transaction)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def poll_outbox(account: Account, arrivals: Arrivals) -> None:
    """Watch the simulated WeChat account's outbox (what its web client sent) every 2 ms."""
    seen = 0
    while True:
        if len(account.outbox) > seen:
            now = time.perf_counter()
            for record in account.outbox[seen:]:
                arrivals.saw(str(record.get("text", "")), now)
            seen = len(account.outbox)
        await asyncio.sleep(POLL_S)


def write_configs(folder: Path, hs_port: int, sim_url: str, rx_port: int) -> tuple[Config, Path]:
    """The bridge's config and registration, and the baseline receiver's registration (a
    non-exclusive namespace holding only the benchmark user). Returns (config, its path)."""
    as_port = free_port()
    raw = {
        "homeserver": {"address": f"http://127.0.0.1:{hs_port}", "domain": "localhost"},
        "appservice": {
            "address": f"http://127.0.0.1:{as_port}",
            "hostname": "127.0.0.1",
            "port": as_port,
            "id": "chatbridge-bench",
            "as_token": "generate",
            "hs_token": "generate",
        },
        "database": {"path": str(folder / "bridge" / "chatbridge.db")},
        "permissions": {"localhost": "user"},
        "wechat": {"base_url": sim_url, "uos": True},
    }
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    generate_registration(config_path, folder / "registration.yaml")
    receiver = {
        "id": "bench-receiver",
        "url": f"http://127.0.0.1:{rx_port}",
        "as_token": secrets.token_urlsafe(32),
        "hs_token": secrets.token_urlsafe(32),
        "sender_localpart": "benchreceiver",
        "rate_limited": False,
        "namespaces": {"users": [{"exclusive": False, "regex": f"^@{USER}:localhost$"}]},
    }
    (folder / "receiver.yaml").write_text(yaml.safe_dump(receiver))
    return Config.from_file(config_path), config_path


def stats_row(label: str, samples_s: Sequence[float]) -> list[str]:
    """``label``, n, p50, p95, max in ms."""
    ms = sorted(s * 1000 for s in samples_s)
    if not ms:
        return [label, "0", "-", "-", "-"]
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return [label, str(len(ms)), f"{cuts[49]:.1f}", f"{cuts[94]:.1f}", f"{ms[-1]:.1f}"]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows under ``header``: the first column left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


async def burst(jobs: Sequence[Callable[[], Awaitable[object]]]) -> float:
    """Run ``jobs`` with ``IN_FLIGHT`` at a time; returns when the last one returned."""
    queue = list(reversed(jobs))

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return time.perf_counter()


class Bench:
    """One benchmark run in ``folder``; figures accumulate in ``latency``/``throughput``."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        self.matrix, self.appservice, self.wechat = Arrivals(), Arrivals(), Arrivals()
        self.setup: list[str] = []
        self.latency: list[list[str]] = []
        self.throughput: list[list[str]] = []
        self.phase = "start"
        self._closers: list[Callable[[], Awaitable[object]]] = []

    async def start(self) -> None:
        """Simulator, baseline receiver, Synapse, the bridge process, the Matrix user."""
        sim = await start_simulator("127.0.0.1", 0, send_burst_limit=10**9)
        self._closers.append(sim.close)
        self.control = SimulatorControl(sim.base_url)
        self._closers.append(self.control.close)
        demo = await create_demo(self.control)
        self.account = demo.account
        self.contacts = [
            await self.control.add_contact(
                demo.account, f"Bench {k:02d}", wxid=f"wxid_bench{k:02d}"
            )
            for k in range(self.args.chats)
        ]
        hs_port, rx_port = free_port(), free_port()
        config, config_path = write_configs(self.folder, hs_port, sim.base_url, rx_port)
        self.config = config
        rx_token = yaml.safe_load((self.folder / "receiver.yaml").read_text())["hs_token"]
        receiver = await start_receiver(rx_token, rx_port, self.appservice)
        self._closers.append(receiver.cleanup)
        began = time.perf_counter()
        registrations = [self.folder / "registration.yaml", self.folder / "receiver.yaml"]
        synapse = Synapse(
            self.folder / "synapse", app_service_config_files=registrations, port=hs_port
        )
        self._closers.append(synapse.stop)
        await synapse.start()
        self.setup.append(f"Synapse up in {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        self.bridge_log = self.folder / "bridge.log"
        with self.bridge_log.open("ab") as log:
            self.bridge = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bridge", "-c", str(config_path),
                cwd=REPO, stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self._closers.append(self._stop_bridge)
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        self._closers.append(http.close)
        self.ghost_api = Client(http, synapse.url, config.appservice.as_token)
        await self._wait_for_bridge()
        self.setup.append(f"bridge process answering in {time.perf_counter() - began:.1f} s")
        password = secrets.token_hex(8)
        await synapse.register_user(USER, password)
        login = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": USER}}
        token = (
            await Client(http, synapse.url, "").call(
                "POST", "/v3/login", {**login, "password": password}
            )
        )["access_token"]
        self.user = Client(http, synapse.url, token)
        self.syncer = Syncer(self.user, self.matrix)
        self._spawn(self.syncer.run())
        await self.syncer.until(lambda: self.syncer.synced)
        self._spawn(poll_outbox(sim.world.accounts[self.account], self.wechat))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._closers.append(lambda: _cancel(task))

    async def _wait_for_bridge(self) -> None:
        path = f"/v1/appservice/{self.config.appservice.id}/ping"
        while True:
            if self.bridge.returncode is not None:
                raise RuntimeError(f"the bridge exited with {self.bridge.returncode}")
            with contextlib.suppress(RuntimeError, aiohttp.ClientError):
                await self.ghost_api.call("POST", path, {})
                return
            await asyncio.sleep(0.1)

    async def _stop_bridge(self) -> None:
        if self.bridge.returncode is None:
            self.bridge.terminate()
            try:
                await asyncio.wait_for(self.bridge.wait(), 15)
            except TimeoutError:
                self.bridge.kill()
                await self.bridge.wait()
            if self.bridge.returncode != 0:
                self.setup.append(f"WARNING: the bridge exited with {self.bridge.returncode}")

    async def close(self) -> None:
        """Stop everything started, newest first; never raises."""
        while self._closers:
            with contextlib.suppress(Exception):
                await self._closers.pop()()

    async def log_in(self) -> None:
        """The user DMs the bot, says ``login``, gets the QR code; the phone scans it."""
        self.phase = "QR login"
        bot, sync = self.config.bot_user_id, self.syncer
        began = time.perf_counter()
        body = {"is_direct": True, "invite": [bot], "preset": "trusted_private_chat"}
        dm = (await self.user.call("POST", "/v3/createRoom", body))["room_id"]

        def from_bot(event: Event, text: str = "") -> bool:
            content = event.get("content", {})
            return bool(event.get("sender") == bot and text in str(content.get("body", "")))

        def bot_joined(event: Event) -> bool:
            membership = event.get("content", {}).get("membership")
            return event.get("state_key") == bot and membership == "join"

        def qr_code(event: Event) -> bool:
            return from_bot(event) and event.get("content", {}).get("msgtype") == "m.image"

        await sync.until(lambda: sync.find(dm, bot_joined))
        await self.user.send_text(dm, "login")
        await sync.until(lambda: sync.find(dm, qr_code))
        await self.control.scan(self.account)
        await sync.until(lambda: sync.find(dm, lambda e: from_bot(e, "Logged in to WeChat as")))
        self.setup.append(f"QR login through the bot in {time.perf_counter() - began:.1f} s")

    async def open_chats(self) -> None:
        """Each contact's first message opens a portal; the user joins them all."""
        self.phase = "opening chats"
        chats, acc = self.args.chats, self.account
        began = time.perf_counter()
        opening = [f"bm-open-{k}" for k in range(chats)]
        await burst(
            [
                partial(self.control.send_message, acc, c, text=m)
                for c, m in zip(self.contacts, opening, strict=True)
            ]
        )
        await self.syncer.until(lambda: len(self.syncer.joined) >= chats)
        invited = sorted(self.syncer.invites.values())[chats - 1] - began
        self.setup.append(
            f"{chats} new chats (first message → portal invite seen) in {invited:.1f} s"
        )
        markers = [f"bm-map-{k}" for k in range(chats)]
        await burst(
            [
                partial(self.control.send_message, acc, c, text=m)
                for c, m in zip(self.contacts, markers, strict=True)
            ]
        )
        await self.matrix.last(markers)
        where = {}
        for room, event in self.syncer.events:
            for marker in MARKER.findall(str(event.get("content", {}).get("body", ""))):
                where[marker] = (room, str(event["sender"]))
        self.rooms = [where[m][0] for m in markers]
        self.ghosts = [where[m][1] for m in markers]

    async def wechat_to_matrix_latency(self) -> None:
        """Contact 0 sends via the simulator vs its ghost sends via the appservice API."""
        self.phase = "WeChat → Matrix latency"
        room, ghost, contact = self.rooms[0], self.ghosts[0], self.contacts[0]
        bridged: list[float] = []
        direct: list[float] = []

        async def via_bridge(i: int) -> None:
            began = time.perf_counter()
            await self.control.send_message(self.account, contact, text=f"bm-wm-{i}")
            bridged.append(await self.matrix.wait(f"bm-wm-{i}") - began)

        async def via_appservice(i: int) -> None:
            began = time.perf_counter()
            await self.ghost_api.send_text(room, f"bm-wa-{i}", user_id=ghost)
            direct.append(await self.matrix.wait(f"bm-wa-{i}") - began)

        for i in range(self.args.messages):
            for step in (via_bridge, via_appservice)[:: 1 if i % 2 else -1]:
                await step(i)
                await asyncio.sleep(0.02)
        self.latency.append(stats_row("WeChat → Matrix through the bridge", bridged))
        self.latency.append(stats_row("  baseline: ghost sends with the as_token", direct))

    async def matrix_to_wechat_latency(self) -> None:
        """The user sends in portal 0; the transaction reaches the receiver, the text WeChat."""
        self.phase = "Matrix → WeChat latency"
        sent: list[float] = []
        received: list[float] = []
        bridged: list[float] = []
        share: list[float] = []
        for i in range(self.args.messages):
            marker = f"bm-mw-{i}"
            began = time.perf_counter()
            await self.user.send_text(self.rooms[0], marker)
            sent.append(time.perf_counter() - began)
            at_appservice = await self.appservice.wait(marker)
            in_outbox = await self.wechat.wait(marker)
            received.append(at_appservice - began)
            bridged.append(in_outbox - began)
            share.append(in_outbox - at_appservice)
            await asyncio.sleep(0.02)
        self.latency.append(stats_row("Matrix → WeChat through the bridge", bridged))
        self.latency.append(stats_row("  baseline: user send → appservice transaction", received))
        self.latency.append(stats_row("  the bridge's part (outbox − transaction)", share))
        self.latency.append(stats_row("  (the user's send call returned)", sent))

    async def throughput_runs(self) -> None:
        """Bursts of ``--burst`` messages spread over every chat, each way, with baselines."""
        m, chats, acc = self.args.burst, self.args.chats, self.account

        async def measure(
            kind: str, jobs: Callable[[int, str], Awaitable[object]], *rows: tuple[str, Arrivals]
        ) -> None:
            markers = [f"bm-{kind}-{j}" for j in range(m)]
            cpu = bridge_cpu_s(self.bridge.pid)
            began = time.perf_counter()
            issued = await burst([partial(jobs, j, mk) for j, mk in enumerate(markers)]) - began
            for n, (label, arrivals) in enumerate(rows):
                took = await arrivals.last(markers) - began
                # The bridge's CPU while its own messages went through (not for baselines).
                per_msg = (bridge_cpu_s(self.bridge.pid) - cpu) / m * 1000
                bridged = n == 0 and "through the bridge" in label
                cpu_cell = f"{per_msg:.2f}" if bridged else ""
                row = [label, str(m), f"{issued:.2f}", f"{took:.2f}", f"{m / took:.0f}", cpu_cell]
                self.throughput.append(row)
            await asyncio.sleep(0.5)

        self.phase = "WeChat → Matrix throughput"

        async def contact_sends(j: int, marker: str) -> None:
            await self.control.send_message(acc, self.contacts[j % chats], text=marker)

        async def ghost_sends(j: int, marker: str) -> None:
            await self.ghost_api.send_text(
                self.rooms[j % chats], marker, user_id=self.ghosts[j % chats]
            )

        async def user_sends(j: int, marker: str) -> None:
            await self.user.send_text(self.rooms[j % chats], marker)

        await measure("tw", contact_sends, ("WeChat → Matrix through the bridge", self.matrix))
        await measure("ta", ghost_sends, ("  baseline: ghosts send with the as_token", self.matrix))
        self.phase = "Matrix → WeChat throughput"
        await measure(
            "tm",
            user_sends,
            ("Matrix → WeChat through the bridge (outbox)", self.wechat),
            ("  baseline: the same sends → appservice transactions", self.appservice),
        )

    def report(self, load_before: tuple[float, float, float], failure: str | None) -> str:
        """The figures, the machine and the method, as text."""
        args = self.args
        model = next(
            (line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")),
            platform.processor() or "?",
        )
        load = " ".join(f"{x:.2f}" for x in load_before)
        load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
        lines = [
            "chatbridge bridge benchmark (everything on 127.0.0.1)",
            f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {model}; "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
            f"Synapse {importlib.metadata.version('matrix-synapse')}",
            f"load average before: {load}; after: {load_after} (other work on the machine "
            "shows in the figures)",
            f"N = {args.messages} latency samples per row; burst M = {args.burst} messages "
            f"over {args.chats} chats, {IN_FLIGHT} requests in flight",
            "setup: " + "\n       ".join(self.setup),
            "",
            table(["Latency, ms", "n", "p50", "p95", "max"], self.latency),
            "",
            table(
                [
                    "Throughput, burst",
                    "msgs",
                    "issued s",
                    "all seen s",
                    "msg/s",
                    "bridge CPU ms/msg",
                ],
                self.throughput,
            ),
            "",
            METHOD.strip(),
        ]
        if self.syncer_limited():
            lines.append(f"warning: {self.syncer_limited()} /sync timelines came back limited")
        if failure:
            lines += ["", f"FAILED during {self.phase}: {failure}"]
        return "\n".join(lines)

    def syncer_limited(self) -> int:
        """How many joined-room timelines ``/sync`` returned truncated (0 if it never ran)."""
        syncer = getattr(self, "syncer", None)
        return syncer.limited if syncer is not None else 0

    def bridge_log_tail(self, lines: int = 30) -> str:
        """The end of the bridge process's log (tokens are redacted by the bridge)."""
        path = getattr(self, "bridge_log", None)
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


METHOD = """
Method:
- Clock: time.perf_counter() in this process; each latency sample is sequential (one message
  in flight), 20 ms apart, bridged and baseline samples interleaved (ABBA) in the same room.
- Matrix side observed by the user's own /sync long poll (timeout 30 s, re-issued at once);
  a message counts as seen when the /sync response carrying it has been parsed.
- WeChat → Matrix: from the simulator control call making contact 0 send a text to the user
  seeing it. Baseline: the same ghost sends into the same portal with a plain appservice API
  PUT (as_token + user_id=, keep-alive connection), seen the same way: the homeserver's own
  send → /sync cost; the difference is the bridge (synccheck wake-up, webwxsync, journal,
  Matrix send through nio).
- Matrix → WeChat: from the user's PUT /send to the text appearing in the simulated account's
  outbox (the WeChat server got webwxsendmsg), polled every 2 ms in-process (≤2 ms
  resolution). Baseline: the same event reaching a second, tiny appservice registered with
  Synapse (non-exclusive namespace of the user only; timestamp after reading the body).
  Synapse pushes the transaction to both appservices in parallel, so "outbox − transaction"
  is the bridge's own processing plus its webwxsendmsg call.
- Throughput: M messages round-robin over the chats (portals already open, user joined),
  issued with 16 requests in flight (simulator control calls / appservice API PUTs / user
  PUTs); msg/s = M / (time from the first request to the last message seen). "issued s" is
  when the last request returned: if close to "all seen s" the sender side was the limit.
  "bridge CPU ms/msg": user + system CPU of the bridge process (/proc/<pid>/stat) from the
  first request until the last message was seen, divided by M (SQL statements and
  transactions per message: benchmarks/relay_bench.py).
- The bridge runs as its own process (python -m bridge, log level INFO, SQLite store);
  Synapse as another (SQLite, rate limits off); the simulator, the user's client and the
  baseline appservice share this process. The simulator's send rate limit is lifted
  (send_burst_limit) — real WeChat refuses bursts (PROTOCOL.md §12).
"""


def bridge_cpu_s(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` has used (``/proc/<pid>/stat``)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return float("nan")


def _cpuinfo() -> list[str]:
    with contextlib.suppress(OSError):
        return Path("/proc/cpuinfo").read_text().splitlines()
    return []


async def _cancel(task: asyncio.Future[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def run(args: argparse.Namespace) -> int:
    """One whole run; prints the report; 0 on success, 1 if a phase failed or timed out."""
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        failure: str | None = None
        try:
            async with asyncio.timeout(args.deadline):
                await bench.start()
                await bench.log_in()
                await bench.open_chats()
                await bench.wechat_to_matrix_latency()
                await bench.matrix_to_wechat_latency()
                await bench.throughput_runs()
        except TimeoutError:
            failure = f"not done within --deadline {args.deadline:.0f} s"
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
        finally:
            await bench.close()
        print(bench.report(load_before, failure))
        if failure:
            print("\nbridge log (end):\n" + bench.bridge_log_tail(), file=sys.stderr)
    return 1 if failure else 0


def main() -> int:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100, help="latency samples per row")
    parser.add_argument("--chats", type=int, default=50, help="contacts/portals for bursts")
    parser.add_argument("--burst", type=int, default=500, help="messages per throughput burst")
    parser.add_argument("--deadline", type=float, default=170.0, help="give up after (s)")
    args = parser.parse_args()
    if args.messages < 1 or args.chats < 1 or args.burst < 1:
        parser.error("--messages, --chats and --burst must be at least 1")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

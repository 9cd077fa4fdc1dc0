"""Login at scale: a WeChat account of 5,000 friends and 500 groups of 100 members, logged in
and logged in again through the running bridge, with the bridge's responsiveness meanwhile.

Run: ``.venv/bin/python benchmarks/login_bench.py [--baseline main] [--friends 5000]
[--groups 500] [--members 100] [--settle-cap 90]``.

Everything runs on 127.0.0.1 from a temporary folder: one Synapse process, the WeChat
simulator in this process (the account is generated straight into its world, names drawn
from small pools so that namesakes are common, as in real address books), and the bridge as
its own process (``python -m bridge``, the real ``BridgeService``, SQLite store). With
``--baseline REF`` the same scenario runs first with the bridge of git revision ``REF``
(extracted with ``git archive`` into the temporary folder), then with this working tree, and
the figures are printed side by side. The method is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bridge_bench import Client, Syncer, table, write_configs

from adapters.matrix.localsynapse import Synapse, free_port
from adapters.wechat.simulator import SimulatorControl, start_simulator
from adapters.wechat.simulator.control import SimulatorControlError
from adapters.wechat.simulator.model import Account, Contact, Group

REPO = Path(__file__).resolve().parents[1]
Event = dict[str, Any]
TICK = os.sysconf("SC_CLK_TCK")

FIRST = [
    "Wei",
    "Fang",
    "Li",
    "Min",
    "Jing",
    "Lei",
    "Jun",
    "Yan",
    "Hui",
    "Hong",
    "Yu",
    "Ling",
    "Tao",
    "Bin",
    "Xin",
    "Ying",
    "Jie",
    "Qiang",
]
LAST = [
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Huang",
    "Zhao",
    "Wu",
    "Zhou",
    "Xu",
    "Sun",
    "Ma",
    "Zhu",
    "Hu",
    "Guo",
    "He",
    "Lin",
]
PROVINCES = [
    "Guangdong",
    "Beijing",
    "Shanghai",
    "Zhejiang",
    "Jiangsu",
    "Sichuan",
    "Hubei",
    "Fujian",
]
CITIES = ["Shenzhen", "Guangzhou", "Hangzhou", "Nanjing", "Chengdu", "Wuhan", "Xiamen", "Suzhou"]


def populate(account: Account, friends: int, groups: int, members: int, seed: int) -> None:
    """Add ``friends`` friends, half as many strangers, and ``groups`` groups of ``members``
    (two thirds friends) to ``account``, deterministically from ``seed``."""
    rng = random.Random(seed)
    people: list[str] = []
    for k in range(friends + friends // 2):
        wxid = f"wxid_gen{k:06d}"
        nick = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if rng.random() < 0.6:
            nick += f" {rng.randrange(40)}"
        account.contacts[wxid] = Contact(
            wxid=wxid,
            nickname=nick,
            remark_name=f"R{k}" if k < friends and rng.random() < 0.15 else "",
            sex=rng.choice((0, 1, 2)),
            province=rng.choice(PROVINCES) if rng.random() < 0.5 else "",
            city=rng.choice(CITIES) if rng.random() < 0.3 else "",
            signature=f"sig {rng.randrange(500)}" if rng.random() < 0.3 else "",
            friend=k < friends,
        )
        people.append(wxid)
    known, strangers = people[:friends], people[friends:]
    for g in range(groups):
        chosen = rng.sample(known, members * 2 // 3) + rng.sample(strangers, members // 3)
        topic = f"Team {rng.choice(LAST)} {g % (groups // 2 or 1)}"
        group_id = f"{7000000000 + g}@chatroom"
        account.groups[group_id] = Group(group_id, topic, chosen, owner=account.id)


@attrs.define
class Phase:
    """Figures of one login: scan → logged in, the command probes, the bridge's resources."""

    name: str
    to_logged_in_s: float = float("nan")
    to_book_s: float = float("nan")
    probes: list[float] = attrs.Factory(list)
    unanswered_s: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    rss_mib: float = 0.0
    settled: bool = False

    def row(self) -> list[str]:
        worst = max([*self.probes, self.unanswered_s], default=0.0)
        waiting = f"{worst:.2f}" + (
            "" if self.unanswered_s < worst or not self.unanswered_s else "+"
        )
        return [
            self.name,
            f"{self.to_logged_in_s:.2f}",
            f"{self.to_book_s:.2f}",
            str(len(self.probes)),
            f"{sorted(self.probes)[len(self.probes) // 2]:.2f}" if self.probes else "-",
            waiting,
            f"{self.cpu_s:.1f} / {self.wall_s:.1f}",
            f"{self.rss_mib:.0f}",
            "yes" if self.settled else "NO",
        ]


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


class Run:
    """One bridge (from ``tree``) through a first login and a re-login of the big account."""

    def __init__(
        self, label: str, tree: Path, folder: Path, synapse: Synapse, sim_url: str, args: Any
    ) -> None:
        self.label, self.tree, self.folder, self.synapse = label, tree, folder, synapse
        self.args = args
        self.control = SimulatorControl(sim_url)
        self.phases: list[Phase] = []
        self.notes: list[str] = []
        self._closers: list[Callable[[], Awaitable[object]]] = [self.control.close]

    async def start(self, config_path: Path, bot: str) -> None:
        """A fresh account, a fresh bridge database, the bridge process, a fresh user."""
        self.bot = bot
        self.account = self.args.accounts.pop(0)
        raw = yaml.safe_load(config_path.read_text())  # noqa: ASYNC240 (a small file)
        raw["database"]["path"] = str(self.folder / "chatbridge.db")
        own = self.folder / "config.yaml"
        own.write_text(yaml.safe_dump(raw))
        own.chmod(0o600)
        self.log_path = self.folder / "bridge.log"
        with self.log_path.open("ab") as log:
            self.bridge = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bridge", "-c", str(own),
                cwd=self.tree, stdout=log, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self._closers.append(self._stop_bridge)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        self._closers.append(self.http.close)
        user = f"bench{secrets.token_hex(3)}"
        password = secrets.token_hex(8)
        await self.synapse.register_user(user, password)
        login = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}}
        anon = Client(self.http, self.synapse.url, "")
        token = (await anon.call("POST", "/v3/login", {**login, "password": password}))[
            "access_token"
        ]
        self.user = Client(self.http, self.synapse.url, token)
        self.syncer = Syncer(self.user, _NoArrivals())  # type: ignore[arg-type]
        task = asyncio.ensure_future(self.syncer.run())
        self._closers.append(lambda: _cancel(task))
        await self.syncer.until(lambda: self.syncer.synced)
        body = {"is_direct": True, "invite": [bot], "preset": "trusted_private_chat"}
        while True:  # the bridge may still be starting
            if self.bridge.returncode is not None:
                raise RuntimeError(f"the bridge exited with {self.bridge.returncode}")
            with contextlib.suppress(RuntimeError, aiohttp.ClientError):
                self.dm = (await self.user.call("POST", "/v3/createRoom", body))["room_id"]
                break
            await asyncio.sleep(0.5)
        try:
            await asyncio.wait_for(self.syncer.until(lambda: self._find(self._bot_joined)), 60)
        except TimeoutError:
            raise RuntimeError(f"the bot never joined; bridge log:\n{self.log_tail()}") from None

    async def _stop_bridge(self) -> None:
        if self.bridge.returncode is None:
            self.bridge.terminate()
            try:
                await asyncio.wait_for(self.bridge.wait(), 15)
            except TimeoutError:
                self.bridge.kill()
                await self.bridge.wait()

    async def close(self) -> None:
        while self._closers:
            with contextlib.suppress(Exception):
                await self._closers.pop()()

    # ---- the user's view ---------------------------------------------------------------------

    def _bot_joined(self, event: Event) -> bool:
        membership = event.get("content", {}).get("membership")
        return event.get("state_key") == self.bot and membership == "join"

    def _find(self, match: Callable[[Event], bool]) -> list[Event]:
        return [e for r, e in self.syncer.events if r == self.dm and match(e)]

    def _bot_says(self, text: str) -> Callable[[Event], bool]:
        def match(event: Event) -> bool:
            body = str(event.get("content", {}).get("body", ""))
            return event.get("sender") == self.bot and body.startswith(text)

        return match

    async def _wait_count(self, text: str, count: int) -> None:
        await self.syncer.until(lambda: len(self._find(self._bot_says(text))) >= count)

    async def _scan(self) -> float:
        while True:
            try:
                await self.control.scan(self.account)
                return time.perf_counter()
            except SimulatorControlError as exc:
                if exc.status != 404:
                    raise
            await asyncio.sleep(0.05)

    async def _probe(self, phase: Phase, stop: asyncio.Event) -> None:
        """Send ``ping`` one at a time; each answer's delay goes to ``phase.probes``."""
        answers = ("Logged in as ", "Not logged in")
        while not stop.is_set():
            seen = sum(len(self._find(self._bot_says(a))) for a in answers)
            began = time.perf_counter()
            await self.user.send_text(self.dm, "ping")
            answered = asyncio.ensure_future(
                self.syncer.until(
                    lambda s=seen: sum(len(self._find(self._bot_says(a))) for a in answers) > s
                )
            )
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({answered, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if answered.done():
                phase.probes.append(time.perf_counter() - began)
            else:
                phase.unanswered_s = time.perf_counter() - began
                answered.cancel()
            stopped.cancel()
            await asyncio.sleep(0.2)

    async def login(self, name: str, logins_so_far: int) -> Phase:
        """Log in (QR code or push prompt), confirm on the phone, wait for the bridge to settle."""
        phase = Phase(name)
        self.phases.append(phase)
        pid = self.bridge.pid
        stop = asyncio.Event()
        cpu0, wall0 = proc_cpu_s(pid), time.perf_counter()
        await self.user.send_text(self.dm, "login")
        scanned = await self._scan()
        probing = asyncio.ensure_future(self._probe(phase, stop))
        await self._wait_count("Logged in to WeChat as", logins_so_far + 1)
        phase.to_logged_in_s = time.perf_counter() - scanned
        # Settled: the contact book is matched, 5 s have passed since, and the bridge used
        # < 10 % of a core over 2 s.
        deadline = scanned + self.args.settle_cap
        while self._books_matched() <= logins_so_far and time.perf_counter() < deadline:  # noqa: ASYNC110 - the log is a file
            await asyncio.sleep(0.05)
        if self._books_matched() > logins_so_far:
            phase.to_book_s = time.perf_counter() - scanned
        await asyncio.sleep(5)
        while time.perf_counter() < deadline:
            before = proc_cpu_s(pid)
            await asyncio.sleep(2)
            if proc_cpu_s(pid) - before < 0.2 and not phase.unanswered_s:
                phase.settled = True
                break
        stop.set()
        await probing
        phase.cpu_s, phase.wall_s = proc_cpu_s(pid) - cpu0, time.perf_counter() - wall0
        phase.rss_mib = proc_rss_mib(pid)[1]
        return phase

    async def relogin(self) -> Phase:
        """WeChat ends the session from the phone; the user logs in again."""
        await self.control.logout(self.account)
        await self._wait_count("Logged out of WeChat", 1)
        return await self.login("re-login", 1)

    async def run(self) -> None:
        await self.login("first login", 0)
        if not self.phases[-1].settled:
            self.notes.append("first login never settled: re-login skipped")
            return
        await self.relogin()

    def _books_matched(self) -> int:
        """How many contact books the bridge has matched and stored (its log says so; the
        logger is ``relay.matching_book``, ``relay.matching`` in revisions before the split)."""
        log = self.log_path.read_text(errors="replace")
        return len(re.findall(r"relay\.matching(?:_book)?: contact book:", log))

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def keep_log(self) -> None:
        if self.args.keep_logs:
            target = Path(self.args.keep_logs) / f"bridge-{self.label.replace(' ', '-')}.log"
            target.write_bytes(self.log_path.read_bytes())


class _NoArrivals:
    def saw(self, text: str, now: float) -> None:
        pass


async def _cancel(task: asyncio.Future[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


def extract(ref: str, folder: Path) -> Path:
    """The tree of git revision ``ref`` of this repository, extracted into ``folder``."""
    folder.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


HEADER = [
    "bridge",
    "scan→logged in s",
    "scan→book matched s",
    "pings",
    "p50 s",
    "max wait s",
    "CPU s / wall s",
    "peak RSS MiB",
    "settled",
]

METHOD = """
Method:
- scan→logged in: from the simulator's phone confirming the QR code (first login) or the push
  prompt (re-login) to the user's /sync seeing the bot's "Logged in to WeChat as".
- scan→book matched: until the bridge's log says the contact book is matched and stored
  ("contact book: N contacts", logged after the transaction that stores it commits).
- pings: from the scan until the bridge has settled, the user sends `ping` to the bot, one at a
  time, 0.2 s apart; each answer's delay (send → the reply seen in /sync) is a sample. A ping
  still unanswered when the phase ends shows as "N+" (it had waited N s). Each ping is an
  appservice transaction the bridge must take in (it records the transaction id in its store).
- settled: 5 s after the book is matched and then the bridge process used < 0.2 CPU s
  in 2 s, at most --settle-cap s after the scan (the real-id updates of the 51/code-4
  message arrive then).
- CPU: user + system seconds of the bridge process over the phase (/proc/PID/stat); wall:
  the phase's length. Peak RSS: the process's VmHWM after the phase.
- The re-login follows a logout from the phone (retcode 1101): every UserName is new, so the
  whole contact book is matched against the identities of the first login (PROTOCOL.md §11).
- Each bridge gets its own fresh database and simulator account, generated from the same seed.
- The simulator runs in a process of its own, so its work serving the big contact book does not
  delay this process's /sync client (the Matrix user).
"""


async def main_async(args: argparse.Namespace) -> int:
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="login-bench-") as tmp:
        folder = Path(tmp)
        trees = [("this tree", REPO)]
        if args.baseline:
            trees.insert(0, (args.baseline, extract(args.baseline, folder / "baseline")))
        sim = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve-simulator", str(len(trees)),
            "--friends", str(args.friends), "--groups", str(args.groups),
            "--members", str(args.members), "--seed", str(args.seed),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert sim.stdout is not None
        sim_url = (await sim.stdout.readline()).decode().strip()
        args.accounts = (await sim.stdout.readline()).decode().split()
        hs_port, rx_port = free_port(), free_port()
        config, config_path = write_configs(folder, hs_port, sim_url, rx_port)
        (folder / "receiver.yaml").unlink()
        synapse = Synapse(
            folder / "synapse",
            app_service_config_files=[folder / "registration.yaml"],
            port=hs_port,
        )
        runs: list[Run] = []
        failed = False
        try:
            await synapse.start()
            for label, tree in trees:
                sub = folder / f"run{len(runs)}"
                sub.mkdir()
                run = Run(label, tree, sub, synapse, sim_url, args)
                runs.append(run)
                try:
                    await run.start(config_path, config.bot_user_id)
                    await run.run()
                except Exception as exc:
                    failed = True
                    run.notes.append(f"FAILED: {type(exc).__name__}: {exc}")
                    print(f"bridge log ({label}):\n{run.log_tail()}", file=sys.stderr)
                finally:
                    await run.close()
                    run.keep_log()
        finally:
            await synapse.stop()
            sim.terminate()
            await sim.wait()
        rows = [[f"{r.label}: {p.row()[0]}", *p.row()[1:]] for r in runs for p in r.phases]
        print(
            f"chatbridge login benchmark: {args.friends} friends, {args.friends // 2} strangers, "
            f"{args.groups} groups of {args.members} members (seed {args.seed})"
        )
        print(f"machine: {os.cpu_count()} cores; load before {load}, after {os.getloadavg()}")
        for run in runs:
            for note in run.notes:
                print(f"{run.label}: {note}")
        print()
        print(table(HEADER, rows))
        print(METHOD)
    return 1 if failed else 0


async def serve_simulator(args: argparse.Namespace) -> None:
    """The simulator with ``args.serve_simulator`` generated accounts, in this process: prints
    its URL, then the accounts' wxids, and serves until terminated."""
    sim = await start_simulator(
        "127.0.0.1", 0, send_burst_limit=10**9, synccheck_hold_s=25, login_poll_hold_s=5
    )
    control = SimulatorControl(sim.base_url)
    accounts = []
    for n in range(args.serve_simulator):
        account = await control.create_account("Bench User", wxid=f"wxid_bench_{n}")
        populate(sim.world.accounts[account], args.friends, args.groups, args.members, args.seed)
        accounts.append(account)
    await control.close()
    print(sim.base_url, flush=True)
    print(" ".join(accounts), flush=True)
    await asyncio.Event().wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--friends", type=int, default=5000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--settle-cap", type=float, default=90.0, help="longest phase (s)")
    parser.add_argument("--baseline", default="", help="git revision to compare with")
    parser.add_argument("--keep-logs", default="", help="copy the bridge logs to this folder")
    parser.add_argument("--serve-simulator", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_simulator:
        asyncio.run(serve_simulator(args))
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())

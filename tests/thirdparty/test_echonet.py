"""A third-party adapter plugs in without an edit of the core.

``tests/thirdparty/echonet`` is a package of its own (its own ``pyproject.toml``, entry
points ``chatbridge.adapters`` and ``chatbridge.contract_harnesses``) that depends on the
core only. The test pip-installs it into a folder of its own, runs the shared Channel
contract suite against it, and runs it as the remote network of the real bridge process
(``python -m bridge -c config.yaml`` with ``network: echonet``) against the session
Synapse: a Matrix user logs in through the bot (a code, then a password, both asked in
the management room), and messages go both ways.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml

from bridge.testing.contract import CHECKS
from bridge.testing.discovery import AdapterUnderTest, registered_adapters
from bridge.testing.harness import NotApplicable
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.synapse import MatrixUser, Synapse, free_port
from tests.service.harness import (
    Forwarder,
    accept_invite,
    wait_for_message,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(__file__).resolve().parent / "echonet"
CODE, PASSWORD = "424242", "correct horse"

MakeUser = Callable[[str], Awaitable[MatrixUser]]


@pytest.fixture(scope="session")
def echonet_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The echonet package pip-installed (a wheel built from its own pyproject.toml) into a
    folder of its own; the core comes from the test environment. Fails if pip fails."""
    source = tmp_path_factory.mktemp("echonet-src") / "echonet"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("__pycache__", "build"))
    site = tmp_path_factory.mktemp("echonet-site")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, source],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"pip could not install echonet:\n{result.stderr}"
    assert (site / "echonet" / "network.py").exists()
    return site


@pytest.fixture
def echonet(echonet_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AdapterUnderTest]:
    """Echonet as the contract suite discovers it, through its entry points."""
    monkeypatch.syspath_prepend(str(echonet_site))
    found = {a.name: a for a in registered_adapters()}
    assert "echonet" in found, f"echonet's entry point is not found: {sorted(found)}"
    yield found["echonet"]
    for name in [m for m in sys.modules if m == "echonet" or m.startswith("echonet.")]:
        del sys.modules[name]


@pytest.mark.parametrize("check", list(CHECKS.values()), ids=list(CHECKS))
async def test_echonet_passes_the_contract_suite(
    echonet: AdapterUnderTest, check: Callable[[Any], Awaitable[None]]
) -> None:
    assert echonet.harness is not None, echonet.reason
    async with echonet.harness() as harness:
        try:
            await check(harness)
        except NotApplicable as exc:
            # Capabilities echonet does not declare (media, replies, portals, ...).
            pytest.skip(f"echonet: {exc}")


# ---- the real bridge, with echonet as its remote network ------------------------------------


class BridgeProcess:
    """``python -m bridge -c config.yaml`` with ``network: echonet`` on a port of its own, the
    session appservice forwarding the homeserver's transactions to it, and the world folder
    where the test plays Echonet's other people. ``stop()`` sends SIGTERM, which the bridge
    must survive with exit status 0 (and its log must hold no login input)."""

    def __init__(self, site: Path, base: Path, recorder: TransactionRecorder, folder: Path) -> None:
        raw = yaml.safe_load(base.read_text())
        self.port = free_port()
        raw["appservice"].update(port=self.port, address=f"http://127.0.0.1:{self.port}")
        raw["appservice"]["displayname_template"] = "{name} (Echonet)"
        raw["database"] = {"path": str(folder / "chatbridge.db")}
        raw.pop("wechat", None)
        raw["network"] = "echonet"
        self.world = folder / "world"
        raw["echonet"] = {"world": str(self.world), "code": CODE, "password": PASSWORD}
        self.config = raw
        self.config_path = folder / "config.yaml"
        self.config_path.touch(mode=0o600)
        self.config_path.write_text(yaml.safe_dump(raw))
        self.bot = f"@{raw['appservice']['bot']['username']}:localhost"
        self.log_path = folder / "bridge.log"
        self._env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
        self._recorder = recorder
        self._proc: asyncio.subprocess.Process | None = None
        self._forwarder: Forwarder | None = None

    async def start(self) -> None:
        """Start the bridge and route transactions to it once it listens."""
        with self.log_path.open("ab") as log:
            self._proc = proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bridge", "-c", str(self.config_path),
                cwd=REPO, env=self._env, stdout=log, stderr=log,
            )  # fmt: skip
        await wait_until(lambda: _listening(self.port, proc), within_s=60)
        hs_token = self.config["appservice"]["hs_token"]
        self._forwarder = Forwarder(f"http://127.0.0.1:{self.port}", hs_token)
        self._recorder.forward_to = self._forwarder

    async def stop(self) -> None:
        """Stop routing, SIGTERM the bridge; it must exit 0."""
        self._recorder.forward_to = None
        if self._forwarder is not None:
            await self._forwarder.close()
            self._forwarder = None
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        output = self.log_path.read_text(errors="replace")
        assert proc.returncode == 0, output
        assert "network: echonet" in output
        assert PASSWORD not in output and CODE not in output  # login input is never logged

    def deliver(self, chat: str, text: str) -> None:
        """Contact ``chat`` sends ``text`` (a file in the world's inbox)."""
        from echonet.world import World  # installed by the echonet_site fixture

        World(self.world).deliver(chat, text)

    def sent(self) -> list[tuple[str, str]]:
        """(chat, text) of every message the account sent on Echonet."""
        from echonet.world import World

        return [(s.chat, s.text) for s in World(self.world).sent()]


@pytest_asyncio.fixture(loop_scope="session")
async def bridge_process(
    echonet_site: Path,
    bridge_setup: BridgeSetup,
    appservice: TransactionRecorder,
    synapse: Synapse,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[BridgeProcess]:
    """A started ``BridgeProcess`` with echonet as its network."""
    monkeypatch.syspath_prepend(str(echonet_site))
    bridge = BridgeProcess(echonet_site, bridge_setup.config_path, appservice, tmp_path)
    try:
        await bridge.start()
        yield bridge
    finally:
        await bridge.stop()


async def _listening(port: int, proc: asyncio.subprocess.Process) -> bool:
    if proc.returncode is not None:
        raise AssertionError(f"the bridge exited with {proc.returncode} before listening")
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/health") as resp,
        ):
            return resp.status == 200 and bool((await resp.json()).get("listening"))
    except aiohttp.ClientError:
        return False


async def say(user: MatrixUser, room: str, text: str, bot: str, expect: str) -> dict[str, Any]:
    """``user`` sends ``text``; the bot's first message after it containing ``expect``."""
    sent = await user.send_text(room, text)
    return await wait_for_message(user, room, from_=bot, contains=expect, after=sent)


@pytest.mark.asyncio(loop_scope="session")
async def test_echonet_runs_as_the_remote_network_of_the_real_bridge(
    bridge_process: BridgeProcess, make_user: MakeUser
) -> None:
    bridge = bridge_process
    user = await make_user("echo")
    # Like Element's DMs: the invited bot gets the power to redact.
    dm = await user.create_room(is_direct=True, invite=[bridge.bot], preset="trusted_private_chat")
    await wait_until(lambda: _joined(user, dm, bridge.bot))

    # The login, step by step, as the bot renders Echonet's InputNeeded steps.
    await say(user, dm, "login", bridge.bot, "Starting the Echonet login")
    asked = await wait_for_message(user, dm, from_=bridge.bot, contains="login code")
    assert asked["content"]["body"] == (
        "Echonet sent a login code to your phone. Send the code here as a message."
    )
    await say(user, dm, "000000", bridge.bot, "That code is wrong; try again.")
    await say(user, dm, CODE, bridge.bot, "Now your Echonet password.")
    password = await user.send_text(dm, PASSWORD)
    done = await wait_for_message(user, dm, from_=bridge.bot, contains="Logged in", after=password)
    assert done["content"]["body"] == "Logged in to Echonet as Echo User."
    await wait_until(lambda: _redacted(user, dm, password))  # the bot deleted the password
    ping = await say(user, dm, "!echonet ping", bridge.bot, "Logged in as")
    assert ping["content"]["body"] == "Logged in as Echo User; receiving."

    # Echonet -> Matrix: a contact's message opens a portal, posted by the contact's ghost.
    bridge.deliver("alice", "hello from Alice")
    portal = await accept_invite(user, {dm})
    message = await wait_for_message(user, portal, contains="hello from Alice")
    ghost = message["sender"]
    assert ghost.startswith("@wechat_")  # the session homeserver's registered namespace
    profile = await user.request("GET", f"/v3/profile/{ghost}")
    assert profile["displayname"] == "Alice Echo (Echonet)"

    # Matrix -> Echonet, and Alice's echo back into the portal.
    await user.send_text(portal, "hi Alice")
    await wait_until(lambda: _async(("alice", "hi Alice") in bridge.sent()))
    echo = await wait_for_message(user, portal, from_=ghost, contains="echo: hi Alice")
    assert echo["content"]["body"] == "echo: hi Alice"

    # The session file the adapter keeps for the login is private.
    sessions = list((Path(bridge.config["database"]["path"]).parent / "sessions").iterdir())
    assert [stat.S_IMODE(p.stat().st_mode) for p in sessions] == [0o600]

    # After a restart the login resumes from that file, without asking again.
    await bridge.stop()
    bridge.deliver("bob", "while you were away")
    await bridge.start()
    await wait_until(lambda: _pinged(bridge, user, dm))
    portal_bob = await accept_invite(user, {dm, portal})
    await wait_for_message(user, portal_bob, contains="while you were away")
    said = [e["content"].get("body", "") for e in await user.messages(dm, limit=50)]
    assert not [b for b in said if "login code" in b][1:]  # asked once, before the restart


@pytest.mark.asyncio(loop_scope="session")
async def test_a_wrong_password_ends_the_login_and_the_user_is_told(
    bridge_process: BridgeProcess, make_user: MakeUser
) -> None:
    bridge = bridge_process
    user = await make_user("echofail")
    dm = await user.create_room(is_direct=True, invite=[bridge.bot], preset="trusted_private_chat")
    await wait_until(lambda: _joined(user, dm, bridge.bot))

    await say(user, dm, "login", bridge.bot, "Starting the Echonet login")
    await wait_for_message(user, dm, from_=bridge.bot, contains="login code")
    again = await say(user, dm, "!echonet login", bridge.bot, "already in progress")
    status = await say(user, dm, "!echonet ping", bridge.bot, "Not logged in")
    await say(user, dm, CODE, bridge.bot, "Now your Echonet password.")
    failed = await say(user, dm, "wrong password", bridge.bot, "Logged out of Echonet")

    assert again["content"]["body"] == (
        "A login is already in progress: send me the code I asked for."
    )
    assert status["content"]["body"] == (
        "Not logged in: a login is in progress, send me the code I asked for."
    )
    assert failed["content"]["body"] == (
        "Logged out of Echonet: Echonet refused the password. Send `login` to log in again."
    )
    # With no login waiting, a plain message is a command again.
    await say(user, dm, "hello", bridge.bot, "Unknown command 'hello'")
    # While a code is asked for, `cancel` cancels the login instead of being the answer.
    await say(user, dm, "login", bridge.bot, "Starting the Echonet login")
    await wait_for_message(
        user, dm, from_=bridge.bot, contains="login code", after=failed["event_id"]
    )
    cancelled = await say(user, dm, "cancel", bridge.bot, "login cancelled")
    await say(user, dm, "ping", bridge.bot, "Not logged in to Echonet. Send `login`")
    assert cancelled["content"]["body"].startswith("Echonet login cancelled")


async def _async(value: bool) -> bool:
    return value


async def _pinged(bridge: BridgeProcess, user: MatrixUser, room: str) -> bool:
    sent = await user.send_text(room, "ping")
    reply = await wait_for_message(user, room, from_=bridge.bot, after=sent)
    return "Logged in as Echo User" in str(reply["content"].get("body"))


async def _redacted(user: MatrixUser, room: str, event_id: str) -> bool:
    return (await user.event(room, event_id))["content"] == {}


async def _joined(user: MatrixUser, room: str, member: str) -> bool:
    try:
        state = await user.state(room, "m.room.member", member)
    except Exception:
        return False
    return state.get("membership") == "join"

"""The demo's pieces on 127.0.0.1: a local Synapse, the WeChat simulator and the bridge."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO, TypeVar

import attrs
import yaml

from adapters.matrix.localsynapse import SERVER_NAME, MatrixUser, Synapse, port_is_free
from adapters.wechat.simulator import RunningSimulator, SimulatorControl, start_simulator
from adapters.wechat.simulator.demo import Demo, create_demo
from bridge.config import Config
from bridge.registration import generate_registration
from bridge.service import BridgeService, configure_logging

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The demo Matrix user's localpart (``@demo:localhost``).
DEMO_LOCALPART = "demo"
DEMO_DISPLAYNAME = "Demo"
#: A file marking a folder as the demo's own, so a new run may wipe it.
MARKER = ".chatbridge-demo"


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@attrs.frozen
class DemoPorts:
    """The TCP ports on 127.0.0.1 of the homeserver's client API, the bridge's appservice
    and the WeChat simulator."""

    synapse: int = 8008
    bridge: int = 29350
    simulator: int = 8765

    def check_free(self) -> None:
        """Raise ``DemoError`` naming the first port that is taken (or used twice)."""
        named = {"Synapse": self.synapse, "bridge": self.bridge, "simulator": self.simulator}
        if len(set(named.values())) < len(named):
            raise DemoError(f"the ports must differ: {named}")
        for name, port in named.items():
            if not port_is_free(port):
                option = f"--{name.lower()}-port or DEMO_{name.upper()}_PORT"
                raise DemoError(
                    f"port {port} for the {name} is taken on 127.0.0.1 (another demo or "
                    f"homeserver running?); choose another one with {option}"
                )


def prepare_folder(folder: Path) -> None:
    """Make ``folder`` an empty demo folder: every run starts afresh, since the simulator
    keeps its WeChat world in memory. A folder that exists, is not empty and was not made
    by the demo is left alone (``DemoError``)."""
    if folder.exists():
        if not folder.is_dir():
            raise DemoError(f"{folder} is not a folder")
        if any(folder.iterdir()) and not (folder / MARKER).exists():
            raise DemoError(f"{folder} is not empty and not a demo folder; choose another one")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by python -m adapters.demo; wiped by its next run\n")


def write_config(folder: Path, ports: DemoPorts) -> tuple[Config, Path]:
    """Write the bridge's ``config.yaml`` (mode 0600) and its appservice ``registration.yaml``
    for a homeserver named ``localhost`` into ``folder``; returns the config and the
    registration's path. Users of the local homeserver may use the bridge (the demo user
    as admin)."""
    raw = {
        "homeserver": {"address": f"http://127.0.0.1:{ports.synapse}", "domain": SERVER_NAME},
        "appservice": {
            "address": f"http://127.0.0.1:{ports.bridge}",
            "hostname": "127.0.0.1",
            "port": ports.bridge,
            "id": "chatbridge-demo",
            "bot": {"username": "wechatbot", "displayname": "WeChat bridge bot"},
            "as_token": "generate",
            "hs_token": "generate",
        },
        "database": {"path": "chatbridge.db"},
        # The whole homeserver, not only the demo user: a contact's portal is created by its
        # ghost, and the bot leaves rooms whose inviter is not permitted.
        "permissions": {
            "*": "none",
            SERVER_NAME: "user",
            f"@{DEMO_LOCALPART}:{SERVER_NAME}": "admin",
        },
        "wechat": {"base_url": f"http://127.0.0.1:{ports.simulator}", "uos": True},
        # Encrypted DMs (Element's default) work: the bot has a device (localsynapse enables
        # the Synapse features it needs).
        "encryption": {"allow": True},
        "logging": {"level": "INFO"},
    }
    config_path = folder / "config.yaml"
    config_path.touch(mode=0o600)
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    registration_path = folder / "registration.yaml"
    generate_registration(config_path, registration_path)
    return Config.from_file(config_path), registration_path


class DemoStack:
    """Everything the demo runs, started in order by ``start()`` and stopped in reverse by
    ``stop()`` (idempotent, never raises): the simulator with the demo account
    (``adapters/wechat/simulator/demo.py``), Synapse with the bridge's registration, the
    ``BridgeService``, and the demo Matrix user registered with a random password.

    ``qr_terminal`` also gets QR codes as text; the bridge logs to ``folder/bridge.log``.
    Its properties raise ``RuntimeError`` before ``start()``. ``start()`` raises
    ``DemoError`` when a port is taken or the folder is not the demo's;
    ``RuntimeError`` if Synapse does not start; ``OSError`` if a port is taken meanwhile.
    """

    def __init__(self, folder: Path, ports: DemoPorts, *, qr_terminal: TextIO | None) -> None:
        self.folder = folder
        self.ports = ports
        self.password = secrets.token_urlsafe(9)
        self._qr_terminal = qr_terminal
        self._log: TextIO | None = None
        self._simulator: RunningSimulator | None = None
        self._control: SimulatorControl | None = None
        self._demo: Demo | None = None
        self._synapse: Synapse | None = None
        self._service: BridgeService | None = None
        self._user: MatrixUser | None = None

    @property
    def control(self) -> SimulatorControl:
        """The simulator's control client (the WeChat contacts' side)."""
        return _started(self._control)

    @property
    def demo(self) -> Demo:
        """The ids of the demo WeChat account, its contacts and its group."""
        return _started(self._demo)

    @property
    def service(self) -> BridgeService:
        """The running bridge."""
        return _started(self._service)

    @property
    def user(self) -> MatrixUser:
        """The demo Matrix user, logged in."""
        return _started(self._user)

    @property
    def homeserver_url(self) -> str:
        """The homeserver's client API URL."""
        return f"http://127.0.0.1:{self.ports.synapse}"

    @property
    def simulator_url(self) -> str:
        """The WeChat simulator's URL."""
        return f"http://127.0.0.1:{self.ports.simulator}"

    @property
    def log_path(self) -> Path:
        """The bridge's log file."""
        return self.folder / "bridge.log"

    async def start(self) -> None:
        """Start everything; on failure stop what was started and raise."""
        self.ports.check_free()
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    def _prepare(self) -> tuple[Config, Path]:
        prepare_folder(self.folder)
        config, registration = write_config(self.folder, self.ports)
        self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        configure_logging(config, self._log)
        return config, registration

    async def _start(self) -> None:
        config, registration = self._prepare()
        self._simulator = await start_simulator("127.0.0.1", self.ports.simulator)
        self._control = SimulatorControl(self._simulator.base_url)
        self._demo = await create_demo(self._control)
        self._synapse = Synapse(
            self.folder / "synapse",
            app_service_config_files=[registration],
            port=self.ports.synapse,
        )
        await self._synapse.start()
        self._service = BridgeService(config, qr_terminal=self._qr_terminal)
        await self._service.start()
        self._user = await self._synapse.register_user(DEMO_LOCALPART, self.password)
        await self._user.set_displayname(DEMO_DISPLAYNAME)

    async def stop(self) -> None:
        """Stop the bridge, the simulator and Synapse, in that order. Idempotent."""
        service, self._service = self._service, None
        if service is not None:
            await _quietly("the bridge", service.stop)
        control, self._control = self._control, None
        if control is not None:
            await _quietly("the simulator control client", control.close)
        simulator, self._simulator = self._simulator, None
        if simulator is not None:
            await _quietly("the simulator", simulator.close)
        synapse, self._synapse = self._synapse, None
        if synapse is not None:
            await _quietly("Synapse", synapse.stop)
        stream, self._log = self._log, None
        if stream is not None:
            logging.getLogger().handlers.clear()
            stream.close()

    def synapse_log(self) -> Path:
        """Synapse's log file (for the person reading a failure)."""
        return self.folder / "synapse" / "homeserver.log"


def _started(value: T | None) -> T:
    if value is None:
        raise RuntimeError("the demo is not started")
    return value


async def _quietly(name: str, stop: Callable[[], Awaitable[None]]) -> None:
    try:
        await stop()
    except Exception:
        log.exception("stopping %s failed", name)


def env_port(name: str, default: int) -> int:
    """The port in environment variable ``name`` (``DemoError`` if not a number), else
    ``default``."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise DemoError(f"{name}={value!r} is not a port number")
    return int(value)

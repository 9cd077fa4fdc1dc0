"""Files holding secrets are created 0600 (config after ``-g``, registration, database and its
WAL/SHM), a readable one is warned about at start, and no skey/pass_ticket reaches the database."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.synapse import MatrixUser, Synapse
from tests.service.harness import BridgeProcess, wait_for_message
from tests.service.test_cli import example_config, run_cli
from tests.service.test_hostile_appservice_e2e import logged_in_portal
from tests.wechat.conftest import SimulatorHandle

MakeUser = Callable[[str], Awaitable[MatrixUser]]


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


def test_generate_leaves_config_and_registration_0600(tmp_path: Path) -> None:
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(example_config()))
    config_path.chmod(0o644)  # as an editor or `cp` under umask 022 leaves it
    registration_path = tmp_path / "registration.yaml"

    result = run_cli("-c", config_path, "-g", "-r", registration_path)

    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(config_path.read_text())["appservice"]["as_token"] != "generate"
    assert mode(config_path) == 0o600
    assert mode(registration_path) == 0o600
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest_asyncio.fixture(loop_scope="session")
async def bridge_process(
    bridge_setup: BridgeSetup,
    appservice: TransactionRecorder,
    synapse: Synapse,
    simulator: SimulatorHandle,
    tmp_path: Path,
) -> AsyncIterator[BridgeProcess]:
    """``python -m bridge`` on a fresh database, under umask 022, its config left 0644."""
    process = BridgeProcess(bridge_setup, appservice, simulator, tmp_path)
    process.config_path.chmod(0o644)
    old = os.umask(0o022)
    try:
        await process.start()
    finally:
        os.umask(old)
    yield process
    await process.close()


@pytest.mark.asyncio(loop_scope="session")
async def test_the_database_is_created_0600_and_holds_no_skey(
    bridge_process: BridgeProcess, simulator: SimulatorHandle, make_user: MakeUser
) -> None:
    folder = bridge_process.config_path.parent
    database = folder / "chatbridge.db"
    created = {p.name: mode(p) for p in folder.glob("chatbridge.db*")}
    assert set(created) >= {"chatbridge.db", "chatbridge.db-wal", "chatbridge.db-shm"}
    assert set(created.values()) == {0o600}
    log = bridge_process.log_path.read_text()
    assert f"{bridge_process.config_path} holds secrets but is mode 0644" in log

    control = simulator.control
    user = await make_user("secrets")
    demo, portal = await logged_in_portal(bridge_process, control, user)
    await control.send_message(demo.account, demo.carol, text="a second contact")
    await control.send_message(demo.account, demo.alice, text="and again")
    await wait_for_message(user, portal, contains="and again")

    [session_file] = (folder / "sessions").glob("*.json")
    assert mode(session_file) == 0o600
    credentials = json.loads(session_file.read_text())["credentials"]
    secrets = [credentials["skey"], credentials["pass_ticket"]]
    assert all(len(s) >= 8 for s in secrets)
    stored = b"".join(p.read_bytes() for p in folder.glob("chatbridge.db*"))
    assert b"webwxgeticon" in stored  # avatar URLs are stored...
    assert b"skey=" not in stored  # ...without the session's credentials
    for secret in secrets:
        assert secret.encode() not in stored
        assert secret not in bridge_process.log_path.read_text()
    assert {mode(p) for p in folder.glob("chatbridge.db*")} == {0o600}
    assert database.exists()

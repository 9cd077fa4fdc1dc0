"""The command line: ``python -m bridge`` generating the registration, refusing bad configs,
and running until SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.matrix.conftest import BridgeSetup
from tests.matrix.synapse import Synapse, free_port
from tests.service.harness import wait_until

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``python -m bridge ARGS`` from the repository; its exit status and output."""
    return subprocess.run(
        [sys.executable, "-m", "bridge", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def example_config(**appservice: Any) -> dict[str, Any]:
    return {
        "homeserver": {"address": "http://127.0.0.1:8008", "domain": "example.org"},
        "appservice": {
            "address": "http://127.0.0.1:29350",
            "port": 29350,
            "as_token": "generate",
            "hs_token": "generate",
            **appservice,
        },
        "database": {"path": "chatbridge.db"},
    }


def test_generate_writes_a_private_registration_with_the_configs_tokens(tmp_path: Path) -> None:
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(example_config()))
    registration_path = tmp_path / "registration.yaml"

    result = run_cli("-c", config_path, "-g", "-r", registration_path)

    assert result.returncode == 0, result.stderr
    assert str(registration_path) in result.stdout
    assert stat.S_IMODE(registration_path.stat().st_mode) == 0o600
    registration = yaml.safe_load(registration_path.read_text())
    appservice = yaml.safe_load(config_path.read_text())["appservice"]
    assert registration["as_token"] == appservice["as_token"] != "generate"
    assert registration["hs_token"] == appservice["hs_token"] != "generate"
    assert registration["sender_localpart"] == "wechatbot"


def test_a_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    config_path = tmp_path / "bad.yaml"
    config_path.write_text(
        yaml.safe_dump(example_config(port="eighty", as_token="a" * 20, hs_token="b" * 20))
    )

    result = run_cli("-c", config_path)

    assert result.returncode == 2
    assert "appservice.port" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_config_exits_2(tmp_path: Path) -> None:
    result = run_cli("-c", tmp_path / "nowhere.yaml")

    assert result.returncode == 2
    assert "nowhere.yaml not found" in result.stderr


def test_tokens_not_generated_yet_exit_2_with_the_way_out(tmp_path: Path) -> None:
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(example_config()))

    result = run_cli("-c", config_path)

    assert result.returncode == 2
    assert "appservice.as_token" in result.stderr
    assert "-g -r registration.yaml" in result.stderr


def test_help_documents_running_and_generating() -> None:
    result = run_cli("--help")

    assert result.returncode == 0
    assert "python -m bridge -c config.yaml -g -r registration.yaml" in result.stdout
    for option in ("--config", "--generate-registration", "--registration"):
        assert option in result.stdout


@pytest.mark.asyncio(loop_scope="session")
async def test_the_bridge_runs_until_sigterm_without_logging_tokens(
    bridge_setup: BridgeSetup, synapse: Synapse, tmp_path: Path
) -> None:
    raw = yaml.safe_load(bridge_setup.config_path.read_text())
    port = free_port()
    raw["appservice"].update(port=port, address=f"http://127.0.0.1:{port}")
    raw["database"] = {"path": str(tmp_path / "chatbridge.db")}
    raw["logging"] = {"level": "DEBUG"}
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "-c", str(config_path),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await wait_until(lambda: _listening(port))
        os.kill(proc.pid, signal.SIGTERM)
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    log = err.decode()
    assert proc.returncode == 0, log
    assert "bridge started" in log
    assert "bridge stopped" in log
    assert raw["appservice"]["as_token"] not in log + out.decode()
    assert raw["appservice"]["hs_token"] not in log + out.decode()


async def _listening(port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/health") as resp,
        ):
            return resp.status == 200 and bool((await resp.json()).get("listening"))
    except aiohttp.ClientError:
        return False


def test_a_taken_appservice_port_exits_1_saying_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        raw = example_config(port=port, as_token="a" * 20, hs_token="b" * 20)
        config_path = tmp_path / "config.yaml"
        config_path.write_text(yaml.safe_dump(raw))

        result = run_cli("-c", config_path)

    assert result.returncode == 1
    assert "cannot run the bridge" in result.stderr
    assert "Traceback" not in result.stderr

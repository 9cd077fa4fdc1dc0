"""The local demo (``python -m adapters.demo``, run by scripts/demo.sh): the whole bridge on
127.0.0.1, its scripted conversation as the Matrix user saw it, and a clean stop."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.matrix.synapse import free_port, port_is_free

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.synapse, pytest.mark.slow]


def demo_command(folder: Path, *extra: str) -> list[str]:
    """The demo on free ports with its data in ``folder``."""
    return [
        sys.executable, "-m", "adapters.demo", "--data-dir", str(folder),
        "--synapse-port", str(free_port()), "--bridge-port", str(free_port()),
        "--simulator-port", str(free_port()), *extra,
    ]  # fmt: skip


def sections(output: str) -> dict[str, list[str]]:
    """The transcript's rooms (``== name ==``) and the outbox, each to its lines."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith("== ") and line.endswith(" =="):
            current = found.setdefault(line[3:-3], [])
        elif line.startswith("What the bridge sent"):
            current = found.setdefault("outbox", [])
        elif current is not None and line.startswith("  "):
            current.append(line.strip())
        else:
            current = None
    return found


def test_the_demo_logs_in_chats_both_ways_and_prints_the_transcript(tmp_path: Path) -> None:
    result = subprocess.run(
        demo_command(tmp_path / "demo", "--exit-after-script"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    rooms = sections(result.stdout)
    assert "WeChat bridge bot: Logged in to WeChat as Demo User." in rooms["WeChat bridge bot"]
    assert rooms["Carol"] == [
        "Carol (WeChat): Hi! Are you coming on Saturday?",
        "Demo: Yes! I'll bring the snacks.",
        "Carol (WeChat): [redacted]",  # Carol recalled it on WeChat
        "Demo: [redacted]",  # the Matrix user redacted the typo
        "Demo: See you at 8 at the station",
    ]
    assert rooms["Weekend Hike"] == ["Alice (work) (WeChat): Who brings the tent?", "Demo: I do!"]
    assert rooms["outbox"] == [
        "text to Carol: Yes! I'll bring the snacks.",
        "text to Carol: See you at 8 at the statoin",
        "recall to Carol of: See you at 8 at the statoin",
        "text to Carol: See you at 8 at the station",
        "text to Weekend Hike: I do!",
    ]
    assert "lost the map" not in result.stdout  # the recalled text is gone from Matrix
    assert "password:" not in result.stdout  # it did not wait for a person


def test_ctrl_c_stops_everything_cleanly(tmp_path: Path) -> None:
    command = demo_command(tmp_path / "demo")
    ports = [int(command[i + 1]) for i, arg in enumerate(command) if arg.endswith("-port")]
    proc = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # the pipe closes if the demo exits early
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        printed = "".join(lines)
        synapse_config = str(tmp_path / "demo" / "synapse" / "homeserver.yaml")
        running = processes_mentioning(synapse_config)

        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 0, printed + out + err
    assert f"homeserver:  http://127.0.0.1:{ports[0]}" in printed
    assert "user:        @demo:localhost" in printed
    assert "bridge bot:  @wechatbot:localhost" in printed
    assert out.strip().endswith("Stopped.")
    assert running  # Synapse was running from the demo's folder
    assert processes_mentioning(synapse_config) == []
    assert all(port_is_free(port) for port in ports)


def processes_mentioning(text: str) -> list[int]:
    """Pids of the processes whose command line contains ``text``."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                pids.append(int(cmdline.parent.name))
        except OSError:  # it ended meanwhile
            continue
    return pids


def test_a_taken_port_is_refused_saying_which(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = demo_command(tmp_path / "demo", "--exit-after-script")
        command[command.index("--bridge-port") + 1] = str(port)

        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)

    assert result.returncode == 1
    assert f"port {port} for the bridge is taken" in result.stderr
    assert "--bridge-port" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "demo").exists()  # refused before starting anything

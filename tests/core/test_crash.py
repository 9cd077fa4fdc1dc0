"""A relay process SIGKILLed mid-stream and restarted delivers every message once, in order."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.core.relay_worker import BATCH, create_source

ROOT = Path(__file__).resolve().parents[2]


def _worker(directory: Path, *options: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core.relay_worker", str(directory), *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _finish(proc: subprocess.Popen[bytes]) -> int:
    out, _ = proc.communicate(timeout=60)
    if proc.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"worker failed ({proc.returncode}):\n{out.decode(errors='replace')}")
    return proc.returncode


def _received(directory: Path) -> list[tuple[str, str]]:
    path = directory / "sink.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT chat, body FROM received ORDER BY id").fetchall()
    conn.close()
    return rows


def _cursor(directory: Path) -> int:
    with sqlite3.connect(directory / "source.db") as conn:
        (pos,) = conn.execute("SELECT pos FROM cursor").fetchone()
    conn.close()
    return int(pos)


def test_sigkill_at_any_point_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    stream = create_source(tmp_path / "source.db", chats=3, per_chat=40)

    # Killed after a batch was journaled but before the source was acknowledged.
    assert _finish(_worker(tmp_path, "--die-in-ack", "3")) == -signal.SIGKILL
    assert _cursor(tmp_path) == 2 * BATCH  # the source will send the third batch again
    # Killed after the receiver recorded a message but before the journal said delivered.
    before = len(_received(tmp_path))
    assert _finish(_worker(tmp_path, "--die-after-sends", "20")) == -signal.SIGKILL
    assert len(_received(tmp_path)) == before + 20
    # Killed from outside while it relays.
    proc = _worker(tmp_path, "--pace-ms", "5")
    seen = len(_received(tmp_path))
    deadline = time.monotonic() + 30
    while len(_received(tmp_path)) < seen + 10 and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert _finish(proc) == -signal.SIGKILL
    got_before_last_run = len(_received(tmp_path))
    assert got_before_last_run < len(stream)
    # The last run completes.
    assert _finish(_worker(tmp_path)) == 0

    received = _received(tmp_path)
    assert sorted(received) == sorted((f"room-{c}", b) for c, b in stream)  # each exactly once
    per_chat: dict[str, list[str]] = defaultdict(list)
    for chat, body in received:
        per_chat[chat].append(body)
    for c in range(3):
        assert per_chat[f"room-chat{c}"] == [f"chat{c} message {n}" for n in range(40)]
    with sqlite3.connect(tmp_path / "bridge.db") as conn:
        states = dict(conn.execute("SELECT state, COUNT(*) FROM journal GROUP BY state"))
    conn.close()
    assert states == {"delivered": len(stream)}

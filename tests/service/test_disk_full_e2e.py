"""A disk that fills for a moment: the bridge process's data folder sits on a small tmpfs.
While it is full the bridge acknowledges nothing it cannot journal, ``/health`` says not ready
and the user is told once; once space returns both directions resume without a restart, with
nothing lost or doubled."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from adapters.wechat.simulator.demo import create_demo
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.synapse import MatrixUser
from tests.service.harness import (
    BridgeProcess,
    accept_invite,
    open_dm,
    wait_for_message,
    wait_until,
)
from tests.service.test_hostile_appservice_e2e import sent_to
from tests.wechat.conftest import SimulatorHandle

pytestmark = pytest.mark.asyncio(loop_scope="session")

MakeUser = Callable[[str], Awaitable[MatrixUser]]

STALLED = "cannot write its database"
RESUMED = "can write its database again"


def mount_tmpfs(where: Path, size: str) -> None:
    """Mount a tmpfs of ``size`` at ``where``; skips (saying why) where the machine cannot."""
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}"
        print(reason)
        pytest.skip(reason)


def fill(folder: Path) -> Path:
    """Write a file into ``folder`` until its file system is full; returns the file."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        try:  # the last partial pages too
            while True:
                out.write(b"\0" * 512)
        except OSError:
            pass
    return filler


@pytest_asyncio.fixture(loop_scope="session")
async def small_disk_bridge(
    bridge_setup: BridgeSetup,
    appservice: TransactionRecorder,
    simulator: SimulatorHandle,
    tmp_path: Path,
) -> AsyncIterator[tuple[BridgeProcess, Path]]:
    """``python -m bridge`` whose database and sessions live on a 16 MiB tmpfs (its config
    and log stay outside); yields the process and the data folder."""
    data = tmp_path / "data"
    mount_tmpfs(data, "16m")
    process = BridgeProcess(
        bridge_setup,
        appservice,
        simulator,
        tmp_path,
        configure=lambda raw: raw.update(database={"path": str(data / "chatbridge.db")}),
    )
    try:
        await process.start()
        yield process, data
    finally:
        await process.close()
        await asyncio.to_thread(subprocess.run, ["umount", "-l", str(data)], check=False)


async def test_a_disk_that_fills_for_a_moment_stalls_then_resumes_without_a_restart(
    small_disk_bridge: tuple[BridgeProcess, Path],
    simulator: SimulatorHandle,
    make_user: MakeUser,
) -> None:
    process, data = small_disk_bridge
    control = simulator.control
    user = await make_user("diskfull")
    demo = await create_demo(control)
    dm = await open_dm(user, process.bot)
    await user.send_text(dm, "login")
    await wait_for_message(user, dm, from_=process.bot, msgtype="m.image")
    await control.scan(demo.account)
    await wait_for_message(user, dm, from_=process.bot, contains="Logged in to WeChat as")
    await control.send_message(demo.account, demo.alice, text="hello")
    portal = await accept_invite(user, {dm})
    await wait_for_message(user, portal, contains="hello")
    assert await health(process.port) == (200, None)

    filler = fill(data)
    sent: list[str] = []
    # SQLite's WAL may still have room for a few messages: send until the bridge stalls.
    for n in range(60):
        sent.append(f"full {n:02d}")
        await control.send_message(demo.account, demo.alice, text=sent[-1])
        status, reason = await health(process.port)
        if status == 503:
            break
        await asyncio.sleep(0.5)
    status, reason = await wait_until(lambda: _not_ready(process.port), within_s=60)
    assert status == 503 and reason and "journal" in reason
    for _ in range(5):
        sent.append(f"full {len(sent):02d}")
        await control.send_message(demo.account, demo.alice, text=sent[-1])
    await user.send_text(portal, "reply while the disk is full")
    await wait_for_message(user, dm, from_=process.bot, contains=STALLED)
    await asyncio.sleep(3)
    assert (await health(process.port))[0] == 503

    os.unlink(filler)  # space returns; no restart

    async def all_arrived() -> list[str] | None:
        bodies = [
            str(e["content"].get("body", ""))
            for e in await user.messages(portal, limit=200)
            if e.get("sender") != user.user_id
        ]
        got = [b for b in bodies if b.startswith("full ")]
        return got if sent[-1] in got else None

    arrived = await wait_until(all_arrived, within_s=90)
    assert arrived == sent  # in order, none lost, none doubled
    await sent_to(control, demo.account, demo.alice, "reply while the disk is full", within_s=90)
    await wait_until(lambda: _ready(process.port), within_s=30)
    await wait_for_message(user, dm, from_=process.bot, contains=RESUMED)
    outbox = [e.text for e in await control.outbox(demo.account)]
    assert outbox.count("reply while the disk is full") == 1
    told = [
        e
        for e in await user.messages(dm, limit=100)
        if STALLED in str(e["content"].get("body", ""))
    ]
    assert len(told) == 1


async def health(port: int) -> tuple[int, str | None]:
    """``GET /health`` of the bridge on ``port``: the status and the not-ready reason."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/health") as resp,
    ):
        body = await resp.json()
        return resp.status, body.get("reason")


async def _not_ready(port: int) -> tuple[int, str | None] | None:
    answer = await health(port)
    return answer if answer[0] == 503 else None


async def _ready(port: int) -> bool:
    return (await health(port))[0] == 200

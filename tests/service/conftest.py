"""Fixtures for end-to-end tests of the bridge service: the session Synapse, a WeChat
simulator, and a running ``BridgeService`` wired to both.

The Synapse fixtures come from ``tests/matrix/conftest.py`` (imported, so pytest registers
them here as well). The homeserver pushes transactions to the session appservice recorder on
the registered port; each ``bridge`` forwards them over HTTP to the appservice server of its
own ``BridgeService`` (listening on another port), so the service runs unmodified. Tests
using these fixtures need ``pytestmark = pytest.mark.asyncio(loop_scope="session")``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters.wechat.simulator import SimulatorControl, start_simulator
from tests.matrix.conftest import (
    BridgeSetup,
    TransactionRecorder,
    appservice,
    as_api,
    bridge_setup,
    make_user,
    synapse,
)
from tests.matrix.synapse import MatrixUser, Synapse
from tests.service.harness import REFUSED_LOCALPART, BridgeHarness, BridgeProcess
from tests.wechat.conftest import TEST_OPTIONS, SimulatorHandle

# Re-exported so that pytest registers the Synapse fixtures for this folder too.
__all__ = ["appservice", "as_api", "bridge", "bridge_setup", "make_user", "refused_user"]
__all__ += ["bridge_process", "simulator", "synapse"]


@pytest_asyncio.fixture(loop_scope="session")
async def simulator() -> AsyncIterator[SimulatorHandle]:
    """A WeChat simulator (the test holds of ``tests/wechat``) in the session event loop,
    where the Synapse fixtures and the service live."""
    running = await start_simulator("127.0.0.1", 0, **TEST_OPTIONS)
    handle = SimulatorHandle(running.base_url, SimulatorControl(running.base_url), running)
    yield handle
    await handle.control.close()
    await handle.running.close()


@pytest_asyncio.fixture(loop_scope="session")
async def bridge(
    bridge_setup: BridgeSetup,
    appservice: TransactionRecorder,
    synapse: Synapse,
    simulator: SimulatorHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[BridgeHarness]:
    """A started ``BridgeService`` on a fresh database, its WeChat side the ``simulator``."""
    harness = BridgeHarness(
        bridge_setup.config,
        appservice,
        synapse,
        simulator,
        tmp_path_factory.mktemp("service"),
    )
    await harness.start()
    yield harness
    await harness.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def refused_user(synapse: Synapse) -> MatrixUser:
    """The user the ``bridge`` fixture's permissions refuse (``REFUSED_LOCALPART``)."""
    return await synapse.register_user(REFUSED_LOCALPART)


@pytest_asyncio.fixture(loop_scope="session")
async def bridge_process(
    bridge_setup: BridgeSetup,
    appservice: TransactionRecorder,
    synapse: Synapse,
    simulator: SimulatorHandle,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[BridgeProcess]:
    """A started ``BridgeProcess`` (``python -m bridge`` on a fresh database) instead of the
    in-process ``bridge``. A test module that needs another config defines
    ``configure_bridge(raw: dict) -> None``, which edits the parsed ``config.yaml`` before the
    process starts (``BridgeProcess(configure=...)``)."""
    configure: Callable[[dict[str, Any]], object] | None
    configure = getattr(request.module, "configure_bridge", None)
    process = BridgeProcess(bridge_setup, appservice, simulator, tmp_path, configure=configure)
    await process.start()
    yield process
    await process.close()

"""The Channel contract suite run against MatrixChannel on the session Synapse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from adapters.matrix.api import AppserviceAPI
from adapters.matrix.contract_harness import MatrixHarness, matrix_harness
from bridge.store import Store
from bridge.testing.contract import CHECKS, Check
from bridge.testing.harness import NotApplicable
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.matrix_rig import quiet_bot, unname_bot
from tests.matrix.synapse import Synapse

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def harness(
    synapse: Synapse,
    bridge_setup: BridgeSetup,
    as_api: AppserviceAPI,
    appservice: TransactionRecorder,
    tmp_path: Path,
) -> AsyncIterator[MatrixHarness]:
    user = await synapse.register_user(f"contract{tmp_path.name.replace('_', '').lower()}")
    store = await Store.open(tmp_path / "bridge.db", synchronous="NORMAL")
    try:
        async with matrix_harness(quiet_bot(bridge_setup.config), store, as_api, user) as h:
            await unname_bot(as_api)
            appservice.forward_to = h.hub.handle_transaction
            yield h
    finally:
        appservice.forward_to = None
        await store.close()


@pytest.mark.parametrize("check", list(CHECKS.values()), ids=list(CHECKS))
async def test_matrix_channel_contract(harness: MatrixHarness, check: Check) -> None:
    try:
        await check(harness)
    except NotApplicable as e:
        pytest.skip(f"matrix: {e}")

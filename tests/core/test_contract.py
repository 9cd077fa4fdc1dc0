"""The Channel contract suite, run against every registered adapter and the in-memory one."""

from __future__ import annotations

import pytest

from bridge.testing.contract import CHECKS, Check
from bridge.testing.discovery import AdapterUnderTest, registered_adapters
from bridge.testing.harness import NotApplicable
from bridge.testing.memory_harness import memory_harness

ADAPTERS = [AdapterUnderTest("memory", memory_harness), *registered_adapters()]


@pytest.mark.parametrize("check", list(CHECKS.values()), ids=list(CHECKS))
@pytest.mark.parametrize("adapter", ADAPTERS, ids=[a.name for a in ADAPTERS])
async def test_channel_contract(adapter: AdapterUnderTest, check: Check) -> None:
    if adapter.harness is None:
        pytest.skip(adapter.reason)
    async with adapter.harness() as harness:
        try:
            await check(harness)
        except NotApplicable as e:
            pytest.skip(f"{adapter.name}: {e}")


def test_every_registered_adapter_is_listed_by_name() -> None:
    names = [a.name for a in registered_adapters()]
    assert len(names) == len(set(names))
    for adapter in registered_adapters():
        assert adapter.harness is not None or adapter.name in adapter.reason

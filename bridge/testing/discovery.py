"""Finding the registered adapters and the contract harness each one provides."""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points

import attrs

from bridge.channel import ENTRY_POINT_GROUP
from bridge.testing.harness import HarnessFactory

#: Entry-point group where an out-of-tree adapter registers its harness factory under the
#: adapter's own name. In-tree adapters use a ``contract_harness`` module next to their
#: entry point's module instead (see ``find_harness``).
HARNESS_GROUP = "chatbridge.contract_harnesses"


@attrs.frozen
class AdapterUnderTest:
    """A registered adapter and its harness factory, or the reason it cannot be tested."""

    name: str
    harness: HarnessFactory | None
    reason: str = ""


def find_harness(entry_point: EntryPoint) -> AdapterUnderTest:
    """Load one ``chatbridge.adapters`` entry point and find its harness factory.

    Convention: a factory registered under the adapter's name in the ``HARNESS_GROUP``
    entry-point group, else a ``contract_harness()`` function in the module
    ``contract_harness`` of the package holding the entry point's module (for
    ``adapters.wechat.channel:WeChatChannel``: ``adapters/wechat/contract_harness.py``). The
    factory returns an async context manager yielding a ``ContractHarness``. Never raises: a
    missing adapter or harness gives ``harness=None`` and a reason naming the adapter.
    """
    name = entry_point.name
    try:
        entry_point.load()
    except Exception as e:  # any import failure of a third-party module means "cannot test"
        return AdapterUnderTest(
            name, None, f"adapter {name!r} ({entry_point.value}) cannot be loaded: {e!r}"
        )
    for registered in entry_points(group=HARNESS_GROUP, name=name):
        try:
            return AdapterUnderTest(name, registered.load())
        except Exception as e:
            return AdapterUnderTest(name, None, f"harness of adapter {name!r} failed: {e!r}")
    package = entry_point.module.rpartition(".")[0]
    module_name = f"{package}.contract_harness" if package else "contract_harness"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            return AdapterUnderTest(name, None, f"{module_name} of adapter {name!r}: {e!r}")
        return AdapterUnderTest(
            name,
            None,
            f"adapter {name!r} has no contract harness yet: add {module_name}.contract_harness"
            f"() or register one in the {HARNESS_GROUP!r} entry-point group",
        )
    factory = getattr(module, "contract_harness", None)
    if not callable(factory):
        return AdapterUnderTest(name, None, f"{module_name} has no contract_harness() function")
    return AdapterUnderTest(name, factory)


def registered_adapters() -> list[AdapterUnderTest]:
    """Every adapter of the ``chatbridge.adapters`` group, each loaded on its own, so one
    broken adapter does not hide the others."""
    return [find_harness(ep) for ep in entry_points(group=ENTRY_POINT_GROUP)]

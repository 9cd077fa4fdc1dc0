"""Plugging adapters in: the remote network and the Matrix side, found by entry-point name.

The core never imports an adapter. Every adapter registers one object in the
``chatbridge.adapters`` entry-point group (``pyproject.toml`` of its package); the service
loads the remote network named by the config's ``network`` key (default ``wechat``) and the
Matrix side named ``matrix``. A remote network is a ``Network``; the Matrix side a
``bridge.hub.HubFactory``. See README "Writing an adapter".
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs

from bridge.channel import ENTRY_POINT_GROUP, LoginChannel
from bridge.config import Config, Section
from bridge.errors import ConfigError

#: The entry-point name of the Matrix side.
MATRIX = "matrix"

#: Opens the remote side of one login: given the 0600 file the adapter may keep that login's
#: session in (its folder is 0700; the file may not exist yet), a new, unstarted channel.
OpenLogin = Callable[[Path], LoginChannel]


@runtime_checkable
class Network(Protocol):
    """A remote network as its adapter registers it under ``chatbridge.adapters``.

    ``name`` is the entry-point name (also the ``channel`` of its logins in the store);
    ``display_name`` names the network in what the bot says ("WeChat"). ``configure`` reads
    the config section named after the adapter (``Section`` names a bad key in its
    ``ConfigError``) and returns how to open a login's channel.
    """

    @property
    def name(self) -> str:
        """The registered name, e.g. ``wechat``."""
        ...

    @property
    def display_name(self) -> str:
        """The network's name for users, e.g. ``WeChat``."""
        ...

    def configure(self, section: Section) -> OpenLogin:
        """Validate the adapter's config section (empty when absent). Raises
        ``ConfigError`` naming the bad key."""
        ...


@attrs.frozen
class ConfiguredNetwork:
    """The remote network of a running bridge: the adapter and its configured opener."""

    network: Network
    open_login: OpenLogin

    @property
    def name(self) -> str:
        """The adapter's registered name (``Login.channel`` in the store)."""
        return self.network.name

    @property
    def display_name(self) -> str:
        """The network's name for users."""
        return self.network.display_name


def load_adapter(name: str, *, key: str) -> object:
    """The object the ``chatbridge.adapters`` entry point ``name`` names, imported.

    ``key`` is the config key that named it (for errors). Raises ``ConfigError`` when no
    adapter of that name is installed (listing those that are) or it cannot be imported.
    """
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        names = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
        raise ConfigError(
            f"{key}: no adapter {name!r} is installed (installed: {', '.join(names) or 'none'})"
        )
    entry_point = next(iter(found))
    try:
        loaded: object = entry_point.load()
    except Exception as exc:  # a third-party module may fail in any way
        raise ConfigError(f"{key}: adapter {name!r} cannot be loaded: {exc!r}") from exc
    return loaded


def load_network(config: Config) -> ConfiguredNetwork:
    """The remote network ``config.network`` names, configured from its section
    (``config.network_config``). Raises ``ConfigError``: no such adapter, not a remote
    network, or a bad value in its section."""
    adapter = load_adapter(config.network, key="network")
    if not isinstance(adapter, Network):
        raise ConfigError(
            f"network: adapter {config.network!r} is not a remote network (it lacks name, "
            "display_name or configure)"
        )
    section = Section(config.network_config, config.network)
    opener = adapter.configure(section)
    section.warn_unknown()
    return ConfiguredNetwork(adapter, opener)

"""The WeChat adapter as the bridge loads it: entry point ``wechat`` of ``chatbridge.adapters``."""

from __future__ import annotations

from pathlib import Path

import attrs

from adapters.wechat.channel import WeChatChannel, WeChatSettings
from adapters.wechat.client.connection import UOS_DEFAULT
from bridge.config import Section
from bridge.errors import ConfigError
from bridge.plugins import Network, OpenLogin


@attrs.frozen
class WeChatNetwork:
    """WeChat's web protocol as a ``bridge.plugins.Network``.

    Its config section ``wechat``: ``base_url`` replaces every WeChat host (the simulator;
    empty or absent for the real ones), ``uos`` selects the UOS desktop login (PROTOCOL.md
    §2.4; default ``UOS_DEFAULT``, true), ``reconnect_max_s`` (60) caps the receive loop's
    reconnect backoff and ``probe_interval_s`` (5) is how often a waiting loop probes
    whether WeChat answers again (``WeChatSettings``). Each login's channel keeps its session in the
    file the core gives it.
    """

    name: str = "wechat"
    display_name: str = "WeChat"

    def configure(self, section: Section) -> OpenLogin:
        """Read the ``wechat`` section; returns the opener of one login's ``WeChatChannel``.
        Raises ``ConfigError`` naming the bad key (``wechat.uos``, ``wechat.base_url``)."""
        settings = WeChatSettings(
            base_url=section.url("base_url", default="") or None,
            uos=section.boolean("uos", default=UOS_DEFAULT),
            reconnect_max_s=_seconds(section, "reconnect_max_s", 60.0),
            probe_interval_s=_seconds(section, "probe_interval_s", 5.0),
        )

        def open_login(session_path: Path) -> WeChatChannel:
            return WeChatChannel(attrs.evolve(settings, session_path=session_path))

        return open_login


def _seconds(section: Section, name: str, default: float) -> float:
    """A positive number of seconds under ``name``. Raises ``ConfigError`` naming the key."""
    value = section.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{section.key(name)}: expected a positive number of seconds")
    return float(value)


#: The object the ``wechat`` entry point names.
WECHAT: Network = WeChatNetwork()

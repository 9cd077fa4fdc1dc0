"""The WeChat adapter as the bridge loads it: entry point ``wechat`` of ``chatbridge.adapters``."""

from __future__ import annotations

from pathlib import Path

import attrs

from adapters.wechat.channel import WeChatChannel, WeChatSettings
from adapters.wechat.client.connection import UOS_DEFAULT
from bridge.config import Section
from bridge.plugins import Network, OpenLogin


@attrs.frozen
class WeChatNetwork:
    """WeChat's web protocol as a ``bridge.plugins.Network``.

    Its config section ``wechat``: ``base_url`` replaces every WeChat host (the simulator;
    empty or absent for the real ones), ``uos`` selects the UOS desktop login (PROTOCOL.md
    §2.4; default ``UOS_DEFAULT``, true). Each login's channel keeps its session in the
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
        )

        def open_login(session_path: Path) -> WeChatChannel:
            return WeChatChannel(attrs.evolve(settings, session_path=session_path))

        return open_login


#: The object the ``wechat`` entry point names.
WECHAT: Network = WeChatNetwork()

"""The Echonet adapter as chatbridge loads it: entry point ``echonet``."""

from __future__ import annotations

from pathlib import Path

import attrs

from bridge.config import Section
from bridge.errors import ConfigError
from bridge.plugins import Network, OpenLogin
from echonet.channel import EchoChannel, EchoSettings


@attrs.frozen
class EchoNetwork:
    """Echonet as a ``bridge.plugins.Network``. Its config section ``echonet``: ``world``
    (required: the world folder), ``code`` and ``password`` (what a login asks for),
    ``echo`` (contacts echo texts; default true)."""

    name: str = "echonet"
    display_name: str = "Echonet"

    def configure(self, section: Section) -> OpenLogin:
        """Read the ``echonet`` section; raises ``ConfigError`` naming the bad key."""
        world = section.string("world")
        if not Path(world).is_absolute():
            raise ConfigError(f"{section.key('world')}: expected an absolute path")
        settings = EchoSettings(
            world=Path(world),
            code=section.string("code", default="123456"),
            password=section.string("password", default="echo"),
            echo=section.boolean("echo", default=True),
        )

        def open_login(session_path: Path) -> EchoChannel:
            return EchoChannel(attrs.evolve(settings, session_path=session_path))

        return open_login


#: What the entry point names.
ECHONET: Network = EchoNetwork()

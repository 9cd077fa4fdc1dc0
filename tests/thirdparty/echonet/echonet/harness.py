"""Echonet's harness for chatbridge's Channel contract suite (``bridge.testing.contract``),
registered in the ``chatbridge.contract_harnesses`` entry-point group."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from bridge.channel import Channel
from bridge.model import Address, RemoteId, Text
from bridge.testing.harness import ContractHarness, Observed
from echonet.channel import EchoChannel, EchoSettings


class EchoHarness:
    """Drives a world folder: the contact ``alice`` sends, ``sent.jsonl`` is observed. The
    channel logs in through its own login steps (code, then password) in ``ready()``."""

    chat = Address("alice")
    peer = Address("alice")
    group: Address | None = None
    owner: Address | None = None
    timeout_s = 10.0

    def __init__(self, folder: Path) -> None:
        self._settings = EchoSettings(
            world=folder / "world", echo=False, session_path=folder / "session.json"
        )
        self.channel: EchoChannel = EchoChannel(self._settings)

    async def ready(self) -> None:
        """Log in as a user would: the code, then the password."""
        if self.channel.logged_in:
            return
        await self.channel.login()
        await self.channel.submit_login_input(self._settings.code)
        await self.channel.submit_login_input(self._settings.password)

    async def make_inbound_text(self, chat: Address, text: str) -> None:
        """The contact ``chat`` sends ``text``."""
        self.channel.world.deliver(chat, text)

    async def observe_sent(self, chat: Address) -> Sequence[Observed]:
        """What the account sent to ``chat``."""
        return [
            Observed(RemoteId(s.id), Text(s.text), revoked=s.revoked)
            for s in self.channel.world.sent()
            if s.chat == chat
        ]

    async def restart(self) -> Channel | None:
        """A new channel on the same world and session file, started (it resumes)."""
        await self.channel.stop()
        self.channel = EchoChannel(self._settings)
        await self.channel.start()
        return self.channel


@contextlib.asynccontextmanager
async def contract_harness() -> AsyncIterator[ContractHarness]:
    """An Echonet harness in a fresh temporary folder."""
    with tempfile.TemporaryDirectory(prefix="echonet-") as folder:
        yield EchoHarness(Path(folder))

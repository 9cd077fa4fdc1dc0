"""The contract-suite harness of ``MemoryChannel``, and an example for adapter authors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from bridge.model import Address, ChatKind, Profile
from bridge.testing.harness import ContractHarness, Observed
from bridge.testing.memory import MemoryChannel, Revoked, Sent


class MemoryHarness:
    """``ContractHarness`` for ``MemoryChannel``: its remote side is the channel's own
    records, so "the remote side observed" means "``channel.sent`` holds"."""

    timeout_s = 5.0

    def __init__(self) -> None:
        self.chat = Address("memory:alice")
        self.peer = self.chat
        self.group: Address | None = Address("memory:family")
        self.owner: Address | None = Address("memory:owner")
        alice = Profile(self.chat, ChatKind.DIRECT, name="Alice", nick_name="Alice")
        bob = Profile(Address("memory:bob"), ChatKind.DIRECT, name="Bob", nick_name="Bob")
        family = Profile(
            self.group, ChatKind.GROUP, name="Family", members=frozenset({"Alice", "Bob"})
        )
        self.channel = MemoryChannel(profiles=(alice, family))
        self.channel.add_profiles(bob)

    async def ready(self) -> None:
        """Nothing to do: a ``MemoryChannel`` starts logged in."""

    async def make_inbound_text(self, chat: Address, text: str) -> None:
        """Inject a text from ``peer`` into ``chat``."""
        self.channel.inject(self.channel.incoming_text(chat, text, sender=self.peer))

    async def observe_sent(self, chat: Address) -> Sequence[Observed]:
        """The messages recorded for ``chat``, flagged revoked when a revoke was recorded."""
        revoked = {r.remote_id for r in self.channel.sent if isinstance(r, Revoked)}
        return [
            Observed(s.remote_id, s.content, s.reply_to, s.remote_id in revoked)
            for s in self.channel.sent
            if isinstance(s, Sent) and s.chat == chat
        ]

    async def restart(self) -> MemoryChannel:
        """Stop and start the same channel: un-acked batches come again."""
        await self.channel.stop()
        await self.channel.start()
        return self.channel


@asynccontextmanager
async def memory_harness() -> AsyncIterator[ContractHarness]:
    """A fresh ``MemoryHarness``; its channel is stopped on exit."""
    harness = MemoryHarness()
    try:
        yield harness
    finally:
        await harness.channel.stop()

"""The WeChat channel's event queue is bounded: while its consumer does not take batches, the
receive loop stops polling WeChat, and nothing is lost once it does (issue 7)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.wechat.channel import WeChatChannel, WeChatSettings
from adapters.wechat.simulator.demo import Demo
from bridge.model import ContactBook, Message, QRCodeNeeded, Text
from tests.wechat.conftest import SimulatorHandle
from tests.wechat.test_channel import Tap, _message, _user_name

#: How long an idle synccheck is held by the test simulator (``TEST_OPTIONS``).
HOLD_S = 2.0


class OneBatchChannel(WeChatChannel):
    queue_limit = 1


class GatedTap(Tap):
    """A ``Tap`` that, while ``gate`` is clear, takes no more batches after one with a
    message (empty sync batches go by)."""

    def __init__(self, channel: WeChatChannel) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        super().__init__(channel)

    async def _run(self, channel: WeChatChannel) -> None:
        async for batch in channel.events():
            self.events.extend(batch.events)
            await batch.ack()
            self._changed.set()
            if any(isinstance(e, Message) for e in batch.events):
                await self.gate.wait()


def _texts(tap: Tap) -> list[str]:
    return [
        e.content.body for e in tap.events if isinstance(e, Message) and isinstance(e.content, Text)
    ]


async def test_a_full_event_queue_stops_polling_until_the_consumer_takes_a_batch(
    simulator: SimulatorHandle, demo: Demo, tmp_path: Path
) -> None:
    settings = WeChatSettings(base_url=simulator.base_url, session_path=tmp_path / "s.json")
    channel = OneBatchChannel(settings)
    tap = GatedTap(channel)
    world = simulator.running.world
    ctl = simulator.control
    try:
        await channel.start()
        await channel.login()
        await tap.wait_for(lambda e: isinstance(e, QRCodeNeeded))
        await ctl.scan(demo.account)
        await tap.wait_for(lambda e: isinstance(e, ContactBook))
        alice = await _user_name(simulator, demo, demo.alice)

        tap.gate.clear()  # the consumer keeps the next batch and takes no more
        await ctl.send_message(demo.account, demo.alice, text="one")
        await tap.wait_for(_message(alice))
        await ctl.send_message(demo.account, demo.alice, text="two")
        await asyncio.sleep(1.0)  # fetched, and waiting for room in the queue

        # Count the receive loop's requests from now on (faults that change nothing).
        await ctl.add_fault("synccheck", count=1000)
        await ctl.add_fault("webwxsync", count=1000)
        await ctl.send_message(demo.account, demo.alice, text="three")
        await asyncio.sleep(HOLD_S * 1.5)
        counts = {f.endpoint: f.count for f in world.faults}
        assert counts == {"synccheck": 1000, "webwxsync": 1000}, "it kept polling"
        assert _texts(tap) == ["one"]

        tap.gate.set()
        await tap.wait_for(_message(alice, lambda m: m.content == Text("three")))
        assert _texts(tap) == ["one", "two", "three"]
    finally:
        await ctl.clear_faults()
        await channel.stop()
        await tap.close()

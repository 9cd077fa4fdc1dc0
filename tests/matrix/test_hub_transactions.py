"""Appservice transactions answered only once journaled; a lost ack makes the homeserver retry."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from adapters.matrix.hub import NO_LOGIN
from adapters.matrix.types import Transaction
from tests.matrix.matrix_rig import ALICE, MatrixRig, rig

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["rig"]


class Tap:
    """Forwards the session's transactions to the rig's hub, noting each one it received and
    each one the hub failed."""

    def __init__(self, rig: MatrixRig) -> None:
        self.received: list[Transaction] = []
        self.failed: list[Transaction] = []
        self._hub = rig.hub
        self._changed = asyncio.Event()
        rig.recorder.forward_to = self

    async def __call__(self, txn: Transaction) -> None:
        self.received.append(txn)
        self._changed.set()
        try:
            await self._hub.handle_transaction(txn)
        except Exception:
            self.failed.append(txn)
            self._changed.set()
            raise

    async def wait(self, where: list[Transaction], event_id: str) -> None:
        async with asyncio.timeout(20):
            while not any(e.event_id == event_id for t in where for e in t.events):
                self._changed.clear()
                await self._changed.wait()


async def stop_bridging(rig: MatrixRig) -> None:
    await rig.relay.stop()
    await rig.channel.stop()


async def resume_bridging(rig: MatrixRig) -> None:
    await rig.channel.start()
    rig.relay = rig.new_relay()
    await rig.relay.start()


async def test_a_transaction_is_answered_after_journaling_even_across_a_channel_restart(
    rig: MatrixRig,
) -> None:
    await rig.from_wechat(rig.text(ALICE, "hi"))
    room = await rig.joined_portal(ALICE)
    await stop_bridging(rig)
    tap = Tap(rig)

    event_id = await rig.user.send_text(room, "while the relay is down")
    await tap.wait(tap.received, event_id)

    assert not await rig.journaled(event_id)
    assert event_id not in [e.event_id for e in rig.recorder.events]
    await resume_bridging(rig)
    await rig.arrived(event_id)
    assert await rig.journaled(event_id)
    assert rig.wechat_texts(ALICE) == ["while the relay is down"]


async def test_without_an_ack_in_time_the_homeserver_repeats_the_transaction(
    rig: MatrixRig,
) -> None:
    await rig.from_wechat(rig.text(ALICE, "hi"))
    room = await rig.joined_portal(ALICE)
    await stop_bridging(rig)
    rig.hub.ack_timeout_s = 0.2
    tap = Tap(rig)

    event_id = await rig.user.send_text(room, "not lost")
    await tap.wait(tap.failed, event_id)
    rig.hub.ack_timeout_s = 15
    await resume_bridging(rig)
    # A successful ping makes Synapse retry a failed appservice at once instead of after 2 s
    # (once it has noted the failure: ping until the transaction comes again).
    async with asyncio.timeout(20):
        while event_id not in [e.event_id for e in rig.recorder.events]:
            await rig.api.ping(rig.config.appservice.id)
            with contextlib.suppress(TimeoutError):
                await rig.recorder.wait_for(lambda e: e.event_id == event_id, within_s=0.2)
    await rig.arrived(event_id)

    assert rig.wechat_texts(ALICE) == ["not lost"]


async def test_a_portal_whose_login_is_not_running_answers_with_a_notice(rig: MatrixRig) -> None:
    await rig.from_wechat(rig.text(ALICE, "hi"))
    room = await rig.joined_portal(ALICE)
    rig.hub.drop_channel(rig.login.id)

    event_id = await rig.user.send_text(room, "anyone there?")
    await rig.recorder.wait_for(lambda e: e.event_id == event_id)

    assert not await rig.journaled(event_id)
    said = [e["content"] for e in await rig.user.messages(room)]
    assert said[-1]["msgtype"] == "m.notice"
    assert said[-1]["body"] == NO_LOGIN
    assert said[-1]["formatted_body"] == NO_LOGIN

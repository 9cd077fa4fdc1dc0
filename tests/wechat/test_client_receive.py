"""The WeChat client's receive loop against the simulator: batches, commits, session end,
1205 backoff, transport retries and the SyncKey/SyncCheckKey split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.wechat.client.client import WeChatClient
from adapters.wechat.client.connection import ClientConfig
from adapters.wechat.client.errors import ApiError, NetworkError
from adapters.wechat.client.http import HttpRetry
from adapters.wechat.client.qr import QRCode
from adapters.wechat.client.receive import SessionEnded, SyncBatch
from adapters.wechat.simulator.control import SimulatorControl

FAST = HttpRetry(attempts=3, wait=0.01, wait_max=0.05)
Message = dict[str, Any]


def config(base_url: str, tmp_path: Path | None = None, **kwargs: Any) -> ClientConfig:
    session = tmp_path / "wechat-session.json" if tmp_path else None
    options: dict[str, Any] = {"long_poll_timeout": 10, "retry": FAST, "rate_limit_wait": 0.01}
    options.update(kwargs)
    return ClientConfig(base_url=base_url, session_path=session, **options)


async def logged_in(control: SimulatorControl, account: str, cfg: ClientConfig) -> WeChatClient:
    async def on_qr(qr: QRCode) -> None:
        await control.scan(account, qr.uuid)

    client = WeChatClient(cfg)
    await client.start(on_qr)
    return client


async def collect(
    client: WeChatClient,
    done: Callable[[list[Message]], bool],
    *,
    commit: bool = True,
    batches: list[SyncBatch] | None = None,
) -> list[Message]:
    """Messages of the receive loop until ``done(messages)``; commits each batch."""
    messages: list[Message] = []
    async for event in client.events():
        assert isinstance(event, SyncBatch), event
        if batches is not None:
            batches.append(event)
        messages.extend(dict(m) for m in event.messages)
        if commit:
            await client.commit(event)
        if done(messages):
            return messages
    raise AssertionError("the receive loop ended")


def has(*msg_ids: str) -> Callable[[list[Message]], bool]:
    return lambda messages: set(msg_ids) <= {m["MsgId"] for m in messages}


async def test_one_to_one_and_group_messages_arrive(simulator: Any) -> None:
    control = simulator.control
    account = await control.create_account("Alice")
    bob = await control.add_contact(account, "Bob")
    carol = await control.add_contact(account, "Carol")
    group = await control.add_group(account, "Team", [bob, carol])
    async with await logged_in(control, account, config(simulator.base_url)) as client:
        direct = await control.send_message(account, bob, text="hi Alice")
        in_group = await control.send_message(account, carol, group=group, text="hi team")
        messages = {m["MsgId"]: m for m in await collect(client, has(direct, in_group))}
        names = (await control.session(account)).user_names
        me = client.self_user
        assert me is not None
        assert messages[direct]["FromUserName"] == names[bob]
        assert messages[direct]["ToUserName"] == me.user_name
        assert messages[direct]["Content"] == "hi Alice"
        assert messages[in_group]["FromUserName"] == names[group]
        assert messages[in_group]["Content"] == f"{names[carol]}:<br/>hi team"


async def test_contact_changes_arrive_in_batches(simulator: Any) -> None:
    control = simulator.control
    account = await control.create_account("Alice")
    bob = await control.add_contact(account, "Bob")
    dan = await control.add_contact(account, "Dan")
    async with await logged_in(control, account, config(simulator.base_url)) as client:
        await control.update_contact(account, bob, remark_name="Bobby")
        await control.delete_contact(account, dan)
        names = (await control.session(account)).user_names
        changed: list[str] = []
        deleted: list[str] = []
        async for event in client.events():
            assert isinstance(event, SyncBatch)
            changed += [c.remark_name for c in event.mod_contacts if c.user_name == names[bob]]
            deleted += event.del_contacts
            await client.commit(event)
            if changed and deleted:
                break
        assert changed == ["Bobby"] and deleted == [names[dan]]


async def test_logged_out_on_the_phone_ends_the_stream(simulator: Any) -> None:
    control = simulator.control
    account = await control.create_account("Alice")
    async with await logged_in(control, account, config(simulator.base_url)) as client:
        await control.logout(account, retcode=1101)
        events = [event async for event in client.events()]
        assert not client.logged_in
        assert [event async for event in client.events()] == events[-1:]
    assert isinstance(events[-1], SessionEnded)
    assert events[-1].code == 1101 and "elsewhere" in events[-1].reason
    assert all(isinstance(e, SyncBatch) for e in events[:-1])


@pytest.mark.parametrize("endpoint", ["synccheck", "webwxsync"])
async def test_rate_limit_backs_off_then_delivers(
    simulator: Any, endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    control = simulator.control
    account = await control.create_account("Alice")
    bob = await control.add_contact(account, "Bob")
    async with await logged_in(control, account, config(simulator.base_url)) as client:
        await collect(client, lambda messages: bool(messages))  # the 51 after status notify
        await control.add_fault(endpoint, retcode=1205, count=2)
        msg_id = await control.send_message(account, bob, text="after the storm")
        await collect(client, has(msg_id))
    waits = [r.getMessage() for r in caplog.records if "rate limited (1205)" in r.getMessage()]
    assert len(waits) == 2


async def test_transport_errors_are_retried_then_reported(simulator: Any) -> None:
    control = simulator.control
    account = await control.create_account("Alice")
    bob = await control.add_contact(account, "Bob")
    async with await logged_in(control, account, config(simulator.base_url)) as client:
        await control.add_fault("synccheck", status=502, count=2)
        await control.add_fault("webwxsync", drop=True, count=1)
        msg_id = await control.send_message(account, bob, text="still here")
        await collect(client, has(msg_id))
        await control.add_fault("synccheck", status=503, count=None)
        with pytest.raises(NetworkError):
            await collect(client, lambda messages: False)


async def test_malformed_answers_are_skipped_and_unknown_codes_reported(simulator: Any) -> None:
    control = simulator.control
    account = await control.create_account("Alice")
    bob = await control.add_contact(account, "Bob")
    async with await logged_in(control, account, config(simulator.base_url)) as client:
        # An empty 200 answer is neither a synccheck script nor JSON.
        await control.add_fault("synccheck", status=200, count=1)
        await control.add_fault("webwxsync", status=200, count=1)
        msg_id = await control.send_message(account, bob, text="through the noise")
        await collect(client, has(msg_id))
        await control.add_fault("synccheck", retcode=9999, count=None)
        with pytest.raises(ApiError) as caught:
            await collect(client, lambda messages: False)
        assert (caught.value.endpoint, caught.value.ret) == ("synccheck", 9999)


async def test_uncommitted_batches_are_redelivered_after_a_restart(
    simulator: Any, tmp_path: Path
) -> None:
    control = simulator.control
    account = await control.create_account("Alice")
    bob = await control.add_contact(account, "Bob")
    cfg = config(simulator.base_url, tmp_path)
    async with await logged_in(control, account, cfg) as client:
        first = await control.send_message(account, bob, text="one")
        await collect(client, has(first), commit=False)
    # "Crash" without commit: the resumed client gets the message again.
    async with await logged_in(control, account, cfg) as client:
        assert client.logged_in
        again = await collect(client, has(first))
    assert [m["Content"] for m in again if m["MsgId"] == first] == ["one"]
    async with await logged_in(control, account, cfg) as client:
        second = await control.send_message(account, bob, text="two")
        seen = await collect(client, has(second))
    assert first not in {m["MsgId"] for m in seen}


async def test_committing_an_older_batch_keeps_the_newer_keys(
    simulator: Any, tmp_path: Path
) -> None:
    control = simulator.control
    account = await control.create_account("Alice")
    bob = await control.add_contact(account, "Bob")
    cfg = config(simulator.base_url, tmp_path)
    batches: list[SyncBatch] = []
    async with await logged_in(control, account, cfg) as client:
        one = await control.send_message(account, bob, text="one")
        await collect(client, has(one), commit=False, batches=batches)
        two = await control.send_message(account, bob, text="two")
        await collect(client, has(two), commit=False, batches=batches)
        await client.commit(batches[-1])
        await client.commit(batches[0])
    async with await logged_in(control, account, cfg) as client:
        three = await control.send_message(account, bob, text="three")
        seen = {m["MsgId"] for m in await collect(client, has(three))}
    assert not seen & {one, two}


async def test_sync_check_key_is_used_for_synccheck(simulator_factory: Any) -> None:
    """With SyncKey and SyncCheckKey diverging after 51 enter/quit notices (selector 7), a
    client polling with the SyncKey would spin on empty webwxsyncs (PROTOCOL.md §4)."""
    sim = await simulator_factory(diverge_sync_keys=True)
    base_url, control = sim.base_url, sim.control
    account = await control.create_account("Alice")
    bob = await control.add_contact(account, "Bob")
    async with await logged_in(control, account, config(base_url)) as client:
        entered = await control.phone_action(account, "enter", bob)
        batches: list[SyncBatch] = []
        await collect(client, has(entered), batches=batches)
        assert batches[-1].sync_key != batches[-1].sync_check_key
        batches.clear()
        msg_id = await control.send_message(account, bob, text="no spinning")
        await collect(client, has(msg_id), batches=batches)
        assert all(not b.is_empty for b in batches)


async def test_the_probe_answers_at_once_for_an_ended_session_and_fails_when_dropped(
    simulator: Any,
) -> None:
    control = simulator.control
    account = await control.create_account("Alice")
    async with await logged_in(control, account, config(simulator.base_url)) as client:
        await collect(client, lambda messages: bool(messages))
        await control.add_fault("synccheck", drop=True, count=None)
        assert not await client.probe(time_limit=2)
        await control.clear_faults()
        await control.logout(account, retcode=1101)
        assert await client.probe(time_limit=2)  # the retcode answers without a hold
        events = [event async for event in client.events()]
        assert isinstance(events[-1], SessionEnded) and events[-1].code == 1101

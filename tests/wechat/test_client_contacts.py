"""The WeChat client's contact APIs against the simulator: Seq paging, batches of 50,
remarks, group operations, and identity across two logins."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from adapters.wechat.client.client import WeChatClient
from adapters.wechat.client.connection import ClientConfig
from adapters.wechat.client.http import HttpRetry
from adapters.wechat.client.qr import QRCode
from adapters.wechat.client.types import Contact, UserName
from adapters.wechat.simulator.control import SimulatorControl


async def logged_in(control: SimulatorControl, account: str, base_url: str) -> WeChatClient:
    async def on_qr(qr: QRCode) -> None:
        await control.scan(account, qr.uuid)

    cfg = ClientConfig(
        base_url=base_url,
        long_poll_timeout=10,
        retry=HttpRetry(attempts=3, wait=0.01, wait_max=0.05),
    )
    client = WeChatClient(cfg)
    await client.login(on_qr)
    return client


async def test_contacts_are_fetched_across_seq_pages(
    simulator_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await simulator_factory(contact_page_size=2)
    control = sim.control
    account = await control.create_account("Alice")
    friends = [await control.add_contact(account, f"Friend {i}") for i in range(6)]
    await control.add_group(account, "Saved group", friends[:2])
    caplog.set_level(logging.DEBUG, logger="adapters.wechat.client")
    async with await logged_in(control, account, sim.base_url) as client:
        contacts = await client.get_contacts()
    # filehelper, 6 friends and the saved group: 8 entries on 4 pages of 2.
    assert len(contacts) == len({c.user_name for c in contacts}) == 8
    assert {c.nick_name for c in contacts} >= {"Saved group", *(f"Friend {i}" for i in range(6))}
    assert "filehelper" in {c.user_name for c in contacts}
    pages = [r for r in caplog.records if r.getMessage().startswith("webwxgetcontact page")]
    assert len(pages) == 4


async def test_batch_get_contacts_in_batches_of_fifty(simulator: Any) -> None:
    control = simulator.control
    account = await control.create_account("Alice")
    people = [await control.add_contact(account, f"P{i:03d}") for i in range(120)]
    stranger = await control.add_contact(account, "Stranger", friend=False)
    group = await control.add_group(account, "Big", [*people[:60], stranger])
    async with await logged_in(control, account, simulator.base_url) as client:
        names = (await control.session(account)).user_names
        found = await client.batch_get_contacts(UserName(names[p]) for p in people)
        assert sorted(c.nick_name for c in found) == [f"P{i:03d}" for i in range(120)]
        (big,) = await client.batch_get_contacts([UserName(names[group])])
        assert big.is_group and big.nick_name == "Big" and len(big.members) == 62  # with self
        member = UserName(names[stranger])
        assert member in {m.user_name for m in big.members}
        (details,) = await client.batch_get_contacts([member], chat_room=big.user_name)
        assert details.nick_name == "Stranger"


def identity(contact: Contact) -> tuple[str, str, str]:
    return (contact.nick_name, contact.remark_name, contact.alias)


async def test_second_login_changes_every_user_name_but_not_the_address_book(
    simulator: Any,
) -> None:
    control = simulator.control
    account = await control.create_account("Alice")
    bob = await control.add_contact(account, "Bob", remark_name="Bobby")
    await control.add_contact(account, "Bob")  # a second Bob, no remark
    carol = await control.add_contact(account, "Carol", alias="carol_c")
    stranger = await control.add_contact(account, "Eve", friend=False)
    await control.add_group(account, "Hike", [bob, carol, stranger])
    snapshots: list[dict[str, Any]] = []
    for _ in range(2):
        async with await logged_in(control, account, simulator.base_url) as client:
            me = client.self_user
            assert me is not None
            contacts = await client.get_contacts()
            groups = [c.user_name for c in contacts if c.is_group]
            detailed = await client.batch_get_contacts(groups)
            snapshots.append(
                {
                    "self": me.user_name,
                    "names": {c.user_name for c in contacts if c.user_name != "filehelper"},
                    "book": sorted(identity(c) for c in contacts),
                    "groups": sorted(
                        (g.nick_name, tuple(sorted(m.nick_name for m in g.members)))
                        for g in detailed
                    ),
                    "members": {m.user_name for g in detailed for m in g.members},
                }
            )
    first, second = snapshots
    assert first["self"] != second["self"]
    assert first["names"] and not first["names"] & second["names"]
    assert not first["members"] & second["members"]
    assert first["book"] == second["book"]
    assert ("Bob", "Bobby", "") in first["book"] and ("Carol", "", "carol_c") in first["book"]
    assert first["groups"] == second["groups"] == [("Hike", ("Alice", "Bob", "Carol", "Eve"))]

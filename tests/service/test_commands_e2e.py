"""The commands bridge users reach for (issue 9; model: mautrix bridgev2's command set), typed
in matrix-commander (``tests/service/commander.py``, a client nobody here wrote) against one
running service per module, the session Synapse and a WeChat simulator: ``cancel``,
``search``, ``start-chat``/``pm``, ``delete-portal``, and the admin-only ``logins`` and
``version`` with a ``help`` that shows each user only what they may run."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator
from urllib.parse import quote

import attrs
import pytest
import pytest_asyncio

from adapters.wechat.simulator import SimulatorControl, start_simulator
from adapters.wechat.simulator.demo import Demo, create_demo
from bridge.config import PermissionLevel, Permissions
from bridge.service import BridgeService
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.synapse import MatrixUser, Synapse
from tests.service.commander import Commander
from tests.service.harness import (
    BridgeHarness,
    Event,
    accept_invite,
    bot_messages,
    open_dm,
    wait_for_message,
    wait_until,
)
from tests.service.test_login import log_in
from tests.wechat.conftest import TEST_OPTIONS, SimulatorHandle

pytestmark = pytest.mark.asyncio(loop_scope="session")

_numbers = itertools.count(1)
#: This module's admin (``permissions``: admin), registered by the ``people`` fixture.
ADMIN_LOCALPART = f"cmdadmin{secrets.token_hex(3)}"


@attrs.frozen
class Person:
    """A matrix-commander user and their DM with the bot."""

    client: Commander
    dm: str


@attrs.frozen
class People:
    """The module's users: ``admin`` (permission ``admin``, not logged in to WeChat) and
    ``user`` (``user``), logged in to the demo WeChat account ``demo``."""

    admin: Person
    user: Person
    demo: Demo


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(
    bridge_setup: BridgeSetup,
    appservice: TransactionRecorder,
    synapse: Synapse,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[BridgeHarness]:
    """One service for the module (with a simulator of its own), ``ADMIN_LOCALPART`` an
    admin in its ``permissions``."""
    running = await start_simulator("127.0.0.1", 0, **TEST_OPTIONS)
    simulator = SimulatorHandle(running.base_url, SimulatorControl(running.base_url), running)
    harness = BridgeHarness(
        bridge_setup.config, appservice, synapse, simulator, tmp_path_factory.mktemp("commands")
    )
    admin = f"@{ADMIN_LOCALPART}:{harness.config.homeserver.domain}"
    rules = (*harness.config.permissions.rules, (admin, PermissionLevel.ADMIN))
    harness.config = attrs.evolve(harness.config, permissions=Permissions(rules=rules))
    harness.service = BridgeService(harness.config)
    await harness.start()
    yield harness
    await harness.close()
    await simulator.control.close()
    await running.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def people(service: BridgeHarness, tmp_path_factory: pytest.TempPathFactory) -> People:
    """The admin and a user, each with matrix-commander and a DM with the bot; the user
    logged in to WeChat (the demo account)."""
    folder = tmp_path_factory.mktemp("commanders")
    synapse = service.synapse
    admin, user = await asyncio.gather(
        Commander.register(synapse, folder / "admin", ADMIN_LOCALPART),
        Commander.register(synapse, folder / "user", f"cmduser{next(_numbers)}"),
    )
    demo = await create_demo(service.simulator.control)
    user_dm, _ = await log_in(service, user.api, demo)
    admin_dm = await open_dm(admin.api, service.bot)
    return People(Person(admin, admin_dm), Person(user, user_dm), demo)


async def ask(
    service: BridgeHarness, person: Person, *asked: tuple[str, str], room: str = ""
) -> list[Event]:
    """``person`` types the texts of ``asked`` (text, expected) in one matrix-commander run (in
    ``room``, default their DM); returns the bot's replies, each the first after the
    previous one containing its expected text (a user's commands are answered in order)."""
    room = room or person.dm
    last = (await person.client.api.messages(room, limit=1))[-1]["event_id"]
    await person.client.send_texts(room, *(text for text, _ in asked))
    replies = []
    for _, expect in asked:
        reply = await wait_for_message(
            person.client.api, room, from_=service.bot, contains=expect, after=last
        )
        replies.append(reply)
        last = reply["event_id"]
    return replies


async def test_cancel_during_a_qr_login_voids_the_code(
    service: BridgeHarness, people: People
) -> None:
    person = people.admin  # not logged in to WeChat
    client = person.client
    await ask(service, person, ("login", "Starting the WeChat login"))
    qr = await wait_for_message(client.api, person.dm, from_=service.bot, msgtype="m.image")

    cancelled, again = await ask(
        service, person, ("cancel", "login cancelled"), ("cancel", "nothing to cancel")
    )

    assert "QR code I sent no longer works" in cancelled["content"]["body"]
    assert "formatted_body" in cancelled["content"]
    await wait_until(lambda: _redacted(client, person.dm, qr["event_id"]))
    assert again["content"]["body"] == "No WeChat login is in progress; nothing to cancel."
    # The phone scans the cancelled code: nobody takes that login any more.
    control = service.simulator.control
    account = await control.create_account("Quinn", wxid=f"wxid_quinn{next(_numbers)}")
    await control.scan(account)
    await service.command(client.api, person.dm, "login", expect="Starting the WeChat login")
    await wait_for_message(
        client.api, person.dm, from_=service.bot, msgtype="m.image", after=qr["event_id"]
    )
    scanned = [lg for lg in await control.logins() if lg["account"] == account]
    assert [lg["consumed"] for lg in scanned] == [False], scanned
    await service.command(client.api, person.dm, "ping", expect="a login is in progress")
    await service.command(client.api, person.dm, "cancel", expect="login cancelled")


async def test_search_pm_and_delete_portal(service: BridgeHarness, people: People) -> None:
    user, demo, control = people.user, people.demo, service.simulator.control
    api = user.client.api

    found, several = await ask(
        service, user, ("search bo", "matching"), ("pm Bob", "Several WeChat chats match")
    )
    lines = found["content"]["body"].splitlines()
    bobs = [line for line in lines if line[:3] in ("1. ", "2. ")]
    assert len(bobs) == 2 and bobs[0] != bobs[1], lines  # namesakes told apart
    assert all("Bob" in line and "no room yet" in line for line in bobs), lines
    assert "start-chat bo <n>" in lines[-1]
    assert "start-chat Bob <n>" in several["content"]["body"]
    second = await service.command(api, user.dm, "pm bob 2", expect="Chat with Bob")
    bob_portal = await accept_invite(api, {user.dm})
    assert bob_portal in second["content"]["formatted_body"]
    await api.request("POST", f"/v3/rooms/{quote(bob_portal)}/leave", {})
    await service.command(api, user.dm, "pm bob 2", expect="invited you to its room again")
    assert await accept_invite(api, {user.dm}) == bob_portal
    none = await service.command(api, user.dm, "pm Zoe", expect="No WeChat contact")
    assert "Zoe" in none["content"]["body"]

    [opened] = await ask(service, user, ("pm CAROL_W", "Chat with Carol"))
    portal = await accept_invite(api, {user.dm, bob_portal})
    assert portal in opened["content"]["formatted_body"]  # a matrix.to pill of the portal
    await control.send_message(demo.account, demo.carol, text="hi after pm")
    await wait_for_message(api, portal, contains="hi after pm")
    listed = await service.command(api, user.dm, "search carol", expect="matching")
    assert portal in listed["content"]["body"]

    outside = await service.command(api, user.dm, "delete-portal", expect="not a portal")
    assert outside["content"]["body"].startswith("That did not work: this room is not a portal")
    await ask(service, user, ("!wechat delete-portal", "being deleted"), room=portal)
    await wait_for_message(api, user.dm, from_=service.bot, contains="Deleted the portal of Carol")
    await wait_until(lambda: _left(api, portal, service.bot))
    await control.send_message(demo.account, demo.carol, text="a fresh start")
    fresh = await accept_invite(api, {user.dm, bob_portal, portal})
    await wait_for_message(api, fresh, contains="a fresh start")
    assert fresh != portal


async def test_admin_commands_and_help_per_permission(
    service: BridgeHarness, people: People
) -> None:
    admin, user = people.admin, people.user

    asked = (("help", "bridge commands"), ("logins", "WeChat logins"), ("version", "chatbridge"))
    refused = (("help", "bridge commands"), ("logins", "Only an"), ("version", "Only an"))
    (admin_help, logins, version), (user_help, *refusals) = await asyncio.gather(
        ask(service, admin, *asked), ask(service, user, *refused)
    )

    for name in ("`logins`", "`version`", "`logout <matrix user>`"):
        assert name in admin_help["content"]["body"]
        assert name not in user_help["content"]["body"]
    for name in ("`cancel`", "`relogin`", "`search <text>`", "`start-chat <name>`", "`pm <name>`"):
        assert name in user_help["content"]["body"] and name in admin_help["content"]["body"]
    assert "<code>delete-portal</code>" in user_help["content"]["formatted_body"]
    assert f"{user.client.api.user_id} — Demo User — logged in, since" in logins["content"]["body"]
    assert version["content"]["body"].startswith("chatbridge 0.1.0")
    assert [r["content"]["body"] for r in refusals] == [
        "Only an admin of the bridge may use `logins`.",
        "Only an admin of the bridge may use `version`.",
    ]


async def _redacted(client: Commander, room: str, event_id: str) -> bool:
    return (await client.api.event(room, event_id))["content"] == {}


async def _left(api: MatrixUser, room: str, bot: str) -> bool:
    """Whether the bot left ``room`` (or ``api``'s user was removed from it)."""
    for member in (api.user_id, bot):
        state = await api.state(room, "m.room.member", member)
        if state.get("membership") in ("leave", "ban"):
            return True
    return False


async def test_relogin_logs_out_and_logs_in_again_in_one_step(
    service: BridgeHarness, people: People
) -> None:
    user, demo, control = people.user, people.demo, service.simulator.control
    api = user.client.api

    [reply] = await ask(service, user, ("relogin", "Starting the WeChat login"))

    assert reply["content"]["body"] == "Logged out of WeChat. Starting the WeChat login…"
    await wait_for_message(
        api, user.dm, from_=service.bot, msgtype="m.image", after=reply["event_id"]
    )
    assert not (await control.session(demo.account)).logged_in  # the old session ended
    await control.scan(demo.account)
    await wait_for_message(
        api, user.dm, from_=service.bot, contains="Logged in to WeChat as", after=reply["event_id"]
    )
    told = await bot_messages(api, user.dm, service.bot, after=reply["event_id"])
    assert not [t for t in told if t.startswith("Logged out of WeChat:")], told

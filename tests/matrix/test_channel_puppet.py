"""Double puppeting: what the owner sent from the phone appears under their own Matrix account."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import pytest_asyncio

from adapters.matrix.api import AppserviceAPI
from adapters.matrix.localsynapse import wait_until
from bridge.config import DoublePuppetConfig
from bridge.model import ChatRead, RemoteId, Revocation
from tests.matrix.conftest import BridgeSetup, TransactionRecorder
from tests.matrix.matrix_rig import ALICE, MatrixRig, make_rig, quiet_bot
from tests.matrix.synapse import Synapse

pytestmark = pytest.mark.asyncio(loop_scope="session")

_numbers = itertools.count(1)
SHARED_SECRET = "shared-secret-for-tests"


@pytest_asyncio.fixture(loop_scope="session", params=["as_token", "shared_secret"])
async def puppet_rig(
    request: pytest.FixtureRequest,
    synapse: Synapse,
    bridge_setup: BridgeSetup,
    as_api: AppserviceAPI,
    appservice: TransactionRecorder,
    tmp_path: Path,
) -> AsyncIterator[MatrixRig]:
    """A rig whose config double-puppets the owner: with the session's puppet appservice
    token, or with a shared secret. Stock Synapse has no shared-secret-auth module, so the
    owner's password is the HMAC the bridge falls back to (``m.login.password``)."""
    localpart = f"puppetowner{next(_numbers)}"
    if request.param == "as_token":
        secret = bridge_setup.double_puppet_secret
        user = await synapse.register_user(localpart)
    else:
        secret = SHARED_SECRET
        user_id = f"@{localpart}:{synapse.server_name}"
        password = hmac.new(secret.encode(), user_id.encode(), hashlib.sha512).hexdigest()
        user = await synapse.register_user(localpart, password)
    config = attrs.evolve(quiet_bot(bridge_setup.config), double_puppet=DoublePuppetConfig(secret))
    rig = await make_rig(config, tmp_path, user, as_api, appservice)
    try:
        yield rig
    finally:
        await rig.stop()
        await rig.store.close()


async def test_the_phones_message_comes_from_the_owner_and_is_not_echoed(
    puppet_rig: MatrixRig,
) -> None:
    rig = puppet_rig
    await rig.from_wechat(rig.text(ALICE, "did you get home?"))
    mine = rig.text(ALICE, "yes, just now", from_self=True)

    # The owner has not accepted the portal's invite yet: the puppet joins for them.
    await rig.from_wechat(mine)

    room = await rig.portal(ALICE)
    event_id = await rig.matrix_event_of(mine.remote_id)
    seen = await rig.user.event(room, event_id)
    assert seen["sender"] == rig.user.user_id
    assert seen["content"]["body"] == "yes, just now"
    await rig.arrived(event_id)
    assert not await rig.journaled(event_id)
    assert rig.wechat.messages() == []

    await rig.from_wechat(Revocation(ALICE, ALICE, mine.remote_id, time.time()))

    redacted = await rig.user.event(room, event_id)
    assert redacted["content"] == {}
    assert redacted["unsigned"]["redacted_because"]["sender"] == rig.user.user_id


async def test_a_read_on_the_phone_becomes_the_owners_read_receipt(
    puppet_rig: MatrixRig,
) -> None:
    rig = puppet_rig
    first, newest = rig.text(ALICE, "are you up?"), rig.text(ALICE, "call me")
    await rig.from_wechat(first, newest)
    room = await rig.joined_portal(ALICE)
    event_id = await rig.matrix_event_of(newest.remote_id)

    await rig.from_wechat(ChatRead(ALICE, RemoteId("read-1"), time.time()))

    async def receipt() -> str | None:
        synced = await rig.user.request("GET", "/v3/sync", timeout="0")
        ephemeral = synced["rooms"]["join"].get(room, {}).get("ephemeral", {})
        for event in ephemeral.get("events", []):
            for target, kinds in event["content"].items():
                if rig.user.user_id in kinds.get("m.read", {}):
                    return str(target)
        return None

    assert await wait_until(receipt) == event_id

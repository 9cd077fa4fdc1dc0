"""Room creation against the real Synapse through a gateway that answers 504 although Synapse
made the room (as a reverse proxy does when the homeserver is slow): no second room."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from adapters.matrix.api import AppserviceAPI
from adapters.matrix.errors import MatrixUnavailable
from adapters.matrix.rooms import PORTAL_MARKER, RoomCreator
from adapters.matrix.types import UserId
from tests.matrix.conftest import BridgeSetup
from tests.matrix.synapse import Synapse

pytestmark = pytest.mark.asyncio(loop_scope="session")


class LateGateway:
    """A reverse proxy to Synapse that forwards every request and, ``lose`` times, answers a
    ``createRoom`` with 504 after Synapse completed it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.lose = 0
        self.creates = 0
        self.url = ""
        self._http = aiohttp.ClientSession()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def close(self) -> None:
        await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with self._http.request(
            request.method, self.upstream + request.path_qs, data=await request.read(),
            headers=headers,
        ) as upstream:  # fmt: skip
            body = await upstream.read()
            status = upstream.status
        if request.path.endswith("/createRoom"):
            self.creates += 1
            if self.lose > 0:
                self.lose -= 1
                return web.Response(status=504, text="gateway timeout")
        return web.Response(status=status, body=body, content_type="application/json")


@pytest_asyncio.fixture(loop_scope="session")
async def gateway(synapse: Synapse) -> AsyncIterator[LateGateway]:
    proxy = LateGateway(synapse.url)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest_asyncio.fixture(loop_scope="session")
async def late_api(gateway: LateGateway, bridge_setup: BridgeSetup) -> AsyncIterator[AppserviceAPI]:
    config = bridge_setup.config
    api = AppserviceAPI(
        gateway.url, config.appservice.as_token, UserId(config.bot_user_id), max_retries=1
    )
    yield api
    await api.close()


async def marked_rooms(api: AppserviceAPI, key: str) -> list[str]:
    """The bot's joined rooms created for ``key``."""
    found = []
    for room in await api.joined_rooms():
        create = await api.get_state(room, "m.room.create")
        if create.get(PORTAL_MARKER) == key:
            found.append(room)
    return found


async def test_a_room_whose_answer_was_lost_is_found_not_created_again(
    gateway: LateGateway, late_api: AppserviceAPI
) -> None:
    creator = RoomCreator(late_api, settle_s=2)
    key = f"identity-{secrets.token_hex(4)}"
    gateway.lose = 1

    room = await creator.create(key, name="Late room")

    assert gateway.creates == 1  # one createRoom reached Synapse
    assert await marked_rooms(late_api, key) == [room]
    assert (await late_api.get_state(room, "m.room.name"))["name"] == "Late room"


async def test_every_attempt_lost_fails_but_the_next_call_finds_the_room(
    gateway: LateGateway, late_api: AppserviceAPI
) -> None:
    creator = RoomCreator(late_api, settle_s=0, attempts=1)
    key = f"identity-{secrets.token_hex(4)}"
    gateway.lose = 1

    with pytest.raises(MatrixUnavailable):
        await creator.create(key, name="Unlucky")
    room = await creator.create(key, name="Unlucky")  # the relay's retry

    assert gateway.creates == 1
    assert await marked_rooms(late_api, key) == [room]

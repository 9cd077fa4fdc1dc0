"""Assembling and running the simulator: the aiohttp app, fault injection, start and stop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler

from . import contact_routes, control_routes, login_routes, media_routes, send_routes, sync_routes
from .httputil import WORLD_KEY, api_json, endpoint_of, error_response
from .model import SimulatorOptions
from .world import World

log = logging.getLogger(__name__)


@web.middleware
async def _faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the first matching ``/_sim/faults`` entry before the real handler runs."""
    if request.path.startswith("/_sim/"):
        return await handler(request)
    world = request.app[WORLD_KEY]
    endpoint = endpoint_of(request.path)
    fault = next((f for f in world.faults if f.endpoint == endpoint), None)
    if fault is not None:
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                world.faults.remove(fault)
        log.info("injecting fault into %s", endpoint)
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.drop:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        if fault.status is not None:
            return web.Response(status=fault.status)
        if fault.retcode is not None:
            return error_response(endpoint, fault.retcode)
        if fault.body is not None:
            return api_json(fault.body)
    return await handler(request)


def make_app(world: World) -> web.Application:
    """The aiohttp application serving every protocol route and the ``/_sim/`` control API."""
    app = web.Application(middlewares=[_faults], client_max_size=8 * 1024 * 1024)
    app[WORLD_KEY] = world
    for module in (
        login_routes,
        sync_routes,
        contact_routes,
        send_routes,
        media_routes,
        control_routes,
    ):
        module.add_routes(app)
    return app


@attrs.define(eq=False)
class RunningSimulator:
    """A started simulator. ``base_url`` is ``http://host:port`` (no trailing slash); every
    protocol host (login, API, file, push) collapses onto it (PROTOCOL.md §1).
    """

    base_url: str
    world: World
    _runner: web.AppRunner
    _closed: bool = False

    async def close(self) -> None:
        """Stop serving; releases held long polls first. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for session in self.world.sessions.values():
            session.end(session.ended or 1100)
        for login in self.world.logins.values():
            if login.code in (408, 201):
                login.set(400)
        await self._runner.cleanup()


async def start_simulator(
    host: str = "127.0.0.1", port: int = 0, **options: Any
) -> RunningSimulator:
    """Start a simulator on ``host:port`` (0 = a free port) in the running event loop.

    ``options`` are :class:`SimulatorOptions` fields, e.g. ``synccheck_hold_s=2``,
    ``login_poll_hold_s=1``, ``revoke_window_s=120``, ``send_burst_limit=60``,
    ``contact_page_size=500``, ``sync_batch_size=50``. Raises TypeError for unknown options
    and OSError when the address is taken. The access log is off: URLs carry skey/tickets.
    """
    world = World(SimulatorOptions(**options))
    runner = web.AppRunner(make_app(world), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    return RunningSimulator(f"http://{shown}:{bound_port}", world, runner)

"""A slow media repository for tests: an HTTP proxy in front of Synapse that holds chosen
downloads until the test releases them."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web


class SlowMedia:
    """A reverse proxy to ``upstream`` that holds downloads of the media ids in ``held``
    until ``release`` is set; ``waiting`` is set once such a download has arrived."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.held: set[str] = set()
        self.waiting = asyncio.Event()
        self.release = asyncio.Event()
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def hold(self, mxc: str) -> None:
        """Hold every download of the file ``mxc`` (``mxc://server/media_id``)."""
        self.held.add(mxc.rsplit("/", 1)[-1])

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1 (``url``)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        """Let held downloads go and stop."""
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
        await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        if "/media/download/" in request.path and request.path.rsplit("/", 1)[-1] in self.held:
            self.waiting.set()
            await self.release.wait()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=await request.read(),
        ) as upstream:
            body = await upstream.read()
            passed = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in ("transfer-encoding", "content-length", "connection")
            }
            return web.Response(status=upstream.status, body=body, headers=passed)

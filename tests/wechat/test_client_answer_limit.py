"""Answers larger than the client accepts are refused, not read into memory, and the next call
works: a contact page from the simulator (Content-Length says it at once) and a chunked answer
from a plain aiohttp server (refused once the chunks read pass the limit)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from adapters.wechat.client.calls import Call, Role
from adapters.wechat.client.client import WeChatClient
from adapters.wechat.client.connection import ClientConfig
from adapters.wechat.client.errors import AnswerTooLarge
from adapters.wechat.client.http import Http, HttpRetry
from adapters.wechat.client.qr import QRCode
from adapters.wechat.client.types import Hosts

LIMIT = 64 * 1024


async def test_an_oversized_contact_page_is_refused_and_the_next_fetch_works(
    simulator: Any,
) -> None:
    control = simulator.control
    account = await control.create_account("Alice")
    await control.add_contact(account, "Bob")

    async def on_qr(qr: QRCode) -> None:
        await control.scan(account, qr.uuid)

    config = ClientConfig(
        base_url=simulator.base_url,
        long_poll_timeout=10,
        retry=HttpRetry(attempts=3, wait=0.01, wait_max=0.05),
        max_answer_bytes=LIMIT,
    )
    async with WeChatClient(config) as client:
        await client.login(on_qr)
        huge = {"BaseResponse": {"Ret": 0, "ErrMsg": ""}, "MemberList": [], "Seq": 0}
        await control.add_fault("webwxgetcontact", answer={**huge, "Pad": "x" * (2 * LIMIT)})
        with pytest.raises(AnswerTooLarge, match="webwxgetcontact answered more than 65536"):
            await client.get_contacts()
        assert "Bob" in {c.nick_name for c in await client.get_contacts()}


async def test_a_chunked_answer_is_refused_once_it_passes_the_limit() -> None:
    async def stream(request: web.Request) -> web.StreamResponse:
        size = int(request.query["size"])
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(size // 4096):
            await response.write(b"y" * 4096)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/cgi-bin/stream", stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    http = Http(timeout=10, retry=HttpRetry(attempts=1), max_answer_bytes=LIMIT)
    hosts = Hosts.for_api_host(f"http://127.0.0.1:{port}")
    try:

        def call(size: int) -> Call:
            return Call("stream", Role.API, "/cgi-bin/stream", params=(("size", str(size)),))

        with pytest.raises(AnswerTooLarge):
            await http.send(call(4 * LIMIT), hosts)
        assert len((await http.send(call(LIMIT), hosts)).body) == LIMIT
        assert len((await http.send(call(4 * LIMIT), hosts, max_bytes=4 * LIMIT)).body) == (
            4 * LIMIT
        )
    finally:
        await http.close()
        await runner.cleanup()

"""The HTTP layer under ``AppserviceAPI``: nio's request machinery without client state, and
request timeouts that leave out the wait for a pooled connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
import nio


@dataclass
class JsonResponse(nio.Response):  # type: ignore[misc]  # nio ships no type hints
    """Any JSON object answer, for endpoints nio has no response class for."""

    content: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, parsed: Any) -> Any:
        if not isinstance(parsed, dict):
            return nio.ErrorResponse("response is not a JSON object")
        if "errcode" in parsed:
            return nio.ErrorResponse.from_dict(parsed)
        return cls(content=parsed)


#: Seconds to open a TCP connection to the homeserver (not counting the wait for a free
#: connection of the pool).
CONNECT_TIMEOUT_S = 10.0


def read_timeout(read_s: float) -> aiohttp.ClientTimeout:
    """A request timeout that leaves out the wait for a pooled connection: under load that
    wait grows with the queue, and counting it made requests the homeserver was still doing
    (or never got) time out and be repeated. Bounded instead: connecting, and each read."""
    return aiohttp.ClientTimeout(total=None, connect=None, sock_connect=CONNECT_TIMEOUT_S,
                                 sock_read=read_s)  # fmt: skip


class StatelessClient(nio.AsyncClient):  # type: ignore[misc]  # nio ships no type hints
    """nio's request machinery (bounded retries, response parsing) without its client state:
    one client speaks for every ghost, so no response may change ``access_token``/``user_id``
    (nio's register/login handling would). Its timeout is ``read_timeout``."""

    async def receive_response(self, response: Any) -> None:
        return None

    async def send(
        self,
        method: str,
        path: str,
        data: Any = None,
        headers: dict[str, str] | None = None,
        trace_context: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109  (nio's signature)
    ) -> aiohttp.ClientResponse:
        read_s = self.config.request_timeout if timeout is None else timeout
        response: aiohttp.ClientResponse = await self.client_session.request(
            method,
            self.homeserver + path,
            data=data,
            ssl=self.ssl,
            headers=headers,
            trace_request_ctx=trace_context,
            timeout=read_timeout(read_s),
        )
        return response

"""The HTTP transport: one aiohttp session and cookie jar, timeouts, bounded retries, safe logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import attrs
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from adapters.wechat.client.calls import Call
from adapters.wechat.client.errors import AnswerTooLarge, HttpStatusError, NetworkError
from adapters.wechat.client.types import Hosts
from adapters.wechat.client.wire import (
    base_ret,
    check_base_response,
    disposition_filename,
    load_json,
)

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


@attrs.frozen
class HttpRetry:
    """Bounded retries of one HTTP request's transport failures (connection errors,
    timeouts, 5xx): ``attempts`` tries in all, exponential waits starting at ``wait``
    seconds, capped at ``wait_max`` seconds."""

    attempts: int = 4
    wait: float = 1.0
    wait_max: float = 20.0


class _Transient(Exception):
    """A failure worth retrying: connection error, timeout, HTTP 5xx."""

    def __init__(self, endpoint: str, what: str) -> None:
        super().__init__(f"{endpoint}: {what}")


@attrs.frozen
class HttpAnswer:
    """A whole HTTP answer. ``cookies`` are this answer's Set-Cookie name → value (secrets;
    kept out of ``repr``, as is the body)."""

    endpoint: str
    status: int
    body: bytes = attrs.field(repr=False)
    content_type: str = ""
    content_disposition: str = ""
    content_range: str = ""
    cookies: Mapping[str, str] = attrs.field(factory=dict, repr=False, eq=False)

    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; raises ``ProtocolError`` otherwise."""
        return load_json(self.endpoint, self.body)

    def file_name(self) -> str:
        """The ``filename`` of Content-Disposition, or ""."""
        return disposition_filename(self.content_disposition)


async def _read(resp: aiohttp.ClientResponse, endpoint: str, limit: int) -> bytes:
    """The body of ``resp``, refused with ``AnswerTooLarge`` past ``limit`` bytes: before
    reading when Content-Length says so, else as soon as the chunks read pass it."""
    if resp.content_length is not None:
        if resp.content_length > limit:
            raise AnswerTooLarge(endpoint, limit)
        return await resp.read()
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise AnswerTooLarge(endpoint, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning("retrying after %s (attempt %d)", exc, state.attempt_number)


class Http:
    """One ``aiohttp.ClientSession`` with a cookie jar that accepts IP hosts (the simulator on
    127.0.0.1), a default timeout on every request and bounded retries of transport errors.

    Logs name the endpoint, the HTTP status and nothing else: URLs and bodies carry skey,
    pass_ticket and tickets.
    """

    def __init__(
        self,
        *,
        timeout: float,
        retry: HttpRetry,
        user_agent: str = DEFAULT_USER_AGENT,
        max_answer_bytes: int = 64 * 2**20,
    ) -> None:
        self._timeout = timeout
        self._max_answer_bytes = max_answer_bytes
        self._retry = retry
        self._user_agent = user_agent
        self._jar: aiohttp.CookieJar | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def jar(self) -> aiohttp.CookieJar:
        """The cookie jar (created on first use; needs a running event loop)."""
        if self._jar is None:
            self._jar = aiohttp.CookieJar(unsafe=True)
        return self._jar

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            raise NetworkError("the WeChat client is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                cookie_jar=self.jar,
                headers={"User-Agent": self._user_agent},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )
        return self._session

    @property
    def closed(self) -> bool:
        """True after ``close()``."""
        return self._closed

    async def close(self) -> None:
        """Close the session (idempotent)."""
        self._closed = True
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def cookie(self, name: str) -> str:
        """The value of the first stored cookie called ``name`` (any domain), or ""."""
        return next((m.value for m in self.jar if m.key == name), "")

    async def send(
        self,
        call: Call,
        hosts: Hosts,
        *,
        time_limit: float | None = None,
        retry: bool = True,
        allow_redirects: bool = True,
        ok_status: frozenset[int] = frozenset({200}),
        multipart: Callable[[], aiohttp.FormData] | None = None,
        max_bytes: int | None = None,
    ) -> HttpAnswer:
        """Send ``call`` to ``hosts`` and read the whole answer, at most ``max_bytes`` of it
        (default: ``max_answer_bytes``).

        ``time_limit`` (seconds) overrides the default timeout; ``retry`` enables the bounded
        retries of connection errors, timeouts and HTTP 5xx (only for requests that are safe to
        repeat); ``multipart`` builds a fresh multipart body per attempt. Raises
        ``NetworkError`` when the server stays unreachable, ``HttpStatusError`` for a status
        not in ``ok_status`` and ``AnswerTooLarge`` (not retried) past ``max_bytes``.
        """
        limit = self._max_answer_bytes if max_bytes is None else max_bytes
        attempts = self._retry.attempts if retry else 1
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=self._retry.wait, max=self._retry.wait_max),
            retry=retry_if_exception_type(_Transient),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._once(
                        call, hosts, time_limit, allow_redirects, ok_status, multipart, limit
                    )
        except _Transient as exc:
            raise NetworkError(f"{exc} (after {attempts} attempts)") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self,
        call: Call,
        hosts: Hosts,
        time_limit: float | None,
        allow_redirects: bool,
        ok_status: frozenset[int],
        multipart: Callable[[], aiohttp.FormData] | None,
        limit: int,
    ) -> HttpAnswer:
        kwargs: dict[str, Any] = {"allow_redirects": allow_redirects}
        headers = dict(call.headers)
        if time_limit is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=time_limit)
        if call.json is not None:
            kwargs["data"] = json.dumps(call.json, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json;charset=UTF-8"
        elif call.form is not None:
            kwargs["data"] = dict(call.form)
        elif multipart is not None:
            kwargs["data"] = multipart()
        try:
            async with self._client().request(
                call.method, call.url(hosts), headers=headers, **kwargs
            ) as resp:
                body = await _read(resp, call.endpoint, limit)
                reply = HttpAnswer(
                    endpoint=call.endpoint,
                    status=resp.status,
                    body=body,
                    content_type=resp.headers.get("Content-Type", ""),
                    content_disposition=resp.headers.get("Content-Disposition", ""),
                    content_range=resp.headers.get("Content-Range", ""),
                    cookies={name: m.value for name, m in resp.cookies.items()},
                )
        except TimeoutError:
            log.debug("%s timed out", call.endpoint)
            raise _Transient(call.endpoint, "timed out") from None
        except aiohttp.ClientError as exc:
            # str(exc) may contain the URL (and so skey): log the type only.
            log.debug("%s failed: %s", call.endpoint, type(exc).__name__)
            raise _Transient(call.endpoint, type(exc).__name__) from None
        log.debug("%s %s -> %d", call.method, call.endpoint, reply.status)
        if reply.status >= 500:
            raise _Transient(call.endpoint, f"HTTP {reply.status}")
        if reply.status not in ok_status:
            raise HttpStatusError(call.endpoint, reply.status)
        return reply

    async def call_json(
        self,
        call: Call,
        hosts: Hosts,
        *,
        retry: bool = True,
        time_limit: float | None = None,
    ) -> dict[str, Any]:
        """Send a JSON API call and return the body after checking ``BaseResponse.Ret``.

        Raises the ``ApiError`` subclass of a non-zero Ret, and
        the errors of ``send``. Logs the endpoint and Ret.
        """
        obj = (await self.send(call, hosts, retry=retry, time_limit=time_limit)).json()
        ret, _ = base_ret(obj)
        if ret != 0:
            log.info("%s answered Ret %s", call.endpoint, ret)
        check_base_response(call.endpoint, obj)
        return obj

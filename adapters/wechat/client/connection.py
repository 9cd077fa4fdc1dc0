"""Client configuration and the live connection state shared by the login, sync and media code."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import attrs

from adapters.wechat.client.calls import Call, now_ms
from adapters.wechat.client.errors import NoSession
from adapters.wechat.client.http import DEFAULT_USER_AGENT, Http, HttpRetry
from adapters.wechat.client.session import (
    SessionState,
    jar_cookies,
    restore_cookies,
    save_session,
)
from adapters.wechat.client.types import Contact, Credentials, Hosts, SyncKey, UserName

log = logging.getLogger(__name__)

#: The page host of the official web client; its §1 table gives the login/file/push hosts.
DEFAULT_API_BASE = "https://wx.qq.com"
#: Log in as the UOS desktop client unless told otherwise: the known workaround for "web
#: login refused" (PROTOCOL.md §2.4). The one default of ``wechat.uos``.
UOS_DEFAULT = True


@attrs.frozen
class ClientConfig:
    """Settings of a ``WeChatClient``. Times are seconds.

    ``base_url`` (``scheme://host[:port]``) replaces every WeChat host (a simulator); None
    means the real hosts. ``uos`` switches on the UOS desktop login variant (PROTOCOL.md §2.4).
    ``session_path`` is where the session file lives (None: nothing persisted).
    ``long_poll_timeout`` bounds synccheck and the login poll (the server holds ~25 s),
    ``transfer_timeout`` uploads and downloads, ``request_timeout`` everything else.
    ``rate_limit_wait`` is the first wait after a 1205 answer, doubled per repeat up to
    ``rate_limit_wait_max``. ``max_qr_codes`` bounds QR refreshes after expiry in one login,
    ``push_login_polls`` the login polls a push login waits for the phone's confirmation.
    ``max_answer_bytes`` bounds any answer read into memory (a contact page of a big account
    is ~0.4 MB, a batch of 50 groups of 500 members ~8 MB), ``max_download_bytes`` a media
    download; a larger answer raises ``AnswerTooLarge``.
    """

    base_url: str | None = None
    uos: bool = UOS_DEFAULT
    session_path: Path | None = None
    request_timeout: float = 30.0
    long_poll_timeout: float = 35.0
    transfer_timeout: float = 300.0
    retry: HttpRetry = attrs.field(factory=HttpRetry)
    rate_limit_wait: float = 60.0
    rate_limit_wait_max: float = 600.0
    max_qr_codes: int = 5
    push_login_polls: int = 4
    max_contact_pages: int = 100
    max_answer_bytes: int = 64 * 2**20
    max_download_bytes: int = 256 * 2**20
    user_agent: str = DEFAULT_USER_AGENT

    @property
    def api_base(self) -> str:
        """The API host to start with (before the login poll names the real one)."""
        return (self.base_url or DEFAULT_API_BASE).rstrip("/")


class Connection:
    """The live session: transport, hosts, credentials, self and the in-memory SyncKeys.

    ``sync_key`` goes into webwxsync, ``sync_check_key`` into synccheck (PROTOCOL.md §5).
    """

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.http = Http(
            timeout=config.request_timeout,
            retry=config.retry,
            user_agent=config.user_agent,
            max_answer_bytes=config.max_answer_bytes,
        )
        self.hosts = Hosts.for_api_host(config.api_base)
        self.credentials: Credentials | None = None
        self.self_user: Contact | None = None
        self.sync_key = SyncKey()
        self.sync_check_key = SyncKey()
        self._counter = now_ms()
        self._uploads = 0
        self._persist_lock = asyncio.Lock()

    def creds(self) -> Credentials:
        """The credentials; raises ``NoSession`` before login."""
        if self.credentials is None:
            raise NoSession("not logged in to WeChat")
        return self.credentials

    def me(self) -> UserName:
        """Self's UserName; raises ``NoSession`` before login."""
        if self.self_user is None or self.credentials is None:
            raise NoSession("not logged in to WeChat")
        return self.self_user.user_name

    def next_counter(self) -> int:
        """The jQuery-style ``_`` cache buster: page-load ms plus a counter (§1)."""
        self._counter += 1
        return self._counter

    def next_upload_number(self) -> int:
        """The ``n`` of the next upload's ``WU_FILE_<n>`` id (0, 1, …) (§7)."""
        number = self._uploads
        self._uploads += 1
        return number

    async def call_json(
        self,
        call: Call,
        *,
        retry: bool = True,
        time_limit: float | None = None,
    ) -> dict[str, Any]:
        """``Http.call_json`` on the current hosts."""
        return await self.http.call_json(call, self.hosts, retry=retry, time_limit=time_limit)

    def apply_sync_keys(self, sync_key: SyncKey, sync_check_key: SyncKey) -> None:
        """Adopt new keys; each is replaced only when the new one is non-empty (§5)."""
        if sync_key:
            self.sync_key = sync_key
        if sync_check_key:
            self.sync_check_key = sync_check_key

    def snapshot(self, sync_key: SyncKey, sync_check_key: SyncKey) -> SessionState:
        """The session file contents with the given (committed) keys."""
        return SessionState(
            hosts=self.hosts,
            credentials=self.creds(),
            self_user_name=self.me(),
            self_nick_name=self.self_user.nick_name if self.self_user else "",
            sync_key=sync_key,
            sync_check_key=sync_check_key,
            cookies=jar_cookies(self.http.jar),
            uos=self.config.uos,
        )

    async def persist(self, sync_key: SyncKey, sync_check_key: SyncKey) -> None:
        """Write the session file (if configured) with these keys. Serialised, so an older
        snapshot never overwrites a newer one. Raises ``OSError`` if it cannot be written."""
        path = self.config.session_path
        if path is None:
            return
        async with self._persist_lock:
            await asyncio.to_thread(save_session, path, self.snapshot(sync_key, sync_check_key))

    def restore(self, state: SessionState) -> None:
        """Take over a persisted session (cookies into the jar, keys into memory)."""
        self.hosts = state.hosts
        self.credentials = state.credentials
        self.self_user = Contact(user_name=state.self_user_name, nick_name=state.self_nick_name)
        self.sync_key = state.sync_key
        self.sync_check_key = state.sync_check_key
        restore_cookies(self.http.jar, state.cookies)

    def forget(self) -> None:
        """Drop credentials, self and keys (after logout); cookies stay for push login."""
        self.credentials = None
        self.self_user = None
        self.sync_key = SyncKey()
        self.sync_check_key = SyncKey()

"""``WeChatClient``: the async facade over login, contacts, receive loop, sending and media."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType

from adapters.wechat.client import calls_msg, contacts, login, media
from adapters.wechat.client.calls_msg import ImageSize
from adapters.wechat.client.connection import ClientConfig, Connection
from adapters.wechat.client.errors import (
    ApiError,
    HttpStatusError,
    LoginError,
    NoSession,
    QRExpired,
)
from adapters.wechat.client.qr import QRCode
from adapters.wechat.client.receive import ReceiveEvent, Receiver, SyncBatch
from adapters.wechat.client.results import (
    Download,
    LoginInfo,
    LoginMethod,
    RevokeResult,
    SendResult,
    StatusNotifyCode,
    UploadResult,
)
from adapters.wechat.client.session import delete_session, load_session
from adapters.wechat.client.types import Contact, Credentials, Hosts, MsgId, UserName
from adapters.wechat.client.wire import LoginScanned

log = logging.getLogger(__name__)

QRCallback = Callable[[QRCode], Awaitable[None]]
ScanCallback = Callable[[LoginScanned], Awaitable[None]]


class WeChatClient:
    """An async WeChat web-protocol client (PROTOCOL.md §1–§10) on one aiohttp session.

    Typical use: ``info = await client.start(on_qr)`` (resume, else push login, else QR), then
    ``async for event in client.events()``: for each ``SyncBatch``, handle it and ``await
    client.commit(batch)``; a ``SessionEnded`` ends the stream (log in again). ``close()``
    when done. Every method raises ``NoSession`` when it needs a session and has none.
    """

    def __init__(self, config: ClientConfig | None = None) -> None:
        self.config = config or ClientConfig()
        self._conn = Connection(self.config)
        self._receiver: Receiver | None = None

    async def __aenter__(self) -> WeChatClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- state -----------------------------------------------------------------------------

    @property
    def logged_in(self) -> bool:
        """True while a session is usable: after login/resume, before logout, ``close()`` or
        the ``SessionEnded`` of the receive loop."""
        rx = self._receiver
        return rx is not None and rx.ended is None and not self._conn.http.closed

    @property
    def self_user(self) -> Contact | None:
        """Self as webwxinit returned it (after a resume: UserName and NickName only)."""
        return self._conn.self_user if self.logged_in else None

    @property
    def uin(self) -> str | None:
        """The real account uin (stable across logins), when known."""
        creds = self._conn.credentials
        return creds.uin if creds else None

    @property
    def hosts(self) -> Hosts:
        """The hosts in use (the API host follows the login poll's redirect_uri, §1)."""
        return self._conn.hosts

    # --- login -----------------------------------------------------------------------------

    async def start(
        self,
        on_qr: QRCallback,
        on_scanned: ScanCallback | None = None,
        on_push: Callable[[], Awaitable[None]] | None = None,
    ) -> LoginInfo:
        """Log in the cheapest way: resume the saved session (webwxsync), else push login to
        the phone (``on_push`` is awaited once the phone was asked), else QR (PROTOCOL.md
        §2). Raises what ``login`` raises."""
        info = await self.resume()
        if info is not None:
            return info
        if self._conn.credentials is not None:
            try:
                return await self.push_login(on_scanned, on_push)
            except (LoginError, ApiError, HttpStatusError) as exc:
                log.info("push login failed (%s); falling back to QR", type(exc).__name__)
        return await self.login(on_qr, on_scanned)

    async def resume(self) -> LoginInfo | None:
        """Resume the session of ``config.session_path`` with a webwxsync using the committed
        SyncKey. Its messages come first from ``events()``. Returns None when there is no
        usable session file or the server refuses the session (its uin and cookies are kept
        for ``push_login``). Raises ``NetworkError``."""
        path = self.config.session_path
        state = await asyncio.to_thread(load_session, path) if path else None
        if state is None:
            return None
        self._conn.restore(state)
        receiver = Receiver(self._conn)
        try:
            batch = await receiver.sync()
        except ApiError as exc:
            log.info("saved session refused (Ret %d)", exc.ret)
            return None
        receiver.hold(batch)
        self._receiver = receiver
        log.info("session resumed")
        user = self._conn.self_user or Contact(user_name=state.self_user_name)
        return LoginInfo(LoginMethod.RESUMED, user, state.credentials.uin)

    async def push_login(
        self,
        on_scanned: ScanCallback | None = None,
        on_push: Callable[[], Awaitable[None]] | None = None,
    ) -> LoginInfo:
        """Push login (§2.5): the phone of the previous session is asked to confirm (then
        ``on_push`` is awaited). Raises ``NoSession`` without a previous session,
        ``LoginError`` (``QRExpired`` when not confirmed in time, ``LoginCancelled``),
        ``ApiError``, ``NetworkError``."""
        uuid = await login.push_login_uuid(self._conn)
        if on_push is not None:
            await on_push()
        redirect = await login.wait_for_confirmation(
            self._conn, uuid, on_scanned, max_polls=self.config.push_login_polls
        )
        return await self._complete(redirect, LoginMethod.PUSH)

    async def login(self, on_qr: QRCallback, on_scanned: ScanCallback | None = None) -> LoginInfo:
        """QR login (§2.1–§2.4, §3.1, §3.2): ``on_qr`` is awaited with every QR code (a new one
        after each expiry, at most ``config.max_qr_codes``), ``on_scanned`` once it is scanned.

        Raises ``QRExpired`` (no confirmation), ``LoginCancelled`` (202), ``LoginRefused``
        (1203), ``LoginError``, ``ApiError``, ``NetworkError``.
        """
        for _ in range(self.config.max_qr_codes):
            qr = await login.request_qr(self._conn)
            await on_qr(qr)
            try:
                redirect = await login.wait_for_confirmation(self._conn, qr.uuid, on_scanned)
            except QRExpired:
                log.info("QR code expired; requesting a new one")
                continue
            return await self._complete(redirect, LoginMethod.QR)
        raise QRExpired(f"nobody confirmed the login with {self.config.max_qr_codes} QR codes")

    async def _complete(self, redirect_uri: str, method: LoginMethod) -> LoginInfo:
        conn = self._conn
        self._receiver = None
        creds = await login.open_session(conn, redirect_uri)
        init = await contacts.init(conn)
        try:
            await contacts.status_notify(conn, StatusNotifyCode.INITED, conn.me())
        except ApiError as exc:
            log.warning("webwxstatusnotify after init failed (Ret %d)", exc.ret)
        self._receiver = Receiver(conn)
        await conn.persist(conn.sync_key, conn.sync_check_key)
        log.info("logged in (%s)", method.value)
        return LoginInfo(method, init.user, creds.uin, init.contacts, init.chat_set)

    async def logout(self) -> None:
        """webwxlogout (§2.6), forget the session and delete the session file. Never raises
        for network failures."""
        await login.logout(self._conn)
        self._conn.forget()
        self._receiver = None
        if self.config.session_path is not None:
            await asyncio.to_thread(delete_session, self.config.session_path)

    async def close(self) -> None:
        """Close the HTTP session (the WeChat session stays resumable; ``commit`` still works).
        Idempotent."""
        await self._conn.http.close()

    # --- receive ---------------------------------------------------------------------------

    def _rx(self) -> Receiver:
        if self._receiver is None:
            raise NoSession("not logged in to WeChat")
        return self._receiver

    def events(self) -> AsyncIterator[ReceiveEvent]:
        """``SyncBatch``es (then possibly one final ``SessionEnded``) from the synccheck /
        webwxsync loop (§4, §5). Raises ``NetworkError``/``ApiError`` while iterating when the
        server stays unreachable or keeps failing."""
        return self._rx().events()

    async def probe(self, time_limit: float = 5.0) -> bool:
        """Whether WeChat answers one synccheck within ``time_limit`` seconds (a session
        that ended, or has news, answers at once); see ``Receiver.probe``. False when not
        logged in."""
        if self._receiver is None:
            return False
        return await self._receiver.probe(time_limit)

    async def commit(self, batch: SyncBatch) -> None:
        """Persist the SyncKey/SyncCheckKey ``batch`` leads to, once the caller has stored the
        batch; until then a restart redelivers it. Raises ``OSError``."""
        await self._rx().commit(batch)

    # --- contacts and groups ---------------------------------------------------------------

    async def get_contacts(self) -> list[Contact]:
        """All contacts via webwxgetcontact with Seq paging (§3.3)."""
        return await contacts.get_contacts(self._conn)

    def contact_pages(self) -> AsyncIterator[list[Contact]]:
        """The webwxgetcontact pages one by one, as they arrive (§3.3)."""
        return contacts.contact_pages(self._conn)

    async def batch_get_contacts(
        self, user_names: Iterable[UserName], *, chat_room: UserName | None = None
    ) -> list[Contact]:
        """Details (groups with members) via webwxbatchgetcontact, 50 per request (§3.4)."""
        return await contacts.batch_get_contacts(self._conn, user_names, chat_room=chat_room)

    async def status_notify(self, code: StatusNotifyCode, to_user: UserName) -> MsgId:
        """webwxstatusnotify (§3.2); returns the server's MsgID."""
        return await contacts.status_notify(self._conn, code, to_user)

    async def mark_read(self, user_name: UserName) -> None:
        """Mark the chat with ``user_name`` read (status notify Code 1, §3.2)."""
        await contacts.status_notify(self._conn, StatusNotifyCode.READ, user_name)

    # --- sending ---------------------------------------------------------------------------

    async def send_text(self, to_user: UserName, text: str) -> SendResult:
        """Send a text (§7). Raises ``NotAFriend`` (1204), ``TooFrequent`` (1205), ``ApiError``."""
        return await media.send_text(self._conn, to_user, text)

    async def send_image(
        self, to_user: UserName, data: bytes, name: str, mime: str | None = None
    ) -> SendResult:
        """Upload and send an image (§7)."""
        return await media.send_image(self._conn, to_user, data, name, mime)

    async def send_video(
        self, to_user: UserName, data: bytes, name: str, mime: str | None = None
    ) -> SendResult:
        """Upload and send a video (§7)."""
        return await media.send_video(self._conn, to_user, data, name, mime)

    async def send_file(
        self, to_user: UserName, data: bytes, name: str, mime: str | None = None
    ) -> SendResult:
        """Upload and send a file as an appmsg (§7)."""
        return await media.send_file(self._conn, to_user, data, name, mime)

    async def send_emoticon(
        self, to_user: UserName, data: bytes, name: str = "emoticon.gif"
    ) -> SendResult:
        """Upload and send a GIF emoticon (§7)."""
        return await media.send_emoticon(self._conn, to_user, data, name)

    async def upload(
        self,
        to_user: UserName,
        data: bytes,
        name: str,
        media_type: calls_msg.UploadMediaType,
        mime: str | None = None,
    ) -> UploadResult:
        """Upload only (webwxuploadmedia, chunked, §7); returns the MediaId."""
        return await media.upload(
            self._conn, data, name=name, to_user=to_user, media_type=media_type, mime=mime
        )

    async def revoke(self, to_user: UserName, sent: SendResult) -> RevokeResult:
        """Recall a message this client sent (webwxrevokemsg, within 2 minutes, §8)."""
        return await media.revoke(self._conn, to_user, sent.msg_id, sent.client_msg_id)

    # --- downloads (§9) --------------------------------------------------------------------

    async def get_image(self, msg_id: MsgId, size: ImageSize = ImageSize.FULL) -> Download:
        """webwxgetmsgimg: image (``FULL``), thumbnail (``THUMB``) or emoticon (``BIG``)."""
        return await media.download(self._conn, calls_msg.getmsgimg(self._creds(), msg_id, size))

    async def get_voice(self, msg_id: MsgId) -> Download:
        """webwxgetvoice: a voice message (mp3)."""
        return await media.download(self._conn, calls_msg.getvoice(self._creds(), msg_id))

    async def get_video(self, msg_id: MsgId) -> Download:
        """webwxgetvideo with ``Range: bytes=0-`` (206 or 200)."""
        return await media.download(self._conn, calls_msg.getvideo(self._creds(), msg_id))

    async def get_media(self, sender: UserName, media_id: str, encry_file_name: str) -> Download:
        """webwxgetmedia on the file host: an attachment (MsgType 49 / AppMsgType 6)."""
        call = calls_msg.getmedia(
            self._creds(),
            sender=sender,
            media_id=media_id,
            encry_file_name=encry_file_name,
            data_ticket=self._conn.http.cookie("webwx_data_ticket"),
        )
        return await media.download(self._conn, call)

    async def get_icon(
        self, user_name: UserName, *, seq: str = "0", chat_room: str = ""
    ) -> Download:
        """A user's avatar (webwxgeticon); groups are fetched with webwxgetheadimg."""
        if user_name.startswith("@@"):
            call = calls_msg.getheadimg(self._creds(), user_name, seq=seq)
        else:
            call = calls_msg.geticon(self._creds(), user_name, seq=seq, chat_room=chat_room)
        return await media.download(self._conn, call)

    def _creds(self) -> Credentials:
        self._rx()
        return self._conn.creds()

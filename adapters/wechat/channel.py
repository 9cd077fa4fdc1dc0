"""``WeChatChannel``: one WeChat web account as a bridge ``Channel``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import attrs

from adapters.wechat.avatars import fetch_avatar
from adapters.wechat.client.client import WeChatClient
from adapters.wechat.client.connection import UOS_DEFAULT, ClientConfig
from adapters.wechat.client.errors import (
    LoginRefused,
    SessionInvalid,
    WeChatError,
)
from adapters.wechat.client.qr import QRCode
from adapters.wechat.client.results import LoginInfo, LoginMethod
from adapters.wechat.client.types import Contact, RealId, UserName
from adapters.wechat.contact_book import fetch_contact_book
from adapters.wechat.failures import delivery_error
from adapters.wechat.receiving import WeChatReceiving
from adapters.wechat.sending import WeChatSending
from adapters.wechat.translate import (
    group_members,
    profile_from_contact,
)
from bridge.channel import EventBatch
from bridge.errors import (
    BridgeError,
    NotLoggedIn,
)
from bridge.model import (
    Address,
    ConfirmOnPhone,
    ContactBook,
    Event,
    LoggedIn,
    LoggedOut,
    QRCodeNeeded,
    RemoteId,
)

log = logging.getLogger(__name__)

#: Where WeChat's scanner is, and what a push login asks on the phone (login step hints).
SCAN_HINT = "Me → Scan"
CONFIRM_HINT = "Tap Log In there. If you don't, a QR code to scan follows."


@attrs.frozen
class WeChatSettings:
    """How to reach WeChat. ``base_url`` replaces every WeChat host (the simulator); ``uos``
    selects the UOS desktop login (PROTOCOL.md §2.4); ``session_path`` is the 0600 session
    file that lets a restart resume without scanning again.

    When receiving fails, the receive loop waits before it tries again, doubling from 1 s
    up to ``reconnect_max_s``; every ``probe_interval_s`` of such a wait it asks one cheap
    synccheck (``WeChatClient.probe``), and as soon as WeChat answers it tries again at
    once, so an ended session (e.g. 1101 right after the network returns) is noticed within
    seconds, not at the end of a long backoff. Seconds throughout.
    """

    base_url: str | None = None
    uos: bool = UOS_DEFAULT
    session_path: Path | None = None
    reconnect_max_s: float = 60.0
    probe_interval_s: float = 5.0

    def client_config(self) -> ClientConfig:
        """The protocol client's configuration for these settings."""
        return ClientConfig(base_url=self.base_url, uos=self.uos, session_path=self.session_path)


class WeChatChannel(WeChatSending, WeChatReceiving):
    """A WeChat web account behind the ``Channel`` interface (plus media, media fetch,
    revoke, replies, receipts, login and its cancellation, avatars). Addresses are UserNames,
    valid for one login session only, hence ``stable_addresses = False``: the core maps them
    to stable identities.

    Inbound batches are acknowledged by persisting their SyncKey (PROTOCOL.md §5), so a batch
    the core has not journaled yet is fetched again after a crash. Files arrive as references
    (``Media.ref``) that the core fetches with ``fetch_media`` when it delivers them, so the
    receive loop never waits for a download.
    """

    name = "wechat"
    display_name = "WeChat"
    stable_addresses = False
    #: Batches handed to ``events()`` and not yet taken back by its consumer (journaled):
    #: when this many wait, the receive loop stops polling WeChat until one is done.
    queue_limit = 32

    def __init__(self, settings: WeChatSettings | None = None) -> None:
        self.settings = settings or WeChatSettings()
        self._client: WeChatClient | None = None
        self._queue: asyncio.Queue[EventBatch | None] = asyncio.Queue()
        self._slots = asyncio.Semaphore(self.queue_limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._receiving: asyncio.Task[None] | None = None
        self._contacts: dict[UserName, Contact] = {}
        self._real_ids: dict[UserName, RealId] = {}
        self._self: Contact | None = None
        self._waiting_login: asyncio.Future[LoginInfo] | None = None
        self._stopped = False
        #: Set once the contact book of the current session is journaled (its batch acked).
        self._book_loaded = asyncio.Event()
        self._book: asyncio.Task[None] | None = None
        #: UserNames of this session: its book, group members, chats and senders met (§11).
        self._known: set[UserName] = set()
        self._check_known = False

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the client and resume a saved session if there is one (no QR is shown until
        ``login()``). Raises ``BridgeError`` when WeChat cannot be reached at all."""
        if self._client is not None:
            return
        self._client = WeChatClient(self.settings.client_config())
        try:
            info = await self._client.resume()
        except WeChatError as exc:
            raise BridgeError(f"could not resume the WeChat session: {exc}") from exc
        if info is not None:
            await self._logged_in(info)

    async def stop(self) -> None:
        """Stop receiving, close the HTTP session (the WeChat session stays resumable) and
        end ``events()``. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
        await self._queue.put(None)

    async def events(self) -> AsyncIterator[EventBatch]:
        """Inbound batches in arrival order until ``stop()``; see ``Channel.events``."""
        while not (self._stopped and self._queue.empty()):
            batch = await self._queue.get()
            if batch is None:
                return
            try:
                yield batch
            finally:
                self._slots.release()  # the consumer is done with it: room for one more

    @property
    def logged_in(self) -> bool:
        """True while a WeChat session is up and its messages are being received."""
        receiving = self._receiving is not None and not self._receiving.done()
        return receiving and self._client is not None and self._client.logged_in

    @property
    def contact_addresses(self) -> frozenset[Address]:
        """The UserNames of this session's contact book: contacts and groups, not the group
        members only met in messages."""
        return frozenset(Address(u) for u in self._contacts)

    def _spawn(self, coro: object, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("WeChat task %s failed", task.get_name(), exc_info=exc)

    async def _emit(self, *events: Event) -> None:
        await self._put(EventBatch(tuple(events)))

    async def _put(self, batch: EventBatch) -> None:
        """Queue ``batch`` for ``events()``; waits while ``queue_limit`` batches are queued
        (back-pressure: the receive loop polls WeChat again only when there is room)."""
        await self._slots.acquire()
        await self._queue.put(batch)

    def _require(self) -> WeChatClient:
        if self._client is None or not self._client.logged_in:
            raise NotLoggedIn("not logged in to WeChat; send 'login' to the bot")
        if not self._book_loaded.is_set():
            # The core's bindings still name the last session's UserNames (§11): wait.
            raise NotLoggedIn("WeChat is still loading the contact list; retrying shortly")
        return self._client

    async def contact_book_loaded(self) -> None:
        """Return once the ``ContactBook`` that follows the last ``LoggedIn`` has been taken
        in by the consumer of ``events()`` (its batch acknowledged): from then on the core's
        bindings name this session's UserNames, and sending works."""
        await self._book_loaded.wait()

    # --- login -----------------------------------------------------------------------------

    async def login(self) -> None:
        """Start a login in the background: resume, else push login, else QR (PROTOCOL.md
        §2). Emits ``QRCodeNeeded`` per QR code, then ``LoggedIn`` + ``ContactBook``, or
        ``LoggedOut`` with the reason it failed."""
        if self._client is None:
            await self.start()
        if any(t.get_name() == "wechat-login" for t in self._tasks):
            return
        self._spawn(self._login(), "wechat-login")

    async def cancel_login(self) -> None:
        """Stop the login in progress while it waits for the QR code to be scanned or the
        phone to confirm (the login poll of PROTOCOL.md §2.3 / §2.5 ends, so scanning the
        code shown logs nothing in); a login past that wait (reading contacts) finishes.
        Does nothing without a login in progress."""
        waiting = self._waiting_login
        if waiting is None or waiting.done():
            return
        waiting.cancel()
        logins = [t for t in self._tasks if t.get_name() == "wechat-login"]
        await asyncio.gather(waiting, *logins, return_exceptions=True)
        log.info("WeChat login cancelled")

    async def _login(self) -> None:
        client = self._require_client()

        async def on_qr(qr: QRCode) -> None:
            await self._emit(QRCodeNeeded(payload=qr.content, png=qr.png(), hint=SCAN_HINT))

        async def on_push() -> None:
            await self._emit(ConfirmOnPhone(hint=CONFIRM_HINT))

        waiting = asyncio.ensure_future(client.start(on_qr, on_push=on_push))
        self._waiting_login = waiting
        try:
            info = await waiting
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the login task itself is cancelled (stop())
            return  # cancel_login() ended the wait
        except LoginRefused as exc:
            hint = "" if self.settings.uos else " Try the UOS desktop mode (wechat.uos: true)."
            await self._emit(LoggedOut(f"WeChat refused the web login: {exc.message}.{hint}"))
            return
        except WeChatError as exc:
            await self._emit(LoggedOut(f"login failed: {exc}"))
            return
        finally:
            self._waiting_login = None
        await self._logged_in(info)

    async def submit_login_input(self, value: str) -> None:
        """WeChat logins ask for no typed input (QR code or phone confirmation only,
        PROTOCOL.md §2): always raises ``BridgeError``."""
        raise BridgeError("a WeChat login asks for nothing to type; scan the QR code")

    def _require_client(self) -> WeChatClient:
        if self._client is None:
            raise NotLoggedIn("the WeChat channel is not started")
        return self._client

    async def logout(self) -> None:
        """Log out of WeChat (webwxlogout, PROTOCOL.md §2.6) and forget the session file."""
        client = self._require_client()
        for task in (self._receiving, self._book):
            if task is not None:
                task.cancel()
        self._receiving = self._book = None
        self._book_loaded.clear()
        await client.logout()
        await self._emit(LoggedOut("logged out on request"))

    async def _logged_in(self, info: LoginInfo) -> None:
        """The session works: say ``LoggedIn`` at once, then fetch the contact book in the
        background (``_load_book``). Receiving starts after the book is queued, so every
        message of the session reaches the core after the book it is matched against (until
        then WeChat keeps them: nothing is acknowledged, PROTOCOL.md §5)."""
        self._require_client()
        self._self = info.user
        self._book_loaded.clear()
        for task in (self._receiving, self._book):
            if task is not None:
                task.cancel()  # a login during an outage replaces the old session
        self._receiving = None
        self._contacts = {c.user_name: c for c in info.contacts}
        self._known = set()
        # A resumed session keeps its UserNames: only a new one makes earlier ones stale.
        self._check_known = info.method is not LoginMethod.RESUMED
        me = profile_from_contact(info.user, self_user_name=info.user.user_name)
        await self._emit(LoggedIn(account=me))
        self._book = self._spawn(self._load_book(info), "wechat-contacts")

    async def _load_book(self, info: LoginInfo) -> None:
        client = self._require_client()
        try:
            book = await fetch_contact_book(client, info.contacts)
        except SessionInvalid as exc:
            await self._emit(LoggedOut(f"WeChat ended the session: {exc}"))
            return
        self._contacts = book
        self._meet(book.values())
        # 50,000 member names to decode for a big account: off the event loop.
        profiles = await asyncio.to_thread(lambda: tuple(map(self._profile, book.values())))
        listing = [c for c in book.values() if c.is_group]
        me = info.user.user_name
        # A view: each entry is built when the core reads it, not all 50,000 kept.
        members = group_members(listing, dict(self._real_ids), me)
        loaded, task = self._book_loaded, self._book

        async def taken_in() -> None:
            if self._book is task:  # not a book of an earlier session
                loaded.set()

        await self._put(EventBatch((ContactBook(profiles, members),), ack=taken_in))
        del profiles, members
        self._receiving = self._spawn(self._receive(), "wechat-receive")

    # --- receipts and avatars --------------------------------------------------------------

    async def mark_read(self, chat: Address, remote_id: RemoteId) -> None:
        """``SupportsReceipts``: mark the chat with the UserName ``chat`` read on the phone
        (webwxstatusnotify Code 1, PROTOCOL.md §3.2). WeChat marks a whole chat read, so
        ``remote_id`` (the newest message read) only says that there was one. Raises
        ``NotLoggedIn``, ``DeliveryFailed``."""
        client = self._require()
        try:
            await client.mark_read(self._session_address(chat))
        except WeChatError as exc:
            raise delivery_error(exc) from exc

    async def avatar(self, address: Address) -> bytes:
        """The avatar of the contact at ``address`` (``SupportsAvatars``), fetched through
        the live session at the version its ``HeadImgUrl`` names, a group member who is not a
        contact through a group listing it (PROTOCOL.md §9). Works
        while the contact book is being taken in (the core fetches the avatars that decide
        its match then). Raises ``NotLoggedIn``; ``BridgeError`` for an unknown contact or a
        failed fetch."""
        client = self._require_client()
        if not client.logged_in:
            raise NotLoggedIn("not logged in to WeChat; send 'login' to the bot")
        user_name = UserName(address)
        contact = self._contacts.get(user_name)
        group = None if contact is not None else self._group_listing(user_name)
        return await fetch_avatar(client, user_name, contact, group)

    def _group_listing(self, user_name: UserName) -> Contact | None:
        """A group of the contact book whose member list names ``user_name``, or None."""
        for contact in self._contacts.values():
            if contact.is_group and any(m.user_name == user_name for m in contact.members):
                return contact
        return None

"""The contact book of a login's current remote session as the core holds it: the identities
it names (what ``chats``, ``portals`` and ``resolve`` offer), taken in once ``LoggedIn``
came, in the background for a channel that ``SendsContactBookLater``.
``bridge.logins.LoginSession`` owns one ``LoginBook``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bridge.channel import LoginChannel, SendsContactBookLater, SupportsContactBook
from bridge.errors import StoreError
from bridge.ids import LoginId
from bridge.model import IdentityId
from bridge.store import Store

log = logging.getLogger(__name__)


class LoginBook:
    """The contact book of the current remote session of the login ``login`` on ``remote``,
    read from the bindings in ``store`` once the relay stored the ``ContactBook``.
    ``network`` names the remote network for the user ("WeChat"); ``say`` posts a notice in
    the management room."""

    def __init__(
        self,
        login: LoginId,
        store: Store,
        remote: LoginChannel,
        *,
        network: str,
        say: Callable[[str], Awaitable[None]],
    ) -> None:
        self.login = login
        self.store = store
        self.remote = remote
        self.network = network
        self._say = say
        #: The identities of the contact book of the current remote session.
        self.identities: frozenset[IdentityId] = frozenset()
        self._after_book: asyncio.Task[None] | None = None

    async def logged_in(self, announce: bool) -> None:
        """A ``LoggedIn`` came: take the new session's book in (``announce``: a login the
        user asked for, told how many chats wait for ``resolve``)."""
        self._cancel_after_book()
        if isinstance(self.remote, SendsContactBookLater):
            # The book follows in a batch of its own: take it in the background.
            self._after_book = asyncio.create_task(
                self._book_taken_in(self.remote, announce), name=f"book-{self.login}"
            )
        else:
            # The relay stored the ContactBook that came with LoggedIn before
            # passing it on.
            await self._take_book(announce)

    def logged_out(self) -> None:
        """A ``LoggedOut`` came: no book until the next ``LoggedIn``."""
        self._cancel_after_book()
        self.identities = frozenset()

    async def stop(self) -> None:
        """Stop taking a book in. Never raises."""
        task = self._after_book
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    @property
    def loading(self) -> bool:
        """Whether the session's contact book is still being fetched or stored (a channel
        that ``SendsContactBookLater``): commands reading the book wait (``loaded``)."""
        return self._after_book is not None and not self._after_book.done()

    async def loaded(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` seconds for the contact book of the current session to be
        stored; returns whether it is (True at once when nothing is loading)."""
        task = self._after_book
        if task is None or task.done():
            return True
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        return bool(done)

    def _cancel_after_book(self) -> None:
        if self._after_book is not None:
            self._after_book.cancel()
            self._after_book = None

    async def _book_taken_in(self, remote: SendsContactBookLater, announce: bool) -> None:
        await remote.contact_book_loaded()
        try:
            await self._take_book(announce)
        except StoreError:
            log.exception("login %s: the contact book's chats not read", self.login)

    async def _take_book(self, announce: bool) -> None:
        """The session's contact book is stored: note its identities (``identities``) and,
        after a login the user asked for, say how many chats wait for ``resolve``. (A resumed
        session also keeps the bindings of group members.)"""
        bound = await self.store.identities.bound_addresses(self.login)
        if isinstance(self.remote, SupportsContactBook):
            contacts = self.remote.contact_addresses
            self.identities = frozenset(i for a, i in bound.items() if a in contacts)
        else:
            self.identities = frozenset(bound.values())
        if not announce:
            return
        held = await self.store.identities.count_ambiguous(self.login)
        if held:
            await self._say(
                f"{held} chat(s) could be more than one {self.network} contact now; "
                "their messages wait. Send `resolve` to say who is who (`audit` "
                "shows why)."
            )

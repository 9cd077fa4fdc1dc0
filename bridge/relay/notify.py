"""The bridge's own notices in the chats of both sides: sent and remembered as the bridge's,
so that their echoes are not relayed; what a notice about a failed entry quotes and where
it goes. (Their texts: ``relay.notices``.)"""

from __future__ import annotations

import asyncio
import logging

from bridge.channel import Channel
from bridge.ids import EventId, LoginId, RoomId
from bridge.model import Address, Content, IdentityId, Message, RemoteId, Revocation
from bridge.relay import keys
from bridge.store import JournalEntry, Origin, Side, Store

log = logging.getLogger(__name__)


class Notifier:
    """Sends the bridge's notices into the chats of login ``login``, on side ``a`` (the
    remote network) or ``b`` (the side with the portals), and tells the delivery of an
    entry whether its message is one of them come back (``seen``)."""

    def __init__(self, store: Store, login: LoginId, a: Channel, b: Channel) -> None:
        self.store = store
        self.login = login
        self.a = a
        self.b = b
        # Held by a notice from its send until its message-map row exists, and by the check
        # for echoes in the same chat: a notice's echo can race in from the other pump.
        self._notice_locks: dict[tuple[Side, Address], asyncio.Lock] = {}
        self._notices_in_flight = 0
        self._notices_done = 0

    def _notice_lock(self, side: Side, chat: Address) -> asyncio.Lock:
        return self._notice_locks.setdefault((side, chat), asyncio.Lock())

    def notice_mark(self) -> int | None:
        """A mark to take before reading an entry with ``JournalRepo.next_pending`` and to
        pass to ``Deliverer.deliver``: while no notice was sent in between, the entry's ``mapped``
        flag is still the truth and the message map need not be asked again."""
        return None if self._notices_in_flight else self._notices_done

    async def seen(self, entry: JournalEntry, remote_id: RemoteId, mark: int | None) -> bool:
        """Whether the message ``remote_id`` of ``entry`` is in the message map already (an
        echo of the bridge's own send or notice, or a replay). ``mark``: see
        ``notice_mark``; without one, the map is asked after any notice being sent in the
        entry's chat has recorded its row."""
        if entry.mapped:
            return True
        if mark is not None and mark == self._notices_done and not self._notices_in_flight:
            return False  # mapped was read after every notice that could be its origin
        async with self._notice_lock(entry.source, entry.chat):
            found = await self.store.messages.by_side(self.login, entry.source, remote_id)
        return found is not None

    def _channel(self, side: Side) -> Channel:
        return self.a if side is Side.A else self.b

    async def origin_content(self, entry: JournalEntry) -> Content | None:
        """The content a failed entry is about (for quoting it), if still known."""
        event = entry.event()
        if isinstance(event, Message):
            return event.content
        if not isinstance(event, Revocation):
            return None
        link = await self.store.messages.by_side(self.login, entry.source, event.remote_id)
        if link is None or link.origin is Origin.BRIDGE:
            return None
        origin = Side.A if link.origin is Origin.A else Side.B
        original_id = link.id_on(origin)
        if original_id is None:
            return None
        found = await self.store.journal.find(self.login, origin, keys.message_key(original_id))
        original = None if found is None else found.event()
        return original.content if isinstance(original, Message) else None

    async def origin_chat(self, entry: JournalEntry) -> Address | None:
        """Where a notice about ``entry`` goes: its chat on its source side, now."""
        if entry.source is Side.B:
            return entry.chat
        ident = await self.store.identities.get(IdentityId(entry.chat_key))
        if ident is None:
            return entry.chat
        return ident.address

    async def notify(self, side: Side, chat: Address, content: Content) -> None:
        """Send a notice of the bridge into ``chat`` on ``side`` and remember it as the
        bridge's own, so its echo is not relayed. Failures are logged, not raised."""
        channel = self._channel(side)
        self._notices_in_flight += 1
        try:
            async with self._notice_lock(side, chat):
                sent = await channel.send(chat, content)
                if side is Side.A:
                    remote_id, event_id = sent.remote_id, None
                else:
                    remote_id, event_id = None, EventId(sent.remote_id)
                await self.store.messages.add(
                    self.login,
                    origin=Origin.BRIDGE,
                    sender="bridge",
                    remote_id=remote_id,
                    event_id=event_id,
                    room=RoomId(chat) if side is Side.B else None,
                    sent=sent,
                )
        except Exception:
            log.exception("could not send a notice to %s on %s", chat, channel.name)
        finally:
            self._notices_in_flight -= 1
            self._notices_done += 1

"""Read receipts and delivery reports: what the relay passes between the sides without
journaling it."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence

from bridge.channel import SupportsDeliveryReports, SupportsReceipts
from bridge.errors import BridgeError
from bridge.ids import LoginId
from bridge.model import Address, ReadReceipt, RemoteId
from bridge.relay.deliver import Deliverer
from bridge.relay.references import References
from bridge.store import MessageLink, Side, Store

log = logging.getLogger(__name__)

#: Chats whose last relayed receipt is remembered (for de-duplication); the oldest go first.
REMEMBERED_CHATS = 4096


class Receipts:
    """Relays read receipts of login ``login`` to the other side, and delivery reports
    back to the side a message came from.

    A ``ReadReceipt`` is ephemeral (never journaled): the chat is marked read on the other
    side (``SupportsReceipts.mark_read``) up to the bridged message the receipt names, in
    that message's chat only; receipts on messages the bridge never carried are dropped, as
    are receipts on a message no newer than the last one relayed for that chat (the
    homeserver repeats transactions, clients re-send receipts). Failures are logged, never
    retried: a later receipt marks the chat read anyway.
    """

    def __init__(self, store: Store, login: LoginId, deliverer: Deliverer) -> None:
        self.store = store
        self.login = login
        self._deliverer = deliverer
        self._refs = References(store, login, deliverer.a, owner=deliverer.owner)
        self._last: OrderedDict[tuple[Side, Address], int] = OrderedDict()

    async def relay(self, side: Side, receipts: Sequence[ReadReceipt]) -> None:
        """Mark read on the other side what ``receipts`` (from ``side``) say: per chat, up
        to the newest bridged message they name. Never raises."""
        newest: dict[Address, MessageLink] = {}
        for receipt in receipts:
            try:
                link = await self._bridged(side, receipt)
            except Exception:
                log.exception("read receipt in %s not relayed", receipt.chat)
                continue
            current = newest.get(receipt.chat)
            if link is not None and (current is None or link.id > current.id):
                newest[receipt.chat] = link
        for chat, link in newest.items():
            try:
                await self._mark_read(side, chat, link)
            except BridgeError as e:
                log.info("read receipt in %s not relayed: %s", chat, e)
            except Exception:
                log.exception("read receipt in %s not relayed", chat)

    async def _bridged(self, side: Side, receipt: ReadReceipt) -> MessageLink | None:
        """The bridged message ``receipt`` names, if it has an id on the other side and
        is in the receipt's chat; else ``None``."""
        link = await self._refs.link(side, receipt.remote_id)
        if link is None or link.id_on(side.other) is None:
            log.debug("read receipt on %s: not a bridged message", receipt.remote_id)
            return None
        if side is Side.A:
            ident = await self.store.identities.by_address(self.login, receipt.chat)
            in_chat = ident is not None and ident.id == link.identity_id
        else:
            in_chat = link.room is not None and str(link.room) == receipt.chat
        if not in_chat:
            log.warning("read receipt in %s names a message of another chat", receipt.chat)
            return None
        return link

    async def _mark_read(self, side: Side, chat: Address, link: MessageLink) -> None:
        target = side.other
        channel = self._deliverer.channel(target)
        target_id = link.id_on(target)
        if not isinstance(channel, SupportsReceipts) or target_id is None:
            return
        key = (side, chat)
        if self._last.get(key, -1) >= link.id:
            log.debug("read receipt in %s: the chat was marked read that far", chat)
            return
        await channel.mark_read(await self._deliverer.chat_of(link, target), RemoteId(target_id))
        self._last[key] = link.id
        self._last.move_to_end(key)
        while len(self._last) > REMEMBERED_CHATS:
            self._last.popitem(last=False)
        log.debug("chat %s marked read on %s", chat, channel.name)

    def reports_to(self, side: Side) -> bool:
        """Whether ``side``'s channel wants delivery reports (``SupportsDeliveryReports``)."""
        return isinstance(self._deliverer.channel(side), SupportsDeliveryReports)

    async def report(
        self, side: Side, chat: Address, remote_id: RemoteId, error: str | None
    ) -> None:
        """Tell ``side``'s channel how its message ``remote_id`` in ``chat`` fared
        (``SupportsDeliveryReports``; ``error`` ``None``: delivered). Never raises."""
        channel = self._deliverer.channel(side)
        if not isinstance(channel, SupportsDeliveryReports):
            return
        try:
            await channel.delivery_report(chat, remote_id, error=error)
        except Exception:
            log.exception("delivery report on %s not posted", remote_id)

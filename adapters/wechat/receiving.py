"""The receiving half of ``WeChatChannel``: the receive loop over synccheck/webwxsync with
its reconnect backoff and probes (PROTOCOL.md §4, §5), and the translation of each sync batch
into bridge events: contact changes, leaked real ids (§11), unknown groups (§3.4), messages (§6)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

import attrs

from adapters.wechat.client import messages as m
from adapters.wechat.client.client import WeChatClient
from adapters.wechat.client.errors import WeChatError
from adapters.wechat.client.parse import parse_sync_messages
from adapters.wechat.client.receive import SessionEnded, SyncBatch
from adapters.wechat.client.types import Contact, UserName
from adapters.wechat.downloads import media_reference
from adapters.wechat.session_contacts import SessionContacts
from adapters.wechat.translate import (
    MediaMessage,
    content_of,
    mentioned,
    new_leaks,
    to_chat_read,
    to_message,
    to_revocation,
)
from bridge.channel import EventBatch
from bridge.model import Disconnected, Event, LoggedOut, ProfileUpdate, Text

if TYPE_CHECKING:
    from adapters.wechat.channel import WeChatSettings

log = logging.getLogger(__name__)


class WeChatReceiving(SessionContacts):
    """The receiving half of ``WeChatChannel``: ``_receive`` polls WeChat until the session
    ends or the channel stops and queues each sync batch's events, acknowledged by committing
    its SyncKey (PROTOCOL.md §5). The channel provides the session state (``SessionContacts``)
    and the queue below."""

    settings: WeChatSettings
    _client: WeChatClient | None
    _stopped: bool

    def _require_client(self) -> WeChatClient:
        """The started client; see ``WeChatChannel``."""
        raise NotImplementedError

    async def _emit(self, *events: Event) -> None:
        """Queue one batch of ``events`` for ``events()``; see ``WeChatChannel``."""
        raise NotImplementedError

    async def _put(self, batch: EventBatch) -> None:
        """Queue ``batch`` for ``events()`` with back-pressure; see ``WeChatChannel``."""
        raise NotImplementedError

    async def _receive(self) -> None:
        client = self._require_client()
        delay = 1.0
        while not self._stopped:
            try:
                async for event in client.events():
                    delay = 1.0
                    if isinstance(event, SessionEnded):
                        await self._emit(LoggedOut(f"WeChat ended the session: {event.reason}"))
                        return
                    events = await self._translate(event)
                    await self._put(EventBatch(events, ack=partial(client.commit, event)))
                return
            except WeChatError as exc:
                await self._emit(Disconnected(str(exc), retry_in_s=delay))
                if await self._wait_or_answered(client, delay):
                    delay = 1.0  # WeChat answers again: poll at once, short waits
                else:
                    delay = min(delay * 2, self.settings.reconnect_max_s)

    async def _wait_or_answered(self, client: WeChatClient, delay: float) -> bool:
        """Sleep ``delay`` seconds, probing with a synccheck every ``probe_interval_s``;
        True as soon as WeChat answers one (the wait is cut short)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        step = self.settings.probe_interval_s
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(left, step))
            if loop.time() < deadline and await client.probe(time_limit=min(step, 5.0)):
                log.info("WeChat answers again; polling now")
                return True
        return False

    def _meet(self, contacts: Iterable[Contact]) -> None:
        """Note the UserNames of ``contacts`` and of their group members as this session's."""
        for contact in contacts:
            self._known.add(contact.user_name)
            self._known.update(member.user_name for member in contact.members)

    async def _translate(self, batch: SyncBatch) -> tuple[Event, ...]:
        out: list[Event] = []
        self._meet(batch.mod_contacts)
        for contact in batch.mod_contacts:
            self._contacts[contact.user_name] = contact
            out.append(ProfileUpdate(self._profile(contact)))
        for user_name in batch.del_contacts:
            self._contacts.pop(user_name, None)
        me = self._self.user_name if self._self else UserName("")
        for msg in parse_sync_messages(list(batch.messages), me):
            self._known.update((msg.chat, msg.sender))
            out.extend(self._learn(msg))
            out.extend(await self._unknown_chat(msg))
            event = await self._event_of(msg)
            if event is not None:
                out.append(event)
        return tuple(out)

    def _learn(self, msg: m.WeChatMessage) -> list[Event]:
        """Record real ids leaked by ``msg`` (PROTOCOL.md §11); profile updates for contacts."""
        updates: list[Event] = []
        for user_name, real_id in new_leaks(msg, self._real_ids).items():
            self._real_ids[user_name] = real_id
            if (contact := self._contacts.get(user_name)) is not None:
                updates.append(ProfileUpdate(self._profile(contact)))
        return updates

    async def _unknown_chat(self, msg: m.WeChatMessage) -> list[Event]:
        """Fetch a group the book lacks (groups not saved to contacts, §3.3)."""
        if not msg.is_group or msg.chat in self._contacts or self._client is None:
            return []
        try:
            found = await self._client.batch_get_contacts([msg.chat])
        except WeChatError as exc:
            log.warning("could not fetch an unknown group: %s", exc)
            return []
        self._contacts.update((c.user_name, c) for c in found)
        self._meet(found)
        return [ProfileUpdate(self._profile(c)) for c in found]

    async def _event_of(self, msg: m.WeChatMessage) -> Event | None:
        if isinstance(msg, m.Recall):
            return to_revocation(msg)
        if isinstance(msg, m.StatusNotify):
            return to_chat_read(msg)
        if isinstance(msg, m.PossibleFriend):
            return None
        if isinstance(msg, MediaMessage):
            # Only a reference: the chat's delivery queue fetches the file (fetch_media).
            return to_message(msg, media_reference(msg))
        content = content_of(msg)
        if isinstance(content, Text) and isinstance(msg, m.TextMessage) and msg.mentions:
            group = self._contacts.get(msg.chat)
            found = mentioned(self._self, group, msg.mentions)
            content = attrs.evolve(content, mentions=found)
        return to_message(msg, content) if content is not None else None

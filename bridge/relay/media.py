"""Files through the relay: spooled at intake, fetched or read back at delivery, then removed."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs

from bridge.channel import Channel, SupportsMediaFetch
from bridge.errors import BridgeError, DeliveryFailed
from bridge.model import Content, Event, Media, Message, Notice
from bridge.store import JournalEntry, Store

log = logging.getLogger(__name__)


async def spool_events(store: Store, events: Sequence[Event]) -> tuple[list[Event], list[str]]:
    """``events`` with the bytes of every message's ``Media`` moved to ``store.media``
    (the ``Media`` keeps its file's SHA-256 name in ``sha256``), and the names spooled.
    Called before the events' journal transaction, so an entry never names a missing
    file. Raises ``StoreError``."""
    out: list[Event] = []
    spooled: list[str] = []
    for event in events:
        if isinstance(event, Message) and isinstance(event.content, Media) and event.content.data:
            media = event.content
            sha = await store.media.put(media.data)
            spooled.append(sha)
            event = attrs.evolve(event, content=attrs.evolve(media, data=b"", sha256=sha))
        out.append(event)
    return out, spooled


async def discard_unused(store: Store, names: Sequence[str]) -> None:
    """Remove the spooled files ``names`` that no undelivered journal entry names; the
    caller holds ``store.media.lock``. Raises ``StoreError``."""
    for sha in names:
        if not await store.journal.refers_to(sha):
            await store.media.discard(sha)


async def sweep(store: Store, age_s: float) -> None:
    """Remove spooled files older than ``age_s`` seconds that no undelivered entry names
    (left by a crash between a delivery and its file's removal). Raises ``StoreError``."""
    for sha in store.media.older_than(age_s):
        async with store.media.lock:
            if not await store.journal.refers_to(sha):
                log.info("removing spooled file %s…: no entry needs it", sha[:12])
                await store.media.discard(sha)


async def resolve(
    store: Store,
    source: Channel,
    entry: JournalEntry,
    msg: Message,
    *,
    notice_if_gone: bool = True,
) -> Content:
    """``msg``'s content ready to send (``msg`` is ``entry``'s event; ``source`` the
    channel it came from). A file the journal only names is read from the spool, or fetched
    from ``source`` (``SupportsMediaFetch``) and spooled, the entry then naming the spooled
    copy so a retry does not fetch it again. Other content is returned as it is.

    A file its source cannot provide any more becomes a ``Notice`` saying so for the
    recipient; with ``notice_if_gone=False`` (the sender is the bridge's user, who should
    hear of it) the non-retryable ``DeliveryFailed`` is raised instead, so the entry fails
    and its origin chat is told. Raises ``DeliveryFailed`` (retryable while the source may
    still provide it), ``StoreError``.
    """
    media = msg.content
    if not isinstance(media, Media) or not media.is_reference:
        return media
    if media.sha256:
        data = await store.media.get(media.sha256)
        if data is not None:
            return attrs.evolve(media, data=data, sha256="")
        log.warning("entry %d: its spooled file is missing", entry.id)
        if not media.ref:
            raise DeliveryFailed("the file was lost before it could be delivered")
    if not isinstance(source, SupportsMediaFetch):
        raise DeliveryFailed(f"{source.name} cannot provide the file any more")
    try:
        fetched = await source.fetch_media(attrs.evolve(media, sha256=""))
    except DeliveryFailed as e:
        if e.retryable or not notice_if_gone:
            raise
        log.warning("entry %d: the %s is not available: %s", entry.id, media.kind.value, e)
        return Notice(f"[a {media.kind.value} that could not be fetched: {e.reason}]")
    async with store.media.lock:
        sha = await store.media.put(fetched.data)
        spooled = attrs.evolve(fetched, data=b"", sha256=sha, ref=media.ref)
        await store.journal.set_event(entry.id, attrs.evolve(msg, content=spooled))
    return fetched


async def release(store: Store, entry: JournalEntry) -> None:
    """Remove the spooled file of ``entry`` (delivered or failed) unless another entry not
    yet delivered names the same file. Never raises."""
    try:
        found = await store.journal.get(entry.id)
        event = None if found is None else found.event()
        if not isinstance(event, Message) or not isinstance(event.content, Media):
            return
        if event.content.sha256:
            async with store.media.lock:
                await discard_unused(store, [event.content.sha256])
    except BridgeError:
        log.exception("entry %d: cannot release its spooled file", entry.id)

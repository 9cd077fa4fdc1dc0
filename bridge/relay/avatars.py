"""Fetching the few avatars that decide a match, through side A's session (PROTOCOL.md §9,
§11; the rules: ``bridge.identity_avatars``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence

import attrs

from bridge import identity as matcher
from bridge.channel import SupportsAvatars
from bridge.errors import BridgeError
from bridge.identity_avatars import FETCH_LIMIT, avatar_hash, avatars_wanted
from bridge.identity_avatars import match_book_with_avatars as _match_with_avatars
from bridge.model import Address, Profile

log = logging.getLogger(__name__)


#: Hashes ``AvatarFetcher`` remembers before it starts again (a few logins' worth).
MEMO_LIMIT = 1024


class AvatarFetcher:
    """Fetches avatars through ``channel`` one at a time, their starts at least
    ``interval_s`` seconds apart, each within ``timeout_s`` seconds, at most ``FETCH_LIMIT``
    per call: 24 icons take about half a second, gentler than the official web client, which
    loads the icons of its whole chat list at once at every login. ``fetched`` counts every
    request made. A fetch that fails leaves that contact's hash unknown (it then says
    nothing): never raises."""

    def __init__(
        self,
        channel: SupportsAvatars,
        *,
        interval_s: float = 0.02,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channel = channel
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.fetched = 0
        self._clock = clock
        self._last = float("-inf")
        #: Hashes fetched, by address: a batch taken in again (a retried commit) or a second
        #: match of the same session asks no icon twice. Addresses are the session's (a new
        #: login's are all new, PROTOCOL.md §11), so an entry never names someone else.
        self._memo: dict[Address, str] = {}

    async def pictures(
        self, wanted: Sequence[tuple[str, Address]]
    ) -> tuple[tuple[str, bytes], ...]:
        """The avatar at each ``(caption, address)`` of ``wanted`` (the first
        ``FETCH_LIMIT``), as ``(caption, bytes)``, for the user to see (a held chat's
        candidates); those that could not be fetched are left out."""
        found: list[tuple[str, bytes]] = []
        for caption, address in wanted[:FETCH_LIMIT]:
            data = await self._fetch(address)
            if data is not None:
                found.append((caption, data))
        return tuple(found)

    async def _fetch(self, address: Address) -> bytes | None:
        """One avatar, its start at least ``interval_s`` after the last; None on failure."""
        wait = self._last + self.interval_s - self._clock()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last = self._clock()
        self.fetched += 1
        try:
            return await asyncio.wait_for(self.channel.avatar(address), self.timeout_s)
        except (BridgeError, TimeoutError) as exc:
            log.info("avatar of a contact not fetched: %s", exc)
        except Exception:  # an adapter's bug must not stop the login's contact book
            log.exception("avatar of a contact not fetched: unexpected error")
        return None

    async def hashes(self, addresses: Sequence[Address]) -> dict[Address, str]:
        """``avatar_hash`` of the avatar at each of ``addresses`` (the first ``FETCH_LIMIT``)
        that could be fetched."""
        found = {a: self._memo[a] for a in addresses[:FETCH_LIMIT] if a in self._memo}
        for address in addresses[:FETCH_LIMIT]:
            if address in found:
                continue
            data = await self._fetch(address)
            if data is None:
                continue
            found[address] = avatar_hash(data)
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            self._memo[address] = found[address]
        return found


async def rematch(
    known: Sequence[matcher.Identity],
    contacts: Sequence[Profile],
    first: matcher.MatchResult,
    fetcher: AvatarFetcher | None,
    hashes: Mapping[Address, str],
    new_id: matcher.NewId,
) -> tuple[matcher.MatchResult, dict[Address, str]] | None:
    """The match of ``contacts`` with the avatars that decide it, or None when there are
    none: ``hashes`` already fetched (kept from an earlier try of the same book) plus those
    ``fetcher`` gets for ``avatars_wanted``. Returns the match and every hash it used."""
    wanted = [a for a in avatars_wanted(known, contacts, first) if a not in hashes]
    found = dict(hashes)
    if fetcher is not None and wanted:
        found |= await fetcher.hashes(wanted)
        log.info("contact book: %d avatars fetched to tell look-alikes apart", len(wanted))
    if not found:
        return None
    result = await asyncio.to_thread(
        _match_with_avatars, known, contacts, first, found, new_id=new_id
    )
    return result, found


def with_hashes(book: Sequence[Profile], hashes: Mapping[Address, str]) -> list[Profile]:
    """``book`` with the fetched ``hashes`` (address -> ``avatar_hash``) filled in."""
    return [
        attrs.evolve(p, avatar_hash=hashes[p.address])
        if p.address in hashes and not p.avatar_hash
        else p
        for p in book
    ]

"""What matching group members who are not contacts adds to a re-login: a book of 5,000
friends and 500 groups of 100 members, with member identities for those who wrote before.

Run: ``.venv/bin/python benchmarks/member_bench.py``. Prints, side by side, the baseline
(``match_book`` of the contacts and groups alone) and what members add: building the
``ContactBook.members`` of the WeChat adapter (``group_members``: 50,000 entries), then
``with_members`` for 0, 2,000 and 10,000 member identities. Times are the best of 3 runs;
memory is tracemalloc's peak during one run.
"""

from __future__ import annotations

import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.wechat.client.types import Contact, Member, UserName
from adapters.wechat.translate import group_members
from bridge.identity import Identity, match_book, with_members
from bridge.model import Address, ChatKind, GroupMember, IdentityId, Profile

FRIENDS, GROUPS, PER_GROUP = 5_000, 500, 100
T = TypeVar("T")


def _best(run: Callable[[], T]) -> tuple[float, float, T]:
    """(best time in ms of 3 runs, peak MiB of one, the result)."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return min(times) * 1000, peak / 2**20, result


def _world(rng: random.Random) -> tuple[list[Profile], list[Contact]]:
    nicks = [f"nick{i}" for i in range(20_000)]
    friends = [Profile(Address(f"@f{n}"), nick_name=rng.choice(nicks)) for n in range(FRIENDS)]
    groups = []
    for g in range(GROUPS):
        members = tuple(
            Member(
                UserName(f"@m{g}.{m}"),
                nick_name=rng.choice(nicks),
                display_name=rng.choice(("", "", f"card{g}.{m}")),
                attr_status=rng.randrange(1 << 20),
                key_word=rng.choice(("wxi", "wxi", "dap", "mai")),
            )
            for m in range(PER_GROUP)
        )
        groups.append(Contact(UserName(f"@@g{g}"), nick_name=f"topic{g}", members=members))
    return friends, groups


def main() -> None:
    rng = random.Random(7)
    friends, groups = _world(rng)
    book = friends + [
        Profile(Address(g.user_name), ChatKind.GROUP, nick_name=g.nick_name, real_id=f"{n}@c")
        for n, g in enumerate(groups)
    ]
    known_groups = [
        Identity(IdentityId(f"G{n}"), ChatKind.GROUP, attrs_profile)
        for n, attrs_profile in enumerate(book[FRIENDS:])
    ]
    # ``group_members`` is a view (entries built as read): time reading all of them.
    ms, mib, members = _best(lambda: tuple(group_members(groups, {}, "@self")))
    print(f"{'step':<44}{'time ms':>9}{'peak MiB':>10}")
    print(f"{'adapter: ContactBook.members (50,000)':<44}{ms:>9.1f}{mib:>10.1f}")
    ms, mib, result = _best(
        lambda: match_book(known_groups, book, new_id=lambda p: IdentityId(f"n{p.address}"))
    )
    print(f"{'baseline: match_book, 5,000 + 500 groups':<44}{ms:>9.1f}{mib:>10.1f}")
    for count in (0, 2_000, 10_000):
        known = _member_identities(rng, members, result.bound, count)
        ms, mib, (found, _) = _best(partial(with_members, result, known, book, members))
        kept = len(found.bound) - len(result.bound)
        held = sum(1 for i in found.updated if i.ambiguous)
        label = f"with_members, {count:,} member identities"
        print(f"{label:<44}{ms:>9.1f}{mib:>10.1f}  ({kept} kept, {held} held)")


def _member_identities(
    rng: random.Random,
    members: tuple[GroupMember, ...],
    groups: dict[Address, IdentityId],
    count: int,
) -> list[Identity]:
    """``count`` members who wrote in the last session, their identities in their group."""
    return [
        Identity(
            IdentityId(f"M{n}"),
            ChatKind.DIRECT,
            Profile(
                Address(f"@old{n}"),
                nick_name=m.profile.nick_name,
                attr_status=m.profile.attr_status,
                key_word=m.profile.key_word,
                group_name=m.profile.group_name,
                member_of=groups[m.group],
            ),
        )
        for n, m in enumerate(rng.sample(members, count))
    ]


if __name__ == "__main__":
    main()

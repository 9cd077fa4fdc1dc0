"""Time and peak memory of identity matching after a re-login, for 1k and 10k contact books.

Run: ``.venv/bin/python benchmarks/identity_bench.py``. Each book has 10% more groups than
contacts/10; the re-login renames 5% of the contacts, drops 2%, adds 2%, and re-draws which
real ids leaked. Time is the best of 5 runs; memory is tracemalloc's peak during one run.
"then avatar rematch" is what a login adds where look-alikes remain (the 24 avatars'
hashes, fetch time excluded, and the second match), next to the plain match as baseline.
"""

from __future__ import annotations

import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.identity import Identity, MatchResult, match_book
from bridge.identity_avatars import avatar_hash, avatars_wanted, match_book_with_avatars
from bridge.model import Address, ChatKind, IdentityId, Profile

CITIES = ["Beijing", "Shanghai", "Shenzhen", "Chengdu", "Paris", "Oslo", ""]
PROVINCES = ["Beijing", "Guangdong", "Sichuan", ""]


def _people(rng: random.Random, contacts: int) -> list[dict[str, object]]:
    # About three people per NickName on average: repeats are common, as in real books.
    nicks = [f"nick{i}" for i in range(max(1, contacts // 3))]
    return [
        {
            "n": n,
            "nick": rng.choice(nicks),
            "sex": rng.choice((0, 1, 2)),
            "province": rng.choice(PROVINCES),
            "city": rng.choice(CITIES),
            "signature": rng.choice(("", "", f"sig{rng.randrange(1000)}")),
            "alias": f"alias{n}" if rng.random() < 0.1 else "",
            "remark": f"remark{n}" if rng.random() < 0.3 else "",
        }
        for n in range(contacts)
    ]


def _groups(rng: random.Random, people: list[dict[str, object]], count: int) -> list[Profile]:
    names = [str(p["nick"]) for p in people]
    return [
        Profile(
            address=Address(""),
            kind=ChatKind.GROUP,
            nick_name=f"topic{rng.randrange(max(1, count // 2))}",
            members=frozenset(rng.sample(names, min(len(names), rng.randint(3, 40)))),
        )
        for _ in range(count)
    ]


def _book(
    rng: random.Random, session: int, people: list[dict[str, object]], groups: list[Profile]
) -> list[Profile]:
    book = [
        Profile(
            address=Address(f"@{session:02d}{rng.getrandbits(128):032x}"),
            kind=ChatKind.DIRECT,
            nick_name=str(p["nick"]),
            real_id=f"wxid_{p['n']}" if rng.random() < 0.2 else "",
            alias=str(p["alias"]),
            remark_name=str(p["remark"]),
            sex=int(str(p["sex"])),
            province=str(p["province"]),
            city=str(p["city"]),
            signature=str(p["signature"]),
        )
        for p in people
    ]
    for group in groups:
        # One member joins between logins in a third of the groups.
        joined = (f"new{rng.randrange(10**6)}",) if rng.random() < 0.3 else ()
        members = group.members + joined
        address = Address(f"@@{session:02d}{rng.getrandbits(256):064x}")
        book.append(attrs.evolve(group, address=address, members=members))
    rng.shuffle(book)
    return book


def _relogin(rng: random.Random, people: list[dict[str, object]]) -> list[dict[str, object]]:
    after = [dict(p) for p in people if rng.random() >= 0.02]
    for p in after:
        if rng.random() < 0.05:
            p["nick"] = f"{p['nick']}-renamed"
    start = len(people)
    after.extend({**p, "n": start + i} for i, p in enumerate(_people(rng, len(people) // 50)))
    return after


def _measure(run: Callable[[], MatchResult]) -> tuple[float, float, MatchResult]:
    best = float("inf")
    result = run()
    for _ in range(5):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best * 1000, peak / 2**20, result


def _ids(prefix: str) -> Callable[[Profile], IdentityId]:
    counter = iter(range(10**9))
    return lambda profile: IdentityId(f"{prefix}{next(counter)}")


def scenario(contacts: int) -> tuple[int, int, float, float, MatchResult]:
    rng = random.Random(contacts)
    people = _people(rng, contacts)
    groups = _groups(rng, people, contacts // 10)
    first = match_book([], _book(rng, 0, people, groups), new_id=_ids("a"))
    known: list[Identity] = list(first.created)
    book = _book(rng, 1, _relogin(rng, people), groups)
    ms, mib, result = _measure(lambda: match_book(known, book, new_id=_ids("b")))
    return len(known), len(book), ms, mib, result


def with_avatars(contacts: int) -> tuple[int, int, float, float, MatchResult]:
    """``scenario``, then what a login adds where look-alikes remain: the avatars to fetch
    (``avatars_wanted``, at most 24) and the second match with their hashes."""
    rng = random.Random(contacts)
    people = _people(rng, contacts)
    groups = _groups(rng, people, contacts // 10)
    first = match_book([], _book(rng, 0, people, groups), new_id=_ids("a"))
    known: list[Identity] = list(first.created)
    book = _book(rng, 1, _relogin(rng, people), groups)
    plain = match_book(known, book, new_id=_ids("b"))

    def run() -> MatchResult:
        wanted = avatars_wanted(known, book, plain)
        hashes = {a: avatar_hash(a.encode()) for a in wanted}
        return match_book_with_avatars(known, book, plain, hashes, new_id=_ids("c"))

    ms, mib, result = _measure(run)
    return len(known), len(book), ms, mib, result


def worst_case(contacts: int) -> tuple[int, int, float, float, MatchResult]:
    """Every contact has the same NickName and nothing else: one bucket of n x n pairs."""
    book0 = [Profile(Address(f"@a{i}"), nick_name="微信用户") for i in range(contacts)]
    known = list(match_book([], book0, new_id=_ids("a")).created)
    book = [Profile(Address(f"@b{i}"), nick_name="微信用户") for i in range(contacts)]
    ms, mib, result = _measure(lambda: match_book(known, book, new_id=_ids("b")))
    return len(known), len(book), ms, mib, result


def main() -> None:
    header = f"{'case':<28}{'known':>7}{'book':>7}{'bound':>7}{'new':>6}{'ambig':>7}"
    print(f"{header}{'time ms':>9}{'peak MiB':>10}")
    cases: list[tuple[str, Callable[[], tuple[int, int, float, float, MatchResult]]]] = [
        ("1k contacts + 100 groups", lambda: scenario(1_000)),
        ("10k contacts + 1k groups", lambda: scenario(10_000)),
        ("10k, then avatar rematch", lambda: with_avatars(10_000)),
        ("worst: 1k same NickName", lambda: worst_case(1_000)),
    ]
    for label, run in cases:
        known, book, ms, mib, result = run()
        ambiguous = sum(len(a.addresses) for a in result.ambiguous)
        print(
            f"{label:<28}{known:>7}{book:>7}{len(result.bound):>7}{len(result.created):>6}"
            f"{ambiguous:>7}{ms:>9.1f}{mib:>10.2f}"
        )


if __name__ == "__main__":
    main()

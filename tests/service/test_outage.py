"""When a failing WeChat connection is worth a notice: once per outage, only if it lasts."""

from __future__ import annotations

from bridge.outage import Outage


def test_a_short_outage_is_not_reported() -> None:
    outage = Outage(notice_after_s=30, gap_s=60)

    told = [outage.disconnected("synccheck failed", 1.0, now) for now in (0.0, 1.0, 3.0)]

    assert told == [False, False, False]
    assert outage.ongoing(10.0)
    assert not outage.ongoing(3.0 + 4.0 + 61.0)  # no failure for longer than backoff + gap


def test_a_lasting_outage_is_reported_once() -> None:
    outage = Outage(notice_after_s=30, gap_s=60)
    times, delay, now = [], 1.0, 0.0
    while now < 200:
        times.append((now, delay))
        now += delay + 25  # the backoff plus a synccheck that hangs until it fails
        delay = min(delay * 2, 60)

    told = [outage.disconnected("network down", retry, at) for at, retry in times]

    assert told.count(True) == 1
    assert told.index(True) == next(i for i, (at, _) in enumerate(times) if at >= 30)
    assert outage.reason == "network down"


def test_a_new_outage_after_recovery_is_reported_again() -> None:
    outage = Outage(notice_after_s=30, gap_s=60)
    assert [outage.disconnected("down", 1, t) for t in (0, 20, 40)] == [False, False, True]

    later = [outage.disconnected("down again", 1, t) for t in (500, 520, 540, 560)]

    assert later == [False, False, True, False]


def test_clear_ends_the_outage() -> None:
    outage = Outage(notice_after_s=30, gap_s=60)
    outage.disconnected("down", 1, 0)
    outage.clear()

    assert not outage.ongoing(1)
    assert outage.disconnected("down", 1, 31) is False  # a new outage starts at 31

"""hub.stats_feed: STATS_UPDATE throttled on the hub's clock, without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.clock import ManualClock
from hub.stats_feed import StatsThrottle


async def test_the_first_change_goes_at_once_later_ones_wait_for_the_interval_and_come_once():
    clock = ManualClock(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    sent: list[float] = []
    feed = StatsThrottle(2.0, clock, lambda: sent.append(clock.monotonic()))
    feed.changed()
    assert len(sent) == 1
    for _ in range(5):
        feed.changed()
    feed.flush_if_due()
    assert len(sent) == 1, "inside the interval: held"
    clock.advance(seconds=1.9)
    feed.flush_if_due()
    assert len(sent) == 1
    clock.advance(seconds=0.1)
    feed.flush_if_due()
    assert len(sent) == 2, "the held change goes when the interval is over"
    feed.flush_if_due()
    assert len(sent) == 2, "and only once"
    clock.advance(seconds=5)
    feed.changed()
    assert len(sent) == 3, "a change long after the last send goes at once"
    feed.cancel()


async def test_a_clock_set_back_does_not_hold_statistics_forever():
    clock = ManualClock(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    sent: list[int] = []
    feed = StatsThrottle(1.0, clock, lambda: sent.append(1))
    feed.changed()
    clock.set(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))  # a day back: NTP correcting a Pi
    feed.changed()
    clock.advance(seconds=1)
    feed.flush_if_due()
    assert len(sent) == 2
    feed.cancel()

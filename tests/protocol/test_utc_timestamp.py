"""protocol.messages.utc_timestamp: the cached second gives exactly what the plain strftime gave."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from protocol import messages as m


def reference(moment: datetime) -> str:
    """The implementation before the cache, kept here as the oracle."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def random_moments(rng: random.Random, count: int) -> list[datetime]:
    moments = []
    for _ in range(count):
        start = datetime(2, 1, 1, tzinfo=UTC) if rng.random() < 0.1 else datetime(1990, 1, 1, tzinfo=UTC)
        span = (datetime(9998, 12, 30, tzinfo=UTC) if rng.random() < 0.1 else datetime(2060, 1, 1, tzinfo=UTC)) - start
        moment = start + timedelta(microseconds=rng.randrange(int(span.total_seconds() * 1_000_000)))
        kind = rng.random()
        if kind < 0.3:
            offset = timedelta(minutes=rng.randrange(-23 * 60 - 59, 23 * 60 + 60))
            moment = moment.astimezone(timezone(offset))
        elif kind < 0.35 and 1990 <= moment.year <= 2060:
            moment = moment.replace(tzinfo=None)  # naive: local time, as astimezone reads it
        moments.append(moment)
        # Runs of nearby moments, as the hub stamps them: the cached second is hit, and missed at its edge.
        for _ in range(rng.randrange(4)):
            moment = moment + timedelta(microseconds=rng.choice((1, 999, 1000, 250_000, 999_999, 1_000_000)))
            moments.append(moment)
    return moments


def test_utc_timestamp_matches_the_plain_implementation_on_many_random_moments():
    rng = random.Random(20261202)
    moments = random_moments(rng, 8_000)
    # In order and shuffled: the cache must never hand out another second's text.
    for batch in (moments, rng.sample(moments, len(moments))):
        for moment in batch:
            assert m.utc_timestamp(moment) == reference(moment), moment


def test_utc_timestamp_edges_of_a_second():
    base = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    for moment in (base, base.replace(microsecond=999_999), base + timedelta(microseconds=1_000_000),
                   base.replace(microsecond=999), base.replace(microsecond=1000),
                   datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, 0, 0, 0, 5000, tzinfo=UTC),
                   datetime(1970, 1, 1, 7, tzinfo=timezone(timedelta(hours=7)))):
        assert m.utc_timestamp(moment) == reference(moment)
    assert m.utc_timestamp(datetime(2026, 12, 1, 8, 30, 5, 123_456, tzinfo=timezone(timedelta(hours=7)))) == \
        "2026-12-01T01:30:05.123Z"

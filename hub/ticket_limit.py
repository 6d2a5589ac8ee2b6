"""How many tickets one token or one kiosk may take, across all of its connections.

Each connection's own bucket (``hub.rate_limit.TokenBucket``) stops a flood on
that connection; one kiosk token on twenty connections got past it and took
thousands of tickets. Here every ticket request is counted against its
token and, from a kiosk, against the kiosk's ``client_id``, whichever
connection it came on: ``per_minute`` on average, ``burst`` at once (the site
file's ``[rate_limit] tickets_per_minute`` and ``ticket_burst``). A retry of a
request the kiosk already got its ticket for is not a new ticket and is not
counted (the hub knows which those are and does not ask).
"""

from __future__ import annotations

from collections.abc import Iterable

from hub.auth import Identity


def ticket_keys(identity: Identity, client_type: str | None, client_id: str | None) -> tuple[str, ...]:
    """What a ticket request is counted against: its token, and the kiosk it came from."""
    keys = ["token:" + identity.token_key]
    if client_type == "kiosk" and client_id is not None:
        keys.append("kiosk:" + client_id)
    return tuple(keys)


class TicketLimiter:
    def __init__(self, per_minute: float, burst: int, max_keys: int = 10_000):
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        # key -> (tickets left, monotonic time of the reading); oldest first.
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, keys: Iterable[str], now: float) -> bool:
        """Take one ticket from every key's allowance if each has one left; otherwise take nothing."""
        levels = {key: self._level(key, now) for key in keys}
        if any(level < 1.0 for level in levels.values()):
            return False
        for key, level in levels.items():
            self._buckets.pop(key, None)
            self._buckets[key] = (level - 1.0, now)
        while len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        return True

    def _level(self, key: str, now: float) -> float:
        entry = self._buckets.get(key)
        if entry is None:
            return self.burst
        left, then = entry
        return min(self.burst, left + max(0.0, now - then) * self.rate)

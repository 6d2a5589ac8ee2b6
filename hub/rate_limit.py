"""Per-connection rate limiting: a token bucket, and when to give up on a flooder."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """``rate`` messages a second on average, bursts of up to ``burst``.

    ``refused`` counts messages refused since the bucket last recovered to
    half full: a client that keeps flooding keeps the bucket empty, so the
    count only grows, and the server closes the connection once it passes
    its limit. A client that pauses gets a clean slate.
    """

    rate: float
    burst: int
    tokens: float = -1.0
    updated_at: float = 0.0
    refused: int = 0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = float(self.burst)

    def take(self, now: float) -> bool:
        """Spend one token for a message at monotonic time ``now``; False if there is none."""
        if self.updated_at:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated_at) * self.rate)
        self.updated_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            if self.tokens >= self.burst / 2:
                self.refused = 0
            return True
        self.refused += 1
        return False


class LoginBackoff:
    """Failed logins remembered per key (a username, a peer address) across connections.

    The per-connection delay alone is reset by reconnecting, and parallel
    connections guess in parallel. Here, after ``free_failures`` failures for
    a key, the next attempt for that key is refused unchecked until
    ``2 ** (failures - free_failures + 1)`` seconds (at most ``max_wait``)
    after the last failure. A success clears the keys; a key with no failure
    for ``forget_after`` seconds is forgotten.
    """

    def __init__(self, free_failures: int = 3, max_wait: float = 60.0, forget_after: float = 900.0,
                 max_keys: int = 10_000):
        self.free_failures = free_failures
        self.max_wait = max_wait
        self.forget_after = forget_after
        self.max_keys = max_keys
        # key -> (failures, time of the last failure); oldest first.
        self._failures: dict[str, tuple[int, float]] = {}

    def wait(self, keys: tuple[str, ...], now: float) -> float:
        """Seconds before another attempt for any of ``keys`` may be checked (0: now)."""
        longest = 0.0
        for key in keys:
            entry = self._failures.get(key)
            if entry is None:
                continue
            failures, last = entry
            if now - last >= self.forget_after:
                del self._failures[key]
                continue
            if failures >= self.free_failures:
                delay = min(self.max_wait, 2.0 ** (failures - self.free_failures + 1))
                longest = max(longest, last + delay - now)
        return longest

    def failed(self, keys: tuple[str, ...], now: float) -> None:
        for key in keys:
            failures, last = self._failures.pop(key, (0, now))
            if now - last >= self.forget_after:
                failures = 0
            self._failures[key] = (failures + 1, now)
        # Many distinct usernames must not grow memory without bound: drop the oldest.
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            self._failures.pop(key, None)

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

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


@dataclass(frozen=True)
class LoginAttempt:
    """An attempt :meth:`LoginBackoff.begin` let through: the keys it was counted under."""

    pair: str
    others: tuple[str, ...]


class LoginBackoff:
    """Login attempts remembered across connections, so guessing passwords stays slow.

    Every attempt counts the moment it is let through, before its password is
    checked, so attempts sent at once cannot all slip past the count. Three keys:

    * the username from this address: after ``free_failures`` attempts that
      did not succeed, the next waits ``2 ** (n - free_failures + 1)`` seconds
      (at most ``max_wait``) after the last one;
    * the address, across usernames (someone trying many accounts), after
      ``address_free_failures``;
    * the username, across addresses (guessing from many addresses), after
      ``user_free_failures``.

    Only the first slows a person down at an address where they logged in
    before (``known_address``): whatever an attacker does elsewhere, a
    person's own console lets the right password in. A success clears its
    username-and-address key and takes its own count back from the others;
    a key unused for ``forget_after`` seconds is forgotten.
    """

    def __init__(self, free_failures: int = 3, address_free_failures: int = 10, user_free_failures: int = 10,
                 max_wait: float = 60.0, forget_after: float = 900.0, max_keys: int = 10_000):
        self.free_failures = free_failures
        self.address_free_failures = address_free_failures
        self.user_free_failures = user_free_failures
        self.max_wait = max_wait
        self.forget_after = forget_after
        self.max_keys = max_keys
        # key -> (attempts not yet succeeded, time of the last one); oldest first.
        self._attempts: dict[str, tuple[int, float]] = {}

    def begin(self, username: str, address: str, now: float, *, known_address: bool = False) -> LoginAttempt | float:
        """Count an attempt and return it, or return how many seconds to wait first (nothing counted)."""
        name = username.casefold()
        pair = f"pair:{name}@{address}"
        others = (f"address:{address}", f"user:{name}")
        limits = [(pair, self.free_failures)]
        if not known_address:
            limits += [(others[0], self.address_free_failures), (others[1], self.user_free_failures)]
        wait = max(self._wait(key, free, now) for key, free in limits)
        if wait > 0:
            return wait
        for key in (pair, *others):
            attempts, _ = self._current(key, now)
            self._attempts.pop(key, None)
            self._attempts[key] = (attempts + 1, now)
        # Many distinct usernames must not grow memory without bound: drop the oldest.
        while len(self._attempts) > self.max_keys:
            del self._attempts[next(iter(self._attempts))]
        return LoginAttempt(pair, others)

    def succeeded(self, attempt: LoginAttempt) -> None:
        self._attempts.pop(attempt.pair, None)
        for key in attempt.others:
            entry = self._attempts.get(key)
            if entry is not None:
                self._attempts[key] = (max(0, entry[0] - 1), entry[1])

    def _current(self, key: str, now: float) -> tuple[int, float]:
        entry = self._attempts.get(key)
        if entry is None or now - entry[1] >= self.forget_after:
            return 0, now
        return entry

    def _wait(self, key: str, free: int, now: float) -> float:
        attempts, last = self._current(key, now)
        if attempts < free:
            return 0.0
        return max(0.0, last + min(self.max_wait, 2.0 ** (attempts - free + 1)) - now)

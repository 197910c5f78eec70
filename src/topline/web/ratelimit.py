"""An in-memory sliding-window rate limiter for sign-in attempts.

Each key (client address and email) may make `limit` attempts in any `window_seconds`.
The state lives in the process: several app processes each keep their own count, which still
bounds password guessing to `limit × processes` per window.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable


class SlidingWindowLimiter:
    """Allows at most `limit` attempts per key in any window of `window_seconds`.

    Blocked attempts are not recorded, so a key is let in again as soon as its oldest
    recorded attempt leaves the window. At most `max_keys` keys are tracked; past that the
    idle and then the least recently active ones are forgotten, so a flood of made-up emails
    cannot exhaust memory.
    """

    def __init__(
        self,
        limit: int,
        *,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if limit < 1:
            raise ValueError(f"the attempt limit must be at least 1, not {limit}")
        if window_seconds <= 0:
            raise ValueError(f"the window must be positive, not {window_seconds}")
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self._clock = clock
        self._attempts: dict[Hashable, deque[float]] = {}
        # Sync endpoints run in a thread pool, so two sign-ins can arrive at once.
        self._lock = threading.Lock()

    def hit(self, key: Hashable) -> bool:
        """Record an attempt for `key`; False, recording nothing, when it is over the limit."""
        with self._lock:
            now = self._clock()
            attempts = self._recent(key, now)
            if len(attempts) >= self.limit:
                return False
            attempts.append(now)
            # Re-insert so the dict stays ordered from least to most recently active.
            self._attempts.pop(key, None)
            self._attempts[key] = attempts
            if len(self._attempts) > self.max_keys:
                self._forget_idle(now)
            return True

    def retry_after(self, key: Hashable) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        with self._lock:
            now = self._clock()
            attempts = self._recent(key, now)
            if len(attempts) < self.limit:
                return 0.0
            return max(attempts[0] + self.window_seconds - now, 0.0)

    def reset(self, key: Hashable) -> None:
        """Forget the attempts of `key` (after a successful sign-in)."""
        with self._lock:
            self._attempts.pop(key, None)

    def _recent(self, key: Hashable, now: float) -> deque[float]:
        attempts = self._attempts.get(key, deque())
        while attempts and attempts[0] <= now - self.window_seconds:
            attempts.popleft()
        return attempts

    def _forget_idle(self, now: float) -> None:
        cutoff = now - self.window_seconds
        for key in [k for k, hits in self._attempts.items() if not hits or hits[-1] <= cutoff]:
            del self._attempts[key]
        # Still too many live keys: drop the least recently active ones.
        excess = len(self._attempts) - self.max_keys
        for key in list(self._attempts)[: max(excess, 0)]:
            del self._attempts[key]

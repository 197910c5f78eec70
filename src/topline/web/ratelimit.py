"""In-memory sliding-window rate limits on sign-in attempts: per account and per client address.

Each key may make `limit` attempts in any `window_seconds`. The per-account window stops
password guessing against one person from many addresses; the per-address window stops one
address from trying many accounts. The state lives in the process: several app processes each
keep their own count, which still bounds guessing to `limit × processes` per window.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal

from topline.config import Settings


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


@dataclass(frozen=True)
class Lockout:
    """A refused sign-in attempt: which limit was reached and how long until the next try."""

    scope: Literal["account", "address"]
    retry_after_seconds: float


class LoginThrottle:
    """Sign-in attempts limited per account (normalised email) and per client address.

    An attempt is refused when either window is full. The address is checked first, so an
    address that is already locked out cannot use up the attempts of the accounts it tries. A
    successful sign-in clears the account's count only: the address keeps its count, so one
    valid password does not buy an address a fresh round of guesses at other accounts.
    """

    def __init__(
        self, *, per_account: SlidingWindowLimiter, per_address: SlidingWindowLimiter
    ) -> None:
        self.per_account = per_account
        self.per_address = per_address

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Callable[[], float] = time.monotonic
    ) -> LoginThrottle:
        """The limits configured by `login_attempts_per_minute` and its per-address twin."""
        return cls(
            per_account=SlidingWindowLimiter(settings.login_attempts_per_minute, clock=clock),
            per_address=SlidingWindowLimiter(
                settings.login_attempts_per_ip_per_minute, clock=clock
            ),
        )

    def attempt(self, *, email: str, address: str) -> Lockout | None:
        """Record a sign-in attempt; the lockout when it must be refused, else None."""
        if not self.per_address.hit(address):
            return Lockout("address", self.per_address.retry_after(address))
        if not self.per_account.hit(email):
            return Lockout("account", self.per_account.retry_after(email))
        return None

    def succeeded(self, *, email: str) -> None:
        """Forget the failed attempts on the account that just signed in."""
        self.per_account.reset(email)


def login_throttle(state: Any, settings: Settings) -> LoginThrottle:
    """The app's sign-in throttle, built by `create_app` (or here, for an app built without it)."""
    throttle = getattr(state, "login_throttle", None)
    if not isinstance(throttle, LoginThrottle):
        throttle = LoginThrottle.from_settings(settings)
        state.login_throttle = throttle
    return throttle

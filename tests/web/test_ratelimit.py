"""The sliding-window limiter on its own: no app, no database, a fake clock."""

from __future__ import annotations

import pytest

from topline.web.ratelimit import SlidingWindowLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_allows_up_to_the_limit_then_refuses(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(3, window_seconds=60, clock=clock)

    assert [limiter.hit("k") for _ in range(4)] == [True, True, True, False]


def test_window_slides_with_the_oldest_attempt(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(2, window_seconds=60, clock=clock)
    limiter.hit("k")
    clock.now += 30
    limiter.hit("k")
    assert not limiter.hit("k")
    assert limiter.retry_after("k") == pytest.approx(30)

    clock.now += 30

    assert limiter.hit("k")
    assert not limiter.hit("k")


def test_refused_attempts_do_not_extend_the_lockout(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(1, window_seconds=60, clock=clock)
    limiter.hit("k")
    for _ in range(5):
        clock.now += 10
        assert not limiter.hit("k")

    clock.now += 10

    assert limiter.hit("k")


def test_keys_are_independent(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(1, clock=clock)
    limiter.hit(("10.0.0.1", "rita@example.com"))

    assert limiter.hit(("10.0.0.1", "ray@example.com"))
    assert limiter.hit(("10.0.0.2", "rita@example.com"))
    assert not limiter.hit(("10.0.0.1", "rita@example.com"))


def test_reset_forgets_a_key(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(1, clock=clock)
    limiter.hit("k")

    limiter.reset("k")

    assert limiter.retry_after("k") == 0
    assert limiter.hit("k")


def test_tracks_at_most_max_keys_dropping_the_least_recent(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(1, clock=clock, max_keys=3)
    for key in ["a", "b", "c"]:
        limiter.hit(key)
        clock.now += 1

    limiter.hit("d")

    assert limiter.hit("a"), "the least recently active key was forgotten"
    assert not limiter.hit("d")


def test_idle_keys_are_forgotten_before_live_ones(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(1, window_seconds=60, clock=clock, max_keys=2)
    limiter.hit("old")
    clock.now += 61
    limiter.hit("b")
    limiter.hit("c")

    assert not limiter.hit("b")
    assert not limiter.hit("c")


@pytest.mark.parametrize(("limit", "window"), [(0, 60), (-1, 60), (1, 0)])
def test_rejects_nonsense_configuration(limit: int, window: float) -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(limit, window_seconds=window)

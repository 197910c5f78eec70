"""The sign-in limiters on their own: no app, no database, a fake clock."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from topline.config import Settings
from topline.web.ratelimit import Lockout, LoginThrottle, SlidingWindowLimiter, login_throttle


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


class TestLoginThrottle:
    """Two windows: per account (normalised email) and per client address."""

    @pytest.fixture
    def throttle(self, clock: FakeClock) -> LoginThrottle:
        return LoginThrottle(
            per_account=SlidingWindowLimiter(2, window_seconds=60, clock=clock),
            per_address=SlidingWindowLimiter(3, window_seconds=60, clock=clock),
        )

    def test_an_account_is_locked_from_every_address(self, throttle: LoginThrottle) -> None:
        assert throttle.attempt(email="rita@x.example", address="10.0.0.1") is None
        assert throttle.attempt(email="rita@x.example", address="10.0.0.2") is None

        assert throttle.attempt(email="rita@x.example", address="10.0.0.3") == Lockout(
            "account", 60.0
        )
        assert throttle.attempt(email="ray@x.example", address="10.0.0.3") is None

    def test_an_address_is_locked_for_every_account(
        self, throttle: LoginThrottle, clock: FakeClock
    ) -> None:
        for email in ("a@x.example", "b@x.example", "c@x.example"):
            assert throttle.attempt(email=email, address="10.0.0.1") is None
            clock.now += 10

        assert throttle.attempt(email="d@x.example", address="10.0.0.1") == Lockout("address", 30.0)
        assert throttle.attempt(email="d@x.example", address="10.0.0.2") is None

    def test_a_locked_address_does_not_use_up_the_accounts_it_tries(
        self, throttle: LoginThrottle
    ) -> None:
        for email in ("a@x.example", "b@x.example", "c@x.example"):
            throttle.attempt(email=email, address="10.0.0.1")
        for _ in range(5):
            assert throttle.attempt(email="rita@x.example", address="10.0.0.1") is not None

        assert throttle.attempt(email="rita@x.example", address="10.0.0.2") is None
        assert throttle.attempt(email="rita@x.example", address="10.0.0.3") is None

    def test_success_clears_the_account_but_not_the_address(self, throttle: LoginThrottle) -> None:
        throttle.attempt(email="rita@x.example", address="10.0.0.1")
        throttle.attempt(email="rita@x.example", address="10.0.0.1")

        throttle.succeeded(email="rita@x.example")

        assert throttle.per_account.retry_after("rita@x.example") == 0
        assert throttle.attempt(email="rita@x.example", address="10.0.0.1") is None
        lockout = throttle.attempt(email="rita@x.example", address="10.0.0.1")
        assert lockout is not None and lockout.scope == "address"

    def test_limits_come_from_the_settings(self) -> None:
        settings = Settings(login_attempts_per_minute=4, login_attempts_per_ip_per_minute=9)

        throttle = LoginThrottle.from_settings(settings)

        assert (throttle.per_account.limit, throttle.per_address.limit) == (4, 9)
        assert throttle.per_account.window_seconds == throttle.per_address.window_seconds == 60

    def test_the_app_builds_its_throttle_once(self) -> None:
        state = SimpleNamespace()
        settings = Settings(login_attempts_per_minute=4)

        first = login_throttle(state, settings)

        assert login_throttle(state, settings) is first
        assert state.login_throttle is first


def test_settings_default_to_ten_per_account_and_thirty_per_address() -> None:
    fields = Settings.model_fields

    assert fields["login_attempts_per_minute"].default == 10
    assert fields["login_attempts_per_ip_per_minute"].default == 30
    assert fields["session_hours"].default == 12


@pytest.mark.parametrize("values", [{"login_attempts_per_ip_per_minute": 0}, {"session_hours": 0}])
def test_settings_refuse_limits_that_would_lock_everyone_out(values: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate(values)

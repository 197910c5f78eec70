"""The pure metric functions, by hand and by property."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topline.analytics import metrics


def test_win_rate_and_growth_by_hand() -> None:
    assert metrics.win_rate(3, 1) == 0.75
    assert metrics.win_rate(0, 0) is None
    assert metrics.growth(4300, 1250) == 2.44
    assert metrics.growth(5, 0) is None
    assert metrics.growth(0, 10) == -1.0


def test_median_mean_and_distribution_by_hand() -> None:
    assert metrics.median([0, 59, 62, 85]) == 60.5
    assert metrics.mean([0, 59, 62]) == 121 / 3
    assert metrics.median([]) is None and metrics.mean([]) is None
    assert metrics.distribution(Counter([0, 7, 8, 30, 31, 365, 366, 1000])) == {
        "0-7": 2,
        "8-30": 2,
        "31-90": 1,
        "91-180": 0,
        "181-365": 1,
        "366+": 2,
    }


@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_win_rates_stay_between_zero_and_one(won: int, lost: int) -> None:
    rate = metrics.win_rate(won, lost)
    assert rate is None if won + lost == 0 else 0.0 <= rate <= 1.0


@given(st.lists(st.integers(0, 5000)))
def test_every_cycle_lands_in_one_bucket(days: list[int]) -> None:
    assert sum(metrics.distribution(Counter(days)).values()) == len(days)


@given(st.lists(st.integers(min_value=0, max_value=400), max_size=60))
def test_median_and_mean_of_counts_equal_those_of_the_expanded_list(values: list[int]) -> None:
    counts = Counter(values)
    assert metrics.median_of_counts(counts) == metrics.median(values)
    expected = metrics.mean(values)
    found = metrics.mean_of_counts(counts)
    assert found == (None if expected is None else pytest.approx(expected))


def test_median_of_counts_by_hand() -> None:
    assert metrics.median_of_counts({3: 1, 10: 1}) == 6.5
    assert metrics.median_of_counts({1: 2, 9: 1}) == 1
    assert metrics.median_of_counts({}) is None

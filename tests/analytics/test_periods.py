"""Periods on the fiscal calendar: names, bounds, the period before, and refusals."""

from __future__ import annotations

from datetime import date

import pytest

from topline.analytics.periods import (
    PeriodKind,
    custom_period,
    parse_period,
    period_containing,
)
from topline.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "start_month", "start", "end", "label"),
    [
        ("2025Q3", 1, date(2025, 7, 1), date(2025, 10, 1), "2025Q3"),
        ("2025-q1", 1, date(2025, 1, 1), date(2025, 4, 1), "2025Q1"),
        ("2025", 1, date(2025, 1, 1), date(2026, 1, 1), "2025"),
        ("2025-02", 1, date(2025, 2, 1), date(2025, 3, 1), "2025-02"),
        # A fiscal year starting in February is named after the year it ends in.
        ("FY2026", 2, date(2025, 2, 1), date(2026, 2, 1), "FY2026"),
        ("FY2026Q1", 2, date(2025, 2, 1), date(2025, 5, 1), "FY2026Q1"),
        ("2026Q4", 2, date(2025, 11, 1), date(2026, 2, 1), "FY2026Q4"),
        ("2025Q2", 10, date(2025, 1, 1), date(2025, 4, 1), "FY2025Q2"),
        # Months stay calendar months whatever the fiscal year.
        ("2025-11", 2, date(2025, 11, 1), date(2025, 12, 1), "2025-11"),
    ],
)
def test_named_periods(text: str, start_month: int, start: date, end: date, label: str) -> None:
    period = parse_period(text, start_month)
    assert (period.start, period.end, period.label) == (start, end, label)


@pytest.mark.parametrize(
    "text", ["2025Q5", "2025-13", "Q3", "25Q1", "2025-1", "last quarter", "0000"]
)
def test_unknown_period_names_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="period"):
        parse_period(text)


def test_the_period_before() -> None:
    assert parse_period("2025Q1").previous().label == "2024Q4"
    assert parse_period("2025-01").previous().label == "2024-12"
    fiscal = parse_period("FY2026Q1", 2).previous()
    assert (fiscal.label, fiscal.start, fiscal.end) == (
        "FY2025Q4",
        date(2024, 11, 1),
        date(2025, 2, 1),
    )
    assert parse_period("FY2026", 2).previous().start == date(2024, 2, 1)
    ten_days = custom_period(date(2025, 1, 1), date(2025, 1, 11)).previous()
    assert (ten_days.start, ten_days.end) == (date(2024, 12, 22), date(2025, 1, 1))


def test_the_period_a_day_falls_in() -> None:
    assert period_containing(date(2025, 3, 31), PeriodKind.QUARTER).label == "2025Q1"
    assert period_containing(date(2025, 4, 1), PeriodKind.QUARTER).label == "2025Q2"
    assert period_containing(date(2025, 1, 31), PeriodKind.QUARTER, 2).label == "FY2025Q4"
    assert period_containing(date(2025, 2, 1), PeriodKind.YEAR, 2).label == "FY2026"
    assert period_containing(date(2024, 2, 29), PeriodKind.MONTH).end == date(2024, 3, 1)


def test_the_first_period_of_the_calendar_has_none_before_it() -> None:
    with pytest.raises(InvalidInput, match="no period before it"):
        custom_period(date(1, 1, 1), date(1, 2, 1)).previous()
    with pytest.raises(InvalidInput, match="no period before it"):
        parse_period("0001Q1").previous()


def test_a_period_must_end_after_it_starts() -> None:
    with pytest.raises(InvalidInput, match="end after it starts"):
        custom_period(date(2025, 1, 2), date(2025, 1, 2))
    period = custom_period(date(2025, 1, 1), date(2025, 1, 2))
    assert period.contains(date(2025, 1, 1)) and not period.contains(date(2025, 1, 2))

"""Reporting periods: half-open date ranges `[start, end)` on the org's fiscal calendar.

A fiscal year is named after the calendar year in which it ends, as most CRMs do: with the
year starting in February, FY2026 runs from 2025-02-01 to 2026-02-01 (exclusive), and its Q1
is February to April 2025. With the year starting in January, fiscal and calendar years agree.
Months are always calendar months. Boundaries are midnight UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum

from topline.errors import InvalidInput


class PeriodKind(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    CUSTOM = "custom"


@dataclass(frozen=True)
class Period:
    """The dates `start <= d < end`, with the name people use for them."""

    start: date
    end: date
    kind: PeriodKind
    label: str
    fiscal_start_month: int = 1

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise InvalidInput(f"a period must end after it starts ({self.start} → {self.end})")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end, time.min, tzinfo=UTC)

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    def previous(self) -> Period:
        """The period just before: the previous month, fiscal quarter or fiscal year; for a
        custom range, the same number of days before it."""
        if self.start.toordinal() <= (self.days if self.kind == PeriodKind.CUSTOM else 1):
            raise InvalidInput(f"period {self.label}: there is no period before it")
        if self.kind == PeriodKind.CUSTOM:
            return custom_period(date.fromordinal(self.start.toordinal() - self.days), self.start)
        day_before = date.fromordinal(self.start.toordinal() - 1)
        return period_containing(day_before, self.kind, self.fiscal_start_month)


def add_months(day: date, months: int) -> date:
    """The first of the month `months` after `day`'s month (day must be a first)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def fiscal_year_start(fiscal_year: int, start_month: int) -> date:
    """The first day of fiscal year `fiscal_year` (named after the year it ends in)."""
    return date(fiscal_year - (1 if start_month > 1 else 0), start_month, 1)


def fiscal_year_of(day: date, start_month: int) -> int:
    """The fiscal year `day` falls in."""
    return day.year + (1 if start_month > 1 and day.month >= start_month else 0)


def month_period(year: int, month: int) -> Period:
    start = date(year, month, 1)
    return Period(start, add_months(start, 1), PeriodKind.MONTH, f"{start:%Y-%m}")


def quarter_period(fiscal_year: int, quarter: int, start_month: int = 1) -> Period:
    if not 1 <= quarter <= 4:
        raise InvalidInput(f"quarter {quarter}: quarters are 1 to 4")
    start = add_months(fiscal_year_start(fiscal_year, start_month), 3 * (quarter - 1))
    prefix = "FY" if start_month != 1 else ""
    label = f"{prefix}{fiscal_year}Q{quarter}"
    return Period(start, add_months(start, 3), PeriodKind.QUARTER, label, start_month)


def year_period(fiscal_year: int, start_month: int = 1) -> Period:
    start = fiscal_year_start(fiscal_year, start_month)
    label = f"FY{fiscal_year}" if start_month != 1 else str(fiscal_year)
    return Period(start, add_months(start, 12), PeriodKind.YEAR, label, start_month)


def custom_period(start: date, end: date) -> Period:
    """`[start, end)`; `end` is the first day not included."""
    return Period(start, end, PeriodKind.CUSTOM, f"{start.isoformat()}..{end.isoformat()}")


_QUARTER = re.compile(r"(?:FY)?(\d{4})-?Q([1-4])", re.IGNORECASE)
_YEAR = re.compile(r"(?:FY)?(\d{4})", re.IGNORECASE)
_MONTH = re.compile(r"(\d{4})-(\d{2})")


def parse_period(text: str, start_month: int = 1) -> Period:
    """`2025Q3` or `FY2025Q3` (fiscal quarter), `2025` or `FY2025` (fiscal year), `2025-07`
    (calendar month)."""
    try:
        return _parse_period(text, start_month)
    except (ValueError, OverflowError):  # a year the calendar cannot hold (0000, 9999Q4, …)
        raise InvalidInput(f"period {text!r}: the year is out of range") from None


def _parse_period(text: str, start_month: int) -> Period:
    value = text.strip()
    if match := _QUARTER.fullmatch(value):
        return quarter_period(int(match[1]), int(match[2]), start_month)
    if match := _MONTH.fullmatch(value):
        month = int(match[2])
        if not 1 <= month <= 12:
            raise InvalidInput(f"period {text!r}: no month {month}")
        return month_period(int(match[1]), month)
    if match := _YEAR.fullmatch(value):
        return year_period(int(match[1]), start_month)
    raise InvalidInput(
        f"period {text!r}: use a fiscal quarter (2025Q3), a fiscal year (2025) or a month "
        "(2025-07), or give start and end dates"
    )


def period_containing(day: date, kind: PeriodKind, start_month: int = 1) -> Period:
    """The month, fiscal quarter or fiscal year `day` falls in."""
    if kind == PeriodKind.MONTH:
        return month_period(day.year, day.month)
    fiscal_year = fiscal_year_of(day, start_month)
    if kind == PeriodKind.YEAR:
        return year_period(fiscal_year, start_month)
    if kind == PeriodKind.QUARTER:
        months = (day.year * 12 + day.month - 1) - (
            fiscal_year_start(fiscal_year, start_month).year * 12 + start_month - 1
        )
        return quarter_period(fiscal_year, months // 3 + 1, start_month)
    raise InvalidInput("a custom period needs its start and end dates")

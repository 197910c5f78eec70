"""The working calendar of the simulated sales org: business days, quarters and seasonality.

The simulation measures time in *business days*: a float `b` whose integer part numbers the
working days (Monday to Friday) from the first one after the window starts, and whose fraction
is the share of that day's working hours gone. Mapping `b` to a moment is monotonic, so every
event the simulation orders in business time stays in order on the wall clock, and every event
lands on a weekday between 13:00 and 22:00 UTC (8 am to 5 pm on the US East Coast).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

SECONDS_PER_DAY = 86_400
WORKDAY_START_SECONDS = 13 * 3_600
WORKDAY_SECONDS = 9 * 3_600
HISTORY_DAYS = 730
# Close dates of open deals reach past `as_of`; the calendar runs this far beyond it.
FUTURE_DAYS = 3 * 365
# Demand by calendar month: January budgets open, summer and December are slow.
MONTH_SEASONALITY = np.array(
    [1.10, 1.05, 1.05, 1.00, 1.00, 0.95, 0.85, 0.80, 1.05, 1.10, 1.00, 0.75]
)
# The business grows about this much per year, which shows in pipeline creation and quotas.
ANNUAL_GROWTH = 0.20


@dataclass(frozen=True)
class Timeline:
    """Business days and fiscal quarters of the two years before `as_of` (and beyond)."""

    start: datetime
    as_of: datetime
    day_numbers: Ints
    """Days since 1970-01-01 of each business day; position = business-day number."""
    window_days: int
    """Business days on which an event can still happen no later than `as_of`."""
    quarter_starts: list[date]
    quarter_start_b: Ints
    """Business-day number of the first working day of each quarter in `quarter_starts`."""

    @property
    def as_of_seconds(self) -> int:
        """`as_of` in seconds since the epoch (events after it are in the future)."""
        return int(self.as_of.timestamp())

    @property
    def as_of_b(self) -> float:
        """The latest business time whose moment is not after `as_of`."""
        starts = self.day_numbers * SECONDS_PER_DAY + WORKDAY_START_SECONDS
        day = int(np.searchsorted(starts, self.as_of_seconds, side="right")) - 1
        if day < 0:
            return 0.0
        fraction = (self.as_of_seconds - int(starts[day])) / WORKDAY_SECONDS
        return day + min(fraction, 0.999_999)

    def seconds(self, b: Floats) -> Ints:
        """Epoch seconds of business times `b` (fractions become working hours)."""
        day = np.clip(np.floor(b).astype(np.int64), 0, len(self.day_numbers) - 1)
        fraction = np.clip(b - day, 0.0, 0.999_999)
        offset = WORKDAY_START_SECONDS + np.floor(fraction * WORKDAY_SECONDS).astype(np.int64)
        result: Ints = self.day_numbers[day] * SECONDS_PER_DAY + offset
        return result

    def day_number(self, b: Floats) -> Ints:
        """Calendar day (days since the epoch) of business times `b`."""
        day = np.clip(np.floor(b).astype(np.int64), 0, len(self.day_numbers) - 1)
        result: Ints = self.day_numbers[day]
        return result

    def b_of_day_number(self, days: Ints) -> Floats:
        """The business time at the start of the first working day on or after `days`."""
        result: Floats = np.searchsorted(self.day_numbers, days, side="left").astype(np.float64)
        return result

    def quarter_of(self, b: Floats) -> Ints:
        """Index into `quarter_starts` of the quarter each business time falls in."""
        result: Ints = np.searchsorted(self.quarter_start_b, b, side="right") - 1
        return result

    def moment(self, seconds: int) -> datetime:
        """A UTC datetime from epoch seconds."""
        return datetime.fromtimestamp(seconds, UTC)

    def creation_weights(self) -> Floats:
        """Relative demand on each business day of the window: season times growth."""
        days = self.day_numbers[: self.window_days]
        months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
        years = np.arange(self.window_days) / 261.0
        weights: Floats = MONTH_SEASONALITY[months] * (1.0 + ANNUAL_GROWTH) ** years
        return weights

    def sample_days(self, rng: np.random.Generator, n: int, weights: Floats) -> Floats:
        """`n` business times drawn with the given per-day `weights`, sorted."""
        cumulative = np.cumsum(weights)
        picks = np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right")
        picks = np.minimum(picks, len(weights) - 1)
        times: Floats = np.sort(picks + rng.random(n))
        return times


def build_timeline(as_of: datetime) -> Timeline:
    """The working calendar of the `HISTORY_DAYS` before `as_of`, with quarters around it."""
    start = as_of - timedelta(days=HISTORY_DAYS)
    epoch = date(1970, 1, 1)
    first = (start.date() - epoch).days + 1
    last = (as_of.date() - epoch).days + FUTURE_DAYS
    days = np.arange(first, last + 1, dtype=np.int64)
    # 1970-01-01 was a Thursday, so (day + 3) % 7 numbers Monday as 0.
    business = days[(days + 3) % 7 < 5]
    starts = business * SECONDS_PER_DAY + WORKDAY_START_SECONDS
    window_days = int(np.searchsorted(starts, int(as_of.timestamp()), side="right"))
    quarter_starts = _quarter_starts(start.date(), as_of.date() + timedelta(days=FUTURE_DAYS))
    quarter_days = np.array([(q - epoch).days for q in quarter_starts], dtype=np.int64)
    return Timeline(
        start=start,
        as_of=as_of,
        day_numbers=business,
        window_days=window_days,
        quarter_starts=quarter_starts,
        quarter_start_b=np.searchsorted(business, quarter_days, side="left").astype(np.int64),
    )


def _quarter_starts(first: date, last: date) -> list[date]:
    """Calendar quarter starts from the quarter holding `first` to the one after `last`."""
    current = date(first.year, 3 * ((first.month - 1) // 3) + 1, 1)
    result = [current]
    while current <= last:
        month = current.month + 3
        current = date(current.year + (month > 12), (month - 1) % 12 + 1, 1)
        result.append(current)
    return result

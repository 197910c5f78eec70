"""Pure metric functions: numbers in, numbers out, no database (DESIGN.md section 5)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def ratio(part: float, whole: float) -> float | None:
    """`part / whole`, or None when there is nothing to divide by."""
    return part / whole if whole else None


def win_rate(won: float, lost: float) -> float | None:
    """Won over won plus lost (counts or amounts); None with nothing closed."""
    return ratio(won, won + lost)


def growth(current: float, previous: float) -> float | None:
    """Relative change from `previous` to `current`; None when `previous` is zero."""
    return ratio(current - previous, previous)


def coverage(pipeline_cents: float, remaining_quota_cents: float) -> float | None:
    """Open pipeline over the quota still to close; None once nothing remains to close."""
    return pipeline_cents / remaining_quota_cents if remaining_quota_cents > 0 else None


def attainment(won_cents: float, quota_cents: float) -> float | None:
    """Won amount over quota (1.0 = quota met, above 1 beyond it); None with a zero quota."""
    return won_cents / quota_cents if quota_cents > 0 else None


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


# Sales-cycle buckets in days, as managers read them: a week, a month, a quarter, half a year,
# a year and beyond.
CYCLE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-7", 0, 7),
    ("8-30", 8, 30),
    ("31-90", 31, 90),
    ("91-180", 91, 180),
    ("181-365", 181, 365),
    ("366+", 366, None),
)


def distribution(days: Sequence[int]) -> dict[str, int]:
    """How many values fall in each of `CYCLE_BUCKETS` (bounds inclusive)."""
    counts = {label: 0 for label, _, _ in CYCLE_BUCKETS}
    for value in days:
        for label, low, high in CYCLE_BUCKETS:
            if value >= low and (high is None or value <= high):
                counts[label] += 1
                break
    return counts


def stage_conversion(advanced: int, entered: int) -> float | None:
    """Of the deals that entered a stage, the share that moved on to a later stage or won;
    None when no deal entered it."""
    return ratio(advanced, entered)


def pipeline_velocity(
    open_deals: int,
    average_won_cents: float | None,
    win_rate: float | None,
    average_cycle_days: float | None,
) -> float | None:
    """Money per day the pipeline is expected to turn into won business: open deals × average
    won amount × win rate / average cycle days.

    None when a factor is unknown (nothing won or closed) or the average cycle is zero days
    (every deal won on the day it was created), since a rate per day is then undefined.
    """
    if average_won_cents is None or win_rate is None or not average_cycle_days:
        return None
    return open_deals * average_won_cents * win_rate / average_cycle_days

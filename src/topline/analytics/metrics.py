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

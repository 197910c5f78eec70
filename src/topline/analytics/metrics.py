"""Pure metric functions: numbers in, numbers out, no database (DESIGN.md section 5)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence


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


def median_of_counts(counts: Mapping[int, int]) -> float | None:
    """The median of a list given as value → how many times it occurs (the same as `median`
    of the expanded list, without expanding it)."""
    total = sum(counts.values())
    if total == 0:
        return None
    middle = [(total - 1) // 2, total // 2]  # positions of the middle value(s), 0-based
    found: list[int] = []
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        while len(found) < 2 and middle[len(found)] < seen:
            found.append(value)
    return (found[0] + found[1]) / 2


def mean_of_counts(counts: Mapping[int, int]) -> float | None:
    """The mean of a list given as value → how many times it occurs."""
    total = sum(counts.values())
    return sum(value * n for value, n in counts.items()) / total if total else None


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


def distribution(counts: Mapping[int, int]) -> dict[str, int]:
    """How many values fall in each of `CYCLE_BUCKETS` (bounds inclusive), the values given as
    value → how many times it occurs (a `Counter` of a list)."""
    buckets = {label: 0 for label, _, _ in CYCLE_BUCKETS}
    for value, times in counts.items():
        for label, low, high in CYCLE_BUCKETS:
            if value >= low and (high is None or value <= high):
                buckets[label] += times
                break
    return buckets


def stage_conversion(advanced: int, entered: int) -> float | None:
    """Of the deals that entered a stage, the share that moved on to a later stage or won;
    None when no deal entered it."""
    return ratio(advanced, entered)


def top_count(contributors: int, percent: int = 20) -> int:
    """How many contributors make the top `percent`%: ceil(percent% of them), in whole numbers
    so that 20% of 15 is exactly 3."""
    return -(-contributors * percent // 100)


def top_share(
    amounts: Sequence[int], *, total: int | None = None, percent: int = 20
) -> float | None:
    """The share of the total brought in by the top `percent`% of contributors (the 80/20
    check): the largest `top_count` of the positive amounts over `total` (default their sum).

    Contributors are the positive amounts; equal amounts at the cut give the same share
    whichever is taken. None when the total is zero.
    """
    positive = sorted((amount for amount in amounts if amount > 0), reverse=True)
    whole = sum(positive) if total is None else total
    if whole <= 0:
        return None
    return sum(positive[: top_count(len(positive), percent)]) / whole


def cumulative_shares(amounts: Sequence[int], *, total: int | None = None) -> list[float | None]:
    """The running share of the total (default the amounts' sum), amount by amount in the
    order given; None throughout when the total is zero."""
    whole = sum(amounts) if total is None else total
    running = 0
    shares: list[float | None] = []
    for amount in amounts:
        running += amount
        shares.append(ratio(running, whole))
    return shares


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


def first_day_reaching(
    bookings: Sequence[tuple[int, int]], bar_cents: float, window_days: int = 90
) -> int | None:
    """The first day whose trailing bookings reach the bar: ramp-up, counted in days.

    `bookings` are (day, amount_cents) pairs, days numbered from any origin. The trailing
    bookings of day D are the amounts of days D − window_days + 1 … D. They only grow on a
    day with bookings, so the first such day at or above the bar is the answer (a bar of zero
    is reached at the first booking, however small). None when no day reaches the bar.
    """
    by_day: dict[int, int] = {}
    for day, amount in bookings:
        by_day[day] = by_day.get(day, 0) + amount
    days = sorted(by_day)
    trailing, oldest = 0, 0
    for day in days:
        trailing += by_day[day]
        while days[oldest] <= day - window_days:
            trailing -= by_day[days[oldest]]
            oldest += 1
        if trailing >= bar_cents:
            return day
    return None


def account_mrr_after(current_cents: int, recurring_cents: int, *, renewal: bool, won: bool) -> int:
    """An account's MRR after one of its subscription deals closes.

    A won renewal replaces the account's MRR with its recurring amount (it carries the
    subscription forward, not on top of it); a lost renewal ends it (churn). A won new-business
    or expansion deal adds its recurring amount; losing one changes nothing.
    """
    if renewal:
        return recurring_cents if won else 0
    return current_cents + recurring_cents if won else current_cents


def mrr_movement(before_cents: int, after_cents: int) -> str | None:
    """How an account's MRR change counts: `new` (from nothing), `expansion` (up),
    `contraction` (down, not to nothing) or `churn` (down to nothing); None when unchanged."""
    if after_cents == before_cents:
        return None
    if before_cents == 0:
        return "new"
    if after_cents == 0:
        return "churn"
    return "expansion" if after_cents > before_cents else "contraction"


def net_revenue_retention(
    starting_cents: int, expansion_cents: int, contraction_cents: int, churn_cents: int
) -> float | None:
    """(starting MRR + expansion − contraction − churn) / starting MRR of a cohort of
    accounts; None when the cohort had no MRR to start with."""
    if starting_cents <= 0:
        return None
    return (starting_cents + expansion_cents - contraction_cents - churn_cents) / starting_cents

"""Revenue reports: how fast new reps ramp up (`ramp`) and recurring revenue (`mrr`).

Both count **bookings** as the won deals of the scope: a deal's latest close up to `as_of`
(reopen-aware: the `closed_at` of its history row at `as_of`), won and still won at `as_of`,
at its amount at `as_of`, credited to its owner at `as_of` (as in the win-rate and attainment
reports).

Days are UTC calendar days. Months move by calendar months from a day, the day of the month
kept or, when the month is shorter, its last day (2025-01-31 + 1 month = 2025-02-28).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field
from sqlalchemy import (
    BigInteger,
    String,
    Subquery,
    case,
    cast,
    extract,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from topline.analytics import metrics
from topline.analytics.history import Part, current_at, in_part, state_as_of
from topline.analytics.paging import ALL_ROWS, RowPage
from topline.analytics.periods import Period, custom_period
from topline.analytics.registry import ReportSpec, option, register
from topline.analytics.reports import Report, _closed_in, _envelope, _scoped
from topline.analytics.scope import Scope
from topline.auth.enums import Role
from topline.auth.models import User
from topline.clock import ensure_utc
from topline.crm.enums import DealType, StageType
from topline.crm.models import SUBSCRIPTION_ROWS, Account, DealHistory
from topline.errors import InvalidInput
from topline.storage.db import parallel_parts, read_in_parallel
from topline.storage.sql import names_by_id, utc_days_between

WON = StageType.WON.value
LOST = StageType.LOST.value

# --- calendar --------------------------------------------------------------------------------


def months_later(day: date, months: int) -> date:
    """The same day of the month `months` later (or earlier, when negative), or the last day
    of that month when it is shorter."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    first_of_next = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return date(year, month + 1, min(day.day, (first_of_next - timedelta(days=1)).day))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _moment(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite hands back text from a subquery's aggregate
        value = datetime.fromisoformat(value)
    return ensure_utc(value)


def _won_deals(as_of: datetime, since: datetime) -> Subquery:
    """Every deal won at `as_of` that closed from `since` on: its close, amount and owner."""
    history = DealHistory.__table__
    return state_as_of(as_of, history.c.closed_at >= since, history.c.stage_type == WON)


# --- ramp ------------------------------------------------------------------------------------

TRAILING_DAYS = 90
TENURE_MONTHS = 12
DEFAULT_WINDOW_MONTHS = 12
MAX_WINDOW_MONTHS = 120
RAMP_WINDOW_HELP = (
    f"months before the day of --as-of in which reps were hired (default "
    f"{DEFAULT_WINDOW_MONTHS}); the period options do not apply"
)


class RampSummary(BaseModel):
    window_months: int = Field(description="Reps hired in this many months up to `as_of`.")
    new_reps: int = Field(description="Reps of the scope hired in the window (the rows).")
    ramped_reps: int = Field(description="Of those, the reps whose bookings reached the bar.")
    tenured_reps: int = Field(
        description="Reps of the scope employed at `as_of` and hired more than 12 months "
        "before its day."
    )
    bar_cents: int | None = Field(
        description="The median of the tenured reps' trailing-90-day bookings at `as_of`; "
        "none without tenured reps."
    )
    tenured_monthly_median_cents: int | None = Field(
        description="The median of the tenured reps' bookings per month over the 12 months "
        "up to `as_of`; none without tenured reps."
    )
    median_ramp_days: float | None = Field(
        description="Median ramp-up time of the ramped reps; none when nobody has ramped."
    )


class RampMonth(BaseModel):
    month: int = Field(description="Month of tenure: 1 is the month starting on the hire day.")
    start: date
    bookings_cents: int
    tenured_median_cents: int | None = Field(
        description="The tenured reps' median bookings per month, to compare with."
    )


class RampRow(BaseModel):
    id: int
    name: str
    hired_at: datetime
    left_at: datetime | None
    bookings_cents: int = Field(description="Won from the day of hire up to `as_of`.")
    trailing_bookings_cents: int = Field(
        description="Won in the 90 days ending with the day of `as_of`."
    )
    ramped_on: date | None = Field(
        description="The first day the rep's trailing-90-day bookings reached the bar."
    )
    ramp_days: int | None = Field(
        description="Days from the day of hire to `ramped_on`; none while not ramped."
    )
    months: list[RampMonth] = Field(description="Bookings by month of tenure, up to `as_of`.")


def ramp_window(as_of: datetime, months: int) -> Period:
    """The `months` calendar months ending with the day of `as_of` (that day up to `as_of`)."""
    if not 1 <= months <= MAX_WINDOW_MONTHS:
        raise InvalidInput(f"window {months}: give 1 to {MAX_WINDOW_MONTHS} months")
    last = as_of.astimezone(UTC).date()
    try:
        return custom_period(months_later(last, -months), last + timedelta(days=1))
    except (ValueError, OverflowError):
        raise InvalidInput(f"a {months}-month window up to {as_of} runs off the calendar") from None


def ramp_report(
    session: Session,
    scope: Scope,
    as_of: datetime,
    window: int = DEFAULT_WINDOW_MONTHS,
    *,
    page: RowPage = ALL_ROWS,
) -> Report[RampSummary, RampRow]:
    """How fast the scope's new reps ramp up: days from hire until their trailing-90-day
    bookings first reach the median of the scope's reps with more than a year of tenure.

    - **New reps** (the rows) are the reps (role rep) of the scope hired in the window: from
      the day `window` months before the day of `as_of` up to `as_of`. The window is the
      report's period.
    - **Tenured reps** are the reps of the scope employed at `as_of` (not left by then) and
      hired before the day 12 months before the day of `as_of`.
    - **The bar** is the median, over the tenured reps, of their bookings in the 90 days ending
      with the day of `as_of` (a tenured rep without any counts as 0), rounded to the cent; None
      without tenured reps, and then nobody ramps. One bar taken at `as_of` is the same for
      every new rep and reproducible as of any moment; it follows the tenured reps' current
      pace, seasonal swings included.
    - **Ramped** is evaluated daily: the trailing bookings of day D are the rep's bookings
      closed on days D − 89 … D, counting only closes from the day of hire on. The rep ramps on
      the first day D, by `as_of`, whose trailing bookings reach the bar; they can only rise on
      a day with a won deal, so that is the day of a win. A bar of 0 is reached at the first
      win. Ramp-up time = D − the day of hire, in days (None while not ramped).
    - **Months of tenure**: month k runs from the hire day + (k − 1) months to the hire day + k
      months; the rows list the months begun by `as_of` (or by the day the rep left). They sit
      beside the tenured reps' median bookings per month: for each tenured rep, their bookings
      in the 12 months ending with the day of `as_of` divided by 12, then the median.
    - Summary: the bar, that monthly median and the median ramp-up time of the ramped reps.
    """
    period = ramp_window(as_of, window)
    today = as_of.astimezone(UTC).date()
    tenure_cut = _midnight(months_later(today, -TENURE_MONTHS))
    query: Any = select(User.id, User.name, User.hired_at, User.left_at).where(
        User.role == Role.REP
    )
    reps = _scoped(query, scope, User.id).subquery("reps")
    new_reps = session.execute(
        select(reps).where(reps.c.hired_at >= period.start_at, reps.c.hired_at <= as_of)
    ).all()
    tenured = session.execute(
        select(reps.c.id).where(
            reps.c.hired_at < tenure_cut, or_(reps.c.left_at.is_(None), reps.c.left_at > as_of)
        )
    ).scalars()
    tenured_ids = list(tenured)
    trailing, yearly = _tenured_bookings(session, tenured_ids, as_of, tenure_cut)
    bar = metrics.median(trailing)
    bar_cents = None if bar is None else round(bar)
    monthly = metrics.median([cents / TENURE_MONTHS for cents in yearly])
    monthly_cents = None if monthly is None else round(monthly)
    by_day = _bookings_by_day(session, [rep.id for rep in new_reps], as_of)
    rows = [
        _ramp_row(rep, by_day.get(rep.id, {}), bar_cents, monthly_cents, as_of) for rep in new_reps
    ]
    rows.sort(key=lambda row: (row.hired_at, row.name.casefold(), row.id))
    ramp_days = [row.ramp_days for row in rows if row.ramp_days is not None]
    summary = RampSummary(
        window_months=window,
        new_reps=len(rows),
        ramped_reps=len(ramp_days),
        tenured_reps=len(tenured_ids),
        bar_cents=bar_cents,
        tenured_monthly_median_cents=monthly_cents,
        median_ramp_days=metrics.median(ramp_days),
    )
    return Report(
        **_envelope("ramp", scope, period, as_of), summary=summary, **page.report_rows(rows)
    )


def _tenured_bookings(
    session: Session, rep_ids: list[int], as_of: datetime, tenure_cut: datetime
) -> tuple[list[int], list[int]]:
    """Each tenured rep's bookings in the trailing 90 days and in the trailing 12 months (both
    ending with the day of `as_of`), zero for a rep without any."""
    if not rep_ids:
        return [], []
    today = as_of.astimezone(UTC).date()
    trailing_start = _midnight(today - timedelta(days=TRAILING_DAYS - 1))
    # 12 months ending with the day of `as_of`: from the day after the tenure cut.
    year_start = tenure_cut + timedelta(days=1)
    won = _won_deals(as_of, min(trailing_start, year_start))
    sums = {
        row.owner_id: (int(row.trailing), int(row.yearly))
        for row in session.execute(
            select(
                won.c.owner_id,
                func.coalesce(
                    func.sum(
                        case((won.c.closed_at >= trailing_start, won.c.amount_cents), else_=0)
                    ),
                    0,
                ).label("trailing"),
                func.coalesce(
                    func.sum(case((won.c.closed_at >= year_start, won.c.amount_cents), else_=0)), 0
                ).label("yearly"),
            )
            .where(won.c.owner_id.in_(rep_ids))
            .group_by(won.c.owner_id)
        )
    }
    figures = [sums.get(rep_id, (0, 0)) for rep_id in rep_ids]
    return [f[0] for f in figures], [f[1] for f in figures]


def _bookings_by_day(
    session: Session, rep_ids: list[int], as_of: datetime
) -> dict[int, dict[int, int]]:
    """Per new rep, their bookings per day counted from the day of hire (0 = that day), from
    that day on."""
    if not rep_ids:
        return {}
    first_hire = session.execute(
        select(func.min(User.hired_at)).where(User.id.in_(rep_ids))
    ).scalar_one()
    won = _won_deals(as_of, _midnight(_moment(first_hire).date()))
    day = utc_days_between(won.c.closed_at, User.hired_at)
    stmt = (
        select(won.c.owner_id, day.label("day"), func.sum(won.c.amount_cents).label("amount"))
        .join(User, User.id == won.c.owner_id)
        .where(won.c.owner_id.in_(rep_ids), day >= 0)
        .group_by(won.c.owner_id, day)
    )
    result: dict[int, dict[int, int]] = defaultdict(dict)
    for owner_id, offset, amount in session.execute(stmt):
        result[owner_id][int(offset)] = int(amount)
    return result


def _ramp_row(
    rep: Any, by_day: Mapping[int, int], bar: int | None, monthly: int | None, as_of: datetime
) -> RampRow:
    hired_at = _moment(rep.hired_at)
    left_at = None if rep.left_at is None else _moment(rep.left_at)
    hire_day = hired_at.date()
    today = as_of.astimezone(UTC).date()
    ramped = None if bar is None else metrics.first_day_reaching(list(by_day.items()), bar)
    trailing_from = (today - hire_day).days - TRAILING_DAYS + 1
    last_day = min(today, left_at.date()) if left_at is not None else today
    months: list[RampMonth] = []
    month = 1
    while (start := months_later(hire_day, month - 1)) <= last_day:
        end = months_later(hire_day, month)
        first, after = (start - hire_day).days, (end - hire_day).days
        booked = sum(amount for offset, amount in by_day.items() if first <= offset < after)
        months.append(
            RampMonth(month=month, start=start, bookings_cents=booked, tenured_median_cents=monthly)
        )
        month += 1
    return RampRow(
        id=rep.id,
        name=rep.name,
        hired_at=hired_at,
        left_at=left_at,
        bookings_cents=sum(by_day.values()),
        trailing_bookings_cents=sum(a for offset, a in by_day.items() if offset >= trailing_from),
        ramped_on=None if ramped is None else hire_day + timedelta(days=ramped),
        ramp_days=ramped,
        months=months,
    )


def _window_months(options: Mapping[str, str]) -> int:
    value = option(options, "window", str(DEFAULT_WINDOW_MONTHS))
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"window {value!r}: give a number of months") from None


# --- mrr -------------------------------------------------------------------------------------


class MrrBreakdown(StrEnum):
    MONTH = "month"
    ACCOUNT = "account"


class MrrSummary(BaseModel):
    mrr_cents: int = Field(description="MRR at `as_of`.")
    mrr_12_months_ago_cents: int = Field(
        description="MRR 12 months before `as_of`: the starting MRR of the NRR cohort."
    )
    cohort_expansion_cents: int = Field(
        description="Rises of the cohort's accounts' MRR in the 12 months (a return after "
        "churn included)."
    )
    cohort_contraction_cents: int = Field(description="Falls not to zero of the same.")
    cohort_churn_cents: int = Field(description="Falls to zero of the same.")
    nrr: float | None = Field(
        description="(starting MRR + expansion − contraction − churn) / starting MRR over the "
        "cohort of accounts with MRR 12 months before `as_of`; none without one."
    )
    new_business_cents: int = Field(description="Won in the period, new-business deals.")
    expansion_cents: int = Field(description="Won in the period, expansion deals.")
    renewal_cents: int = Field(description="Won in the period, renewal deals.")


class MrrRow(BaseModel):
    key: str = Field(description="The month (2025-07) or the account's name.")
    id: int | None = Field(description="The account's id when by account; none by month.")
    start: date | None = Field(description="By month: the month's first day in the period.")
    end: date | None = Field(description="By month: the first day after it.")
    mrr_start_cents: int = Field(description="MRR before the row's first moment.")
    new_cents: int = Field(description="Accounts going from no MRR to some.")
    expansion_cents: int = Field(description="Accounts whose MRR rose.")
    contraction_cents: int = Field(description="Accounts whose MRR fell, not to zero.")
    churn_cents: int = Field(description="Accounts whose MRR fell to zero.")
    mrr_end_cents: int = Field(
        description="MRR before the first moment after the row's range: start + new + "
        "expansion − contraction − churn."
    )


@dataclass(frozen=True)
class _Change:
    """One subscription deal's effect on its account's MRR."""

    account: int  # the account's id, or minus the deal's id for a deal without an account
    at: datetime
    before: int
    after: int


def mrr_changes(events: Iterable[tuple[int, datetime, bool, bool, int]]) -> list[_Change]:
    """Replay subscription deals in close order into each account's MRR changes.

    `events` are (account, closed_at, renewal, won, recurring_cents), in any order; equal
    moments are replayed in the order given. Unchanged MRR makes no change. The report replays
    the same way column by column (`_replay`); this is that replay one deal at a time.
    """
    current: dict[int, int] = defaultdict(int)
    changes = []
    for account, at, renewal, won, recurring in sorted(events, key=lambda event: event[1]):
        before = current[account]
        after = metrics.account_mrr_after(before, recurring, renewal=renewal, won=won)
        current[account] = after
        if after != before:
            changes.append(_Change(account, at, before, after))
    return changes


_KINDS = ("new", "expansion", "contraction", "churn")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Below this bound every running sum of recurring amounts fits in 64-bit integers; beyond it
# the replay adds in exact Python integers instead.
_INT64_SAFE = 2**62


def _micros(moment: datetime) -> int:
    """A moment as whole microseconds since 1970-01-01 UTC, the unit the replay compares in."""
    return (ensure_utc(moment) - _EPOCH) // _MICROSECOND


def _cents_array(values: Sequence[int]) -> npt.NDArray[Any]:
    """Amounts in cents as 64-bit integers, or as exact Python integers when they are too large
    for every sum of them to fit."""
    try:
        array = np.fromiter(values, dtype=np.int64, count=len(values))
    except OverflowError:
        return np.array(values, dtype=object)
    if len(array) and max(int(array.max()), -int(array.min())) * len(array) >= _INT64_SAFE:
        return np.array(values, dtype=object)
    return array


@dataclass(frozen=True)
class _Events:
    """Subscription deals in close order (equal moments in deal order), column by column."""

    account: npt.NDArray[np.int64]  # the account's id, or minus the deal's id without one
    at: npt.NDArray[np.int64]  # the close, in microseconds since 1970-01-01 UTC
    renewal: npt.NDArray[np.bool_]
    won_cents: npt.NDArray[Any]  # the recurring amount of a won deal, 0 for a lost one


def _movement_amounts(before: npt.NDArray[Any], after: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Per MRR change, its amount under each of `_KINDS` (`metrics.mrr_movement`) and 0 under
    the others, running totals with a leading 0: row k, column i is the amount of kind k of
    the first i changes."""
    new = before == 0
    churn = ~new & (after == 0)
    rise = after > before
    size = np.abs(after - before)
    kinds = (new, ~new & ~churn & rise, ~new & ~churn & ~rise, churn)
    amounts = np.stack([np.where(kind, size, 0) for kind in kinds]).astype(before.dtype)
    running = np.zeros((len(_KINDS), len(before) + 1), dtype=before.dtype)
    running[:, 1:] = np.cumsum(amounts, axis=1)
    return running


def _movements(start_mrr: int, moved: Sequence[int]) -> dict[str, int]:
    """A row's figures from its starting MRR and its movement amounts in `_KINDS` order."""
    new, expansion, contraction, churn = moved
    return {
        "mrr_start_cents": start_mrr,
        "new_cents": new,
        "expansion_cents": expansion,
        "contraction_cents": contraction,
        "churn_cents": churn,
        "mrr_end_cents": start_mrr + new + expansion - contraction - churn,
    }


@dataclass(frozen=True)
class _Ledger:
    """Every change of an account's MRR, replayed from `_Events` (as `mrr_changes` does), kept
    twice: in close order, and by account (each account's changes together, in close order).
    Moments are in microseconds since 1970-01-01 UTC."""

    at: npt.NDArray[np.int64]  # in close order
    total: npt.NDArray[Any]  # MRR of all accounts after the first i changes, from i = 0
    moved: npt.NDArray[Any]  # running movement amounts, as `_movement_amounts`
    account: npt.NDArray[np.int64]  # by account from here on: each account once
    account_at: npt.NDArray[np.int64]  # each change's moment
    account_after: npt.NDArray[Any]  # the account's MRR after each change
    account_moved: npt.NDArray[Any]  # running movement amounts
    starts: npt.NDArray[np.intp]  # where each account's changes start

    def total_at(self, moment: int, *, inclusive: bool) -> int:
        """MRR of all accounts after the changes up to `moment` (at it too when `inclusive`)."""
        return int(self.total[np.searchsorted(self.at, moment, "right" if inclusive else "left")])

    def month(self, start: int, end: int) -> dict[str, int]:
        """The figures of the changes in [start, end)."""
        low, high = np.searchsorted(self.at, [start, end], "left")
        moved = self.moved[:, high] - self.moved[:, low]
        return _movements(int(self.total[low]), moved.tolist())

    def positions(self, moment: int, *, inclusive: bool) -> npt.NDArray[np.intp]:
        """Per account, the position (by account) after its changes up to `moment` (at it
        too when `inclusive`)."""
        if not len(self.starts):
            return self.starts
        upto = self.account_at <= moment if inclusive else self.account_at < moment
        return self.starts + np.add.reduceat(upto.astype(np.intp), self.starts)

    def mrr(self, positions: npt.NDArray[np.intp]) -> npt.NDArray[Any]:
        """Per account, its MRR after its changes before `positions`."""
        last = self.account_after[np.maximum(positions - 1, 0)] if len(positions) else positions
        return np.where(positions > self.starts, last, 0).astype(self.account_after.dtype)

    def cohort(self, start: int, end: int) -> dict[str, int]:
        """The figures of the accounts with MRR at `start` over their changes after it up to
        `end`."""
        first = self.positions(start, inclusive=True)
        mrr = self.mrr(first)
        cohort = mrr > 0
        last = self.positions(end, inclusive=True)[cohort]
        moved = self.account_moved[:, last] - self.account_moved[:, first[cohort]]
        return _movements(int(mrr[cohort].sum()), moved.sum(axis=1).tolist())

    def by_account(self, start: int, end: int) -> list[tuple[int, dict[str, int]]]:
        """The figures of each account with MRR at `start` (before it) or a change in
        [start, end), over those changes."""
        first = self.positions(start, inclusive=False)
        last = self.positions(end, inclusive=False)
        at_start = self.mrr(first)
        listed = np.flatnonzero((at_start > 0) | (last > first))
        moved = self.account_moved[:, last[listed]] - self.account_moved[:, first[listed]]
        return [
            (account, _movements(start_mrr, amounts))
            for account, start_mrr, amounts in zip(
                self.account[listed].tolist(),
                at_start[listed].tolist(),
                moved.T.tolist(),
                strict=True,
            )
        ]


def _replay(events: _Events) -> _Ledger:
    """Each account's MRR after each of its subscription deals (`metrics.account_mrr_after`):
    a running sum of won recurring amounts that a renewal restarts from its own amount (0
    when lost), and its changes."""
    size = len(events.account)
    order = np.argsort(events.account, kind="stable")  # by account, close order kept within
    account = events.account[order]
    won_cents = events.won_cents[order]
    first = np.ones(size, dtype=bool)
    first[1:] = account[1:] != account[:-1]
    restart = first | events.renewal[order]
    running = np.cumsum(won_cents)
    heads = np.flatnonzero(restart)
    after = running - (running[heads] - won_cents[heads])[np.cumsum(restart) - 1]
    before = np.zeros_like(after)
    before[1:] = after[:-1]
    before[first] = 0
    changed = np.asarray(after != before, dtype=bool)
    # The same changes in close order: put the replay back where each deal came from.
    in_order = np.zeros(size, dtype=bool)
    in_order[order] = changed
    before_in_order, after_in_order = np.zeros_like(before), np.zeros_like(after)
    before_in_order[order], after_in_order[order] = before, after
    before_in_order, after_in_order = before_in_order[in_order], after_in_order[in_order]
    total = np.zeros(len(after_in_order) + 1, dtype=after.dtype)
    total[1:] = np.cumsum(after_in_order - before_in_order)
    changed_accounts = account[changed]
    boundary = np.ones(len(changed_accounts), dtype=bool)
    boundary[1:] = changed_accounts[1:] != changed_accounts[:-1]
    starts = np.flatnonzero(boundary)
    return _Ledger(
        at=events.at[in_order],
        total=total,
        moved=_movement_amounts(before_in_order, after_in_order),
        account=changed_accounts[starts],
        account_at=events.at[order][changed],
        account_after=after[changed],
        account_moved=_movement_amounts(before[changed], after[changed]),
        starts=starts,
    )


def mrr_report(
    session: Session,
    scope: Scope,
    period: Period,
    as_of: datetime,
    by: MrrBreakdown = MrrBreakdown.MONTH,
    *,
    page: RowPage = ALL_ROWS,
) -> Report[MrrSummary, MrrRow]:
    """Monthly recurring revenue from the recurring amounts of won deals, its movements by
    month or by account, net revenue retention over the 12 months up to `as_of`, and the
    period's bookings by deal type.

    - **Subscription deals** are the scope's deals with a recurring amount (a deal without
      one is a one-off sale and leaves MRR alone) won at `as_of`, and its renewals lost at
      `as_of` (whatever their recurring amount). Each counts at its latest close up to `as_of`,
      so every figure is as known at `as_of`: a deal won, reopened and won again counts from
      its second win. The recurring amount, type and account are the deal's current ones
      (history does not track them). The scope is the owners at `as_of`; an account's MRR
      comes from the scope's deals only, so a rep's scope misses a renewal sold by another rep.
    - **An account's MRR**, replayed in close order: a won new-business or expansion deal adds
      its recurring amount; a won **renewal replaces** the account's MRR with its recurring
      amount (it carries the subscription forward, not on top); a **lost renewal is churn**:
      the account's MRR goes to zero, since deals have no subscription end dates. A deal
      without an account is an account of its own. MRR at a moment counts closes up to it.
    - **Movements** come from each change of an account's MRR: from zero is `new` (a return
      after churn too), up is `expansion`, down to zero is `churn`, down otherwise is
      `contraction`, whatever the deal's type (a renewal at a higher amount is expansion).
    - **NRR** = (MRR 12 months before `as_of` + expansion − contraction − churn) / that MRR,
      over the cohort of accounts with MRR then, and their changes after that moment up to
      `as_of` (a cohort account's return after churn counts as expansion). None when there was
      no MRR 12 months before.
    - **Bookings by type**: the won amounts (at `as_of`) of the deals won in the period and
      still won at `as_of`, by deal type, recurring amount or not.
    - **Rows** by `month` (default): each calendar month of the period (cut to the period),
      with MRR before it, its movements and MRR after it; months after `as_of` stay flat. By
      `account`: each account with MRR at the period's start or end or a movement in the
      period, largest MRR at the end first.
    """
    # The events in parts by deal and the bookings, side by side: the database's part of the
    # work is most of the report's.
    parts = parallel_parts(session)
    *events, bookings = read_in_parallel(
        session,
        *(partial(_subscription_events, scope=scope, as_of=as_of, part=(k, parts))
          for k in range(parts)),
        lambda session: _bookings_by_type(session, scope, period, as_of),
    )  # fmt: skip
    ledger = _replay(_events(events, session.get_bind().dialect.name))
    now = _micros(as_of)
    mrr_now = ledger.total_at(now, inclusive=True)
    retained = ledger.cohort(_micros(_twelve_months_before(as_of)), now)
    expansion = retained["expansion_cents"] + retained["new_cents"]
    contraction, churn = retained["contraction_cents"], retained["churn_cents"]
    summary = MrrSummary(
        mrr_cents=mrr_now,
        mrr_12_months_ago_cents=retained["mrr_start_cents"],
        cohort_expansion_cents=expansion,
        cohort_contraction_cents=contraction,
        cohort_churn_cents=churn,
        nrr=metrics.net_revenue_retention(
            retained["mrr_start_cents"], expansion, contraction, churn
        ),
        new_business_cents=bookings.get(DealType.NEW_BUSINESS, 0),
        expansion_cents=bookings.get(DealType.EXPANSION, 0),
        renewal_cents=bookings.get(DealType.RENEWAL, 0),
    )
    if by == MrrBreakdown.ACCOUNT:
        rows = _rows_by_account(session, ledger, period)
    else:
        rows = _rows_by_month(ledger, period)
    return Report(
        **_envelope("mrr", scope, period, as_of), summary=summary, **page.report_rows(rows)
    )


def _twelve_months_before(as_of: datetime) -> datetime:
    moment = as_of.astimezone(UTC)
    day = months_later(moment.date(), -12)
    return datetime.combine(day, moment.timetz())


def _subscription_events(
    session: Session, scope: Scope, as_of: datetime, part: Part = (0, 1)
) -> list[list[Any]]:
    """The scope's subscription deals of `part` at `as_of` (see `mrr_report`), one list per
    column: account, close, renewal, won amount, deal (`_events`).

    Every subscription deal of the org's history is read, so the database works out the
    fields and hands them over as one array per column (SQLite: JSON from
    `json_group_array`, PostgreSQL: `array_agg`): one row instead of one per event. On 1M
    deals, turning the org's 276k events into rows took as long as reading them: MRR 0.6 s to
    0.36 s on SQLite. They come from the history rows current at `as_of` alone, which carry
    their deal's subscription fields, off the partial index of these events
    (`ix_deal_history_subscription`)."""
    history = DealHistory.__table__
    renewal = history.c.deal_type == DealType.RENEWAL
    won = history.c.stage_type == WON
    dialect = session.get_bind().dialect.name
    events = _scoped(
        select(
            func.coalesce(history.c.account_id, -history.c.deal_id).label("account"),
            _close_moment(history.c.closed_at, dialect).label("at"),
            case((renewal, 1), else_=0).label("renewal"),
            case((won, func.coalesce(history.c.recurring_amount_cents, 0)), else_=0).label("won"),
            history.c.deal_id,
        )
        # The index's own condition, word for word (see `SUBSCRIPTION_ROWS`).
        .where(current_at(as_of), SUBSCRIPTION_ROWS, *in_part(history.c.deal_id, part)),
        scope,
        history.c.owner_id,
    ).subquery("events")
    if dialect == "sqlite":
        row = session.execute(select(*(func.json_group_array(c) for c in events.c))).one()
        return [json.loads(column) for column in row]
    row = session.execute(select(*(func.array_agg(c) for c in events.c))).one()
    return [column or [] for column in row]


def _events(parts: Sequence[list[list[Any]]], dialect: str) -> _Events:
    """The events of every part (`_subscription_events`), in close order, equal closes in deal
    order. Aggregates take their rows in no defined order, and sorting in each `array_agg`
    made PostgreSQL sort once per column, so numpy sorts once; equal closes in deal order
    make both databases agree."""
    account, at, renewal, won, deal = (
        [value for columns in parts for value in columns[i]] for i in range(5)
    )
    moments = _moments_array(at, dialect)
    order = np.lexsort((np.asarray(deal, dtype=np.int64), moments))
    return _Events(
        account=np.asarray(account, dtype=np.int64)[order],
        at=moments[order],
        renewal=np.asarray(renewal, dtype=bool)[order],
        won_cents=_cents_array(won)[order],
    )


def _close_moment(closed_at: Any, dialect: str) -> Any:
    """The close as the database hands it over most cheaply: SQLite's stored UTC text,
    PostgreSQL's microseconds since 1970-01-01 UTC."""
    if dialect == "sqlite":
        return type_coerce(closed_at, String)
    return cast(extract("epoch", closed_at) * 1_000_000, BigInteger)


def _moments_array(values: Sequence[Any], dialect: str) -> npt.NDArray[np.int64]:
    """Closes from `_close_moment` in microseconds since 1970-01-01 UTC."""
    if dialect == "sqlite":
        return np.array(values, dtype="datetime64[us]").astype(np.int64)
    return np.fromiter(values, dtype=np.int64, count=len(values))


def _text(value: Any) -> str:
    return str(value.value if isinstance(value, StrEnum) else value)


def _bookings_by_type(
    session: Session, scope: Scope, period: Period, as_of: datetime
) -> dict[str, int]:
    closed = _closed_in(scope, period, as_of, deal_fields=False)
    stmt = (
        select(closed.c.deal_type, func.coalesce(func.sum(closed.c.amount_cents), 0))
        .where(closed.c.stage_type == WON)
        .group_by(closed.c.deal_type)
    )
    return {_text(kind): int(amount) for kind, amount in session.execute(stmt)}


def _rows_by_month(ledger: _Ledger, period: Period) -> list[MrrRow]:
    rows = []
    start = period.start
    while start < period.end:
        end = min(months_later(start.replace(day=1), 1), period.end)
        figures = ledger.month(_micros(_midnight(start)), _micros(_midnight(end)))
        rows.append(MrrRow(key=f"{start:%Y-%m}", id=None, start=start, end=end, **figures))
        start = end
    return rows


def _rows_by_account(session: Session, ledger: _Ledger, period: Period) -> list[MrrRow]:
    figures = ledger.by_account(_micros(period.start_at), _micros(period.end_at))
    known = [account for account, _ in figures if account > 0]
    names = names_by_id(session, Account, known)
    rows = [
        MrrRow(
            key=names.get(account, f"Deal {-account} (no account)"),
            id=account if account > 0 else None,
            start=None,
            end=None,
            **row,
        )
        for account, row in figures
    ]
    rows.sort(key=lambda row: (-row.mrr_end_cents, row.key.casefold(), row.id or 0))
    return rows


def _mrr_breakdown(options: Mapping[str, str]) -> MrrBreakdown:
    value = option(options, "by", MrrBreakdown.MONTH.value)
    try:
        return MrrBreakdown(value)
    except ValueError:
        known = ", ".join(b.value for b in MrrBreakdown)
        raise InvalidInput(f"by {value!r}: use one of {known}") from None


register(
    ReportSpec(
        "ramp",
        "Ramp-up time of new reps",
        lambda session, scope, _period, as_of, options, page: ramp_report(
            session, scope, as_of, window=_window_months(options), page=page
        ),
        {"window": RAMP_WINDOW_HELP},
    )
)
register(
    ReportSpec(
        "mrr",
        "Recurring revenue, its movements and net revenue retention",
        lambda session, scope, period, as_of, options, page: mrr_report(
            session, scope, period, as_of, by=_mrr_breakdown(options), page=page
        ),
        {"by": "rows by month (default) or account"},
    )
)

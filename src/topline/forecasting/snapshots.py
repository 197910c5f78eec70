"""Forecast snapshots: every method's number for every scope of the period in progress, kept
daily, and the accuracy of the kept numbers once their period has ended.

`take_snapshots` fits the methods on the quarters ended by the moment, projects the fiscal
quarter in progress for the whole org, every manager's reporting subtree and every rep, and
stores one `ForecastSnapshot` per scope and method (plus the people's call where there is
one). Taking them again on the same day replaces that day's, so a daily job may run twice.
Only the quarter in progress is projected: the methods learn from moments inside a quarter,
so a quarter that has not started is outside what they have seen.

`tracked_accuracy` compares the stored numbers of ended periods with what those periods won:
the accuracy of forecasts as they were actually made, not reconstructed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from topline.analytics.periods import Period, PeriodKind, custom_period, period_containing
from topline.analytics.reports import fiscal_start_month
from topline.auth.enums import Role
from topline.auth.models import User
from topline.clock import ensure_utc
from topline.forecasting.backtest import BacktestPoint, MethodAccuracy, accuracy
from topline.forecasting.models import ForecastSnapshot
from topline.forecasting.moments import people_call, won_by_owner
from topline.forecasting.projection import (
    METHODS,
    PEOPLE,
    PROJECTION,
    History,
    Projection,
    ended_before,
    fit_forecasters,
    history_quarters,
    project,
    training_set,
)

Progress = Callable[[str], None]
# Snapshots are grouped by whole weeks into their period when accuracy is measured.
HORIZON_WEEKS = (0, 4, 8, 12)


@dataclass(frozen=True)
class ForecastScope:
    """Whose number: the org (`user_id` None), a manager's subtree or one rep, with the
    owners whose deals count (None: everyone)."""

    key: str
    kind: str
    user_id: int | None
    owners: frozenset[int] | None

    @staticmethod
    def org() -> ForecastScope:
        return ForecastScope("org", "org", None, None)

    @staticmethod
    def team(manager_id: int, owners: frozenset[int]) -> ForecastScope:
        return ForecastScope(f"team:{manager_id}", "team", manager_id, owners)

    @staticmethod
    def rep(user_id: int) -> ForecastScope:
        return ForecastScope(f"rep:{user_id}", "rep", user_id, frozenset([user_id]))


def all_scopes(session: Session) -> list[ForecastScope]:
    """The org, every manager's reporting subtree (themselves included) and every rep."""
    people = session.execute(select(User.id, User.role).order_by(User.id)).all()
    tree = _reporting_tree(session)
    scopes = [ForecastScope.org()]
    scopes += [
        ForecastScope.team(user_id, _subtree(tree, user_id))
        for user_id, role in people
        if role == Role.MANAGER
    ]
    scopes += [ForecastScope.rep(user_id) for user_id, role in people if role == Role.REP]
    return scopes


def scope_of(session: Session, person: User | None) -> ForecastScope:
    """The scope of a person's number: a rep's own, a manager's subtree, or (for an admin or
    no one) the org."""
    if person is None or person.role == Role.ADMIN:
        return ForecastScope.org()
    if person.role == Role.REP:
        return ForecastScope.rep(person.id)
    return ForecastScope.team(person.id, _subtree(_reporting_tree(session), person.id))


def _reporting_tree(session: Session) -> dict[int, list[int]]:
    """Each manager's direct reports."""
    reports: dict[int, list[int]] = {}
    for user_id, manager_id in session.execute(select(User.id, User.manager_id)):
        if manager_id is not None:
            reports.setdefault(manager_id, []).append(user_id)
    return reports


def _subtree(reports: dict[int, list[int]], root: int) -> frozenset[int]:
    seen = {root}
    stack = [root]
    while stack:
        for child in reports.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return frozenset(seen)


def current_quarter(session: Session, as_of: datetime) -> Period:
    """The fiscal quarter `as_of` falls in."""
    return period_containing(as_of.date(), PeriodKind.QUARTER, fiscal_start_month(session))


@dataclass
class SnapshotRun:
    """What `take_snapshots` stored."""

    period: Period
    taken_on: date
    scopes: int
    rows: int
    shortage: str | None
    seconds: float


def take_snapshots(
    session: Session,
    as_of: datetime,
    *,
    scopes: list[ForecastScope] | None = None,
    random_state: int = 0,
    progress: Progress | None = None,
) -> SnapshotRun:
    """Project the quarter in progress for every scope and store the numbers (see module)."""
    started = time.perf_counter()
    as_of = ensure_utc(as_of)
    report = progress or (lambda message: None)
    period = current_quarter(session, as_of)
    history = History(session)
    quarters = ended_before(history_quarters(session, as_of), as_of)
    report(f"learning from {len(quarters)} ended quarter(s)")
    forecasters = fit_forecasters(training_set(history, quarters), random_state=random_state)
    moment = history.moment(period, as_of)
    chosen = scopes if scopes is not None else all_scopes(session)
    taken_on = as_of.date()
    session.execute(
        delete(ForecastSnapshot).where(
            ForecastSnapshot.period_start == period.start,
            ForecastSnapshot.period_end == period.end,
            ForecastSnapshot.taken_on == taken_on,
            ForecastSnapshot.scope_key.in_([scope.key for scope in chosen]),
        )
    )
    rows: list[ForecastSnapshot] = []
    for index, scope in enumerate(chosen):
        if index % 25 == 0:
            report(f"projecting scope {index + 1} of {len(chosen)}")
        projection = project(moment, forecasters, owners=scope.owners, random_state=random_state)
        rows.extend(_rows(session, scope, projection, taken_on))
    session.add_all(rows)
    session.flush()
    return SnapshotRun(
        period,
        taken_on,
        len(chosen),
        len(rows),
        forecasters.shortage,
        time.perf_counter() - started,
    )


def _rows(
    session: Session, scope: ForecastScope, projection: Projection, taken_on: date
) -> list[ForecastSnapshot]:
    common: dict[str, Any] = {
        "scope_key": scope.key,
        "scope_kind": scope.kind,
        "scope_user_id": scope.user_id,
        "period_start": projection.period.start,
        "period_end": projection.period.end,
        "taken_on": taken_on,
        "taken_at": projection.as_of,
        "won_cents": projection.won_cents,
        "open_deals": projection.open_deals,
    }
    rows: list[ForecastSnapshot] = []
    for name, method in projection.methods.items():
        details: dict[str, Any] | None = None
        if name == PROJECTION:
            details = {
                "new_deals_cents": round(projection.new_deals_cents),
                "drivers": [
                    {
                        "deal_id": driver.deal_id,
                        "amount_cents": driver.amount_cents,
                        "probability": round(driver.probability, 4),
                        "expected_cents": round(driver.expected_cents),
                        "factors": driver.factors,
                    }
                    for driver in projection.drivers
                ],
            }
        rows.append(
            ForecastSnapshot(
                **common,
                method=name,
                expected_cents=round(method.expected),
                p10_cents=_cents(method.p10),
                p50_cents=_cents(method.p50),
                p90_cents=_cents(method.p90),
                details=details,
            )
        )
    callers = None if scope.user_id is None else [scope.user_id]
    call = people_call(session, projection.period, projection.as_of, callers)
    if call is not None:
        rows.append(ForecastSnapshot(**common, method=PEOPLE, expected_cents=call))
    if projection.shortage is not None:
        for row in rows:
            row.details = {**(row.details or {}), "shortage": projection.shortage}
    return rows


def _cents(value: float | None) -> int | None:
    return None if value is None else round(value)


def latest_snapshots(
    session: Session, scope: ForecastScope, as_of: datetime
) -> list[ForecastSnapshot]:
    """The numbers kept for `scope` on the latest day up to `as_of`'s, for the quarter in
    progress then: one per method, in `METHOD_ORDER`."""
    as_of = ensure_utc(as_of)
    period = current_quarter(session, as_of)
    day = session.scalar(
        select(func.max(ForecastSnapshot.taken_on)).where(
            ForecastSnapshot.scope_key == scope.key,
            ForecastSnapshot.period_start == period.start,
            ForecastSnapshot.period_end == period.end,
            ForecastSnapshot.taken_on <= as_of.date(),
        )
    )
    if day is None:
        return []
    rows = session.scalars(
        select(ForecastSnapshot).where(
            ForecastSnapshot.scope_key == scope.key,
            ForecastSnapshot.period_start == period.start,
            ForecastSnapshot.period_end == period.end,
            ForecastSnapshot.taken_on == day,
        )
    ).all()
    order = {name: index for index, name in enumerate(METHOD_ORDER)}
    return sorted(rows, key=lambda row: (order.get(row.method, len(order)), row.method))


def snapshot_history(
    session: Session, scope: ForecastScope, period: Period, as_of: datetime
) -> list[ForecastSnapshot]:
    """Every number kept for `scope` and `period` up to `as_of`'s day, oldest day first (one
    query): how the forecast moved through the period."""
    as_of = ensure_utc(as_of)
    return list(
        session.scalars(
            select(ForecastSnapshot)
            .where(
                ForecastSnapshot.scope_key == scope.key,
                ForecastSnapshot.period_start == period.start,
                ForecastSnapshot.period_end == period.end,
                ForecastSnapshot.taken_on <= as_of.date(),
            )
            .order_by(ForecastSnapshot.taken_on, ForecastSnapshot.method)
        )
    )


METHOD_ORDER = (PROJECTION, PEOPLE, *[name for name in METHODS if name != PROJECTION])


def snapshot_json(row: ForecastSnapshot) -> dict[str, Any]:
    """A kept number as JSON."""
    return {
        "method": row.method,
        "scope": row.scope_key,
        "period_start": row.period_start.isoformat(),
        "period_end": row.period_end.isoformat(),
        "taken_on": row.taken_on.isoformat(),
        "taken_at": row.taken_at.isoformat(),
        "expected_cents": row.expected_cents,
        "p10_cents": row.p10_cents,
        "p50_cents": row.p50_cents,
        "p90_cents": row.p90_cents,
        "won_cents": row.won_cents,
        "open_deals": row.open_deals,
        "details": row.details,
    }


# A snapshot counts for a horizon when taken within this many days after it.
HORIZON_SLACK_DAYS = 6


@dataclass
class TrackedAccuracy:
    """The accuracy of stored forecasts of ended periods, per method and horizon."""

    scope_key: str
    periods: list[str]
    points: list[BacktestPoint]
    methods: dict[str, dict[int, MethodAccuracy]]

    def to_json(self) -> dict[str, Any]:
        """`methods.<name>.horizons.<weeks>` as the backtest gives them, and the periods."""
        return {
            "scope": self.scope_key,
            "periods": self.periods,
            "methods": {
                name: {"horizons": {str(w): a.to_json() for w, a in horizons.items()}}
                for name, horizons in self.methods.items()
            },
        }


def tracked_accuracy(session: Session, scope: ForecastScope, as_of: datetime) -> TrackedAccuracy:
    """How the numbers stored for `scope` did, for every period ended by `as_of`.

    For each ended period and horizon (0, 4, 8, 12 weeks in), each method's first snapshot
    taken on that day or within `HORIZON_SLACK_DAYS` after it is compared with what the
    period won (its deals of the scope, as recorded at the period's end).
    """
    as_of = ensure_utc(as_of)
    stored = session.scalars(
        select(ForecastSnapshot)
        .where(
            ForecastSnapshot.scope_key == scope.key,
            ForecastSnapshot.period_end <= as_of.date(),
        )
        .order_by(ForecastSnapshot.period_start, ForecastSnapshot.taken_on)
    ).all()
    by_period: dict[tuple[date, date], list[ForecastSnapshot]] = {}
    for row in stored:
        by_period.setdefault((row.period_start, row.period_end), []).append(row)
    points: list[BacktestPoint] = []
    for (start, end), rows in by_period.items():
        period = custom_period(start, end)
        result = won_by_owner(session, period.start_at, period.end_at, period.end_at)
        if scope.owners is not None:
            result = result[result.index.isin(list(scope.owners))]
        actual = int(result.sum())
        for weeks in HORIZON_WEEKS:
            points.extend(_points_at(period, weeks, rows, actual))
    return TrackedAccuracy(
        scope.key,
        [f"{start}..{end}" for start, end in by_period],
        points,
        accuracy(points, HORIZON_WEEKS),
    )


def _points_at(
    period: Period, weeks: int, rows: list[ForecastSnapshot], actual: int
) -> list[BacktestPoint]:
    """One point per horizon: the first day's snapshots in its window, all methods."""
    first_day = period.start.toordinal() + 7 * weeks
    inside = [
        row
        for row in rows
        if first_day <= row.taken_on.toordinal() <= first_day + HORIZON_SLACK_DAYS
        and row.taken_on < period.end
    ]
    if not inside:
        return []
    day = min(row.taken_on for row in inside)
    chosen = [row for row in inside if row.taken_on == day]
    ranged = next((row for row in chosen if row.method == PROJECTION), None)
    return [
        BacktestPoint(
            period,
            weeks,
            chosen[0].taken_at,
            actual,
            {row.method: float(row.expected_cents) for row in chosen},
            None if ranged is None or ranged.p10_cents is None else float(ranged.p10_cents),
            None if ranged is None or ranged.p90_cents is None else float(ranged.p90_cents),
        )
    ]

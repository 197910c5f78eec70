"""How accurate each forecast method has been: a rolling-origin backtest over past periods.

For every ended fiscal quarter with enough history before it, and every horizon (weeks into
the quarter: 0, 4, 8 and 12 by default), the quarter is rebuilt as it stood at that moment
from `deal_history`, every method is fitted on the quarters that had ended by the quarter's
start (the latest a model could have been trained then: a later quarter's outcome is not
known until it ends), and its forecast is compared with what the quarter won, as recorded at
its end.

Per method and horizon: the mean absolute percentage error (`mape`, |forecast − actual| /
actual), the mean `bias` ((forecast − actual) / actual; negative: too low) and, for the ranged
projection, the share of actuals inside its P10–P90 range (`coverage_p10_p90`), over `n`
quarters. Quarters that won nothing are left out of the percentages (they have no scale).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline.analytics.periods import Period
from topline.auth.enums import Role
from topline.auth.models import User
from topline.clock import ensure_utc
from topline.forecasting.moments import people_call
from topline.forecasting.projection import (
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

HORIZON_WEEKS = (0, 4, 8, 12)
# The reps' own calls summed, before managers adjust them (a method of the backtest only).
REPS_CALLS = "reps_calls"
# A quarter is backtested only with at least this many ended quarters before it to learn from.
MIN_TRAINING_PERIODS = 2

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BacktestPoint:
    """One quarter forecast at one horizon: every method's number and the actual, in cents."""

    period: Period
    horizon_weeks: int
    as_of: datetime
    actual_cents: int
    forecasts: dict[str, float]
    p10: float | None
    p90: float | None


@dataclass
class MethodAccuracy:
    """A method's accuracy at one horizon over the backtest's quarters."""

    mape: float | None
    bias: float | None
    n: int
    coverage_p10_p90: float | None = None

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"mape": self.mape, "bias": self.bias, "n": self.n}
        if self.coverage_p10_p90 is not None:
            result["coverage_p10_p90"] = self.coverage_p10_p90
        return result


@dataclass
class Backtest:
    """Every point and the accuracy of each method by horizon."""

    as_of: datetime
    horizons: tuple[int, ...]
    points: list[BacktestPoint]
    methods: dict[str, dict[int, MethodAccuracy]]
    seconds: float
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON: `methods.<name>.horizons.<weeks>` and every point."""
        return {
            "as_of": self.as_of.isoformat(),
            "horizons_weeks": list(self.horizons),
            "periods": sorted({point.period.label for point in self.points}),
            "methods": {
                name: {
                    "horizons": {
                        str(weeks): accuracy.to_json() for weeks, accuracy in horizons.items()
                    }
                }
                for name, horizons in self.methods.items()
            },
            "points": [
                {
                    "period": point.period.label,
                    "horizon_weeks": point.horizon_weeks,
                    "as_of": point.as_of.isoformat(),
                    "actual_cents": point.actual_cents,
                    "forecasts_cents": {k: round(v) for k, v in point.forecasts.items()},
                    "p10_cents": None if point.p10 is None else round(point.p10),
                    "p90_cents": None if point.p90 is None else round(point.p90),
                }
                for point in self.points
            ],
            "skipped": self.skipped,
            "seconds": round(self.seconds, 1),
        }


def backtest(
    session: Session,
    as_of: datetime,
    *,
    horizons: Sequence[int] = HORIZON_WEEKS,
    owners: Collection[int] | None = None,
    people: bool = True,
    random_state: int = 0,
    progress: Progress | None = None,
) -> Backtest:
    """Backtest every method on the quarters ended by `as_of` (the deals of `owners` only,
    when given; the whole org by default). See the module docstring."""
    started = time.perf_counter()
    as_of = ensure_utc(as_of)
    report = progress or (lambda message: None)
    history = History(session)
    quarters = history_quarters(session, as_of)
    # The people's calls are the org's number; a backtest of some owners has none to compare.
    reps = _reps(session) if people and owners is None else None
    points: list[BacktestPoint] = []
    skipped: list[str] = []
    for index, quarter in enumerate(quarters):
        if quarter.end_at > as_of:
            continue
        trained_on = ended_before(quarters[:index], quarter.start_at)
        if len(trained_on) < MIN_TRAINING_PERIODS:
            skipped.append(f"{quarter.label}: {len(trained_on)} ended quarter(s) before it")
            continue
        report(f"{quarter.label}: learning from {len(trained_on)} quarter(s)")
        forecasters = fit_forecasters(training_set(history, trained_on), random_state=random_state)
        if forecasters.shortage is not None:
            skipped.append(f"{quarter.label}: {forecasters.shortage}")
            continue
        actual = history.result(quarter)
        if owners is not None:
            actual = actual[actual.index.isin(list(owners))]
        for weeks in horizons:
            moment = quarter.start_at + timedelta(weeks=weeks)
            if moment >= quarter.end_at:
                continue
            state = history.moment(quarter, moment)
            projection = project(
                state, forecasters, owners=owners, drivers=0, random_state=random_state
            )
            points.append(_point(session, projection, weeks, int(actual.sum()), reps))
    return Backtest(
        as_of,
        tuple(horizons),
        points,
        accuracy(points, horizons),
        time.perf_counter() - started,
        skipped,
    )


def _reps(session: Session) -> list[int]:
    return list(session.scalars(select(User.id).where(User.role == Role.REP)))


def _point(
    session: Session,
    projection: Projection,
    weeks: int,
    actual: int,
    reps: list[int] | None,
) -> BacktestPoint:
    """One backtest point; with `reps` (the org's reps), the people's calls too: the call at
    the top of the reporting line and the sum of the reps' own calls."""
    forecasts = {name: method.expected for name, method in projection.methods.items()}
    ranged = projection.methods.get(PROJECTION)
    if reps is not None:
        calls = {
            PEOPLE: people_call(session, projection.period, projection.as_of),
            REPS_CALLS: people_call(session, projection.period, projection.as_of, reps),
        }
        forecasts.update({name: float(call) for name, call in calls.items() if call is not None})
    return BacktestPoint(
        projection.period,
        weeks,
        projection.as_of,
        actual,
        forecasts,
        None if ranged is None else ranged.p10,
        None if ranged is None else ranged.p90,
    )


def accuracy(
    points: list[BacktestPoint], horizons: Sequence[int]
) -> dict[str, dict[int, MethodAccuracy]]:
    """Each method's error, bias and (for the ranged one) coverage per horizon."""
    names = sorted({name for point in points for name in point.forecasts})
    result: dict[str, dict[int, MethodAccuracy]] = {}
    for name in names:
        result[name] = {}
        for weeks in horizons:
            chosen = [
                point
                for point in points
                if point.horizon_weeks == weeks
                and name in point.forecasts
                and point.actual_cents > 0
            ]
            if not chosen:
                result[name][weeks] = MethodAccuracy(None, None, 0)
                continue
            actual = np.array([point.actual_cents for point in chosen], dtype=np.float64)
            forecast = np.array([point.forecasts[name] for point in chosen])
            error = (forecast - actual) / actual
            coverage = None
            if name == PROJECTION:
                inside = [
                    point.p10 is not None
                    and point.p90 is not None
                    and point.p10 <= point.actual_cents <= point.p90
                    for point in chosen
                ]
                coverage = float(np.mean(inside))
            result[name][weeks] = MethodAccuracy(
                float(np.abs(error).mean()), float(error.mean()), len(chosen), coverage
            )
    return result

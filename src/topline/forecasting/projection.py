"""The forecast of a period's won amount by every method, from what was known at a moment.

`fit_forecasters` learns the methods of `topline.forecasting.estimators` from ended periods
(snapshots of their open deals every week of the period, labelled by whether each deal closed
won before the period's end); `project` applies them to a period as it stands at a moment.
Nothing is learned from a period that had not ended by the moment being forecast from, so a
backtest that fits at each moment never sees the future.

Methods, by name:
- `stage_weighted`: won so far + open deals closing in the period × their stage's default
  probability (the baseline every CRM shows);
- `historical_conversion`: won so far + every open deal × the org's historical rate of
  closing won inside the period for its stage, days in stage, close date and weeks left;
- `category_rollup`: won so far + commit deals closing in the period + a learned share of the
  best-case ones;
- `projection`: won so far + every open deal × its calibrated probability from the per-deal
  model + what deals not yet created will win (learned run rate), with P10 / P50 / P90 by
  Monte Carlo;
- `people`: the forecast call submitted for the scope's number (commit), when there is one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from topline.analytics.periods import Period, PeriodKind, period_containing
from topline.analytics.reports import fiscal_start_month
from topline.clock import ensure_utc
from topline.crm.models import DealHistory
from topline.forecasting.estimators import (
    LABEL,
    MODEL_FEATURES,
    MOMENT_KEY,
    RUN_RATE_COLUMNS,
    CategoryRollup,
    DealCloseModel,
    HistoricalConversion,
    Range,
    RunRate,
    StageWeighted,
    amounts,
    simulate_won,
)
from topline.forecasting.moments import (
    CLOSES_IN_PERIOD,
    PeriodMoment,
    new_deals_won_by_owner,
    period_moment,
    won_by_owner,
    won_deal_ids,
)
from topline.scoring.explain import Factor, explain, format_points
from topline.scoring.features import describe_feature

STAGE_WEIGHTED = "stage_weighted"
HISTORICAL_CONVERSION = "historical_conversion"
CATEGORY_ROLLUP = "category_rollup"
PROJECTION = "projection"
PEOPLE = "people"
METHODS = (STAGE_WEIGHTED, HISTORICAL_CONVERSION, CATEGORY_ROLLUP, PROJECTION)

# Training snapshots are taken this many weeks apart in each ended period.
SNAPSHOT_EVERY_WEEKS = 1
# Fewer labelled snapshot rows than this (or fewer wins) and only the stage-weighted baseline
# and the category roll-up without a learned share can be shown.
MIN_TRAINING_ROWS = 500
MIN_TRAINING_WINS = 30
# At most this many training rows: a larger org's snapshots are sampled (see `training_set`).
MAX_TRAINING_ROWS = 400_000
# The deals that move a projection most are listed, this many.
TOP_DRIVERS = 10


class History:
    """Reads of past periods and moments, each made once (a backtest asks for the same ones
    again and again)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._moments: dict[tuple[Period, datetime], PeriodMoment] = {}
        self._snapshots: dict[tuple[Period, datetime], pd.DataFrame] = {}
        self._results: dict[Period, pd.Series] = {}
        self._new: dict[tuple[Period, datetime], pd.Series] = {}

    def moment(self, period: Period, as_of: datetime) -> PeriodMoment:
        """The org's period as it stood at `as_of`."""
        key = (period, ensure_utc(as_of))
        if key not in self._moments:
            self._moments[key] = period_moment(self.session, period, key[1])
        return self._moments[key]

    def result(self, period: Period) -> pd.Series:
        """What an ended period won, per owner, as recorded at its end."""
        if period not in self._results:
            end = period.end_at
            self._results[period] = won_by_owner(self.session, period.start_at, end, end)
        return self._results[period]

    def new_deals_won(self, period: Period, after: datetime) -> pd.Series:
        """What an ended period won from deals created after `after`, per owner."""
        key = (period, ensure_utc(after))
        if key not in self._new:
            self._new[key] = new_deals_won_by_owner(self.session, period, key[1])
        return self._new[key]

    def snapshot(self, period: Period, as_of: datetime) -> pd.DataFrame:
        """The deals open at `as_of` in an ended period, labelled `won_in_period`."""
        key = (period, ensure_utc(as_of))
        if key not in self._snapshots:
            deals = self.moment(period, key[1]).deals.copy()
            won = won_deal_ids(self.session, key[1], period.end_at, period.end_at)
            deals[LABEL] = deals["deal_id"].isin(won).astype(np.int8)
            self._snapshots[key] = deals
        return self._snapshots[key]


def quarters_between(first: datetime, last: datetime, fiscal_start_month: int) -> list[Period]:
    """The fiscal quarters from the one holding `first` to the one holding `last`."""
    quarters: list[Period] = []
    quarter = period_containing(first.date(), PeriodKind.QUARTER, fiscal_start_month)
    while quarter.start <= last.date():
        quarters.append(quarter)
        quarter = period_containing(quarter.end, PeriodKind.QUARTER, fiscal_start_month)
    return quarters


def history_quarters(session: Session, as_of: datetime) -> list[Period]:
    """The fiscal quarters from the one holding the first recorded deal change to the one
    holding `as_of` (none without history)."""
    first = session.scalar(select(func.min(DealHistory.valid_from)))
    if first is None:
        return []
    return quarters_between(ensure_utc(first), ensure_utc(as_of), fiscal_start_month(session))


def snapshot_moments(
    period: Period, *, every_weeks: int = SNAPSHOT_EVERY_WEEKS
) -> Iterator[datetime]:
    """Moments every `every_weeks` weeks from the period's start, inside it."""
    moment = period.start_at
    while moment < period.end_at:
        yield moment
        moment += timedelta(weeks=every_weeks)


@dataclass
class TrainingSet:
    """Labelled snapshots of ended periods (the whole org's open deals at each moment) and,
    per owner and moment, the open pipeline and what deals created later won."""

    snapshots: pd.DataFrame
    by_owner: pd.DataFrame
    periods: list[Period]

    def run_rate(self, owners: Collection[int] | None = None) -> pd.DataFrame:
        """The run-rate table (`RUN_RATE_COLUMNS`) of the deals of `owners` (None: all)."""
        moments = self.by_owner[["period_start", "days_in"]].drop_duplicates()
        rows = self.by_owner
        if owners is not None:
            rows = rows[rows["owner_id"].isin(list(owners))]
        sums = rows.groupby(["period_start", "days_in"], as_index=False)[
            ["open_cents", "new_won_cents"]
        ].sum()
        table = moments.merge(sums, on=["period_start", "days_in"], how="left").fillna(0.0)
        return table[list(RUN_RATE_COLUMNS)].reset_index(drop=True)


def training_set(
    history: History,
    periods: list[Period],
    *,
    every_weeks: int = SNAPSHOT_EVERY_WEEKS,
    max_rows: int = MAX_TRAINING_ROWS,
    random_state: int = 0,
) -> TrainingSet:
    """Snapshots of the ended `periods`, every `every_weeks` weeks into each.

    A large org's snapshots are sampled: each moment keeps at most its share of `max_rows`
    deals, drawn at random (seeded), so fitting stays within memory and minutes. The run-rate
    table always counts every deal.
    """
    moments = [
        (period, moment)
        for period in periods
        for moment in snapshot_moments(period, every_weeks=every_weeks)
    ]
    per_moment = max(1, max_rows // max(1, len(moments)))
    rng = np.random.default_rng(random_state)
    parts: list[pd.DataFrame] = []
    owner_parts: list[pd.DataFrame] = []
    for key, (period, moment) in enumerate(moments):
        deals = history.snapshot(period, moment)
        kept = deals
        if len(deals) > per_moment:
            rows = np.sort(rng.choice(len(deals), size=per_moment, replace=False))
            kept = deals.iloc[rows]
        parts.append(kept.assign(**{MOMENT_KEY: key}))
        open_cents = (
            pd.Series(amounts(deals), index=deals["owner_id"].to_numpy()).groupby(level=0).sum()
        )
        new = history.new_deals_won(period, moment).astype(np.float64)
        owners = open_cents.index.union(new.index)
        owner_parts.append(
            pd.DataFrame(
                {
                    "period_start": period.start,
                    "days_in": (moment.date() - period.start).days,
                    "owner_id": owners.to_numpy(dtype=np.int64),
                    "open_cents": open_cents.reindex(owners, fill_value=0.0).to_numpy(),
                    "new_won_cents": new.reindex(owners, fill_value=0.0).to_numpy(),
                }
            )
        )
    snapshots = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    columns = ["period_start", "days_in", "owner_id", "open_cents", "new_won_cents"]
    by_owner = (
        pd.concat(owner_parts, ignore_index=True) if owner_parts else pd.DataFrame(columns=columns)
    )
    return TrainingSet(snapshots, by_owner, list(periods))


@dataclass
class Forecasters:
    """The methods as fitted on a training set; `shortage` says why the learned ones are
    missing (too little history), or is None. Fitted on the whole org; a scope's forecast
    applies them to its own deals and uses its own run rate (`run_rate_for`)."""

    stage_weighted: StageWeighted
    conversion: HistoricalConversion | None
    rollup: CategoryRollup | None
    deal_model: DealCloseModel | None
    training: TrainingSet
    shortage: str | None

    def run_rate_for(self, owners: Collection[int] | None = None) -> RunRate:
        """The run rate of new deals of `owners` (None: the whole org)."""
        return RunRate().fit(self.training.run_rate(owners))


def fit_forecasters(training: TrainingSet, *, random_state: int = 0) -> Forecasters:
    """Fit every method on the training set, or only the baseline when it is too small."""
    snapshots = training.snapshots
    rows = len(snapshots)
    wins = int(snapshots[LABEL].sum()) if rows else 0
    if rows < MIN_TRAINING_ROWS or wins < MIN_TRAINING_WINS:
        shortage = (
            f"{rows:,} snapshot rows of open deals with {wins:,} won in their period from "
            f"{len(training.periods)} ended period(s); the learned methods need at least "
            f"{MIN_TRAINING_ROWS:,} rows and {MIN_TRAINING_WINS} wins"
        )
        return Forecasters(StageWeighted().fit(), None, None, None, training, shortage)
    return Forecasters(
        StageWeighted().fit(),
        HistoricalConversion().fit(snapshots),
        CategoryRollup().fit(snapshots),
        DealCloseModel(random_state=random_state).fit(snapshots),
        training,
        None,
    )


@dataclass(frozen=True)
class Driver:
    """An open deal that moves the projection: its amount, probability and why."""

    deal_id: int
    amount_cents: int
    probability: float
    expected_cents: float
    factors: list[str]


@dataclass
class MethodForecast:
    """One method's forecast of the period's won amount, in cents."""

    method: str
    expected: float
    p10: float | None = None
    p50: float | None = None
    p90: float | None = None


@dataclass
class Projection:
    """Every method's forecast for one period and scope at one moment."""

    period: Period
    as_of: datetime
    won_cents: int
    open_deals: int
    methods: dict[str, MethodForecast]
    drivers: list[Driver]
    new_deals_cents: float
    shortage: str | None


def project(
    moment: PeriodMoment,
    forecasters: Forecasters,
    *,
    owners: Collection[int] | None = None,
    drivers: int = TOP_DRIVERS,
    random_state: int = 0,
) -> Projection:
    """Every method's forecast of `moment`'s period for the deals of `owners` (None: the
    whole org)."""
    moment = moment.for_owners(owners)
    deals = moment.deals
    won = float(moment.won_cents)
    value = amounts(deals)
    results: dict[str, MethodForecast] = {}

    def expected(name: str, probability: np.ndarray, extra: float = 0.0) -> None:
        results[name] = MethodForecast(name, won + float((value * probability).sum()) + extra)

    expected(STAGE_WEIGHTED, forecasters.stage_weighted.predict_proba(deals))
    new_cents = 0.0
    top: list[Driver] = []
    if forecasters.conversion is not None:
        expected(HISTORICAL_CONVERSION, forecasters.conversion.predict_proba(deals))
    if forecasters.rollup is not None:
        expected(CATEGORY_ROLLUP, forecasters.rollup.predict_proba(deals))
    if forecasters.deal_model is not None:
        days_in = (moment.as_of.date() - moment.period.start).days
        run_rate = forecasters.run_rate_for(owners)
        new_deals = run_rate.values_at(days_in, float(value.sum()))
        probability = forecasters.deal_model.predict_proba(deals)
        spread = simulate_won(
            won,
            probability,
            value,
            period_shift=forecasters.deal_model.period_shift_,
            new_deals=new_deals,
            random_state=random_state,
        )
        new_cents = float(new_deals.mean()) if len(new_deals) else 0.0
        results[PROJECTION] = _ranged(spread)
        top = _drivers(forecasters.deal_model, deals, probability, value, drivers)
    return Projection(
        moment.period,
        moment.as_of,
        int(won),
        len(deals),
        results,
        top,
        new_cents,
        forecasters.shortage,
    )


def _ranged(spread: Range) -> MethodForecast:
    return MethodForecast(PROJECTION, spread.expected, spread.p10, spread.p50, spread.p90)


def _drivers(
    model: DealCloseModel,
    deals: pd.DataFrame,
    probability: np.ndarray,
    value: np.ndarray,
    count: int,
) -> list[Driver]:
    """The deals whose expected amount moves the projection most, with their top factors."""
    if count <= 0 or deals.empty:
        return []
    order = np.argsort(-(value * probability), kind="stable")[:count]
    chosen = deals.iloc[order]
    explanations = explain(model.scorer_, chosen[MODEL_FEATURES].reset_index(drop=True))
    result: list[Driver] = []
    for position, explanation in zip(order.tolist(), explanations, strict=True):
        result.append(
            Driver(
                deal_id=int(deals["deal_id"].iloc[position]),
                amount_cents=int(value[position]),
                probability=float(probability[position]),
                expected_cents=float(value[position] * probability[position]),
                factors=[describe(factor) for factor in (*explanation.up, *explanation.down)],
            )
        )
    return result


def describe(factor: Factor) -> str:
    """A factor as a person reads it: "3 close-date pushes: −12 pts"."""
    if factor.feature == CLOSES_IN_PERIOD:
        text = "Expected to close in the period" if factor.value else "Expected to close later"
    else:
        text = describe_feature(factor.feature, factor.value)
    return f"{text}: {format_points(factor.points)}"


def ended_before(periods: list[Period], moment: datetime) -> list[Period]:
    """The periods that had ended by `moment`."""
    return [period for period in periods if period.end_at <= moment]

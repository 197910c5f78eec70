"""Forecast methods: how much a period will have won, from what is known at a moment.

Pure: they take the frames of `topline.forecasting.moments` and follow the scikit-learn
contract (hyperparameters in `__init__`, `fit` returns the estimator, learned state ends in
`_`, randomness through `random_state`). Each deal method gives every open deal a probability
of closing won inside the period; the forecast is what was won so far plus the deals' amounts
times those probabilities.

Training rows are snapshots: the deals open at a past moment of an ended period, with their
features then, `won_in_period` (1 when the deal closed won before that period's end, as
recorded by then), `moment_key` (which snapshot the row is from) and `days_to_period_end`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from topline.forecasting.moments import CLOSES_IN_PERIOD, STAGE_PROBABILITY
from topline.scoring.estimators import TabularScorer
from topline.scoring.features import FEATURES, PERIOD_FEATURE

LABEL = "won_in_period"
MOMENT_KEY = "moment_key"
MODEL_FEATURES = [*FEATURES, PERIOD_FEATURE, CLOSES_IN_PERIOD]

# Historical conversion groups deals by these edges (days in stage; weeks left in the period).
AGE_EDGES = (0, 15, 31, 61, 121)
WEEKS_LEFT_EDGES = (0, 1, 2, 4, 7, 10)
# Laplace-style weight of the broader group's rate in a narrower group's.
PRIOR_WEIGHT = 10.0
# Probabilities are kept this far from 0 and 1 before taking log-odds.
EPSILON = 1e-4
# The smallest shift between periods assumed, in log-odds, however steady the past looked.
MIN_PERIOD_SHIFT = 0.05
# Shifts are searched within ± this many log-odds (a factor of e¹² ≈ 160,000 in the odds).
MAX_SHIFT = 12.0
# Snapshots with fewer open deals say little about a period's shift and are left out of it.
MIN_SHIFT_DEALS = 20


def expit(log_odds: np.ndarray) -> np.ndarray:
    """Probability from log-odds."""
    result: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(log_odds, dtype=np.float64)))
    return result


def logit(probability: np.ndarray) -> np.ndarray:
    """Log-odds of a probability strictly between 0 and 1."""
    p = np.asarray(probability, dtype=np.float64)
    result: np.ndarray = np.log(p) - np.log1p(-p)
    return result


def amounts(deals: pd.DataFrame) -> np.ndarray:
    """Each open deal's amount in cents, missing as 0."""
    values: np.ndarray = deals["amount_cents"].fillna(0.0).to_numpy(dtype=np.float64)
    return values


class StageWeighted(BaseEstimator):  # type: ignore[misc]
    """The baseline every CRM shows: each open deal whose expected close date falls in the
    period counts at its stage's default probability; other deals count nothing."""

    def fit(self, snapshots: pd.DataFrame | None = None, y: Any = None) -> Self:
        """Nothing to learn: the stages' probabilities are set by people."""
        self.fitted_ = True
        return self

    def predict_proba(self, deals: pd.DataFrame) -> np.ndarray:
        """Per deal, its stage's probability if it is expected to close in the period."""
        probability = deals[STAGE_PROBABILITY].fillna(0.0).to_numpy(dtype=np.float64)
        result: np.ndarray = probability * deals[CLOSES_IN_PERIOD].to_numpy(dtype=np.float64)
        return result


class HistoricalConversion(BaseEstimator):  # type: ignore[misc]
    """The org's own rate of closing won inside the period, by stage and days in stage.

    Deals are grouped by stage, days in the stage (`AGE_EDGES`), whether their expected close
    date falls in the period, and weeks left in the period (`WEEKS_LEFT_EDGES`); a group's rate
    of snapshots won in their period is shrunk towards its broader group's (the same stage,
    then the stage alone, then everyone) as if `prior_weight` more snapshots had that rate.
    A person can check every number by counting.
    """

    def __init__(self, *, prior_weight: float = PRIOR_WEIGHT) -> None:
        self.prior_weight = prior_weight

    def fit(self, snapshots: pd.DataFrame, y: Any = None) -> Self:
        """Count snapshots and wins per group."""
        keys = _conversion_keys(snapshots)
        label = snapshots[LABEL].to_numpy(dtype=np.float64)
        frame = keys.assign(won=label, n=1.0)
        self.overall_ = float(label.mean()) if len(label) else 0.0
        self.levels_: list[tuple[list[str], pd.DataFrame]] = []
        for columns in _LEVELS:
            counts = frame.groupby(columns, dropna=False, observed=True)[["won", "n"]].sum()
            self.levels_.append((columns, counts))
        return self

    def predict_proba(self, deals: pd.DataFrame) -> np.ndarray:
        """Per deal, the shrunk rate of its narrowest group."""
        keys = _conversion_keys(deals)
        rate = np.full(len(deals), self.overall_)
        for columns, counts in self.levels_:
            joined = keys[columns].merge(counts, how="left", left_on=columns, right_index=True)
            won = joined["won"].fillna(0.0).to_numpy()
            n = joined["n"].fillna(0.0).to_numpy()
            rate = (won + self.prior_weight * rate) / (n + self.prior_weight)
        result: np.ndarray = rate
        return result


_LEVELS = [
    ["stage"],
    ["stage", "in_period", "weeks_left"],
    ["stage", "in_period", "weeks_left", "age"],
]


def _conversion_keys(deals: pd.DataFrame) -> pd.DataFrame:
    weeks_left = deals[PERIOD_FEATURE].to_numpy(dtype=np.float64) / 7.0
    age = deals["days_in_stage"].fillna(0.0).to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {
            "stage": deals["stage"].astype(object).fillna("").to_numpy(),
            "in_period": deals[CLOSES_IN_PERIOD].to_numpy(dtype=np.float64),
            "weeks_left": np.searchsorted(WEEKS_LEFT_EDGES, weeks_left, side="right"),
            "age": np.searchsorted(AGE_EDGES, age, side="right"),
        }
    )


class CategoryRollup(BaseEstimator):  # type: ignore[misc]
    """The reps' own categories, rolled up: every commit deal closing in the period counts in
    full and best-case deals at the share of best-case amount the org has historically won
    inside the period with the same weeks left; pipeline and omitted deals count nothing."""

    def fit(self, snapshots: pd.DataFrame, y: Any = None) -> Self:
        """Learn the won share of best-case amount, per band of weeks left."""
        best = snapshots[
            (snapshots["forecast_category"] == "best_case") & (snapshots[CLOSES_IN_PERIOD] == 1.0)
        ]
        value = amounts(best)
        won = value * best[LABEL].to_numpy(dtype=np.float64)
        bands = _weeks_band(best)
        self.overall_share_ = float(won.sum() / value.sum()) if value.sum() > 0 else 0.0
        self.band_share_: dict[int, float] = {}
        for band in np.unique(bands).tolist():
            mask = bands == band
            total = value[mask].sum()
            if total > 0:
                self.band_share_[int(band)] = float(won[mask].sum() / total)
        return self

    def predict_proba(self, deals: pd.DataFrame) -> np.ndarray:
        """Per deal: 1 for commit, the learned share for best case, else 0 (in the period)."""
        category = deals["forecast_category"].astype(object).to_numpy()
        share = np.array(
            [self.band_share_.get(int(band), self.overall_share_) for band in _weeks_band(deals)]
        )
        probability = np.where(
            category == "commit", 1.0, np.where(category == "best_case", share, 0.0)
        )
        result: np.ndarray = probability * deals[CLOSES_IN_PERIOD].to_numpy(dtype=np.float64)
        return result


def _weeks_band(deals: pd.DataFrame) -> np.ndarray:
    weeks_left = deals[PERIOD_FEATURE].to_numpy(dtype=np.float64) / 7.0
    bands: np.ndarray = np.searchsorted(WEEKS_LEFT_EDGES, weeks_left, side="right")
    return bands


class DealCloseModel(BaseEstimator):  # type: ignore[misc]
    """Per deal, the calibrated probability of closing won inside the period: Topline's scorer
    (LightGBM, calibrated on a held-out fold of whole deals) on the deal's as-of features plus
    the days left in the period and whether its expected close date falls in it.

    It also learns how much whole periods differ from what the deals' probabilities said
    (`period_shift_`, a standard deviation in log-odds): for each training snapshot, the one
    shift of every deal's log-odds that makes the expected won amount equal what was won.
    The range of the projection draws that shift, because deals of one period rise and fall
    together (a strong quarter, a budget freeze), which independent coin flips would hide.
    """

    def __init__(self, *, random_state: int = 0) -> None:
        self.random_state = random_state

    def fit(self, snapshots: pd.DataFrame, y: Any = None) -> Self:
        """Learn from labelled snapshots (one row per deal and moment)."""
        label = snapshots[LABEL].to_numpy(dtype=np.int8)
        leaf = min(200, max(20, len(snapshots) // 50))
        self.scorer_ = TabularScorer(
            derived_features=False,
            num_leaves=15,
            min_child_samples=leaf,
            learning_rate=0.1,
            random_state=self.random_state,
            n_jobs=1,
        ).fit(snapshots[MODEL_FEATURES], label, groups=snapshots["deal_id"].to_numpy())
        self.period_shift_ = self._learn_shift(snapshots, label)
        return self

    def _learn_shift(self, snapshots: pd.DataFrame, label: np.ndarray) -> float:
        probability = self.predict_proba(snapshots)
        value = amounts(snapshots)
        shifts: list[float] = []
        for rows in snapshots.groupby(MOMENT_KEY, sort=False).indices.values():
            if len(rows) < MIN_SHIFT_DEALS:
                continue
            won = float((value[rows] * label[rows]).sum())
            shift = solve_shift(probability[rows], value[rows], won)
            if shift is not None:
                shifts.append(shift)
        if not shifts:
            return MIN_PERIOD_SHIFT
        return max(MIN_PERIOD_SHIFT, float(np.sqrt(np.mean(np.square(shifts)))))

    def predict_proba(self, deals: pd.DataFrame) -> np.ndarray:
        """Per deal, the probability of closing won inside the period."""
        if deals.empty:
            return np.zeros(0)
        result: np.ndarray = self.scorer_.predict_proba(deals[MODEL_FEATURES])[:, 1]
        return result


def solve_shift(probability: np.ndarray, value: np.ndarray, won: float) -> float | None:
    """The shift `u` of every log-odds with Σ value · expit(logit(p) + u) = won, or None when
    no finite shift reaches it (nothing open, or won outside what the deals could give)."""
    total = float(value.sum())
    if total <= 0 or not 0 < won < total:
        return None
    log_odds = logit(np.clip(probability, EPSILON, 1 - EPSILON))
    low, high = -MAX_SHIFT, MAX_SHIFT
    for _ in range(60):
        middle = (low + high) / 2
        if float((value * expit(log_odds + middle)).sum()) < won:
            low = middle
        else:
            high = middle
    shift = (low + high) / 2
    # Pinned at the edge: no shift in range reproduces the outcome.
    return None if abs(shift) >= MAX_SHIFT - 1e-6 else shift


class RunRate(BaseEstimator):  # type: ignore[misc]
    """What a period wins from deals not yet created at a moment, learned from past periods
    at the same point: what each of the `recent` latest ended periods won from deals created
    after the same number of days into it, scaled by how the open pipeline then compares with
    the open pipeline now (a business that grew books more from new deals too; the scale is
    kept within `max_scale` either way).

    Fitted on a frame with `period_start`, `days_in` (days from the period's start to the
    moment), `open_cents` (the open pipeline then) and `new_won_cents`.
    """

    def __init__(self, *, recent: int = 4, tolerance_days: int = 6, max_scale: float = 2.0) -> None:
        self.recent = recent
        self.tolerance_days = tolerance_days
        self.max_scale = max_scale

    def fit(self, table: pd.DataFrame, y: Any = None) -> Self:
        """Keep the past periods' new-deal wins and open pipeline by days into the period."""
        self.table_ = table[list(RUN_RATE_COLUMNS)].copy()
        return self

    def values_at(self, days_in: int, open_cents: float | None = None) -> np.ndarray:
        """The latest periods' new-deal wins at the nearest moment to `days_in` days in,
        scaled to `open_cents` of open pipeline (unscaled when None)."""
        table = self.table_
        if table.empty:
            return np.zeros(0)
        # The distance is a column before filtering: assigning a Series to an empty frame
        # would bring back every row of the Series' index, as missing values.
        table = table.assign(distance=(table["days_in"] - days_in).abs())
        near = table[table["distance"] <= self.tolerance_days]
        nearest = near.sort_values(["period_start", "distance"]).drop_duplicates("period_start")
        latest = nearest.sort_values("period_start").tail(self.recent)
        values: np.ndarray = latest["new_won_cents"].to_numpy(dtype=np.float64)
        if open_cents is not None:
            then = latest["open_cents"].to_numpy(dtype=np.float64)
            ratio = np.divide(open_cents, then, out=np.ones_like(then), where=then > 0)
            values = values * np.clip(ratio, 1 / self.max_scale, self.max_scale)
        return values

    def predict(self, days_in: int, open_cents: float | None = None) -> float:
        """Expected cents from deals not yet created (0 without history)."""
        values = self.values_at(days_in, open_cents)
        return float(values.mean()) if len(values) else 0.0


RUN_RATE_COLUMNS = ("period_start", "days_in", "open_cents", "new_won_cents")


@dataclass(frozen=True)
class Range:
    """A projection's expected value and its 10th, 50th and 90th percentiles, in cents."""

    expected: float
    p10: float
    p50: float
    p90: float


def simulate_won(
    won_so_far: float,
    probability: np.ndarray,
    value: np.ndarray,
    *,
    period_shift: float,
    new_deals: np.ndarray,
    simulations: int = 4000,
    random_state: int = 0,
) -> Range:
    """Monte Carlo of the period's won amount: what is won already, plus each open deal won
    with its probability after one shared shift of log-odds per simulated period (drawn from
    N(0, period_shift²)), plus what deals not yet created win (drawn from the past periods'
    `new_deals`, none when empty).

    With many deals, the sum of the deals' wins given a shift is drawn from its normal
    approximation instead of one coin per deal; the two agree to well under a percent there.
    """
    rng = np.random.default_rng(random_state)
    shifts = rng.normal(0.0, period_shift, simulations)
    log_odds = logit(np.clip(probability, EPSILON, 1 - EPSILON))
    totals = np.full(simulations, float(won_so_far))
    if len(value):
        totals += _deal_wins(rng, log_odds, value, shifts)
    if len(new_deals):
        totals += rng.choice(new_deals, size=simulations, replace=True)
    expected = float(won_so_far + (value * probability).sum())
    if len(new_deals):
        expected += float(new_deals.mean())
    p10, p50, p90 = np.percentile(totals, [10, 50, 90])
    return Range(expected, float(p10), float(p50), float(p90))


# Above this many deals × simulations, sums are drawn from their normal approximation.
EXACT_DRAWS = 5_000_000


def _deal_wins(
    rng: np.random.Generator, log_odds: np.ndarray, value: np.ndarray, shifts: np.ndarray
) -> np.ndarray:
    if len(value) * len(shifts) <= EXACT_DRAWS:
        probability = expit(log_odds[np.newaxis, :] + shifts[:, np.newaxis])
        wins = rng.random(probability.shape) < probability
        result: np.ndarray = wins.astype(np.float64) @ value
        return result
    sums = np.empty(len(shifts))
    for index, shift in enumerate(shifts):
        probability = expit(log_odds + shift)
        mean = float((value * probability).sum())
        spread = float(np.sqrt((value**2 * probability * (1 - probability)).sum()))
        sums[index] = max(0.0, rng.normal(mean, spread))
    return sums

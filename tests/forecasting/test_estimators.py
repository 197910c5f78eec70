"""The forecast methods against numbers worked out by hand (in the comments next to them), the
Monte Carlo range against what it must give in its limits, and the accuracy of hand-made
backtest points. Pure: no database."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from topline.analytics.periods import quarter_period
from topline.forecasting import estimators
from topline.forecasting.backtest import Backtest, BacktestPoint, MethodAccuracy, accuracy
from topline.forecasting.estimators import (
    LABEL,
    MIN_PERIOD_SHIFT,
    MODEL_FEATURES,
    MOMENT_KEY,
    CategoryRollup,
    DealCloseModel,
    HistoricalConversion,
    RunRate,
    StageWeighted,
    expit,
    logit,
    simulate_won,
    solve_shift,
)
from topline.forecasting.moments import CLOSES_IN_PERIOD, STAGE_PROBABILITY, PeriodMoment
from topline.forecasting.projection import (
    STAGE_WEIGHTED,
    MethodForecast,
    TrainingSet,
    fit_forecasters,
    project,
)
from topline.scoring.features import CATEGORICAL, PERIOD_FEATURE

NAN = float("nan")


class TestLogOdds:
    def test_known_values(self) -> None:
        assert expit(np.array([0.0]))[0] == 0.5
        # 0.75 is 3 to 1.
        assert logit(np.array([0.75]))[0] == pytest.approx(math.log(3))
        assert expit(np.array([math.log(3)]))[0] == pytest.approx(0.75)

    def test_round_trip_and_no_overflow_far_out(self) -> None:
        p = np.array([1e-6, 0.2, 0.5, 0.9, 1 - 1e-6])
        np.testing.assert_allclose(expit(logit(p)), p, rtol=1e-9)
        far = expit(np.array([-1000.0, 1000.0]))
        assert far.tolist() == [0.0, 1.0]


class TestStageWeighted:
    def test_only_deals_closing_in_the_period_count_at_their_stage_probability(self) -> None:
        deals = pd.DataFrame(
            {
                STAGE_PROBABILITY: [0.6, 0.8, NAN, 0.1],
                CLOSES_IN_PERIOD: [1.0, 0.0, 1.0, 1.0],
            }
        )
        probability = StageWeighted().fit().predict_proba(deals)
        # Proposal in the period; Negotiation closing later; a stage without a probability.
        assert probability.tolist() == [0.6, 0.0, 0.0, 0.1]


def conversion_rows(
    stage: str, in_period: float, days_to_end: float, days_in_stage: float, won: list[int]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "stage": stage,
            CLOSES_IN_PERIOD: in_period,
            PERIOD_FEATURE: days_to_end,
            "days_in_stage": days_in_stage,
            LABEL: won,
        }
    )


class TestHistoricalConversion:
    # Ten snapshot rows, 4 won (the overall rate 0.4):
    #   A  Proposal, closing in the period, 14 days left (2 weeks: band [2, 4)), 10 days in
    #      stage (band [0, 15)): 4 rows, 3 won;
    #   B  the same but 40 days in stage (band [31, 61)): 2 rows, none won;
    #   C  Proposal closing later, 70 days left (10 weeks: band [10, ∞)): 2 rows, none won;
    #   D  Discovery like A: 2 rows, 1 won.
    SNAPSHOTS = pd.concat(
        [
            conversion_rows("Proposal", 1.0, 14, 10, [1, 1, 1, 0]),
            conversion_rows("Proposal", 1.0, 14, 40, [0, 0]),
            conversion_rows("Proposal", 0.0, 70, 10, [0, 0]),
            conversion_rows("Discovery", 1.0, 14, 10, [1, 0]),
        ],
        ignore_index=True,
    )

    # With prior weight 10, each level is (won + 10 · broader rate) / (n + 10):
    #   stage Proposal: 8 rows, 3 won → (3 + 10 · 0.4) / 18 = 7/18
    #   stage Discovery: 2 rows, 1 won → (1 + 4) / 12 = 5/12
    #   Proposal, in period, band [2, 4): 6 rows, 3 won → (3 + 10 · 7/18) / 16 = 31/72
    #   Discovery, in period, band [2, 4): 2 rows, 1 won → (1 + 10 · 5/12) / 12 = 31/72
    #   A: 4 rows, 3 won → (3 + 10 · 31/72) / 14 = 263/504
    #   B: 2 rows, 0 won → (0 + 10 · 31/72) / 12 = 155/432
    #   D: 2 rows, 1 won → (1 + 10 · 31/72) / 12 = 191/432
    @pytest.mark.parametrize(
        ("stage", "in_period", "days_to_end", "days_in_stage", "expected"),
        [
            ("Proposal", 1.0, 14, 10, 263 / 504),
            ("Proposal", 1.0, 20, 0, 263 / 504),  # 20 days: still 2–4 weeks; 0 days in stage
            ("Proposal", 1.0, 14, 40, 155 / 432),
            ("Discovery", 1.0, 14, 10, 191 / 432),
            # No snapshot was 15–30 days in stage: the level above's rate, unchanged.
            ("Proposal", 1.0, 14, 20, 31 / 72),
            # Proposal with 3 weeks left but closing later: only the stage level is known.
            ("Proposal", 0.0, 21, 10, 7 / 18),
            # A stage never seen: the overall rate through every level.
            ("Negotiation", 1.0, 14, 10, 0.4),
        ],
    )
    def test_rates_shrink_through_three_levels(
        self,
        stage: str,
        in_period: float,
        days_to_end: float,
        days_in_stage: float,
        expected: float,
    ) -> None:
        model = HistoricalConversion(prior_weight=10).fit(self.SNAPSHOTS)
        deal = conversion_rows(stage, in_period, days_to_end, days_in_stage, [0])
        assert model.predict_proba(deal)[0] == pytest.approx(expected, abs=1e-12)

    def test_the_overall_rate_and_many_deals_at_once_in_order(self) -> None:
        model = HistoricalConversion(prior_weight=10).fit(self.SNAPSHOTS)
        assert model.overall_ == 0.4
        deals = pd.concat(
            [
                conversion_rows("Negotiation", 1.0, 14, 10, [0]),
                conversion_rows("Proposal", 1.0, 14, 40, [0]),
                conversion_rows("Proposal", 1.0, 14, 10, [0]),
            ],
            ignore_index=True,
        )
        np.testing.assert_allclose(
            model.predict_proba(deals), [0.4, 155 / 432, 263 / 504], rtol=1e-12
        )

    def test_missing_stage_and_days_in_stage_are_a_group_of_their_own(self) -> None:
        model = HistoricalConversion(prior_weight=10).fit(self.SNAPSHOTS)
        deal = pd.DataFrame(
            {
                "stage": [None],
                CLOSES_IN_PERIOD: [1.0],
                PERIOD_FEATURE: [14.0],
                "days_in_stage": [NAN],
            }
        )
        assert model.predict_proba(deal)[0] == pytest.approx(0.4)

    def test_a_weaker_prior_moves_rates_towards_the_groups_own(self) -> None:
        # Prior weight 0 is each narrowest group's own rate: A won 3 of 4.
        model = HistoricalConversion(prior_weight=0).fit(self.SNAPSHOTS)
        deal = conversion_rows("Proposal", 1.0, 14, 10, [0])
        assert model.predict_proba(deal)[0] == pytest.approx(0.75)


def rollup_rows(
    category: str, in_period: float, days_to_end: float, amount: float, won: int = 0
) -> dict[str, Any]:
    return {
        "forecast_category": category,
        CLOSES_IN_PERIOD: in_period,
        PERIOD_FEATURE: days_to_end,
        "amount_cents": amount,
        LABEL: won,
    }


class TestCategoryRollup:
    # Best-case deals closing in the period:
    #   14 days left (band [2, 4) weeks): 100 won, 300 not → share 100 / 400 = 0.25
    #   56 days left (8 weeks, band [7, 10)): 200 won, 300 not → share 200 / 500 = 0.4
    # Best case closing later and a commit deal do not count towards the share, nor does an
    # amount-less best-case deal. Overall: (100 + 200) / (400 + 500) = 1/3.
    SNAPSHOTS = pd.DataFrame(
        [
            rollup_rows("best_case", 1.0, 14, 100, won=1),
            rollup_rows("best_case", 1.0, 14, 300),
            rollup_rows("best_case", 1.0, 56, 200, won=1),
            rollup_rows("best_case", 1.0, 56, 300),
            rollup_rows("best_case", 1.0, 56, NAN, won=1),
            rollup_rows("best_case", 0.0, 14, 1000, won=1),
            rollup_rows("commit", 1.0, 14, 500),
            rollup_rows("pipeline", 1.0, 14, 700, won=1),
        ]
    )

    def test_the_won_share_of_best_case_amount_per_band(self) -> None:
        model = CategoryRollup().fit(self.SNAPSHOTS)
        assert model.band_share_ == {3: 0.25, 5: 0.4}
        assert model.overall_share_ == pytest.approx(1 / 3)

    def test_commit_in_full_best_case_at_its_share_everything_else_nothing(self) -> None:
        model = CategoryRollup().fit(self.SNAPSHOTS)
        deals = pd.DataFrame(
            [
                rollup_rows("commit", 1.0, 40, 1),
                rollup_rows("commit", 0.0, 40, 1),  # closing after the period
                rollup_rows("best_case", 1.0, 20, 1),  # ~3 weeks left
                rollup_rows("best_case", 1.0, 60, 1),  # ~8.6 weeks left
                rollup_rows("best_case", 1.0, 3, 1),  # band [0, 1) week: never seen → overall
                rollup_rows("best_case", 0.0, 20, 1),
                rollup_rows("pipeline", 1.0, 20, 1),
                rollup_rows("omitted", 1.0, 20, 1),
            ]
        )
        np.testing.assert_allclose(
            model.predict_proba(deals), [1.0, 0.0, 0.25, 0.4, 1 / 3, 0.0, 0.0, 0.0]
        )

    def test_without_best_case_history_best_case_counts_nothing(self) -> None:
        model = CategoryRollup().fit(
            self.SNAPSHOTS[self.SNAPSHOTS["forecast_category"] != "best_case"]
        )
        deals = pd.DataFrame(
            [rollup_rows("best_case", 1.0, 20, 1), rollup_rows("commit", 1.0, 20, 1)]
        )
        assert model.predict_proba(deals).tolist() == [0.0, 1.0]


class TestSolveShift:
    def test_the_shift_reproduces_the_won_amount(self) -> None:
        # Four deals at even odds worth 250 each: 750 won is 3 to 1, a shift of ln 3.
        shift = solve_shift(np.full(4, 0.5), np.full(4, 250.0), 750.0)
        assert shift == pytest.approx(math.log(3), abs=1e-9)

    def test_uneven_deals(self) -> None:
        probability = np.array([0.1, 0.5, 0.8])
        value = np.array([1000.0, 300.0, 50.0])
        shift = solve_shift(probability, value, 700.0)
        assert shift is not None
        reproduced = (value * expit(logit(probability) + shift)).sum()
        assert reproduced == pytest.approx(700.0, abs=1e-6)
        # More than expected (100 + 150 + 40 = 290) was won: the shift is up.
        assert shift > 0

    @pytest.mark.parametrize(
        ("won", "value"),
        [
            (0.0, [100.0, 100.0]),
            (-5.0, [100.0, 100.0]),
            (200.0, [100.0, 100.0]),  # everything won: no finite shift reaches it
            (250.0, [100.0, 100.0]),
            (10.0, [0.0, 0.0]),  # nothing open
            (10.0, []),
        ],
    )
    def test_no_shift_outside_what_the_deals_could_give(
        self, won: float, value: list[float]
    ) -> None:
        values = np.array(value, dtype=np.float64)
        assert solve_shift(np.full(len(values), 0.5), values, won) is None


class FakeScorer:
    """Stands in for the LightGBM scorer: the probability is the deal's `owner_win_rate`."""

    def __init__(self, **params: Any) -> None:
        self.params = params

    def fit(self, frame: pd.DataFrame, label: np.ndarray, groups: np.ndarray) -> FakeScorer:
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = frame["owner_win_rate"].to_numpy(dtype=np.float64)
        return np.column_stack([1 - p, p])


def deal_snapshots(moments: list[tuple[int, int]], *, p: float = 0.5) -> pd.DataFrame:
    """Per moment (deals, won): that many deals of 100 at probability `p`, the first `won` of
    them won in their period."""
    parts = []
    for key, (deals, won) in enumerate(moments):
        part = pd.DataFrame(dict.fromkeys(MODEL_FEATURES, 0.0), index=range(deals))
        for name in CATEGORICAL:
            part[name] = "x"
        part["owner_win_rate"] = p
        part["amount_cents"] = 100.0
        part[LABEL] = [1] * won + [0] * (deals - won)
        part[MOMENT_KEY] = key
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    frame["deal_id"] = np.arange(len(frame))
    return frame


class TestDealCloseModelShift:
    @pytest.fixture(autouse=True)
    def fake_scorer(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(estimators, "TabularScorer", FakeScorer)

    def test_the_shift_is_the_root_mean_square_of_each_moments(self) -> None:
        # Moment 0: 20 deals at even odds worth 2,000, 1,500 won → 3 to 1, shift +ln 3.
        # Moment 1: 500 of 2,000 won → shift −ln 3. Moment 2 has 19 deals (too few to say
        # anything about its period) and moment 3 won everything (no finite shift): left out.
        # √((ln²3 + ln²3) / 2) = ln 3.
        snapshots = deal_snapshots([(20, 15), (20, 5), (19, 10), (20, 20)])
        model = DealCloseModel().fit(snapshots)
        assert model.period_shift_ == pytest.approx(math.log(3), abs=1e-9)
        assert model.predict_proba(snapshots.head(2)).tolist() == [0.5, 0.5]

    def test_a_steady_past_still_assumes_the_smallest_shift(self) -> None:
        # Each moment won exactly what its deals said: shift 0, kept at the floor.
        model = DealCloseModel().fit(deal_snapshots([(20, 10), (40, 20)]))
        assert model.period_shift_ == MIN_PERIOD_SHIFT

    def test_only_small_moments_give_the_smallest_shift(self) -> None:
        model = DealCloseModel().fit(deal_snapshots([(10, 9), (5, 0)]))
        assert model.period_shift_ == MIN_PERIOD_SHIFT

    def test_no_open_deals_no_probabilities(self) -> None:
        model = DealCloseModel().fit(deal_snapshots([(20, 15)]))
        assert model.predict_proba(deal_snapshots([(20, 15)]).head(0)).shape == (0,)


def run_rate_table() -> pd.DataFrame:
    rows = [
        # period start, days in, open then, won later from new deals
        ("2024-01-01", 28, 1000.0, 100.0),
        ("2024-04-01", 28, 1000.0, 200.0),
        ("2024-04-01", 35, 1000.0, 999.0),
        ("2024-07-01", 24, 2000.0, 888.0),
        ("2024-07-01", 31, 2000.0, 300.0),
        ("2024-10-01", 23, 500.0, 666.0),
        ("2024-10-01", 38, 500.0, 400.0),
        ("2025-01-01", 29, 250.0, 777.0),
        ("2025-01-01", 30, 250.0, 500.0),
    ]
    return pd.DataFrame(rows, columns=["period_start", "days_in", "open_cents", "new_won_cents"])


class TestRunRate:
    # 30 days in, within 6 days: 2024-01 has 28 (2 away); 2024-04 has 28 (2) and 35 (5) → 28;
    # 2024-07 has 24 (6) and 31 (1) → 31; 2024-10 has 23 (7) and 38 (8) → none;
    # 2025-01 has 29 (1) and 30 (0) → 30. The 3 latest periods: 200, 300, 500.
    def test_the_nearest_moment_of_each_of_the_latest_periods(self) -> None:
        model = RunRate(recent=3, tolerance_days=6).fit(run_rate_table())
        assert model.values_at(30).tolist() == [200.0, 300.0, 500.0]
        assert model.predict(30) == pytest.approx(1000 / 3)

    def test_scaled_by_the_open_pipeline_now_against_then_within_the_clip(self) -> None:
        model = RunRate(recent=3, tolerance_days=6, max_scale=2.0).fit(run_rate_table())
        # 1,000 open now: 1,000/1,000 = 1 → 200; 1,000/2,000 = 0.5 → 150; 1,000/250 = 4,
        # clipped to 2 → 1,000.
        assert model.values_at(30, 1000.0).tolist() == [200.0, 150.0, 1000.0]
        assert model.predict(30, 1000.0) == pytest.approx(450.0)
        # 100 open now: 0.1, 0.05 and 0.4 are all clipped to 0.5.
        assert model.values_at(30, 100.0).tolist() == [100.0, 150.0, 250.0]

    def test_all_recent_periods_and_a_wider_tolerance(self) -> None:
        model = RunRate(recent=10, tolerance_days=7).fit(run_rate_table())
        # Within 7 days 2024-10's 23 counts too.
        assert model.values_at(30).tolist() == [100.0, 200.0, 300.0, 666.0, 500.0]

    def test_no_open_pipeline_then_leaves_the_value_unscaled(self) -> None:
        table = pd.DataFrame(
            [("2025-01-01", 0, 0.0, 300.0)],
            columns=["period_start", "days_in", "open_cents", "new_won_cents"],
        )
        assert RunRate().fit(table).values_at(0, 5000.0).tolist() == [300.0]

    def test_without_history_nothing(self) -> None:
        model = RunRate().fit(run_rate_table().head(0))
        assert model.values_at(30, 100.0).shape == (0,)
        assert model.predict(30) == 0.0
        # No past moment within the tolerance (a moment late in the period, or before it
        # starts) is nothing too, not a missing value.
        model = RunRate().fit(run_rate_table())
        assert model.values_at(90, 100.0).shape == (0,)
        assert model.values_at(-10).shape == (0,)
        assert model.predict(90) == 0.0


class TestSimulateWon:
    def test_certain_deals_are_all_won_in_every_percentile(self) -> None:
        spread = simulate_won(
            1000.0,
            np.ones(3),
            np.array([100.0, 200.0, 300.0]),
            period_shift=0.5,
            new_deals=np.zeros(0),
        )
        assert (spread.expected, spread.p10, spread.p50, spread.p90) == (1600, 1600, 1600, 1600)

    def test_hopeless_deals_and_no_new_ones_leave_what_is_won(self) -> None:
        spread = simulate_won(
            1000.0, np.zeros(3), np.array([100.0, 200.0, 300.0]), period_shift=0.5,
            new_deals=np.zeros(0),
        )  # fmt: skip
        assert (spread.expected, spread.p10, spread.p50, spread.p90) == (1000, 1000, 1000, 1000)

    def test_new_deals_are_drawn_from_the_past_periods(self) -> None:
        # No open deal can win; new deals win 100 or 200, each half the time.
        spread = simulate_won(
            1000.0, np.zeros(2), np.array([5.0, 5.0]), period_shift=0.5,
            new_deals=np.array([100.0, 200.0]),
        )  # fmt: skip
        assert spread.expected == 1150.0
        assert (spread.p10, spread.p90) == (1100.0, 1200.0)

    def test_nothing_open_and_nothing_new(self) -> None:
        spread = simulate_won(
            50.0, np.zeros(0), np.zeros(0), period_shift=0.3, new_deals=np.zeros(0)
        )
        assert (spread.expected, spread.p10, spread.p50, spread.p90) == (50, 50, 50, 50)

    def test_percentiles_are_ordered(self) -> None:
        rng = np.random.default_rng(3)
        spread = simulate_won(
            0.0,
            rng.uniform(0.05, 0.95, 60),
            rng.uniform(100, 10_000, 60),
            period_shift=0.4,
            new_deals=rng.uniform(0, 5_000, 4),
        )
        assert spread.p10 < spread.p50 < spread.p90

    def test_without_a_shift_many_deals_are_centred_on_the_expected_value(self) -> None:
        # 1,000 deals of 100 at 30 %: mean 30,000, sd √(1,000 · 100² · 0.3 · 0.7) ≈ 1,449.1.
        # P10 and P90 sit 1.2816 sd either side: ≈ 28,143 and ≈ 31,857.
        spread = simulate_won(
            0.0, np.full(1000, 0.3), np.full(1000, 100.0), period_shift=1e-9, new_deals=np.zeros(0)
        )
        sd = math.sqrt(1000 * 100**2 * 0.3 * 0.7)
        assert spread.expected == pytest.approx(30_000.0)
        assert spread.p50 == pytest.approx(30_000.0, rel=0.005)
        assert spread.p10 == pytest.approx(30_000.0 - 1.2816 * sd, rel=0.005)
        assert spread.p90 == pytest.approx(30_000.0 + 1.2816 * sd, rel=0.005)

    def test_a_period_shift_widens_the_range(self) -> None:
        args: dict[str, Any] = {"new_deals": np.zeros(0)}
        probability, value = np.full(200, 0.4), np.full(200, 100.0)
        steady = simulate_won(0.0, probability, value, period_shift=0.05, **args)
        swinging = simulate_won(0.0, probability, value, period_shift=0.8, **args)
        assert swinging.p90 - swinging.p10 > 2 * (steady.p90 - steady.p10)

    def test_the_normal_approximation_agrees_with_one_coin_per_deal(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        rng = np.random.default_rng(11)
        probability = rng.uniform(0.02, 0.9, 2000)
        value = rng.lognormal(10, 1, 2000).round()
        args: dict[str, Any] = {"period_shift": 0.3, "new_deals": np.zeros(0), "random_state": 5}
        monkeypatch.setattr(estimators, "EXACT_DRAWS", 10**12)
        exact = simulate_won(1e6, probability, value, **args)
        monkeypatch.setattr(estimators, "EXACT_DRAWS", 0)
        approximate = simulate_won(1e6, probability, value, **args)
        assert approximate.expected == exact.expected
        for name in ("p10", "p50", "p90"):
            assert getattr(approximate, name) == pytest.approx(getattr(exact, name), rel=0.005)

    def test_the_same_random_state_gives_the_same_range(self) -> None:
        rng = np.random.default_rng(4)
        probability, value = rng.uniform(0.1, 0.9, 50), rng.uniform(100, 1000, 50)
        args: dict[str, Any] = {"period_shift": 0.3, "new_deals": np.array([10.0, 500.0])}
        first = simulate_won(0.0, probability, value, random_state=1, **args)
        assert simulate_won(0.0, probability, value, random_state=1, **args) == first
        assert simulate_won(0.0, probability, value, random_state=2, **args) != first


Q1, Q2, Q3 = (quarter_period(2025, n) for n in (1, 2, 3))
AT = datetime(2025, 1, 1, tzinfo=UTC)


def point(
    period: Any,
    weeks: int,
    actual: int,
    forecasts: dict[str, float],
    p10: float | None = None,
    p90: float | None = None,
) -> BacktestPoint:
    return BacktestPoint(period, weeks, AT, actual, forecasts, p10, p90)


class TestAccuracy:
    POINTS: ClassVar[list[BacktestPoint]] = [
        point(Q1, 0, 1000, {"projection": 1100, "stage_weighted": 800}, 900, 1200),
        point(
            Q2, 0, 2000, {"projection": 1500, "stage_weighted": 2000, "people": 2500}, 1000, 1900
        ),
        # A quarter that won nothing has no scale: left out.
        point(Q3, 0, 0, {"projection": 50, "stage_weighted": 10, "people": 5}, 0, 100),
        point(Q1, 4, 1000, {"projection": 1000}, 1000, 1000),
    ]

    def test_error_bias_and_coverage_by_hand(self) -> None:
        result = accuracy(self.POINTS, (0, 4, 8))
        assert sorted(result) == ["people", "projection", "stage_weighted"]
        # Projection at 0 weeks: errors +100/1,000 = +0.1 and −500/2,000 = −0.25 → MAPE 0.175,
        # bias −0.075; Q1's actual lies in 900–1,200, Q2's not in 1,000–1,900 → coverage 0.5.
        projection = result["projection"][0]
        assert projection.mape == pytest.approx(0.175)
        assert projection.bias == pytest.approx(-0.075)
        assert (projection.coverage_p10_p90, projection.n) == (0.5, 2)
        # At 4 weeks: exactly right, and an actual on the range's edge is inside it.
        assert result["projection"][4] == MethodAccuracy(0.0, 0.0, 1, 1.0)
        # Stage-weighted: −0.2 and 0 → MAPE 0.1, bias −0.1; no range, no coverage.
        weighted = result["stage_weighted"][0]
        assert weighted.mape == pytest.approx(0.1)
        assert weighted.bias == pytest.approx(-0.1)
        assert weighted.n == 2
        assert weighted.coverage_p10_p90 is None
        # The people's call only in Q2 (Q3 won nothing): +0.25.
        assert result["people"][0] == MethodAccuracy(0.25, 0.25, 1)
        # Horizons without a point are empty, not errors.
        assert result["people"][4] == MethodAccuracy(None, None, 0)
        assert result["stage_weighted"][8] == MethodAccuracy(None, None, 0)

    def test_the_json_names_coverage_only_for_the_projection(self) -> None:
        report = Backtest(AT, (0, 4), self.POINTS, accuracy(self.POINTS, (0, 4)), 1.23, ["x"])
        document = report.to_json()
        assert document["periods"] == ["2025Q1", "2025Q2", "2025Q3"]
        assert document["methods"]["projection"]["horizons"]["0"] == {
            "mape": pytest.approx(0.175),
            "bias": pytest.approx(-0.075),
            "n": 2,
            "coverage_p10_p90": 0.5,
        }
        assert document["methods"]["stage_weighted"]["horizons"]["0"].keys() == {
            "mape",
            "bias",
            "n",
        }
        assert document["methods"]["people"]["horizons"]["4"] == {
            "mape": None,
            "bias": None,
            "n": 0,
        }
        assert document["points"][1]["forecasts_cents"]["people"] == 2500
        assert (document["seconds"], document["skipped"]) == (1.2, ["x"])

    def test_no_points_no_methods(self) -> None:
        assert accuracy([], (0, 4)) == {}


class TestTooLittleHistory:
    """Below `MIN_TRAINING_ROWS` snapshot rows or `MIN_TRAINING_WINS` wins only the baseline
    is fitted, and the projection says why the learned methods are missing."""

    @staticmethod
    def training(rows: int, wins: int) -> TrainingSet:
        snapshots = pd.DataFrame({LABEL: [1] * wins + [0] * (rows - wins)})
        return TrainingSet(snapshots, pd.DataFrame(), [Q1, Q2])

    @pytest.mark.parametrize(("rows", "wins"), [(499, 100), (5000, 29), (0, 0)])
    def test_only_the_baseline(self, rows: int, wins: int) -> None:
        forecasters = fit_forecasters(self.training(rows, wins))
        assert (forecasters.conversion, forecasters.rollup, forecasters.deal_model) == (
            None,
            None,
            None,
        )
        assert forecasters.shortage == (
            f"{rows:,} snapshot rows of open deals with {wins:,} won in their period from 2 "
            "ended period(s); the learned methods need at least 500 rows and 30 wins"
        )

    def test_the_projection_is_the_baseline_with_the_reason(self) -> None:
        forecasters = fit_forecasters(self.training(10, 3))
        # Won so far: 1,000 (owner 1) + 500 (owner 2). Open: 2,000 at 60 % closing in the
        # period (owner 1), 4,000 at 80 % closing later (owner 2).
        deals = pd.DataFrame(
            {
                "deal_id": [10, 11],
                "owner_id": [1, 2],
                "amount_cents": [2000.0, 4000.0],
                STAGE_PROBABILITY: [0.6, 0.8],
                CLOSES_IN_PERIOD: [1.0, 0.0],
            }
        )
        won = pd.Series([1000, 500], index=pd.Index([1, 2]), dtype=np.int64)
        moment = PeriodMoment(Q3, Q3.start_at, won, deals)
        whole = project(moment, forecasters)
        # 1,500 + 2,000 × 0.6 = 2,700.
        assert whole.methods == {STAGE_WEIGHTED: MethodForecast(STAGE_WEIGHTED, 2700.0)}
        assert (whole.won_cents, whole.open_deals, whole.drivers) == (1500, 2, [])
        assert whole.new_deals_cents == 0.0
        assert whole.shortage == forecasters.shortage
        # Owner 2 alone: 500 won, nothing closing in the period.
        assert project(moment, forecasters, owners=[2]).methods[STAGE_WEIGHTED].expected == 500

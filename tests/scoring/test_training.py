"""Training the deal scorer: snapshots, the out-of-time split, the shortage rule, the rates
fallback and the JSON form of a fitted scorer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.databases import backends, fresh_engine
from tests.factories import T0, make_deal, make_pipeline, make_user, stage_named
from tests.scoring.helpers import synthetic_deals
from topline.crm.deals import close_deal_lost, close_deal_won, move_deal_to_stage
from topline.demo import DEFAULT_AS_OF, build_demo
from topline.scoring.errors import InvalidDataset
from topline.scoring.estimators import TabularScorer
from topline.scoring.features import FEATURES
from topline.scoring.training import (
    MIN_PER_OUTCOME,
    MIN_SNAPSHOTS,
    HistoricalRates,
    Snapshots,
    deal_snapshots,
    dump_scorer,
    evaluate_deal_scorer,
    historical_rates,
    load_scorer,
    one_per_deal,
    open_moments,
    out_of_time_split,
    shortage,
    snapshot_moments,
)


@pytest.fixture(scope="module", params=backends())
def demo_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The small demo org (two years of selling, ~2,000 deals), built once per backend."""
    engine = fresh_engine(request.param, tmp_path_factory.mktemp("demo"), "scoring_training")
    build_demo(engine, size="small", seed=42)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def demo_snapshots(demo_engine: Engine) -> Snapshots:
    with Session(demo_engine) as session:
        return deal_snapshots(session, DEFAULT_AS_OF)


class TestSnapshots:
    def test_moments_step_back_from_the_settled_end_to_the_first_deal(
        self, demo_engine: Engine
    ) -> None:
        with Session(demo_engine) as session:
            moments = snapshot_moments(session, DEFAULT_AS_OF, every_days=30, settle_days=30)
        assert moments[-1] == DEFAULT_AS_OF - timedelta(days=30)
        assert all(b - a == timedelta(days=30) for a, b in pairwise(moments))
        assert moments[0] > DEFAULT_AS_OF - timedelta(days=2 * 366)

    def test_each_deal_once_per_snapshot_with_its_outcome_known_at_training(
        self, demo_snapshots: Snapshots
    ) -> None:
        frame = demo_snapshots.frame
        assert not frame.duplicated(["snapshot_at", "deal_id"]).any()
        assert set(frame["won"].unique()) == {0, 1}
        assert (frame["closed_at"] > frame["snapshot_at"]).all()
        assert (frame["closed_at"] <= pd.Timestamp(DEFAULT_AS_OF)).all()
        assert demo_snapshots.unlabelled > 0  # deals still open at the moment are left out
        assert len(frame) >= MIN_SNAPSHOTS

    def test_the_split_is_out_of_time_and_grouped_by_deal(self, demo_snapshots: Snapshots) -> None:
        split = out_of_time_split(demo_snapshots)
        assert split is not None
        frame = demo_snapshots.frame
        train, test = frame.iloc[split.train], frame.iloc[split.test]
        assert (train["snapshot_at"] < pd.Timestamp(split.cutoff)).all()
        assert (test["snapshot_at"] >= pd.Timestamp(split.cutoff)).all()
        assert not set(train["deal_id"]) & set(test["deal_id"])
        # Trained only on what was known at the first test snapshot, each deal once.
        assert (train["closed_at"] <= pd.Timestamp(split.cutoff)).all()
        assert train["deal_id"].is_unique
        assert 0.15 <= len(test) / len(frame) <= 0.35

    def test_each_training_deal_weighs_as_many_moments_as_it_was_open_at(
        self, demo_snapshots: Snapshots
    ) -> None:
        split = out_of_time_split(demo_snapshots)
        assert split is not None
        frame = demo_snapshots.frame
        cutoff = pd.Timestamp(split.cutoff)
        # The deal's snapshots before the cutoff, when it had closed by the cutoff.
        before = frame[(frame["snapshot_at"] < cutoff) & (frame["closed_at"] <= cutoff)]
        moments = before.groupby("deal_id").size()
        trained = frame["deal_id"].iloc[split.train]
        assert split.train_weight.tolist() == moments.loc[trained].tolist()
        assert split.train_weight.max() > 1

    def test_the_evaluation_beats_chance_and_names_its_window(
        self, demo_engine: Engine, demo_snapshots: Snapshots
    ) -> None:
        with Session(demo_engine) as session:
            report = evaluate_deal_scorer(session, DEFAULT_AS_OF, snapshots=demo_snapshots)
        assert report.shortage is None and report.evaluation is not None
        document = report.to_json()
        assert list(document)[:5] == ["auc", "pr_auc", "brier", "n_train", "n_test"]
        assert document["auc"] > 0.75
        assert document["brier"] < 0.2
        assert set(document["baselines"]) == {"logistic_regression", "naive_bayes"}
        assert document["test_from"] == report.cutoff.isoformat()  # type: ignore[union-attr]
        assert document["method"] == "lightgbm"


def test_one_per_deal_keeps_one_row_of_each_deal() -> None:
    frame = pd.DataFrame({"deal_id": [1, 1, 2, 3, 3, 3]})
    rows = one_per_deal(frame, np.arange(6), random_state=1)
    assert sorted(frame["deal_id"].iloc[rows]) == [1, 2, 3]
    assert rows.tolist() == sorted(rows.tolist())
    assert one_per_deal(frame, np.arange(6), random_state=1).tolist() == rows.tolist()


def test_open_moments_counts_each_chosen_rows_deal_among_the_rows() -> None:
    frame = pd.DataFrame({"deal_id": [1, 1, 2, 3, 3, 3]})
    assert open_moments(frame, np.arange(6), np.array([0, 2, 5])).tolist() == [2.0, 1.0, 3.0]
    # Only the given rows count: deal 3 has two of them, deal 1 one.
    assert open_moments(frame, np.array([1, 4, 5]), np.array([1, 4])).tolist() == [1.0, 2.0]


class TestShortage:
    def split_of(self, outcomes: np.ndarray) -> Snapshots:
        rows = len(outcomes)
        moments = pd.date_range("2025-01-01", periods=5, freq="MS", tz="UTC")
        frame = pd.DataFrame(
            {
                "deal_id": np.arange(rows),
                "snapshot_at": moments[np.arange(rows) % 5],
                "won": outcomes,
                "closed_at": pd.Timestamp("2025-01-15", tz="UTC"),
            }
        )
        return Snapshots(frame.sort_values("snapshot_at", ignore_index=True), [], 0)

    def test_too_few_snapshots(self) -> None:
        outcomes = np.array([0, 1] * 50)
        assert shortage(outcomes, None) == (
            f"only 100 labelled deal snapshots; at least {MIN_SNAPSHOTS} are needed"
        )

    def test_too_few_of_one_outcome(self) -> None:
        outcomes = np.array([1] * 20 + [0] * 400)
        assert shortage(outcomes, None) == (
            f"only 20 won deal snapshots; at least {MIN_PER_OUTCOME} are needed"
        )

    def test_enough(self) -> None:
        snapshots = self.split_of(np.array([0, 1] * 250))
        snapshots.frame["closed_at"] = snapshots.frame["snapshot_at"]
        split = out_of_time_split(snapshots)
        assert split is not None
        assert shortage(snapshots.outcomes, split) is None

    def test_a_single_snapshot_cannot_be_tested_out_of_time(self) -> None:
        snapshots = self.split_of(np.array([0, 1] * 250))
        snapshots.frame["snapshot_at"] = pd.Timestamp("2025-01-01", tz="UTC")
        assert out_of_time_split(snapshots) is None
        assert "single snapshot" in str(shortage(snapshots.outcomes, None))


class TestHistoricalRates:
    rates = HistoricalRates(
        overall=(30, 100),
        stages={"Proposal": (18, 40), "Prospecting": (2, 30)},
        stage_sources={"Proposal": {"Partner": (15, 25), "Event": (1, 5)}},
    )

    @pytest.mark.parametrize(
        ("stage", "source", "expected"),
        [
            ("Proposal", "Partner", 16 / 27),  # 25 closed deals: enough for its own rate
            ("Proposal", "Event", 19 / 42),  # 5: the stage's rate
            ("Proposal", None, 19 / 42),
            ("Prospecting", "Partner", 3 / 32),
            ("Negotiation", "Partner", 31 / 102),  # nobody closed from it: overall
        ],
    )
    def test_laplace_smoothed_rates(self, stage: str, source: str | None, expected: float) -> None:
        frame = pd.DataFrame({"stage": [stage], "source": [source]})
        assert self.rates.predict_proba(frame)[0, 1] == pytest.approx(expected)

    def test_factors_are_points_against_the_wider_rate(self) -> None:
        probability, factors = self.rates.explain("Proposal", "Partner")
        assert probability == pytest.approx(16 / 27)
        assert [name for name, _ in factors] == ["stage", "source"]
        assert [points for _, points in factors] == pytest.approx(
            [100 * (19 / 42 - 31 / 102), 100 * (16 / 27 - 19 / 42)]
        )

    def test_json_round_trip(self) -> None:
        assert HistoricalRates.from_json(self.rates.to_json()) == self.rates


@pytest.fixture
def little_history(session: Session) -> None:
    """Four closed deals: two won from Proposal (one via Prospecting), two lost."""
    pipeline = make_pipeline(session)
    rep = make_user(session)
    proposal = stage_named(session, pipeline, "Proposal")
    for n, (won, source) in enumerate(
        ((True, "Partner"), (True, None), (False, None), (False, None))
    ):
        deal = make_deal(session, owner=rep, pipeline=pipeline, source=source, at=T0)
        if n < 2:
            move_deal_to_stage(session, deal, stage=proposal, actor=rep, at=T0 + timedelta(days=2))
        if won:
            close_deal_won(session, deal, actor=rep, at=T0 + timedelta(days=5))
        else:
            close_deal_lost(
                session, deal, loss_reason="Price", actor=rep, at=T0 + timedelta(days=5)
            )
    make_deal(session, owner=rep, pipeline=pipeline, at=T0 + timedelta(days=6))


def test_rates_count_the_stages_each_closed_deal_was_in(
    session: Session, little_history: None
) -> None:
    rates = historical_rates(session, T0 + timedelta(days=10))
    assert rates.overall == (2, 4)
    assert rates.stages == {"Prospecting": (2, 4), "Proposal": (2, 2)}
    assert rates.stage_sources == {
        "Prospecting": {"Partner": (1, 1)},
        "Proposal": {"Partner": (1, 1)},
    }
    # As of before the closes, nothing had closed.
    with pytest.raises(InvalidDataset, match="no deal has closed yet"):
        historical_rates(session, T0 + timedelta(days=4))


def test_too_little_history_is_reported_not_trained(session: Session, little_history: None) -> None:
    report = evaluate_deal_scorer(session, T0 + timedelta(days=90))
    assert report.evaluation is None
    assert report.shortage is not None and "labelled deal snapshots" in report.shortage
    assert report.to_json()["method"] == "historical_rates"


class TestSerialization:
    @pytest.mark.parametrize(
        ("rows", "derived", "calibration"),
        [(600, True, "sigmoid"), (6000, True, "isotonic"), (600, False, "sigmoid")],
    )
    def test_a_loaded_scorer_predicts_exactly_as_the_fitted_one(
        self, rows: int, derived: bool, calibration: str
    ) -> None:
        X, y = synthetic_deals(rows=rows, seed=5)
        X.loc[X.index[:7], "region"] = "Atlantis"  # a rare value the frequencies must keep
        scorer = TabularScorer(
            derived_features=derived, n_estimators=200, calibration=calibration
        ).fit(X, y)
        assert scorer.calibration_method_ == calibration
        model, state = dump_scorer(scorer)
        loaded = load_scorer(model, state)
        fresh, _ = synthetic_deals(rows=400, seed=9)
        fresh.loc[fresh.index[:3], "source"] = "never seen"
        np.testing.assert_array_equal(loaded.predict_proba(fresh), scorer.predict_proba(fresh))
        pd.testing.assert_frame_equal(loaded.contributions(fresh), scorer.contributions(fresh))
        assert loaded.base_log_odds_ == scorer.base_log_odds_
        np.testing.assert_array_equal(loaded.feature_importances_, scorer.feature_importances_)

    def test_the_state_is_plain_json(self) -> None:
        import json

        X, y = synthetic_deals(rows=600, seed=5)
        _, state = dump_scorer(TabularScorer(n_estimators=50).fit(X, y))
        assert json.loads(json.dumps(state, allow_nan=False)) == state

    def test_an_unknown_format_is_refused(self) -> None:
        X, y = synthetic_deals(rows=600, seed=5)
        model, state = dump_scorer(TabularScorer(n_estimators=20).fit(X, y))
        with pytest.raises(ValueError, match="format"):
            load_scorer(model, {**state, "format": 99})


def test_the_deal_features_are_what_the_scorer_learns(demo_snapshots: Snapshots) -> None:
    scorer = TabularScorer(derived_features=False, n_estimators=30).fit(
        demo_snapshots.frame[FEATURES], demo_snapshots.outcomes
    )
    assert scorer.feature_names_in_.tolist() == FEATURES


def test_moments_of_an_empty_org(session: Session) -> None:
    assert snapshot_moments(session, datetime(2025, 1, 1, tzinfo=UTC)) == []
    snapshots = deal_snapshots(session, datetime(2025, 1, 1, tzinfo=UTC))
    assert snapshots.frame.empty and "won" in snapshots.frame.columns

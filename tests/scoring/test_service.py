"""Training, storing and applying the deal win model on a demo org, the fallback on a thin
history, reading a deal's score, and the `topline score train|apply|evaluate` commands."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.databases import backends, fresh_engine
from tests.factories import T0, make_deal, make_pipeline, make_user, stage_named
from tests.helpers import assert_max_queries, rolled_back
from topline.cli.main import app
from topline.crm.deals import close_deal_lost, close_deal_won, move_deal_to_stage
from topline.crm.models import Deal
from topline.demo import DEFAULT_AS_OF, build_demo
from topline.scoring.errors import InvalidDataset
from topline.scoring.features import FEATURES, deal_features
from topline.scoring.models import DealScore, ScoringModel
from topline.scoring.service import (
    DealScoreNotFound,
    ScoringModelNotFound,
    deal_score,
    latest_model,
    load_model,
    score_open_deals,
    train_deal_model,
)
from topline.scoring.training import load_scorer, state_digest
from topline.storage.db import make_engine
from topline.storage.migrate import upgrade_database


@pytest.fixture(scope="module", params=backends())
def demo_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The small demo org (two years of selling, ~2,000 deals), built once per backend."""
    engine = fresh_engine(request.param, tmp_path_factory.mktemp("demo"), "scoring_service")
    build_demo(engine, size="small", seed=42)
    yield engine
    engine.dispose()


@pytest.fixture
def demo(demo_engine: Engine) -> Iterator[Session]:
    """A session on the demo org whose writes are rolled back after the test."""
    with rolled_back(demo_engine) as session:
        yield session


@pytest.fixture
def trained(demo: Session) -> ScoringModel:
    return train_deal_model(demo, as_of=DEFAULT_AS_OF)


class TestTraining:
    def test_a_model_is_stored_with_its_window_and_evaluation(
        self, demo: Session, trained: ScoringModel
    ) -> None:
        assert (trained.kind, trained.version, trained.method) == ("deal_win", 1, "lightgbm")
        assert trained.as_of == DEFAULT_AS_OF
        assert trained.window_end == DEFAULT_AS_OF - timedelta(days=30)
        assert trained.n_train > 500 and trained.n_test > 100
        metrics = trained.metrics
        assert metrics["auc"] > 0.75 and metrics["brier"] < 0.2 and metrics["message"] is None
        assert set(metrics["baselines"]) == {"logistic_regression", "naive_bayes"}
        assert len(metrics["calibration"]) == 10
        assert sum(row["count"] for row in metrics["calibration"]) == trained.n_test
        assert [entry["feature"] for entry in trained.importances] != []
        assert {entry["feature"] for entry in trained.importances} <= set(FEATURES)
        assert trained.state_sha256 == state_digest(trained.booster, trained.state)

    def test_each_training_is_a_new_version(self, demo: Session, trained: ScoringModel) -> None:
        again = train_deal_model(demo, as_of=DEFAULT_AS_OF - timedelta(days=60))
        assert again.version == 2
        # The latest is the one trained as of the latest moment, whenever it was trained.
        assert latest_model(demo).id == trained.id
        assert latest_model(demo, as_of=DEFAULT_AS_OF).id == trained.id
        # A moment between the two is scored with the model trained as of then.
        assert latest_model(demo, as_of=DEFAULT_AS_OF - timedelta(days=30)).id == again.id
        with pytest.raises(ScoringModelNotFound):
            latest_model(demo, as_of=DEFAULT_AS_OF - timedelta(days=61))

    def test_the_same_history_gives_the_same_model(
        self, demo: Session, trained: ScoringModel
    ) -> None:
        again = train_deal_model(demo, as_of=DEFAULT_AS_OF)
        assert again.state_sha256 == trained.state_sha256
        assert again.metrics == trained.metrics


class TestScoring:
    def test_every_open_deal_is_scored_once_in_a_few_queries(
        self, demo: Session, trained: ScoringModel
    ) -> None:
        open_deals = deal_features(demo, DEFAULT_AS_OF)["deal_id"].tolist()
        with assert_max_queries(demo, 12):
            scored = score_open_deals(demo, as_of=DEFAULT_AS_OF, model=trained)
        assert scored == len(open_deals) > 50
        rows = demo.scalars(select(DealScore).order_by(DealScore.deal_id)).all()
        assert [row.deal_id for row in rows] == open_deals
        assert all(0 < row.probability < 1 and row.model_id == trained.id for row in rows)
        assert all(row.scored_at == DEFAULT_AS_OF for row in rows)
        explained = [row.factors for row in rows if row.factors is not None]
        assert len(explained) == len(rows)
        factor = next(f for item in explained for f in item["up"])
        assert set(factor) == {"feature", "value", "points", "text"}
        assert factor["points"] > 0 and factor["text"].endswith("pts")

    def test_stored_scores_are_what_the_stored_model_predicts(
        self, demo: Session, trained: ScoringModel
    ) -> None:
        score_open_deals(demo, as_of=DEFAULT_AS_OF, model=trained)
        stored = dict(demo.execute(select(DealScore.deal_id, DealScore.probability)).all())
        features = deal_features(demo, DEFAULT_AS_OF)
        demo.expire(trained)  # read the model back from the database
        assert trained.booster is not None
        predicted = load_scorer(trained.booster, trained.state).predict_proba(features[FEATURES])
        assert [stored[deal] for deal in features["deal_id"]] == pytest.approx(predicted[:, 1])

    def test_factors_worked_out_on_read_match_those_stored(
        self, demo: Session, trained: ScoringModel
    ) -> None:
        score_open_deals(demo, as_of=DEFAULT_AS_OF, model=trained)
        deal_id = demo.scalar(select(func.min(DealScore.deal_id)))
        deal = demo.get(Deal, deal_id)
        assert deal is not None
        explained = deal_score(demo, deal)
        # Scored again later without explanations: the latest score's factors come on read.
        score_open_deals(demo, as_of=DEFAULT_AS_OF + timedelta(seconds=1), explain_max=0)
        unexplained = demo.scalar(select(func.count()).where(DealScore.factors.is_(None)))
        assert unexplained is not None and unexplained > 0
        latest = deal_score(demo, deal)
        assert latest.scored_at == DEFAULT_AS_OF + timedelta(seconds=1)
        assert latest.factors == explained.factors
        assert latest.probability == pytest.approx(explained.probability)
        assert latest.model.id == trained.id

    def test_a_damaged_model_is_refused(self, demo: Session, trained: ScoringModel) -> None:
        demo.execute(
            update(ScoringModel).where(ScoringModel.id == trained.id).values(state_sha256="0" * 64)
        )
        demo.refresh(trained)
        with pytest.raises(RuntimeError, match="damaged"):
            load_model(trained)

    def test_without_a_model_nothing_is_scored(self, demo: Session) -> None:
        with pytest.raises(ScoringModelNotFound, match="topline score train"):
            score_open_deals(demo, as_of=DEFAULT_AS_OF)

    def test_a_deal_never_scored_has_no_score(self, demo: Session, trained: ScoringModel) -> None:
        deal = demo.scalar(select(Deal).order_by(Deal.id).limit(1))
        assert deal is not None
        with pytest.raises(DealScoreNotFound, match=f"deal {deal.id} has not been scored"):
            deal_score(demo, deal)


@pytest.fixture
def thin_history(session: Session) -> list[Deal]:
    """Six closed deals and two open ones: far too few to train a model on."""
    pipeline = make_pipeline(session)
    rep = make_user(session)
    proposal = stage_named(session, pipeline, "Proposal")
    for n in range(6):
        deal = make_deal(session, owner=rep, pipeline=pipeline, source="Partner", at=T0)
        if n < 3:
            move_deal_to_stage(session, deal, stage=proposal, actor=rep, at=T0 + timedelta(days=1))
        if n < 2:
            close_deal_won(session, deal, actor=rep, at=T0 + timedelta(days=5))
        else:
            close_deal_lost(
                session, deal, loss_reason="Price", actor=rep, at=T0 + timedelta(days=5)
            )
    open_deals = [make_deal(session, owner=rep, pipeline=pipeline, at=T0 + timedelta(days=6))]
    open_deals.append(make_deal(session, owner=rep, pipeline=pipeline, at=T0 + timedelta(days=6)))
    move_deal_to_stage(session, open_deals[1], stage=proposal, actor=rep, at=T0 + timedelta(days=7))
    return open_deals


class TestFallback:
    def test_a_thin_history_stores_historical_rates_and_says_why(
        self, session: Session, thin_history: list[Deal]
    ) -> None:
        model = train_deal_model(session, as_of=T0 + timedelta(days=10))
        assert model.method == "historical_rates"
        assert "labelled deal snapshots" in model.metrics["message"]
        assert (model.n_train, model.n_test, model.booster) == (6, 0, None)

        assert score_open_deals(session, as_of=T0 + timedelta(days=10)) == 2
        prospecting = deal_score(session, thin_history[0])
        proposal = deal_score(session, thin_history[1])
        # Laplace: Prospecting 2 of 6 closed deals won → 3/8; Proposal 2 of 3 → 3/5.
        assert prospecting.probability == pytest.approx(3 / 8)
        assert proposal.probability == pytest.approx(3 / 5)
        # Against the overall 3/8: Proposal +22.5 points; Prospecting is the overall rate.
        assert proposal.factors["up"] == [
            {
                "feature": "stage",
                "value": "Proposal",
                "points": 22.5,
                "text": "Stage Proposal: +22 pts",
            }
        ]
        assert prospecting.factors == {"up": [], "down": []}

    def test_no_closed_deal_means_no_model(self, session: Session) -> None:
        make_deal(session, at=T0)
        with pytest.raises(InvalidDataset, match="no deal has closed yet"):
            train_deal_model(session, as_of=T0 + timedelta(days=40))
        assert session.scalar(select(func.count()).select_from(ScoringModel)) == 0


runner = CliRunner()


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the small demo org, to copy for each command test."""
    path = tmp_path_factory.mktemp("cli") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    build_demo(engine, size="small", seed=42)
    engine.dispose()
    return path


@pytest.fixture
def db_url(demo_file: Path, tmp_path: Path) -> str:
    copy = tmp_path / "org.sqlite"
    shutil.copy(demo_file, copy)
    return f"sqlite:///{copy}"


def score(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["score", *args], catch_exceptions=False)


AS_OF = DEFAULT_AS_OF.isoformat()


class TestCommands:
    def test_train_then_apply(self, db_url: str) -> None:
        trained = score("train", "--db", db_url, "--as-of", AS_OF, "--format", "json")
        assert trained.exit_code == 0, trained.output
        model = json.loads(trained.stdout)
        assert (model["version"], model["method"]) == (1, "lightgbm")
        assert model["metrics"]["auc"] > 0.75
        assert "booster" not in model and "state" not in model

        table = score("train", "--db", db_url, "--as-of", AS_OF)
        assert table.exit_code == 0, table.output
        for text in ("Deal model v2 (lightgbm)", "ROC AUC", "logistic regression", "learns most"):
            assert text in table.stdout

        applied = score("apply", "--db", db_url, "--format", "json")
        assert applied.exit_code == 0, applied.output
        result = json.loads(applied.stdout)
        assert result["model_version"] == 2 and result["scored"] > 50
        engine = make_engine(db_url)
        with Session(engine) as session:
            stored = session.scalar(select(func.count()).select_from(DealScore))
        engine.dispose()
        assert stored == result["scored"]
        assert "Scored" in score("apply", "--db", db_url).stdout

    def test_evaluate_the_org_prints_the_csv_keys(self, db_url: str) -> None:
        result = score("evaluate", "--db", db_url, "--as-of", AS_OF, "--format", "json")
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)
        assert list(document)[:5] == ["auc", "pr_auc", "brier", "n_train", "n_test"]
        assert document["method"] == "lightgbm" and document["snapshots"] > 1000
        table = score("evaluate", "--db", db_url, "--as-of", AS_OF)
        assert table.exit_code == 0 and "Tested on the snapshots from" in table.stdout

    def test_mistakes_are_one_clear_line(self, tmp_path: Path, db_url: str) -> None:
        empty = f"sqlite:///{tmp_path / 'empty.sqlite'}"
        upgrade_database(make_engine(empty))
        for args, message in (
            (("train", "--db", empty), "no deal has closed yet"),
            (("apply", "--db", empty), "run `topline score train` first"),
            (("evaluate", "--db", empty), "cannot evaluate: only 0 labelled deal snapshots"),
            (("train", "--db", db_url, "--as-of", "last week"), "--as-of 'last week'"),
        ):
            result = score(*args)
            assert result.exit_code == 1, result.output
            assert message in result.output and "Traceback" not in result.output

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("--target", "Result"), "--target and --positive go with --csv"),
            (("--csv", "x.csv"), "--csv needs --target"),
        ],
    )
    def test_csv_options_go_together(self, args: tuple[str, ...], message: str) -> None:
        result = score("evaluate", *args)
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split())


def test_scores_are_probabilities_in_a_sane_spread(demo: Session, trained: ScoringModel) -> None:
    score_open_deals(demo, as_of=DEFAULT_AS_OF, model=trained)
    probabilities = np.array(demo.scalars(select(DealScore.probability)).all())
    assert 0.05 < probabilities.mean() < 0.95
    assert probabilities.std() > 0.05

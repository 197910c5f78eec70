"""Lead scoring on a demo org: training both lead models, the fallback to historical rates,
scoring open leads, reading a lead's score, and `topline score train|apply --target leads`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.databases import backends, fresh_engine
from tests.factories import make_lead
from tests.helpers import rolled_back
from topline.cli.main import app
from topline.crm.models import Lead
from topline.demo import DEFAULT_AS_OF, build_demo
from topline.scoring.errors import InvalidDataset
from topline.scoring.lead_features import lead_features
from topline.scoring.models import LeadScore, ScoringModel
from topline.scoring.service import (
    LEAD_CONVERSION,
    LEAD_WON,
    LeadScoreNotFound,
    lead_score,
    score_open_leads,
    train_lead_model,
)
from topline.scoring.training import MIN_PER_OUTCOME, HistoricalRates, Snapshots, snapshot_rates
from topline.storage.db import make_engine


@pytest.fixture(scope="module", params=backends())
def demo_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The small demo org (two years of leads flowing through the funnel), once per backend."""
    engine = fresh_engine(request.param, tmp_path_factory.mktemp("demo"), "lead_service")
    build_demo(engine, size="small", seed=42)
    yield engine
    engine.dispose()


@pytest.fixture
def demo(demo_engine: Engine) -> Iterator[Session]:
    """A session on the demo org whose writes are rolled back after the test."""
    with rolled_back(demo_engine) as session:
        yield session


class TestTrainAndScore:
    def test_the_conversion_model_learns_and_beats_naive_bayes(self, demo: Session) -> None:
        model = train_lead_model(demo, target="converted", as_of=DEFAULT_AS_OF)
        assert (model.kind, model.version, model.method) == (LEAD_CONVERSION, 1, "lightgbm")
        metrics = model.metrics
        assert metrics["target"] == "converted" and metrics["horizon_days"] == 90
        assert metrics["auc"] > 0.75
        assert metrics["auc"] > metrics["baselines"]["naive_bayes"]["auc"]
        assert model.n_train > 300 and model.n_test > 100
        # The funnel step reached is what the model learns most from.
        assert "stage" in [entry["feature"] for entry in model.importances[:3]]

        open_leads = lead_features(demo, DEFAULT_AS_OF)
        assert score_open_leads(demo, as_of=DEFAULT_AS_OF, model=model) == len(open_leads) > 0
        lead = demo.get(Lead, int(open_leads["lead_id"].iloc[0]))
        assert lead is not None
        view = lead_score(demo, lead)
        assert 0 < view.probability < 1 and view.model.id == model.id
        assert set(view.factors) == {"up", "down"}
        assert all(": " in factor["text"] for factor in view.factors["up"] + view.factors["down"])

    def test_too_few_won_leads_fall_back_to_historical_rates(self, demo: Session) -> None:
        model = train_lead_model(demo, target="won", as_of=DEFAULT_AS_OF)
        assert (model.kind, model.method, model.n_test) == (LEAD_WON, "historical_rates", 0)
        message = model.metrics["message"]
        assert message.startswith("only ") and "won lead snapshots" in message
        assert f"at least {MIN_PER_OUTCOME} are needed" in message

        assert score_open_leads(demo, as_of=DEFAULT_AS_OF, model=model) > 0
        lead_id = demo.scalar(select(LeadScore.lead_id).limit(1))
        lead = demo.get(Lead, lead_id)
        assert lead is not None
        view = lead_score(demo, lead, kind=LEAD_WON)
        texts = [factor["text"] for factor in view.factors["up"] + view.factors["down"]]
        assert any(text.startswith("Funnel stage") for text in texts)
        # No conversion model has scored it: that kind has no score.
        with pytest.raises(LeadScoreNotFound):
            lead_score(demo, lead, kind=LEAD_CONVERSION)

    def test_bulk_scores_beyond_the_limit_are_explained_when_read(self, demo: Session) -> None:
        model = train_lead_model(demo, target="converted", as_of=DEFAULT_AS_OF)
        assert score_open_leads(demo, as_of=DEFAULT_AS_OF, model=model, explain_max=0) > 0
        score = demo.scalar(select(LeadScore).limit(1))
        assert score is not None and score.factors is None
        lead = demo.get(Lead, score.lead_id)
        assert lead is not None
        assert set(lead_score(demo, lead).factors) == {"up", "down"}


def test_without_any_lead_history_training_is_refused(session: Session) -> None:
    make_lead(session, at=datetime(2025, 1, 6, tzinfo=UTC))
    with pytest.raises(InvalidDataset, match="no lead has a known outcome yet"):
        train_lead_model(session, as_of=datetime(2025, 2, 1, tzinfo=UTC))
    assert session.scalar(select(func.count()).select_from(ScoringModel)) == 0


def test_snapshot_rates_count_by_stage_and_source() -> None:
    frame = pd.DataFrame(
        {
            "lead_id": [1, 1, 2, 3, 4],
            "stage": ["new", "mql", "new", "mql", "sql"],
            "source": ["web", "web", "event", None, "web"],
            "converted": np.array([0, 1, 0, 0, 1], dtype=np.int8),
        }
    )
    rates = snapshot_rates(Snapshots(frame, [], 0, key="lead_id", label="converted"))
    assert rates == HistoricalRates(
        overall=(2, 5),
        stages={"mql": (1, 2), "new": (0, 2), "sql": (1, 1)},
        stage_sources={"mql": {"web": (1, 1)}, "new": {"event": (0, 1), "web": (0, 1)},
                       "sql": {"web": (1, 1)}},
    )  # fmt: skip
    # Laplace: an MQL converts (1 + 1) / (2 + 2) = 50 %, against 3 / 7 overall.
    probability, factors = rates.explain("mql", "web")
    assert probability == pytest.approx(0.5)
    [(name, points)] = factors
    assert name == "stage"
    assert points == pytest.approx(100 * (0.5 - 3 / 7))


runner = CliRunner()


@pytest.fixture
def db_url(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> str:
    path = tmp_path_factory.getbasetemp() / "lead_cli_template.sqlite"
    if not path.exists():
        engine = make_engine(f"sqlite:///{path}")
        build_demo(engine, size="small", seed=42)
        engine.dispose()
    copy = tmp_path / "org.sqlite"
    shutil.copy(path, copy)
    return f"sqlite:///{copy}"


def score(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["score", *args], catch_exceptions=False)


def test_train_and_apply_leads_from_the_command_line(db_url: str) -> None:
    as_of = DEFAULT_AS_OF.isoformat()
    trained = score("train", "--target", "leads", "--db", db_url, "--as-of", as_of,
                    "--format", "json")  # fmt: skip
    assert trained.exit_code == 0, trained.output
    kinds = [(model["kind"], model["method"]) for model in json.loads(trained.stdout)]
    assert kinds == [(LEAD_CONVERSION, "lightgbm"), (LEAD_WON, "historical_rates")]
    table = score("train", "--target", "leads", "--db", db_url, "--as-of", as_of)
    assert table.exit_code == 0, table.output
    for text in ("Lead conversion model v2 (lightgbm)", "Lead-to-won model v2", "ROC AUC"):
        assert text in table.stdout

    applied = score("apply", "--target", "leads", "--db", db_url, "--format", "json")
    assert applied.exit_code == 0, applied.output
    results = json.loads(applied.stdout)
    assert [result["target"] for result in results] == ["converted", "won"]
    assert results[0]["scored"] == results[1]["scored"] > 0
    assert "open leads (converted)" in score("apply", "--target", "leads", "--db", db_url).stdout

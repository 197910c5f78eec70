"""Reports on the real Maven CRM data set, checked against an independent pandas computation
on its CSV files: win rates and won revenue per quarter, per-agent win rates, and the median
and mean sales cycle (engage date to close date, as the shipped mapping imports them)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.importers.conftest import db, import_db  # noqa: F401  (the fixtures)
from topline.analytics.periods import parse_period
from topline.analytics.reports import cycle_report, win_rate_report
from topline.analytics.scope import org_scope
from topline.importers.engine import run_import
from topline.importers.mapping import load_mapping
from topline.storage.db import write_transaction

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "maven_crm_sales_opportunities"
MAPPING = REPO / "examples" / "mappings" / "maven.yaml"
AFTER_ALL = datetime(2018, 6, 30, tzinfo=UTC)

if not DATA.is_dir() and not os.environ.get("CI"):  # CI always has the data sets
    pytest.skip(f"the Maven data set is not at {DATA}", allow_module_level=True)


@pytest.fixture
def maven(db: Engine) -> Engine:  # noqa: F811
    with Session(db) as session, write_transaction(session):
        result = run_import(session, sorted(DATA.glob("*.csv")), load_mapping(MAPPING))
    assert result.committed
    return db


@pytest.fixture(scope="module")
def closed() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "sales_pipeline.csv", parse_dates=["engage_date", "close_date"])
    frame = frame[frame["deal_stage"].isin(["Won", "Lost"])].copy()
    frame["won"] = frame["deal_stage"] == "Won"
    frame["quarter"] = frame["close_date"].dt.to_period("Q").astype(str)
    frame["days"] = (frame["close_date"] - frame["engage_date"]).dt.days
    return frame


def test_win_rate_and_won_revenue_per_quarter(maven: Engine, closed: pd.DataFrame) -> None:
    expected = closed.groupby("quarter").agg(won=("won", "sum"), closed=("won", "size"))
    expected["revenue"] = closed[closed["won"]].groupby("quarter")["close_value"].sum()
    assert len(expected) >= 4
    with Session(maven) as session:
        for quarter, row in expected.iterrows():
            label = str(quarter)  # pandas spells quarters as Topline does: 2017Q1
            report = win_rate_report(session, org_scope(), parse_period(label), AFTER_ALL)
            summary = report.summary
            assert summary.won == row["won"], label
            assert summary.won + summary.lost == row["closed"], label
            assert summary.win_rate == pytest.approx(row["won"] / row["closed"]), label
            assert summary.won_amount_cents == round(row["revenue"] * 100), label


def test_per_agent_win_rates_for_the_year(maven: Engine, closed: pd.DataFrame) -> None:
    year = closed[closed["close_date"].dt.year == 2017]
    expected = (year.groupby("sales_agent")["won"].mean()).to_dict()
    with Session(maven) as session:
        rows = win_rate_report(session, org_scope(), parse_period("2017"), AFTER_ALL).rows
    got = {row.key: row.win_rate for row in rows}
    assert got.keys() == expected.keys()
    for agent, rate in expected.items():
        assert got[agent] == pytest.approx(rate), agent


def test_sales_cycle_median_and_mean(maven: Engine, closed: pd.DataFrame) -> None:
    year = closed[closed["close_date"].dt.year == 2017]
    won_days = year.loc[year["won"], "days"]
    with Session(maven) as session:
        summary = cycle_report(session, org_scope(), parse_period("2017"), AFTER_ALL).summary
    assert summary.won == len(won_days)
    assert summary.median_days == pytest.approx(won_days.median())
    assert summary.mean_days == pytest.approx(won_days.mean())
    assert summary.closed == len(year)
    assert summary.median_days_all_closed == pytest.approx(year["days"].median())
    assert summary.mean_days_all_closed == pytest.approx(year["days"].mean())

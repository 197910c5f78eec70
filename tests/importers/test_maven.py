"""The Maven CRM data set imports with examples/mappings/maven.yaml, checked against its own
files read independently with the csv module: counts, sums, per-agent won revenue, the
reporting line and the history as of past moments."""

from __future__ import annotations

import csv
import os
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from topline.auth.models import Team, User
from topline.crm.models import Account, Deal, DealHistory, Stage
from topline.importers.engine import ImportResult, run_import
from topline.importers.mapping import load_mapping
from topline.storage.db import write_transaction

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "maven_crm_sales_opportunities"
MAPPING = REPO / "examples" / "mappings" / "maven.yaml"

if not DATA.is_dir() and not os.environ.get("CI"):  # CI always has the data sets
    pytest.skip(f"the Maven data set is not at {DATA}", allow_module_level=True)


def read(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def cents(value: str) -> int:
    return int(Decimal(value) * 100)


@pytest.fixture
def imported(db: Engine) -> ImportResult:
    with Session(db) as session, write_transaction(session):
        result = run_import(session, sorted(DATA.glob("*.csv")), load_mapping(MAPPING))
    assert result.committed, [str(p) for p in result.problems[:10]]
    return result


def test_people_and_teams_follow_the_sales_teams_file(db: Engine, imported: ImportResult) -> None:
    teams_file = read("sales_teams.csv")
    with Session(db) as session:
        users = {u.name: u for u in session.scalars(select(User))}
        teams = {t.id: t.name for t in session.scalars(select(Team))}
    assert sorted(teams.values()) == sorted({row["regional_office"] for row in teams_file})
    managers = {row["manager"] for row in teams_file}
    assert {name for name, u in users.items() if u.role == "manager"} == managers
    assert len(users) == len(teams_file) + len(managers)
    for row in teams_file:
        agent = users[row["sales_agent"]]
        assert agent.role == "rep"
        assert agent.manager_id == users[row["manager"]].id
        assert teams[agent.team_id] == row["regional_office"]  # type: ignore[index]


def test_deals_match_the_pipeline_file(db: Engine, imported: ImportResult) -> None:
    pipeline = read("sales_pipeline.csv")
    prices = {row["product"]: cents(row["sales_price"]) for row in read("products.csv")}
    prices["GTXPro"] = prices["GTX Pro"]
    expected_won: dict[str, int] = defaultdict(int)
    expected_amount: dict[str, int] = {}
    for row in pipeline:
        value = row["close_value"]
        amount = cents(value) if value and Decimal(value) != 0 else prices[row["product"]]
        expected_amount[row["opportunity_id"]] = amount
        if row["deal_stage"] == "Won":
            expected_won[row["sales_agent"]] += cents(value)

    with Session(db) as session:
        stage_counts = dict(
            session.execute(
                select(Stage.name, func.count()).join(Deal, Deal.stage_id == Stage.id)
                .group_by(Stage.name)
            ).all()
        )  # fmt: skip
        won = dict(
            session.execute(
                select(User.name, func.sum(Deal.amount_cents))
                .join(Deal, Deal.owner_id == User.id)
                .join(Stage, Stage.id == Deal.stage_id)
                .where(Stage.name == "Won")
                .group_by(User.name)
            ).all()
        )
        total = session.scalar(select(func.sum(Deal.amount_cents)))
        without_account = session.scalar(select(func.count()).where(Deal.account_id.is_(None)))
        open_close = session.scalars(
            select(Deal.close_date).join(Stage).where(Stage.type == "open").distinct()
        ).all()

    assert stage_counts == dict(Counter(row["deal_stage"] for row in pipeline))
    assert won == expected_won
    assert total == sum(expected_amount.values())
    assert without_account == sum(1 for row in pipeline if not row["account"])
    assert open_close == [date(2018, 3, 31)]


def test_accounts_match_the_accounts_file(db: Engine, imported: ImportResult) -> None:
    accounts = read("accounts.csv")
    with Session(db) as session:
        stored = {a.name: a for a in session.scalars(select(Account))}
    assert len(stored) == len(accounts)
    for row in accounts:
        account = stored[row["account"]]
        assert account.annual_revenue_cents == cents(row["revenue"]) * 1_000_000
        assert account.employees == int(row["employees"])
        assert account.industry == row["sector"].replace("technolgy", "technology")
        assert account.country is not None and len(account.country) == 2


def test_history_reconstructs_the_pipeline_as_of_past_moments(
    db: Engine, imported: ImportResult
) -> None:
    pipeline = read("sales_pipeline.csv")
    as_of = datetime(2017, 6, 30, tzinfo=UTC)

    def state(row: dict[str, str]) -> str | None:
        engaged = row["engage_date"] and date.fromisoformat(row["engage_date"])
        closed = row["close_date"] and date.fromisoformat(row["close_date"])
        if closed and closed <= as_of.date():
            return row["deal_stage"]
        if engaged and engaged <= as_of.date():
            return "Engaging"
        return None  # not created yet (prospecting deals start at the snapshot's end)

    expected = Counter(s for s in map(state, pipeline) if s is not None)
    with Session(db) as session:
        rows = session.execute(
            select(Stage.name, func.count())
            .join(DealHistory, DealHistory.stage_id == Stage.id)
            .where(
                DealHistory.valid_from <= as_of,
                (DealHistory.valid_to > as_of) | DealHistory.valid_to.is_(None),
            )
            .group_by(Stage.name)
        ).all()
        current = session.scalar(select(func.count()).where(DealHistory.valid_to.is_(None)))
    assert dict(rows) == dict(expected)
    assert current == len(pipeline)
    dated = sum(bool(r["engage_date"]) + bool(r["close_date"]) for r in pipeline)
    assert imported.history_rows == dated + sum(1 for r in pipeline if not r["engage_date"])


def test_importing_again_changes_nothing(db: Engine, imported: ImportResult) -> None:
    with Session(db) as session, write_transaction(session):
        again = run_import(session, sorted(DATA.glob("*.csv")), load_mapping(MAPPING))
    assert again.committed
    assert sum(s.created + s.updated for s in again.files) == 0
    assert sum(s.unchanged for s in again.files) == sum(s.created for s in imported.files)

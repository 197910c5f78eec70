"""`topline report` as a user meets it: a table, CSV or the documented JSON, with scopes."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.databases import fresh_engine
from tests.factories import make_deal, make_pipeline, make_user, stage_named
from topline.auth.enums import Role
from topline.auth.models import Team
from topline.cli.main import app
from topline.crm.deals import close_deal_lost, close_deal_won
from topline.storage.migrate import upgrade_database

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    """Maria's team (Rita: won 1,000 and lost 500 in 2025Q1) and Olga (won 700) elsewhere."""
    engine = fresh_engine("sqlite", tmp_path, "report")
    upgrade_database(engine)
    with Session(engine) as session:
        maria = make_user(session, role=Role.MANAGER, name="Maria")
        rita = make_user(session, manager=maria, name="Rita", email="rita@acme.example")
        olga = make_user(session, name="Olga")
        session.add(Team(name="East", manager_id=maria.id))
        pipeline = make_pipeline(session)
        stage = stage_named(session, pipeline, "Proposal")
        created = datetime(2025, 1, 2, tzinfo=UTC)
        for owner, dollars, won in ((rita, 1000, True), (rita, 500, False), (olga, 700, True)):
            deal = make_deal(
                session, owner=owner, pipeline=pipeline, stage=stage, at=created,
                amount_cents=dollars * 100, close_date=date(2025, 2, 28),
            )  # fmt: skip
            closed = datetime(2025, 2, 11, tzinfo=UTC)
            if won:
                close_deal_won(session, deal, actor=owner, at=closed)
            else:
                close_deal_lost(session, deal, actor=owner, at=closed, loss_reason="Price")
        session.commit()
    engine.dispose()
    return str(engine.url)


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["report", *args], catch_exceptions=False)


def test_json_is_the_documented_envelope(db: str) -> None:
    result = run("win-rate", "--db", db, "--period", "2025Q1", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {
        "report", "scope", "period", "as_of", "summary", "rows", "total_rows", "offset"
    }  # fmt: skip
    assert (report["total_rows"], report["offset"], len(report["rows"])) == (2, 0, 2)
    assert report["report"] == "win-rate"
    assert report["period"] == {"label": "2025Q1", "start": "2025-01-01", "end": "2025-04-01"}
    assert report["summary"]["won"] == 2 and report["summary"]["lost"] == 1
    assert report["summary"]["win_rate"] == pytest.approx(2 / 3)


def test_a_team_by_name_and_a_rep_by_email(db: str) -> None:
    team = json.loads(run("win-rate", "--db", db, "--period", "2025Q1", "--team", "East",
                          "--format", "json").output)  # fmt: skip
    assert team["scope"]["name"] == "Team of Maria"
    assert (team["summary"]["won"], team["summary"]["lost"]) == (1, 1)
    rita = json.loads(run("cycle", "--db", db, "--period", "2025Q1", "--rep",
                          "rita@acme.example", "--format", "json").output)  # fmt: skip
    assert rita["summary"]["median_days"] == 40  # 2025-01-02 to 2025-02-11


def test_csv_has_the_rows(db: str) -> None:
    result = run("win-rate", "--db", db, "--period", "2025Q1", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert {row["key"]: row["win_rate"] for row in rows} == {"Rita": "0.5", "Olga": "1.0"}


def test_the_table_reads_in_a_terminal(db: str) -> None:
    result = run("pipeline", "--db", db, "--period", "2025Q1", "--as-of", "2025-02-01")
    assert result.exit_code == 0, result.output
    assert "pipeline · Whole org · 2025Q1" in result.output
    assert "amount: 2,200.00" in result.output  # all three open on 02-01, in dollars


def test_a_page_of_rows(db: str) -> None:
    args = ("win-rate", "--db", db, "--period", "2025Q1")
    second = json.loads(run(*args, "--limit", "1", "--offset", "1", "--format", "json").output)
    assert [row["key"] for row in second["rows"]] == ["Olga"]  # Rita has more closed deals
    assert (second["total_rows"], second["offset"]) == (2, 1)
    assert second["summary"]["won"] == 2  # the summary still covers everyone
    table = run(*args, "--limit", "1").output
    assert "rows 1–1 of 2" in table and "Rita" in table and "Olga" not in table
    past = run(*args, "--offset", "5").output
    assert "(no rows at offset 5; 2 in all)" in past
    csv_rows = list(
        csv.DictReader(io.StringIO(run(*args, "--offset", "1", "--format", "csv").output))
    )
    assert [row["key"] for row in csv_rows] == ["Olga"]


def test_the_reports_are_listed(db: str) -> None:
    listed = run("list").output
    assert "win-rate" in listed and "pipeline" in listed and "cycle" in listed
    unknown = run("forecast-magic", "--db", db)
    assert unknown.exit_code == 1 and "no report 'forecast-magic'" in unknown.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rep", "nobody@acme.example"], "no user with email"),
        (["--team", "West"], "no team 'West'"),
        (["--period", "2025Q9"], "period '2025Q9'"),
        (["--as-of", "yesterday"], "--as-of 'yesterday'"),
        (["--by", "colour"], "by 'colour'"),
        (["--window", "30"], "--window does not apply to the win-rate report"),
        (["--limit", "20000"], "limit 20000: use 1 to 10000"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_bad_options_are_one_clear_line(db: str, args: list[str], message: str) -> None:
    result = run("win-rate", "--db", db, *args)
    assert result.exit_code != 0
    assert message in result.output

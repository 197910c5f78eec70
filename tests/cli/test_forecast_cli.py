"""`topline forecast backtest|snapshot|show|accuracy` as a user meets them on a small demo org:
the documented JSON, readable tables, and one clear line with a non-zero exit for each
mistake."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from topline.auth.enums import Role
from topline.auth.models import User
from topline.cli.main import app
from topline.demo import build_demo
from topline.forecasting.models import ForecastSnapshot
from topline.storage.db import make_engine

runner = CliRunner()
METHODS = {"projection", "stage_weighted", "historical_conversion", "category_rollup"}


@dataclass(frozen=True)
class DemoFile:
    """A SQLite file holding the small demo org, to copy for each command test, and some of
    its people."""

    path: Path
    manager: User
    rep: User
    people: int


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> DemoFile:
    path = tmp_path_factory.mktemp("forecast_cli") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    build_demo(engine, size="small", seed=8)
    with Session(engine, expire_on_commit=False) as session:
        manager = session.scalars(select(User).where(User.role == Role.MANAGER)).first()
        rep = session.scalars(select(User).where(User.role == Role.REP)).first()
        people = session.scalar(select(func.count()).where(User.role != Role.ADMIN))
    engine.dispose()
    assert manager is not None and rep is not None and people is not None
    return DemoFile(path, manager, rep, people)


@pytest.fixture
def db(demo_file: DemoFile, tmp_path: Path) -> str:
    copy = tmp_path / "org.sqlite"
    shutil.copy(demo_file.path, copy)
    return f"sqlite:///{copy}"


def forecast(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["forecast", *args], catch_exceptions=False)


def assert_one_line_error(result, fragment: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert fragment in errors[0], result.output
    assert result.stdout == ""


def kept_rows(db: str) -> int:
    engine = make_engine(db)
    with Session(engine) as session:
        count = session.scalar(select(func.count()).select_from(ForecastSnapshot))
    engine.dispose()
    return int(count or 0)


@pytest.mark.slow
class TestBacktest:
    def test_json(self, db: str) -> None:
        # By 1 Oct 2025 2025Q2 and 2025Q3 have two ended quarters before them.
        result = forecast("backtest", "--db", db, "--as-of", "2025-10-01", "--format", "json")
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)
        assert document["periods"] == ["2025Q2", "2025Q3"]
        assert document["horizons_weeks"] == [0, 4, 8, 12]
        assert document["as_of"] == "2025-10-01T00:00:00+00:00"
        assert len(document["points"]) == 8
        assert set(document["methods"]) >= METHODS
        projection = document["methods"]["projection"]["horizons"]
        assert list(projection) == ["0", "4", "8", "12"]
        assert all(h["n"] == 2 and 0 <= h["coverage_p10_p90"] <= 1 for h in projection.values())
        weighted = document["methods"]["stage_weighted"]["horizons"]["4"]
        assert set(weighted) == {"mape", "bias", "n"} and weighted["mape"] >= 0
        assert [s.split(":")[0] for s in document["skipped"]] == ["2024Q4", "2025Q1"]

    def test_the_table(self, db: str) -> None:
        result = forecast("backtest", "--db", db, "--as-of", "2025-07-01")
        assert result.exit_code == 0, result.output
        assert "Forecast backtest" in result.stdout
        assert "1 quarter(s) 2025Q2–2025Q2" in result.stdout
        # Every method has a row (labels wrap inside the table's narrow columns).
        for word in ("projection", "stage-weight", "historical", "category", "people's call"):
            assert word in result.stdout
        assert "(n=1)" in result.stdout and "100%" in result.stdout

    def test_nothing_to_backtest_says_why(self, db: str) -> None:
        result = forecast("backtest", "--db", db, "--as-of", "2025-05-01")
        assert_one_line_error(
            result,
            "nothing to backtest: 2024Q4: 0 ended quarter(s) before it; "
            "2025Q1: 1 ended quarter(s) before it",
        )


@pytest.mark.slow
class TestSnapshotShowAccuracy:
    def test_keep_show_and_measure(self, db: str, demo_file: DemoFile) -> None:
        noon = "2025-04-01T12:00"
        before = forecast("show", "--db", db, "--as-of", noon)
        assert_one_line_error(before, "run `topline forecast snapshot` first")

        taken = forecast("snapshot", "--db", db, "--as-of", noon, "--format", "json")
        assert taken.exit_code == 0, taken.output
        summary = json.loads(taken.stdout)
        # The org, every manager's team and every rep.
        assert summary["scopes"] == 1 + demo_file.people
        assert (summary["period"], summary["taken_on"], summary["shortage"]) == (
            "2025Q2",
            "2025-04-01",
            None,
        )
        assert summary["snapshots"] == kept_rows(db) >= 4 * summary["scopes"]

        # Again the same day, as a table: the day's numbers are replaced, not added.
        again = forecast("snapshot", "--db", db, "--as-of", "2025-04-01T18:00")
        assert again.exit_code == 0, again.output
        assert f"for {summary['scopes']} scopes of 2025Q2 on 2025-04-01" in again.stdout
        assert kept_rows(db) == summary["snapshots"]

        shown = forecast("show", "--db", db, "--as-of", "2025-04-03", "--format", "json")
        assert shown.exit_code == 0, shown.output
        document = json.loads(shown.stdout)
        assert document["scope"] == "org"
        methods = [row["method"] for row in document["methods"]]
        assert methods[0] == "projection" and set(methods) >= METHODS
        projection = document["methods"][0]
        assert projection["taken_at"] == "2025-04-01T18:00:00+00:00"
        assert projection["p10_cents"] <= projection["p50_cents"] <= projection["p90_cents"]

        rep = forecast("show", "--db", db, "--rep", demo_file.rep.email, "--format", "json")
        # Without --as-of: today, whose quarter has nothing kept.
        assert_one_line_error(rep, "run `topline forecast snapshot` first")
        rep = forecast("show", "--db", db, "--rep", demo_file.rep.email.upper(),
                       "--as-of", "2025-04-02", "--format", "json")  # fmt: skip
        assert rep.exit_code == 0, rep.output
        assert json.loads(rep.stdout)["scope"] == f"rep:{demo_file.rep.id}"
        team = forecast("show", "--db", db, "--team", demo_file.manager.email,
                        "--as-of", "2025-04-02")  # fmt: skip
        assert team.exit_code == 0, team.output
        assert f"Forecast · team:{demo_file.manager.id} · 2025-04-01–2025-07-01" in team.stdout
        assert "projection (per-deal model," in team.stdout
        assert "stage-weighted pipeline" in team.stdout
        assert "Deals that move the projection most" in team.stdout

        # Measured once the quarter has ended: only the day 0 weeks in was kept.
        measured = forecast("accuracy", "--db", db, "--as-of", "2025-08-01", "--format", "json")
        assert measured.exit_code == 0, measured.output
        accuracy = json.loads(measured.stdout)
        assert (accuracy["scope"], accuracy["periods"]) == ("org", ["2025-04-01..2025-07-01"])
        horizons = accuracy["methods"]["projection"]["horizons"]
        assert horizons["0"]["n"] == 1 and horizons["0"]["coverage_p10_p90"] in (0.0, 1.0)
        assert [horizons[w]["n"] for w in ("4", "8", "12")] == [0, 0, 0]
        table = forecast("accuracy", "--db", db, "--as-of", "2025-08-01")
        assert table.exit_code == 0, table.output
        assert "stage-weight" in table.stdout and "(n=1)" in table.stdout

        early = forecast("accuracy", "--db", db, "--as-of", "2025-06-01")
        assert_one_line_error(early, "no kept forecast of an ended quarter for org yet")


class TestMistakes:
    @pytest.mark.slow
    @pytest.mark.parametrize("command", ["show", "accuracy"])
    def test_scope_options(self, command: str, demo_file: DemoFile) -> None:
        db = f"sqlite:///{demo_file.path}"
        rep, manager = demo_file.rep.email, demo_file.manager.email
        for args, message in (
            (("--team", rep), f"--team: {rep} is not a manager"),
            (("--rep", manager), f"--rep: {manager} is not a rep"),
            (("--team", manager, "--rep", rep), "give --team or --rep, not both"),
            (("--rep", "nobody@example.com"), "--rep: no user with email nobody@example.com"),
        ):
            assert_one_line_error(forecast(command, "--db", db, *args), message)

    @pytest.mark.parametrize("command", ["backtest", "snapshot", "show", "accuracy"])
    def test_a_bad_as_of(self, command: str, tmp_path: Path) -> None:
        db = f"sqlite:///{tmp_path / 'never.sqlite'}"
        result = forecast(command, "--db", db, "--as-of", "yesterday")
        assert_one_line_error(result, "--as-of 'yesterday': give an ISO date or date and time")

    def test_a_database_without_schema(self, tmp_path: Path) -> None:
        result = forecast("show", "--db", f"sqlite:///{tmp_path / 'empty.sqlite'}")
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.output.startswith("error:")

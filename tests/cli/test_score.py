"""`topline score evaluate` as a user meets it: the documented JSON, a readable table, and one
clear line with a non-zero exit for each mistake."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.scoring.helpers import synthetic_deals
from topline.cli.main import app

runner = CliRunner()


@pytest.fixture
def deals_csv(tmp_path: Path) -> Path:
    frame, won = synthetic_deals(rows=300, seed=2)
    frame.insert(0, "Deal ID", np.arange(1, 301))
    frame["Owner"] = "rita@acme.example"
    frame["Result"] = np.where(won == 1, "Won", "Lost")
    path = tmp_path / "deals.csv"
    frame.to_csv(path, index=False)
    return path


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["score", "evaluate", *args], catch_exceptions=False)


def test_json_starts_with_the_documented_keys(deals_csv: Path) -> None:
    result = run("--csv", str(deals_csv), "--target", "Result", "--positive", "Won",
                 "--id", "Deal ID", "--drop", "Owner", "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert list(document)[:5] == ["auc", "pr_auc", "brier", "n_train", "n_test"]
    assert (document["n_train"], document["n_test"]) == (240, 60)
    assert 0 <= document["auc"] <= 1
    learned = {*document["columns"]["categorical"], *document["columns"]["numeric"]}
    assert learned == {"region", "source", "amount", "employees"}


def test_the_table_names_the_metrics_and_the_baselines(deals_csv: Path) -> None:
    result = run("--csv", str(deals_csv), "--target", "Result", "--positive", "Won",
                 "--id", "Deal ID")  # fmt: skip
    assert result.exit_code == 0, result.output
    for text in ("ROC AUC", "Brier", "logistic regression", "naive Bayes", "trained on 240"):
        assert text in result.stdout


def assert_one_line_error(result, fragment: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert fragment in errors[0], result.output
    assert result.stdout == ""


def test_a_wrong_target_column_is_one_clear_line(deals_csv: Path) -> None:
    result = run("--csv", str(deals_csv), "--target", "Outcome", "--positive", "Won")
    assert_one_line_error(result, "no target column 'Outcome'; the columns are 'Deal ID'")


def test_a_wrong_drop_column_is_one_clear_line(deals_csv: Path) -> None:
    result = run("--csv", str(deals_csv), "--target", "Result", "--positive", "Won",
                 "--drop", "Notes", "--format", "json")  # fmt: skip
    assert_one_line_error(result, "no drop column 'Notes'")


def test_an_absent_positive_value_is_one_clear_line(deals_csv: Path) -> None:
    result = run("--csv", str(deals_csv), "--target", "Result", "--positive", "Closed Won")
    assert_one_line_error(result, "no row has Result = 'Closed Won'")


def test_a_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    result = run("--csv", str(tmp_path / "nope.csv"), "--target", "Result", "--positive", "Won")
    assert_one_line_error(result, "no file at")


def test_required_options_are_enforced(deals_csv: Path) -> None:
    result = runner.invoke(app, ["score", "evaluate", "--csv", str(deals_csv)])
    assert result.exit_code == 2
    assert "--target" in result.output

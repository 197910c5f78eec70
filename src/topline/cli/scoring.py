"""`topline score ...`: train, check and apply the win and conversion scorers.

`score evaluate` measures Topline's scorer on any CSV of closed records, so anyone can check it
on their own data. The sub-app registers itself on `topline.cli.main.app` when this module is
imported, which the end of `topline/cli/main.py` does.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from topline.cli.main import app, err, out, user_errors

if TYPE_CHECKING:
    from topline.scoring.evaluation import Evaluation

score_app = typer.Typer(
    help="Predictive scores: the chance a deal is won or a lead converts.",
    no_args_is_help=True,
)
app.add_typer(score_app, name="score")

BASELINE_LABELS = {"logistic_regression": "logistic regression", "naive_bayes": "naive Bayes"}


class EvaluateFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@score_app.command("evaluate")
def evaluate(
    csv_file: Annotated[
        Path, typer.Option("--csv", help="A CSV file of closed records, one per row.")
    ],
    target: Annotated[str, typer.Option("--target", help="The column holding the outcome.")],
    positive: Annotated[
        str, typer.Option("--positive", help="The outcome value that counts as a success.")
    ],
    drop: Annotated[
        list[str] | None,
        typer.Option("--drop", help="A column not to learn from (repeat for several)."),
    ] = None,
    ids: Annotated[
        list[str] | None,
        typer.Option("--id", help="An identifier column, never learned from (repeatable)."),
    ] = None,
    output: Annotated[
        EvaluateFormat, typer.Option("--format", help="table or json.")
    ] = EvaluateFormat.TABLE,
) -> None:
    """Train on 80 % of a CSV's records and report accuracy on the other 20 % (seed 0)."""
    from topline.scoring.evaluation import evaluate_csv

    busy = err.status("Training and evaluating…") if err.is_terminal else nullcontext()
    with user_errors(), busy:
        result = evaluate_csv(csv_file, target, positive, drop=drop or (), ids=ids or ())
    if output == EvaluateFormat.JSON:
        out.print_json(json.dumps(result.to_json()))
    else:
        _print_evaluation(result, csv_file.name, target, positive)


def _print_evaluation(result: Evaluation, name: str, target: str, positive: str) -> None:
    out.print(
        f"[bold]{name}[/]: {target} = {positive!r} for {result.positive_rate:.1%} of records; "
        f"trained on {result.n_train:,}, tested on {result.n_test:,} "
        f"(calibration: {result.calibration_method})",
        highlight=False,
    )
    if result.duplicates_dropped or result.rows_without_outcome:
        out.print(
            f"Left out: {result.duplicates_dropped:,} duplicate rows, "
            f"{result.rows_without_outcome:,} rows without an outcome.",
            highlight=False,
        )
    scores = Table(title="Accuracy on the test rows", title_justify="left")
    scores.add_column("method")
    for column in ("ROC AUC", "PR AUC", "Brier"):
        scores.add_column(column, justify="right")
    scores.add_row("Topline", f"{result.auc:.3f}", f"{result.pr_auc:.3f}", f"{result.brier:.4f}")
    for key, method in result.baselines.items():
        scores.add_row(
            BASELINE_LABELS.get(key, key),
            f"{method.auc:.3f}",
            f"{method.pr_auc:.3f}",
            f"{method.brier:.4f}",
        )
    out.print(scores)
    calibration = Table(title="Calibration: predicted vs. observed", title_justify="left")
    for column in ("probability", "records", "predicted", "observed"):
        calibration.add_column(column, justify="left" if column == "probability" else "right")
    for row in result.calibration:
        calibration.add_row(
            f"{row.lower:.0%}–{row.upper:.0%}",
            f"{row.count:,}",
            "—" if row.mean_predicted is None else f"{row.mean_predicted:.1%}",
            "—" if row.observed_rate is None else f"{row.observed_rate:.1%}",
        )
    out.print(calibration)
    importances = Table(title="What the scorer learns most from", title_justify="left")
    importances.add_column("field")
    importances.add_column("share of gain", justify="right")
    for feature, share in result.importances:
        importances.add_row(feature, f"{share:.1%}")
    out.print(importances)

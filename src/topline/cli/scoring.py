"""`topline score ...`: train, check and apply the win and conversion scorers.

`score train` stores a new version of the deal win model trained on the org's history,
`score apply` scores every open deal with the latest, and `score evaluate` measures the scorer
out of time on the org's history, or on any CSV of closed records (`--csv`), so anyone can
check it on their own data. The sub-app registers itself on `topline.cli.main.app` when this
module is imported, which the end of `topline/cli/main.py` does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from topline.cli import database
from topline.cli.main import (
    DbOption,
    app,
    err,
    fail,
    out,
    parse_moment,
    settings_for,
    user_errors,
)

if TYPE_CHECKING:
    from topline.scoring.evaluation import Evaluation
    from topline.scoring.schemas import ScoringModelRead

score_app = typer.Typer(
    help="Predictive scores: the chance a deal is won or a lead converts.",
    no_args_is_help=True,
)
app.add_typer(score_app, name="score")

BASELINE_LABELS = {"logistic_regression": "logistic regression", "naive_bayes": "naive Bayes"}


class EvaluateFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Take the history as it stood then (UTC if no zone); now."),
]
FormatOption = Annotated[EvaluateFormat, typer.Option("--format", help="table or json.")]


class Target(StrEnum):
    DEALS = "deals"
    LEADS = "leads"


TargetOption = Annotated[
    Target, typer.Option("--target", help="deals (win probability) or leads (conversion).")
]


def _as_of(text: str | None) -> datetime | None:
    return None if text is None else parse_moment(text)


def _busy(message: str) -> AbstractContextManager[Any]:
    """A spinner on a terminal, nothing when the output goes elsewhere."""
    return err.status(message) if err.is_terminal else nullcontext()


@score_app.command("train")
def train(
    db: DbOption = None,
    as_of: AsOfOption = None,
    output: FormatOption = EvaluateFormat.TABLE,
    target: TargetOption = Target.DEALS,
) -> None:
    """Train a new version of the deal win model (or, with --target leads, of the lead
    conversion and lead-to-won models) on the org's history, test it on the latest months and
    store it (with too little history: historical rates by stage and source)."""
    from topline.scoring.schemas import ScoringModelRead
    from topline.scoring.service import build_deal_model, save_model

    moment = _as_of(as_of)
    if target == Target.LEADS:
        _train_leads(db, moment, output)
        return
    with user_errors(), _busy("Training on the deal history…"):
        engine = database.engine_for(settings_for(db).database_url)
        database.require_schema(engine)
        # Training only reads; the write lock is taken for the final insert alone.
        with Session(engine) as reader:
            model = build_deal_model(reader, as_of=moment)
        with database.write_session(engine) as writer:
            save_model(writer, model)
            writer.commit()
            stored = ScoringModelRead.model_validate(model)
    if output == EvaluateFormat.JSON:
        out.print_json(stored.model_dump_json())
    else:
        _print_model(stored)


def _train_leads(db: str | None, moment: datetime | None, output: EvaluateFormat) -> None:
    """Train and store the lead conversion model and the lead-to-won model."""
    from topline.scoring.schemas import ScoringModelRead
    from topline.scoring.service import LEAD_TARGETS, build_lead_model, save_model

    stored: list[ScoringModelRead] = []
    with user_errors(), _busy("Training on the lead history…"):
        engine = database.engine_for(settings_for(db).database_url)
        database.require_schema(engine)
        with Session(engine) as reader:
            models = [build_lead_model(reader, target=name, as_of=moment) for name in LEAD_TARGETS]
        with database.write_session(engine) as writer:
            for built in models:
                save_model(writer, built)
            writer.commit()
            stored = [ScoringModelRead.model_validate(built) for built in models]
    if output == EvaluateFormat.JSON:
        out.print_json(json.dumps([read.model_dump(mode="json") for read in stored]))
        return
    for read in stored:
        _print_model(read)


@score_app.command("apply")
def apply(
    db: DbOption = None,
    output: FormatOption = EvaluateFormat.TABLE,
    target: TargetOption = Target.DEALS,
) -> None:
    """Score every open deal with the latest deal win model (or every open lead with the
    latest lead models, --target leads) and store the scores."""
    from topline.scoring.service import latest_model, score_open_deals

    if target == Target.LEADS:
        _apply_leads(db, output)
        return

    with user_errors(), _busy("Scoring open deals…"):
        engine = database.engine_for(settings_for(db).database_url)
        database.require_schema(engine)
        with database.write_session(engine) as session:
            model = latest_model(session)
            scored = score_open_deals(session, model=model)
            session.commit()
            version, method = model.version, model.method
    if output == EvaluateFormat.JSON:
        out.print_json(json.dumps({"scored": scored, "model_version": version, "method": method}))
    else:
        out.print(
            f"Scored {scored:,} open deals with deal model v{version} ({method}).",
            highlight=False,
        )


def _apply_leads(db: str | None, output: EvaluateFormat) -> None:
    """Score every open lead with the latest model of each lead kind that has been trained."""
    from topline.scoring.service import (
        LEAD_CONVERSION,
        LEAD_TARGETS,
        ScoringModelNotFound,
        latest_model,
        score_open_leads,
    )

    results: list[dict[str, Any]] = []
    with user_errors(), _busy("Scoring open leads…"):
        engine = database.engine_for(settings_for(db).database_url)
        database.require_schema(engine)
        with database.write_session(engine) as session:
            for name, kind in LEAD_TARGETS.items():
                try:
                    model = latest_model(session, kind=kind)
                except ScoringModelNotFound:
                    if kind == LEAD_CONVERSION:
                        raise
                    continue
                scored = score_open_leads(session, model=model)
                results.append(
                    {
                        "target": name,
                        "scored": scored,
                        "model_version": model.version,
                        "method": model.method,
                    }
                )
            session.commit()
    if output == EvaluateFormat.JSON:
        out.print_json(json.dumps(results))
        return
    for result in results:
        out.print(
            f"Scored {result['scored']:,} open leads ({result['target']}) with lead model "
            f"v{result['model_version']} ({result['method']}).",
            highlight=False,
        )


@score_app.command("evaluate")
def evaluate(
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv", help="A CSV file of closed records, one per row; else the org's deals."
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="The column holding the outcome (--csv).")
    ] = None,
    positive: Annotated[
        str | None,
        typer.Option("--positive", help="The outcome value that counts as a success (--csv)."),
    ] = None,
    drop: Annotated[
        list[str] | None,
        typer.Option("--drop", help="A column not to learn from (repeat for several)."),
    ] = None,
    ids: Annotated[
        list[str] | None,
        typer.Option("--id", help="An identifier column, never learned from (repeatable)."),
    ] = None,
    output: FormatOption = EvaluateFormat.TABLE,
    db: DbOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Measure the deal scorer out of time on the org's history (trained on older snapshots,
    tested on the latest); with --csv, train on 80 % of a CSV's records and report accuracy on
    the other 20 % (seed 0)."""
    from topline.scoring.evaluation import evaluate_csv

    if csv_file is None:
        if target is not None or positive is not None:
            raise typer.BadParameter("--target and --positive go with --csv")
        _evaluate_org(db, _as_of(as_of), output)
        return
    if target is None or positive is None:
        raise typer.BadParameter(
            "--csv needs --target (the outcome column) and --positive (its success value)"
        )
    busy = err.status("Training and evaluating…") if err.is_terminal else nullcontext()
    with user_errors(), busy:
        result = evaluate_csv(csv_file, target, positive, drop=drop or (), ids=ids or ())
    if output == EvaluateFormat.JSON:
        out.print_json(json.dumps(result.to_json()))
    else:
        _print_evaluation(result, csv_file.name, target, positive)


def _evaluate_org(db: str | None, as_of: datetime | None, output: EvaluateFormat) -> None:
    from topline.clock import utcnow
    from topline.scoring.training import evaluate_deal_scorer

    moment = as_of or utcnow()
    with user_errors(), _busy("Evaluating on the deal history…"):
        engine = database.engine_for(settings_for(db).database_url)
        database.require_schema(engine)
        with Session(engine) as session:
            report = evaluate_deal_scorer(session, moment)
    if report.evaluation is None:
        fail(f"cannot evaluate: {report.shortage}")
    if output == EvaluateFormat.JSON:
        out.print_json(json.dumps(report.to_json()))
        return
    first = f"{report.cutoff:%Y-%m-%d}" if report.cutoff else "?"
    _print_evaluation(report.evaluation, f"Deals as of {moment:%Y-%m-%d}", "outcome", "won")
    out.print(
        f"Tested on the snapshots from {first} on; trained on the earlier ones without the "
        "tested deals.",
        highlight=False,
    )


_MODEL_NAMES = {
    "deal_win": ("Deal model", "win rates", "closed deals", "deals"),
    "lead_conversion": ("Lead conversion model", "conversion rates", "lead snapshots", "leads"),
    "lead_won": ("Lead-to-won model", "lead-to-won rates", "lead snapshots", "leads"),
}


def _print_model(model: ScoringModelRead) -> None:
    metrics = model.metrics
    title, rates, counted, records = _MODEL_NAMES.get(
        model.kind, (model.kind, "rates", "records", "records")
    )
    out.print(
        f"[bold]{title} v{model.version}[/] ({model.method}) trained as of "
        f"{model.as_of:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    if metrics.message:
        out.print(f"Too little history to train: {metrics.message}.", highlight=False)
        out.print(
            f"Scores come from historical {rates} by stage and source over "
            f"{model.n_train:,} {counted}.",
            highlight=False,
        )
        return
    start = f"{model.window_start:%Y-%m-%d}" if model.window_start else "?"
    end = f"{model.window_end:%Y-%m-%d}" if model.window_end else "?"
    out.print(
        f"Snapshots {start} to {end}; trained on {model.n_train:,} {records}, tested on "
        f"{model.n_test:,} later snapshots",
        highlight=False,
    )
    out.print(
        _accuracy_table(
            "Accuracy on the test snapshots",
            (metrics.auc or 0, metrics.pr_auc or 0, metrics.brier or 0),
            metrics.baselines,
        )
    )
    importances = Table(title="What the model learns most from", title_justify="left")
    importances.add_column("field")
    importances.add_column("share of gain", justify="right")
    for entry in model.importances:
        importances.add_row(entry.feature, f"{entry.share:.1%}")
    out.print(importances)


def _accuracy_table(
    title: str, topline: tuple[float, float, float], baselines: Mapping[str, Any]
) -> Table:
    """ROC AUC, PR AUC and Brier of Topline's scorer and of each baseline."""
    scores = Table(title=title, title_justify="left")
    scores.add_column("method")
    for column in ("ROC AUC", "PR AUC", "Brier"):
        scores.add_column(column, justify="right")
    rows = [("Topline", *topline)]
    rows += [
        (BASELINE_LABELS.get(key, key), method.auc, method.pr_auc, method.brier)
        for key, method in baselines.items()
    ]
    for name, auc, pr_auc, brier in rows:
        scores.add_row(name, f"{auc:.3f}", f"{pr_auc:.3f}", f"{brier:.4f}")
    return scores


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
    out.print(
        _accuracy_table(
            "Accuracy on the test rows", (result.auc, result.pr_auc, result.brier), result.baselines
        )
    )
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

"""`topline forecast ...`: the projection of the quarter, its snapshots and its accuracy.

`forecast snapshot` projects the fiscal quarter in progress for the org, every team and every
rep with every method and keeps the numbers (once per day; run it daily), `forecast show`
prints a scope's kept numbers with the deals that drive them, `forecast accuracy` measures the
kept numbers of ended quarters, and `forecast backtest` rebuilds past quarters from history
to measure every method at 0, 4, 8 and 12 weeks in. The sub-app registers itself on
`topline.cli.main.app` when this module is imported, which the end of `topline/cli/main.py`
does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select
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
    from topline.auth.models import User
    from topline.forecasting.backtest import MethodAccuracy

forecast_app = typer.Typer(
    help="Forecasts: the quarter's projection with its range, snapshots and accuracy.",
    no_args_is_help=True,
)
app.add_typer(forecast_app, name="forecast")

METHOD_LABELS = {
    "projection": "projection (per-deal model, Monte Carlo)",
    "stage_weighted": "stage-weighted pipeline",
    "historical_conversion": "historical conversion",
    "category_rollup": "category roll-up",
    "people": "people's call (commit)",
    "reps_calls": "reps' own calls summed (commit)",
}


class ForecastFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Take the history as it stood then (UTC if no zone); now."),
]
FormatOption = Annotated[ForecastFormat, typer.Option("--format", help="table or json.")]
TeamOption = Annotated[
    str | None, typer.Option("--team", help="A manager's email: their reporting subtree.")
]
RepOption = Annotated[str | None, typer.Option("--rep", help="One rep, by email.")]


def _moment(text: str | None) -> datetime:
    return parse_moment(text) if text is not None else datetime.now(UTC)


def _progress(message: str) -> None:
    err.print(f"[dim]{message}[/]", highlight=False)


@forecast_app.command("backtest")
def backtest_command(
    db: DbOption = None,
    as_of: AsOfOption = None,
    output: FormatOption = ForecastFormat.TABLE,
) -> None:
    """Rebuild every ended quarter from history at 0, 4, 8 and 12 weeks in and measure each
    method's error, bias and (for the projection) how often P10–P90 held the actual."""
    from topline.forecasting.backtest import backtest

    moment = _moment(as_of)
    with user_errors():
        engine = database.engine_for(settings_for(db).database_url)
        database.require_schema(engine)
        with Session(engine) as session:
            result = backtest(session, moment, progress=_progress)
    if output == ForecastFormat.JSON:
        out.print_json(json.dumps(result.to_json()))
        return
    if not result.points:
        reasons = "; ".join(result.skipped) or "no ended quarter in the history"
        fail(f"nothing to backtest: {reasons}")
    periods = sorted({point.period.label for point in result.points})
    out.print(
        f"[bold]Forecast backtest[/] · {len(periods)} quarter(s) {periods[0]}–{periods[-1]} · "
        f"{result.seconds:.0f} s",
        highlight=False,
    )
    _print_accuracy(result.methods, result.horizons)


def _print_accuracy(
    methods: dict[str, dict[int, MethodAccuracy]], horizons: tuple[int, ...]
) -> None:
    table = Table(
        "method",
        *[f"{weeks} weeks in" for weeks in horizons],
        caption="error / bias / share of actuals inside P10–P90 (projection), over n quarters",
    )
    for name, by_horizon in methods.items():
        cells = []
        for weeks in horizons:
            accuracy = by_horizon.get(weeks)
            if accuracy is None or accuracy.mape is None or accuracy.bias is None:
                cells.append("–")
                continue
            cell = f"{accuracy.mape:.1%} / {accuracy.bias:+.1%}"
            if accuracy.coverage_p10_p90 is not None:
                cell += f" / {accuracy.coverage_p10_p90:.0%}"
            cells.append(f"{cell} (n={accuracy.n})")
        table.add_row(METHOD_LABELS.get(name, name), *cells)
    out.print(table)


@forecast_app.command("snapshot")
def snapshot_command(
    db: DbOption = None,
    as_of: AsOfOption = None,
    output: FormatOption = ForecastFormat.TABLE,
) -> None:
    """Project the quarter in progress for the org, every team and every rep with every
    method and keep the numbers (again on the same day: replaced)."""
    from topline.forecasting.snapshots import take_snapshots

    moment = _moment(as_of)
    with user_errors():
        engine = database.engine_for(settings_for(db).database_url)
        database.require_schema(engine)
        with database.write_session(engine) as session:
            run = take_snapshots(session, moment, progress=_progress)
            session.commit()
    summary = {
        "period": run.period.label,
        "taken_on": run.taken_on.isoformat(),
        "scopes": run.scopes,
        "snapshots": run.rows,
        "shortage": run.shortage,
        "seconds": round(run.seconds, 1),
    }
    if output == ForecastFormat.JSON:
        out.print_json(json.dumps(summary))
        return
    out.print(
        f"Kept {run.rows:,} forecast numbers for {run.scopes:,} scopes of {run.period.label} "
        f"on {run.taken_on} ({run.seconds:.0f} s).",
        highlight=False,
    )
    if run.shortage:
        err.print(f"[yellow]only the baseline could be projected:[/] {run.shortage}")


def _person(session: Session, team: str | None, rep: str | None) -> User | None:
    """The manager (--team) or rep (--rep) named, or None for the org."""
    from topline.auth.enums import Role
    from topline.auth.models import User

    if team is not None and rep is not None:
        fail("give --team or --rep, not both")
    email = team if team is not None else rep
    if email is None:
        return None
    option = "--team" if team is not None else "--rep"
    person = session.scalar(select(User).where(User.email == email.strip().lower()))
    if person is None:
        fail(f"{option}: no user with email {email}")
    if team is not None and person.role != Role.MANAGER:
        fail(f"--team: {email} is not a manager")
    if rep is not None and person.role != Role.REP:
        fail(f"--rep: {email} is not a rep")
    return person


@forecast_app.command("show")
def show_command(
    db: DbOption = None,
    team: TeamOption = None,
    rep: RepOption = None,
    as_of: AsOfOption = None,
    output: FormatOption = ForecastFormat.TABLE,
) -> None:
    """The kept forecast of the quarter in progress (as it stood on --as-of's day) for the
    org, a team or a rep: every method's number, the range and the deals that drive it."""
    from topline.forecasting.snapshots import latest_snapshots, scope_of, snapshot_json

    moment = _moment(as_of)
    with user_errors():
        engine = database.engine_for(settings_for(db).database_url)
        database.require_schema(engine)
        with Session(engine) as session:
            scope = scope_of(session, _person(session, team, rep))
            kept = latest_snapshots(session, scope, moment)
            rows = [snapshot_json(row) for row in kept]
    if not rows:
        fail(
            f"no forecast kept for {scope.key} by {moment:%Y-%m-%d}; "
            "run `topline forecast snapshot` first"
        )
    if output == ForecastFormat.JSON:
        out.print_json(json.dumps({"scope": scope.key, "methods": rows}))
        return
    _print_snapshots(scope.key, rows)


def _print_snapshots(scope: str, rows: list[dict[str, Any]]) -> None:
    first = rows[0]
    out.print(
        f"[bold]Forecast[/] · {scope} · {first['period_start']}–{first['period_end']} · "
        f"taken {first['taken_on']} · won so far {first['won_cents'] / 100:,.0f}",
        highlight=False,
    )
    table = Table("method", "expected", "P10", "P50", "P90")

    def money(cents: int | None) -> str:
        return "–" if cents is None else f"{cents / 100:,.0f}"

    for row in rows:
        table.add_row(
            METHOD_LABELS.get(row["method"], row["method"]),
            money(row["expected_cents"]),
            money(row["p10_cents"]),
            money(row["p50_cents"]),
            money(row["p90_cents"]),
        )
    out.print(table)
    for row in rows:
        details = row.get("details") or {}
        if details.get("shortage"):
            out.print(f"Learned methods missing: {details['shortage']}", highlight=False)
        drivers = details.get("drivers") or []
        if not drivers:
            continue
        out.print("[bold]Deals that move the projection most[/]")
        for driver in drivers:
            factors = "; ".join(driver["factors"][:3])
            out.print(
                f"  deal {driver['deal_id']}: {driver['amount_cents'] / 100:,.0f} × "
                f"{driver['probability']:.0%} = {driver['expected_cents'] / 100:,.0f}"
                + (f" — {factors}" if factors else ""),
                highlight=False,
            )


@forecast_app.command("accuracy")
def accuracy_command(
    db: DbOption = None,
    team: TeamOption = None,
    rep: RepOption = None,
    as_of: AsOfOption = None,
    output: FormatOption = ForecastFormat.TABLE,
) -> None:
    """How the kept forecasts of ended quarters did, per method, at 0, 4, 8 and 12 weeks in."""
    from topline.forecasting.snapshots import HORIZON_WEEKS, scope_of, tracked_accuracy

    moment = _moment(as_of)
    with user_errors():
        engine = database.engine_for(settings_for(db).database_url)
        database.require_schema(engine)
        with Session(engine) as session:
            scope = scope_of(session, _person(session, team, rep))
            tracked = tracked_accuracy(session, scope, moment)
    if output == ForecastFormat.JSON:
        out.print_json(json.dumps(tracked.to_json()))
        return
    if not tracked.points:
        fail(f"no kept forecast of an ended quarter for {scope.key} yet")
    _print_accuracy(tracked.methods, HORIZON_WEEKS)

"""`topline report NAME`: pipeline analytics in the terminal, as CSV or as JSON.

The command registers itself on `topline.cli.main.app` when this module is imported, which the
end of `topline/cli/main.py` does.
"""

from __future__ import annotations

import csv
import sys
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline.cli import database
from topline.cli.main import DbOption, app, fail, out, parse_moment, settings_for, user_errors


class ReportFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r}: give an ISO date such as 2025-07-01")


@app.command("report")
def report(
    name: Annotated[str, typer.Argument(help="Which report; `topline report list` names them.")],
    period: Annotated[
        str | None,
        typer.Option(help="2025Q3 (fiscal quarter), 2025 or FY2025 (fiscal year), 2025-07."),
    ] = None,
    start: Annotated[str | None, typer.Option(help="First day of a custom period.")] = None,
    end: Annotated[str | None, typer.Option(help="First day after a custom period.")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Take the data as it stood then (UTC if no zone).")
    ] = None,
    team: Annotated[
        str | None, typer.Option(help="A team's name or id: its manager's reporting subtree.")
    ] = None,
    rep: Annotated[str | None, typer.Option(help="One rep, by email.")] = None,
    by: Annotated[str | None, typer.Option(help="How rows break down (win-rate: rep, …).")] = None,
    since: Annotated[
        str | None, typer.Option(help="An earlier moment, for reports between two moments.")
    ] = None,
    window: Annotated[
        str | None, typer.Option(help="A trailing window: days (velocity) or months (ramp).")
    ] = None,
    output: Annotated[ReportFormat, typer.Option("--format", help="table, csv or json.")] = (
        ReportFormat.TABLE
    ),
    limit: Annotated[
        int | None, typer.Option(help="At most this many rows (default all).", min=1)
    ] = None,
    offset: Annotated[int, typer.Option(help="Skip this many rows.", min=0)] = 0,
    db: DbOption = None,
) -> None:
    """A pipeline report for the org, a team or a rep; by default this fiscal quarter, now."""
    from topline.analytics.catalog import REPORTS
    from topline.analytics.paging import RowPage
    from topline.analytics.reports import choose_period
    from topline.analytics.scope import org_scope, rep_scope, team_scope
    from topline.auth.models import Team, User

    if name == "list":
        for listed in REPORTS.values():
            extras = "".join(f"  --{key}: {text}" for key, text in listed.options.items())
            out.print(f"{listed.name:<14} {listed.title}{extras}", highlight=False)
        return
    spec = REPORTS.get(name)
    if spec is None:
        fail(f"no report {name!r}; reports: {', '.join(REPORTS)}")
    if team is not None and rep is not None:
        fail("give --team or --rep, not both")
    moment = parse_moment(as_of) if as_of else datetime.now(UTC)
    options = {key: value for key, value in {"by": by, "since": since, "window": window}.items()
               if value is not None}  # fmt: skip
    for key in options:
        if key not in spec.options:
            fail(f"--{key} does not apply to the {name} report")
    with user_errors():
        page = RowPage(offset, limit)
        engine = database.engine_for(settings_for(db).database_url)
        database.require_schema(engine)
        with Session(engine) as session:
            scope = org_scope()
            if rep is not None:
                person = session.scalar(select(User).where(User.email == rep.strip().lower()))
                if person is None:
                    fail(f"--rep: no user with email {rep}")
                scope = rep_scope(person)
            elif team is not None:
                condition = Team.id == int(team) if team.isdigit() else Team.name == team
                found = session.scalar(select(Team).where(condition))
                if found is None:
                    fail(f"--team: no team {team!r}")
                if found.manager_id is None:
                    fail(f"--team: team {found.name!r} has no manager to report on")
                manager = session.get(User, found.manager_id)
                assert manager is not None
                scope = team_scope(manager)
            chosen = choose_period(
                session,
                period=period,
                start=_day(start, "--start"),
                end=_day(end, "--end"),
                as_of=moment,
            )
            result: Any = spec.run(session, scope, chosen, moment, options, page)
    if output == ReportFormat.JSON:
        out.print_json(result.model_dump_json())
    elif output == ReportFormat.CSV:
        _write_csv(result.rows)
    else:
        _print_table(result)


def _write_csv(rows: list[BaseModel]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if not rows:
        return
    fields = list(type(rows[0]).model_fields)
    writer.writerow(fields)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row.model_dump().values()])


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name.endswith("_cents"):
        return f"{value / 100:,.2f}"
    if isinstance(value, float) and name in {"coverage", "velocity_ratio"}:
        return f"{value:.2f}×"
    if isinstance(value, float) and (
        "rate" in name
        or name in {"growth", "attainment", "conversion", "share"}
        or name.endswith(("_share", "_conversion"))
    ):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _label(name: str) -> str:
    """A field as a heading; amounts print in currency units, so `_cents` goes."""
    return name.removesuffix("_cents").replace("_", " ")


def _print_table(result: Any) -> None:
    period = result.period
    out.print(
        f"[bold]{result.report}[/] · {result.scope.name} · {period.label} "
        f"({period.start} to {period.end}, end excluded) · as of {result.as_of:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    if result.report == "reps":
        _print_reps(result)
        return
    for key, value in result.summary.model_dump().items():
        out.print(f"  {_label(key)}: {_cell(key, value)}", highlight=False)
    if not result.rows:
        past = (
            f" at offset {result.offset:,}; {result.total_rows:,} in all"
            if result.total_rows
            else ""
        )
        out.print(f"  (no rows{past})", highlight=False)
        return
    if len(result.rows) < result.total_rows:
        first = result.offset + 1
        last = first + len(result.rows) - 1
        out.print(f"  rows {first:,}–{last:,} of {result.total_rows:,}", highlight=False)
    fields = list(type(result.rows[0]).model_fields)
    table = Table()
    for field in fields:
        table.add_column(
            field.replace("_", " "),
            justify="left" if field in {"key", "pipeline", "stage", "bucket"} else "right",
        )
    for row in result.rows:
        values = row.model_dump()
        table.add_row(*(_cell(field, values[field]) for field in fields))
    out.print(table)


def _print_reps(result: Any) -> None:
    """One column per rep, one line per metric, the scope's median first."""
    for entry in result.summary.weakest:
        weakest = ", ".join(entry.weakest) or "nothing below the median"
        out.print(f"  {entry.name}: weakest on {weakest}", highlight=False)
    if not result.rows:
        out.print("  (no rows)")
        return
    table = Table()
    table.add_column("metric")
    table.add_column("median", justify="right")
    for row in result.rows:
        table.add_column(row.name, justify="right")
    for index, median in enumerate(result.summary.medians):
        name = median.metric
        unit_key = (
            f"{name}_cents"
            if median.unit.value == "cents" and not name.endswith("_cents")
            else name
        )
        if median.unit.value == "rate":
            unit_key = "rate"
        cells = [_cell(unit_key, row.metrics[index].value) for row in result.rows]
        table.add_row(_label(name), _cell(unit_key, median.median), *cells)
    out.print(table)

"""The team page: every rep against the team's median on each metric, and where each rep's
funnel leaks: the basis of coaching; and how the new hires ramp up against the tenured reps.
The figures are the `reps` and `ramp` reports'."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from topline.analytics.people import Better, RepsRow, Unit, reps_report, shortfall
from topline.analytics.reports import choose_period
from topline.analytics.revenue import RampRow, ramp_report
from topline.analytics.scope import ScopeKind, resolve_scope
from topline.clock import utcnow
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import format_money, format_percent, templates
from topline.web.views.common import AsOfDay, end_of_day

router = APIRouter(route_class=TransactionRoute)

METRIC_NAMES = {
    "deals_created": "Deals created",
    "pipeline_created_cents": "Pipeline created",
    "open_pipeline_cents": "Open pipeline",
    "win_rate": "Win rate",
    "won_cents": "Won",
    "attainment": "Attainment",
    "average_won_cents": "Average deal won",
    "median_cycle_days": "Sales cycle",
    "activities": "Activities",
}
# A figure this far on the worse side of the median is marked (relative to the median).
WORSE_MARK = 0.2


@dataclass(frozen=True)
class Cell:
    """One rep's figure for one metric, as shown, with how it compares with the median."""

    text: str
    mark: str  # "worse", "better" or ""
    title: str


def metric_name(metric: str) -> str:
    """A metric key as people read it: "conversion:Proposal" → "Proposal converts"."""
    if metric in METRIC_NAMES:
        return METRIC_NAMES[metric]
    kind, _, detail = metric.partition(":")
    if kind == "conversion":
        return f"{detail} converts"
    if kind == "activities":
        return f"{detail.capitalize()}s"
    return metric.replace("_", " ").capitalize()


def show(value: int | float | None, unit: Unit) -> str:
    """A figure in its unit: money, a percentage, days or a count."""
    if value is None:
        return "—"
    if unit == Unit.CENTS:
        return format_money(int(value))
    if unit == Unit.RATE:
        return format_percent(float(value))
    if unit == Unit.DAYS:
        return f"{value:.0f} d"
    return f"{value:g}"


@router.get("/team", response_class=HTMLResponse)
def team_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    as_of: AsOfDay = None,
) -> HTMLResponse:
    """Each rep of the viewer's scope against the median, this fiscal quarter."""
    now = utcnow()
    moment = end_of_day(as_of)
    scope = resolve_scope(session, user)
    period = choose_period(session, period=None, start=None, end=None, as_of=moment)
    report = reps_report(session, scope, period, moment)
    ramp = ramp_report(session, scope, moment)
    medians = report.summary.medians
    weakest = {
        entry.id: [metric_name(m) for m in entry.weakest] for entry in report.summary.weakest
    }
    context: dict[str, Any] = {
        "heading": "Team" if scope.kind != ScopeKind.ORG else "Team — whole org",
        "scope_name": scope.name,
        "period": period,
        "as_of": moment,
        "is_past": as_of is not None and moment < now,
        "columns": [metric_name(m.metric) for m in medians],
        "median_cells": [show(m.median, m.unit) for m in medians],
        "rows": [(row, _cells(row, medians), weakest.get(row.id, [])) for row in report.rows],
        "ramp": ramp,
        "ramp_figure": _ramp_figure(ramp.rows, ramp.summary.tenured_monthly_median_cents),
    }
    return templates.TemplateResponse(request, "team.html", context)


def _ramp_figure(rows: list[RampRow], tenured_monthly_cents: int | None) -> str | None:
    """Each new hire's cumulative bookings by month of tenure against the tenured reps' median
    pace (their median month, added up), as Plotly JSON; None without new hires."""
    if not rows:
        return None
    longest = max((len(row.months) for row in rows), default=0)
    traces: list[Any] = []
    for row in rows:
        total = 0
        cumulative = []
        for month in row.months:
            total += month.bookings_cents
            cumulative.append(total / 100)
        traces.append(
            go.Scatter(
                x=[month.month for month in row.months], y=cumulative, name=row.name,
                mode="lines+markers",
            )
        )  # fmt: skip
    if tenured_monthly_cents is not None and longest:
        months = list(range(1, longest + 1))
        traces.append(
            go.Scatter(
                x=months, y=[tenured_monthly_cents * k / 100 for k in months],
                name="Tenured reps' median pace", mode="lines",
                line={"color": "#4f5b6b", "dash": "dash", "width": 3},
            )
        )  # fmt: skip
    figure = go.Figure(
        traces,
        layout={
            "height": 320,
            "margin": {"l": 70, "r": 20, "t": 10, "b": 50},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "xaxis": {"title": "Month of tenure", "dtick": 1},
            "yaxis": {"title": "Booked since hire", "tickprefix": "$", "rangemode": "tozero"},
            "legend": {"orientation": "h", "y": -0.3},
        },
    )
    return str(figure.to_json())


def _cells(row: RepsRow, medians: list[Any]) -> list[Cell]:
    cells = []
    for comparison, median in zip(row.metrics, medians, strict=True):
        worse = shortfall(comparison.relative_difference, Better(median.better))
        mark = ""
        if worse is not None and worse >= WORSE_MARK:
            mark = "worse"
        elif worse is not None and worse <= -WORSE_MARK:
            mark = "better"
        relative = comparison.relative_difference
        title = f"median {show(median.median, median.unit)}"
        if relative is not None:
            title += f"; {relative:+.0%} against it"
        cells.append(Cell(show(comparison.value, median.unit), mark, title))
    return cells

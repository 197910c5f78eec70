"""The dashboard: the quarter at a glance for whoever signs in (a manager's team, a rep's own
numbers, the whole org for an admin) — won against quota, the forecast and its range,
coverage, pipeline created against last quarter, win rate and cycle, the deals at risk and
the leaderboard. Every figure comes from the same report functions as the API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import plotly.graph_objects as go
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from topline.analytics import metrics
from topline.analytics.periods import Period
from topline.analytics.quota import (
    CoverageSummary,
    QuotaNote,
    coverage_and_leaderboard,
    coverage_report,
)
from topline.analytics.reports import (
    TrendPoint,
    choose_period,
    closed_trend,
    pipeline_report,
)
from topline.analytics.scope import ScopeKind, resolve_scope, team_scope
from topline.auth.enums import Role
from topline.auth.models import User
from topline.auth.service import visible_user_ids
from topline.clock import utcnow
from topline.crm.queries import RISK_FLAGS, deals_at_risk
from topline.forecasting.projection import PEOPLE, PROJECTION
from topline.forecasting.snapshots import latest_snapshots, scope_of
from topline.storage.db import read_in_parallel
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates
from topline.web.views.common import RISK_HELP, RISK_LABELS, AsOfDay, end_of_day

router = APIRouter(route_class=TransactionRoute)

LEADERS = 10
TREND_QUARTERS = 6


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    as_of: AsOfDay = None,
) -> HTMLResponse:
    """The fiscal quarter at a glance, as it stood at the end of `as_of` (default now). The
    six-quarter trend and the teams come after the page (`/dashboard/trend`,
    `/dashboard/teams`), so the quarter's own figures never wait for them."""
    now = utcnow()
    moment = end_of_day(as_of)
    scope = resolve_scope(session, user)
    period = choose_period(session, period=None, start=None, end=None, as_of=moment)
    kept = latest_snapshots(session, scope_of(session, user), moment)
    methods = {row.method: row for row in kept}
    owner_ids = visible_user_ids(session, user)
    # The four heavy reads are independent: they run side by side, slowest first.
    this_quarter, risk, (coverage_rows, leaderboard), pipeline = read_in_parallel(
        session,
        # The quarter's win rate and cycle, as the win-rate and cycle reports define them,
        # counted in one query.
        lambda s: closed_trend(s, scope, [period], moment)[0],
        lambda s: deals_at_risk(s, owner_ids=owner_ids, now=moment),
        lambda s: coverage_and_leaderboard(s, scope, period, moment),
        lambda s: pipeline_report(s, scope, period, moment).summary,
    )
    coverage = coverage_rows.summary
    previous = period.previous()
    context: dict[str, Any] = {
        "heading": _heading(scope.kind, scope.name),
        "period": period,
        "period_last_day": period.end - timedelta(days=1),
        "previous": previous,
        "previous_last_day": previous.end - timedelta(days=1),
        "as_of": moment,
        "as_of_query": f"?as_of={as_of}" if as_of is not None else "",
        "is_past": as_of is not None and moment < now,
        "coverage": coverage,
        "attainment": _attainment(coverage),
        "pipeline": pipeline,
        "this_quarter": this_quarter,
        "projection": methods.get(PROJECTION),
        "call": methods.get(PEOPLE),
        "risk": risk,
        "risk_flags": RISK_FLAGS,
        "risk_labels": RISK_LABELS,
        "risk_help": RISK_HELP,
        "leaders": leaderboard.rows[:LEADERS],
        "show_leaderboard": scope.kind != ScopeKind.REP,
        "has_teams": _direct_managers(session, user) != [],
    }
    return templates.TemplateResponse(request, "dashboard.html", context)


@router.get("/dashboard/trend", response_class=HTMLResponse)
def dashboard_trend(
    request: Request, session: DbSession, user: CurrentUser, as_of: AsOfDay = None
) -> HTMLResponse:
    """The dashboard's trend panel: win rate and cycle over the last six fiscal quarters."""
    moment = end_of_day(as_of)
    scope = resolve_scope(session, user)
    period = choose_period(session, period=None, start=None, end=None, as_of=moment)
    trend = closed_trend(session, scope, _quarters_up_to(period, TREND_QUARTERS), moment)
    context = {"trend": trend, "trend_figure": _trend_figure(trend)}
    return templates.TemplateResponse(request, "dashboard/_trend.html", context)


@router.get("/dashboard/teams", response_class=HTMLResponse)
def dashboard_teams(
    request: Request, session: DbSession, user: CurrentUser, as_of: AsOfDay = None
) -> HTMLResponse:
    """The dashboard's teams panel: each team led just below the viewer, this quarter."""
    moment = end_of_day(as_of)
    period = choose_period(session, period=None, start=None, end=None, as_of=moment)
    context = {
        "teams": _teams(session, user, period, moment),
        "period": period,
        "period_last_day": period.end - timedelta(days=1),
    }
    return templates.TemplateResponse(request, "dashboard/_teams.html", context)


def _attainment(coverage: CoverageSummary) -> dict[str, Any]:
    """Won against quota, from the coverage figures (the same quota and won amount as the
    attainment report's; no second read)."""
    undefined = coverage.note in (QuotaNote.NO_QUOTA, QuotaNote.ZERO_QUOTA)
    return {
        "won_cents": coverage.won_cents,
        "quota_cents": coverage.quota_cents,
        "attainment": None
        if undefined
        else metrics.attainment(coverage.won_cents, coverage.quota_cents),
        "note": coverage.note,
    }


def _quarters_up_to(period: Period, count: int) -> list[Period]:
    """`period` and the ones before it, oldest first (fewer when the calendar starts)."""
    quarters = [period]
    while len(quarters) < count and quarters[0].start.year > 1:
        quarters.insert(0, quarters[0].previous())
    return quarters


def _trend_figure(trend: list[TrendPoint]) -> str | None:
    """Win rate (line, left axis) and median won cycle (bars, right axis) by quarter, as Plotly
    JSON; None when nothing closed in any of them."""
    if not any(point.won or point.lost for point in trend):
        return None
    labels = [point.period for point in trend]
    figure = go.Figure(
        [
            go.Bar(
                x=labels,
                y=[point.median_days for point in trend],
                name="Median cycle (days)",
                yaxis="y2",
                marker_color="#c9d6f6",
            ),
            go.Scatter(
                x=labels,
                y=[point.win_rate for point in trend],
                name="Win rate",
                mode="lines+markers",
                line={"color": "#1f4fd1", "width": 3},
            ),
        ],
        layout={
            "height": 260,
            "margin": {"l": 50, "r": 50, "t": 10, "b": 40},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "legend": {"orientation": "h", "y": -0.25},
            "yaxis": {"tickformat": ".0%", "rangemode": "tozero", "title": "Win rate"},
            "yaxis2": {
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "title": "Days",
                "showgrid": False,
            },
        },
    )
    return str(figure.to_json())


def _teams(
    session: Session, viewer: User, period: Period, moment: Any
) -> list[tuple[User, CoverageSummary]]:
    """For a director (or an admin), each team led by a manager just below them: its won
    amount, quota, open pipeline and coverage. One report per team, for the handful of teams
    a director leads, side by side; none for a manager of reps only."""
    managers = _direct_managers(session, viewer)

    def coverage_of(manager: User) -> Callable[[Session], CoverageSummary]:
        return lambda s: coverage_report(s, team_scope(manager), period, moment).summary

    summaries = read_in_parallel(session, *map(coverage_of, managers))
    return list(zip(managers, summaries, strict=True))


def _direct_managers(session: Session, viewer: User) -> list[User]:
    """The managers just below the viewer (for an admin, those at the top of the line)."""
    if viewer.role == Role.REP:
        return []
    boss = aliased(User)
    stmt = (
        select(User)
        .outerjoin(boss, boss.id == User.manager_id)
        .where(User.role == Role.MANAGER, User.active.is_(True))
        .order_by(User.name, User.id)
    )
    if viewer.role == Role.MANAGER:
        stmt = stmt.where(User.manager_id == viewer.id)
    else:
        stmt = stmt.where(or_(User.manager_id.is_(None), boss.role != Role.MANAGER))
    return list(session.scalars(stmt))


def _heading(kind: ScopeKind, name: str) -> str:
    if kind == ScopeKind.ORG:
        return "This quarter — whole org"
    if kind == ScopeKind.TEAM:
        return f"This quarter — {name.replace('Team of', 'team of')}"
    return "Your quarter"

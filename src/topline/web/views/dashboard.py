"""The dashboard: the quarter at a glance for whoever signs in (a manager's team, a rep's own
numbers, the whole org for an admin) — won against quota, the forecast and its range,
coverage, pipeline created against last quarter, win rate and cycle, the deals at risk and
the leaderboard. Every figure comes from the same report functions as the API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import plotly.graph_objects as go
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from topline.analytics.periods import Period
from topline.analytics.quota import (
    CoverageSummary,
    attainment_report,
    coverage_report,
    leaderboard_report,
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
    """The fiscal quarter at a glance, as it stood at the end of `as_of` (default now)."""
    now = utcnow()
    moment = end_of_day(as_of)
    scope = resolve_scope(session, user)
    period = choose_period(session, period=None, start=None, end=None, as_of=moment)
    kept = latest_snapshots(session, scope_of(session, user), moment)
    methods = {row.method: row for row in kept}
    risk = deals_at_risk(session, owner_ids=visible_user_ids(session, user), now=moment)
    leaderboard = leaderboard_report(session, scope, period, moment)
    quarters = _quarters_up_to(period, TREND_QUARTERS)
    trend = closed_trend(session, scope, quarters, moment)
    previous = quarters[-2] if len(quarters) > 1 else period
    context: dict[str, Any] = {
        "heading": _heading(scope.kind, scope.name),
        "period": period,
        "period_last_day": period.end - timedelta(days=1),
        "previous": previous,
        "previous_last_day": previous.end - timedelta(days=1),
        "as_of": moment,
        "is_past": as_of is not None and moment < now,
        "attainment": attainment_report(session, scope, period, moment).summary,
        "coverage": coverage_report(session, scope, period, moment).summary,
        "pipeline": pipeline_report(session, scope, period, moment).summary,
        # The quarter's win rate and cycle are the trend's last point (the same definitions as
        # the win-rate and cycle reports, counted in the database in the same query).
        "this_quarter": trend[-1],
        "projection": methods.get(PROJECTION),
        "call": methods.get(PEOPLE),
        "risk": risk,
        "risk_flags": RISK_FLAGS,
        "risk_labels": RISK_LABELS,
        "risk_help": RISK_HELP,
        "leaders": leaderboard.rows[:LEADERS],
        "show_leaderboard": scope.kind != ScopeKind.REP,
        "trend": trend,
        "trend_figure": _trend_figure(trend),
        "teams": _teams(session, user, period, moment),
    }
    return templates.TemplateResponse(request, "dashboard.html", context)


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
    a director leads; none for a manager of reps only."""
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
    managers = list(session.scalars(stmt))
    return [
        (manager, coverage_report(session, team_scope(manager), period, moment).summary)
        for manager in managers
    ]


def _heading(kind: ScopeKind, name: str) -> str:
    if kind == ScopeKind.ORG:
        return "This quarter — whole org"
    if kind == ScopeKind.TEAM:
        return f"This quarter — {name.replace('Team of', 'team of')}"
    return "Your quarter"

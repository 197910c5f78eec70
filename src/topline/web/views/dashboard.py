"""The dashboard: the quarter at a glance for whoever signs in (a manager's team, a rep's own
numbers, the whole org for an admin) — won against quota, the forecast and its range,
coverage, pipeline created against last quarter, win rate and cycle, the deals at risk and
the leaderboard. Every figure comes from the same report functions as the API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from topline.analytics.quota import attainment_report, coverage_report, leaderboard_report
from topline.analytics.reports import choose_period, cycle_report, pipeline_report, win_rate_report
from topline.analytics.scope import ScopeKind, resolve_scope
from topline.auth.service import visible_user_ids
from topline.clock import utcnow
from topline.crm.queries import RISK_FLAGS, deals_at_risk
from topline.forecasting.projection import PEOPLE, PROJECTION
from topline.forecasting.snapshots import latest_snapshots, scope_of
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates
from topline.web.views.common import AsOfDay, end_of_day

router = APIRouter(route_class=TransactionRoute)

RISK_LABELS = {
    "past_close_date": "Past close date",
    "no_next_step": "No next step",
    "stale": "Gone quiet",
    "slipped": "Slipped",
}
RISK_HELP = {
    "past_close_date": "The expected close date is before today and the deal is still open.",
    "no_next_step": "Nobody wrote down what happens next.",
    "stale": "Nothing logged on the deal and no change to it in 30 days.",
    "slipped": "Its close date was moved later in the last 30 days.",
}
LEADERS = 10


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
    context: dict[str, Any] = {
        "heading": _heading(scope.kind, scope.name),
        "period": period,
        "period_last_day": period.end - timedelta(days=1),
        "as_of": moment,
        "is_past": as_of is not None and moment < now,
        "attainment": attainment_report(session, scope, period, moment).summary,
        "coverage": coverage_report(session, scope, period, moment).summary,
        "pipeline": pipeline_report(session, scope, period, moment).summary,
        "win_rate": win_rate_report(session, scope, period, moment).summary,
        "cycle": cycle_report(session, scope, period, moment).summary,
        "projection": methods.get(PROJECTION),
        "call": methods.get(PEOPLE),
        "risk": risk,
        "risk_flags": RISK_FLAGS,
        "risk_labels": RISK_LABELS,
        "risk_help": RISK_HELP,
        "leaders": leaderboard.rows[:LEADERS],
        "show_leaderboard": scope.kind != ScopeKind.REP,
    }
    return templates.TemplateResponse(request, "dashboard.html", context)


def _heading(kind: ScopeKind, name: str) -> str:
    if kind == ScopeKind.ORG:
        return "This quarter — whole org"
    if kind == ScopeKind.TEAM:
        return f"This quarter — {name.replace('Team of', 'team of')}"
    return "Your quarter"

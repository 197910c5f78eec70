"""The forecast projection over HTTP: the numbers kept by `topline forecast snapshot` for a
scope, as they stood on a day, and how the kept numbers of ended periods did.

Projections are computed by the daily snapshot job, not per request (fitting takes tens of
seconds); a scope without a kept projection is 404 `no_forecast_kept`. The scope is chosen as
for reports: `team_of` a manager, or `rep_id`; by default all the caller may see.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from topline.analytics.scope import ScopeKind, resolve_scope
from topline.auth.models import User
from topline.clock import utcnow
from topline.errors import NotFound
from topline.forecasting.schemas import ForecastAccuracyReport, ProjectionReport
from topline.forecasting.snapshots import (
    ForecastScope,
    latest_snapshots,
    scope_of,
    snapshot_json,
    tracked_accuracy,
)
from topline.web.api.common import ApiUser, errors
from topline.web.api.reports import AsOf, RepId, TeamOf
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/forecast", tags=["forecasts"], route_class=TransactionRoute)


class NoForecastKept(NotFound):
    code = "no_forecast_kept"


def _scope(session: Session, user: User, team_of: int | None, rep_id: int | None) -> ForecastScope:
    """The forecast scope asked for, if the caller may see it."""
    scope = resolve_scope(session, user, team_of=team_of, rep_id=rep_id)
    if scope.kind == ScopeKind.ORG or scope.user_id is None:
        return ForecastScope.org()
    person = session.get(User, scope.user_id)
    return scope_of(session, person)


@router.get(
    "/projection",
    response_model=ProjectionReport,
    responses=errors(404),
)
def get_projection(
    session: DbSession,
    user: ApiUser,
    as_of: AsOf = None,
    team_of: TeamOf = None,
    rep_id: RepId = None,
) -> ProjectionReport:
    """The fiscal quarter's forecast as kept on the latest day up to `as_of`: every method's
    number, the projection's P10 / P50 / P90 and the deals that move it most."""
    scope = _scope(session, user, team_of, rep_id)
    moment = as_of or utcnow()
    rows = [snapshot_json(row) for row in latest_snapshots(session, scope, moment)]
    if not rows:
        raise NoForecastKept(
            f"no forecast kept for {scope.key} by {moment:%Y-%m-%d}; "
            "`topline forecast snapshot` keeps one daily"
        )
    return ProjectionReport.model_validate(_projection(rows))


def _projection(rows: list[dict[str, Any]]) -> dict[str, Any]:
    first = rows[0]
    ranged = next((row for row in rows if row["method"] == "projection"), None)
    details = (ranged or first).get("details") or {}
    shortage = next(
        ((row.get("details") or {}).get("shortage") for row in rows if row.get("details")), None
    )
    return {
        **{key: first[key] for key in ("period_start", "period_end", "taken_on", "taken_at")},
        "scope": first["scope"],
        "won_cents": first["won_cents"],
        "open_deals": first["open_deals"],
        "new_deals_cents": details.get("new_deals_cents"),
        "shortage": shortage,
        "methods": rows,
        "drivers": details.get("drivers", []),
    }


@router.get("/accuracy", response_model=ForecastAccuracyReport, responses=errors(404))
def get_accuracy(
    session: DbSession,
    user: ApiUser,
    as_of: AsOf = None,
    team_of: TeamOf = None,
    rep_id: RepId = None,
) -> ForecastAccuracyReport:
    """How the kept forecasts of the periods ended by `as_of` did: per method and horizon
    (weeks into the period), the mean absolute percentage error, the bias and, for the
    projection, the share of actuals inside P10–P90."""
    scope = _scope(session, user, team_of, rep_id)
    tracked = tracked_accuracy(session, scope, as_of or utcnow())
    return ForecastAccuracyReport.model_validate(tracked.to_json())

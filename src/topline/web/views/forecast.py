"""The forecast page: the viewer's number for the quarter, the projection with its range and
the deals behind it, the call of everyone below them, and how past forecasts did.

A manager sees their reporting subtree, a rep their own number, an admin the whole org; the
call roll-up, the kept projection and the accuracy all come from the same service functions
as the API. The viewer submits their own call from the page (prefilled from their deals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import plotly.graph_objects as go
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from topline import access
from topline.analytics.periods import Period, PeriodKind, period_containing
from topline.analytics.reports import fiscal_start_month
from topline.auth.enums import Role
from topline.auth.models import User
from topline.clock import utcnow
from topline.crm.models import Deal
from topline.errors import PermissionDenied
from topline.forecasting.calls import (
    CallAmounts,
    RollupNode,
    call_history,
    forecast_rollup,
    prefill,
)
from topline.forecasting.models import ForecastSnapshot
from topline.forecasting.projection import PEOPLE, PROJECTION
from topline.forecasting.schemas import ForecastSubmissionRead
from topline.forecasting.service import submit_forecast
from topline.forecasting.snapshots import (
    HORIZON_WEEKS,
    latest_snapshots,
    scope_of,
    snapshot_history,
    snapshot_json,
    tracked_accuracy,
)
from topline.storage.sql import names_by_id
from topline.types import MAX_ID
from topline.web.api.common import audit
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates
from topline.web.views.common import AsOfDay, end_of_day

router = APIRouter(route_class=TransactionRoute)

METHOD_NAMES = {
    PROJECTION: "Projection (per-deal model)",
    PEOPLE: "Forecast call (commit)",
    "stage_weighted": "Stage-weighted pipeline",
    "historical_conversion": "Historical conversion",
    "category_rollup": "Category roll-up",
}
# The glossary term defining each method, for its tooltip.
METHOD_TERMS = {
    PROJECTION: "projection",
    PEOPLE: "forecast-call",
    "stage_weighted": "stage-weighted",
    "historical_conversion": "historical-conversion",
    "category_rollup": "category-rollup",
}
# Cumulative amounts of a call, as the form names them.
CALL_FIELDS = ("commit", "best_case", "pipeline")
CALL_LABELS = {"commit": "Commit", "best_case": "Best case", "pipeline": "Pipeline"}


@dataclass
class CallForm:
    """What the viewer typed into a call form, and what was wrong with it. `user_id` is whose
    number a manager's adjustment is for; None for the viewer's own call."""

    values: dict[str, str]
    note: str
    errors: dict[str, str]
    user_id: int | None = None

    @classmethod
    def prefilled(cls, amounts: CallAmounts) -> CallForm:
        return cls(
            {
                "commit": _dollars(amounts.commit_cents),
                "best_case": _dollars(amounts.best_case_cents),
                "pipeline": _dollars(amounts.pipeline_cents),
            },
            "",
            {},
        )


def _dollars(cents: int) -> str:
    return f"{cents / 100:.2f}".removesuffix(".00")


def _quarter(session: Session, moment: datetime) -> Period:
    return period_containing(moment.date(), PeriodKind.QUARTER, fiscal_start_month(session))


def _period_label(period: Period, fiscal_month: int) -> str:
    """A kept period's name: its fiscal quarter's when it is one, else its dates."""
    quarter = period_containing(period.start, PeriodKind.QUARTER, fiscal_month)
    if (quarter.start, quarter.end) == (period.start, period.end):
        return quarter.label
    return period.label


@router.get("/forecast", response_class=HTMLResponse)
def forecast_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    as_of: AsOfDay = None,
    saved: bool = False,
) -> HTMLResponse:
    """The quarter's forecast for what the viewer may see, and their call, as it stood at the
    end of `as_of` (default now)."""
    moment = end_of_day(as_of)
    period = _quarter(session, moment)
    form = CallForm.prefilled(prefill(session, user, period, moment))
    return _render(request, session, user, period, moment, form, saved=saved)


@router.post("/forecast/call", response_class=HTMLResponse, response_model=None)
def submit_call(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    commit: Annotated[str, Form()] = "",
    best_case: Annotated[str, Form()] = "",
    pipeline: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=5000)] = "",
    user_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Submit the viewer's own call for the quarter, or (a manager) adjust the number of
    someone below them (`user_id`); errors keep what was typed."""
    now = utcnow()
    period = _quarter(session, now)
    if user_id is not None and user_id != user.id and user.role == Role.REP:
        raise PermissionDenied("reps call only their own number")
    target = user if user_id is None else access.get_visible(session, User, user_id, user)
    typed = {"commit": commit, "best_case": best_case, "pipeline": pipeline}
    cents, errors = _parse_call(typed)
    if len(note) > 2000:
        errors["note"] = "Keep the note under 2,000 characters."
    if not errors:
        submission = submit_forecast(
            session,
            submitted_by=user,
            user=target,
            period_start=period.start,
            period_end=period.end,
            commit_cents=cents["commit"],
            best_case_cents=cents["best_case"],
            pipeline_cents=cents["pipeline"],
            note=note.strip() or None,
        )
        after = ForecastSubmissionRead.model_validate(submission)
        audit(session, user, action="submit", entity="forecast_submission",
              entity_id=submission.id, after=after)  # fmt: skip
        return RedirectResponse("/forecast?saved=true", status_code=303)
    failed = CallForm(typed, note, errors, None if target.id == user.id else target.id)
    if failed.user_id is None:
        return _render(request, session, user, period, now, failed, status_code=422)
    own = CallForm.prefilled(prefill(session, user, period, now))
    return _render(request, session, user, period, now, own, adjusting=failed, status_code=422)


def _parse_call(typed: dict[str, str]) -> tuple[dict[str, int], dict[str, str]]:
    """Dollar amounts to cents, each a non-negative number, commit ≤ best case ≤ pipeline."""
    cents: dict[str, int] = {}
    errors: dict[str, str] = {}
    for name in CALL_FIELDS:
        text = typed[name].strip().replace(",", "").removeprefix("$")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            errors[name] = "Enter an amount in dollars, such as 125000."
            continue
        if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 15:
            errors[name] = "Enter an amount of zero or more dollars."
            continue
        cents[name] = int((amount * 100).to_integral_value())
    if not errors:
        if cents["best_case"] < cents["commit"]:
            errors["best_case"] = "Best case includes the commit, so it cannot be lower."
        if cents["pipeline"] < cents["best_case"]:
            errors["pipeline"] = "Pipeline includes the best case, so it cannot be lower."
    return cents, errors


def _render(
    request: Request,
    session: Session,
    user: User,
    period: Period,
    now: datetime,
    form: CallForm,
    *,
    adjusting: CallForm | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    scope = scope_of(session, user)
    kept = [snapshot_json(row) for row in latest_snapshots(session, scope, now)]
    projection = next((row for row in kept if row["method"] == PROJECTION), None)
    rollup = forecast_rollup(session, user, user, period, now)
    accuracy = tracked_accuracy(session, scope, now)
    calls = call_history(session, user.id, period, now)
    context: dict[str, Any] = {
        "history_figure": _history_figure(snapshot_history(session, scope, period, now)),
        "calls": calls,
        "callers": names_by_id(session, User, {call.submitted_by_id for call in calls}),
        "past_points": [
            (_period_label(point.period, period.fiscal_start_month), point)
            for point in sorted(
                accuracy.points, key=lambda p: (-p.period.start.toordinal(), p.horizon_weeks)
            )
        ],
        "heading": _heading(user),
        "period": period,
        "kept": kept,
        "projection": projection,
        "people": next((row for row in kept if row["method"] == PEOPLE), None),
        "details": (projection or {}).get("details") or {},
        "shortage": next(
            ((row.get("details") or {}).get("shortage") for row in kept if row.get("details")),
            None,
        ),
        "rollup": rollup.root,
        "accuracy": accuracy,
        "horizons": HORIZON_WEEKS,
        "method_names": METHOD_NAMES,
        "method_terms": METHOD_TERMS,
        "form": form,
        "adjusting": adjusting,
        "adjust_values": _effective_values(rollup.root),
        "can_adjust": user.role != Role.REP and not (now < utcnow() - timedelta(minutes=1)),
        "call_fields": CALL_FIELDS,
        "call_labels": CALL_LABELS,
        "saved": saved,
        "as_of": now,
        "is_past": now < utcnow() - timedelta(minutes=1),
        "deal_names": _deal_names(session, projection),
    }
    return templates.TemplateResponse(
        request, "forecast/forecast.html", context, status_code=status_code
    )


HISTORY_LINES = (
    (PEOPLE, "Forecast call", "#7a4b00", "solid"),
    ("stage_weighted", "Stage-weighted", "#4f5b6b", "dot"),
)


def _history_figure(rows: list[ForecastSnapshot]) -> str | None:
    """How the quarter's forecast moved, day by day, as Plotly JSON: the projection with its
    P10–P90 band, the call, the stage-weighted pipeline and the amount won so far. None until
    two days have been kept."""
    days = sorted({row.taken_on for row in rows})
    if len(days) < 2:
        return None
    by_method: dict[str, dict[Any, ForecastSnapshot]] = {}
    for row in rows:
        by_method.setdefault(row.method, {})[row.taken_on] = row

    def series(method: str, field: str) -> list[float | None]:
        kept = by_method.get(method, {})
        values = [getattr(kept[day], field) if day in kept else None for day in days]
        return [None if value is None else value / 100 for value in values]

    x = [day.isoformat() for day in days]
    traces: list[Any] = []
    if PROJECTION in by_method:
        traces += [
            go.Scatter(x=x, y=series(PROJECTION, "p90_cents"), name="P90", mode="lines",
                       line={"width": 0}, showlegend=False, hoverinfo="skip"),
            go.Scatter(x=x, y=series(PROJECTION, "p10_cents"), name="P10–P90", mode="lines",
                       line={"width": 0}, fill="tonexty", fillcolor="rgba(31,79,209,0.15)"),
            go.Scatter(x=x, y=series(PROJECTION, "expected_cents"), name="Projection",
                       mode="lines", line={"color": "#1f4fd1", "width": 3}),
        ]  # fmt: skip
    for method, label, color, dash in HISTORY_LINES:
        if method in by_method:
            traces.append(
                go.Scatter(x=x, y=series(method, "expected_cents"), name=label, mode="lines",
                           line={"color": color, "dash": dash})
            )  # fmt: skip
    any_method = next(iter(by_method))
    traces.append(
        go.Scatter(x=x, y=series(any_method, "won_cents"), name="Won so far", mode="lines",
                   line={"color": "#14633a", "width": 2})
    )  # fmt: skip
    figure = go.Figure(
        traces,
        layout={
            "height": 300,
            "margin": {"l": 70, "r": 20, "t": 10, "b": 40},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "legend": {"orientation": "h", "y": -0.2},
            "yaxis": {"tickprefix": "$", "rangemode": "tozero"},
        },
    )
    return str(figure.to_json())


def _effective_values(root: RollupNode) -> dict[int, dict[str, str]]:
    """Each person's effective call as the adjustment form shows it (dollars), by user id."""
    values: dict[int, dict[str, str]] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        call = node.effective_call
        if call is not None:
            values[node.user.id] = CallForm.prefilled(CallAmounts.of(call)).values
    return values


def _deal_names(session: Session, projection: dict[str, Any] | None) -> dict[int, str]:
    """The names of the deals that drive the projection (one query)."""
    drivers = ((projection or {}).get("details") or {}).get("drivers") or []
    return names_by_id(session, Deal, [driver["deal_id"] for driver in drivers])


def _heading(viewer: User) -> str:
    if viewer.role == Role.ADMIN:
        return "Forecast — whole org"
    if viewer.role == Role.MANAGER:
        return f"Forecast — team of {viewer.name}"
    return "Your forecast"

"""A deal's page: its details, the timeline of every recorded change, its activities, its win
probability with the reasons, its warning signs, and a form to log a call, email, meeting or
note on it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.models import User
from topline.clock import utcnow
from topline.crm.activities import log_activity
from topline.crm.enums import ActivityType
from topline.crm.history import deal_history
from topline.crm.models import Account, Activity, Deal, DealHistory, Stage
from topline.crm.queries import deals_at_risk
from topline.crm.schemas import ActivityRead
from topline.scoring.service import DealScoreNotFound, deal_score
from topline.types import MAX_ID
from topline.web.api.common import audit
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates
from topline.web.views.common import names_by_id

router = APIRouter(route_class=TransactionRoute)

DealId = Annotated[int, Path(ge=1, le=MAX_ID)]
LOGGABLE = (ActivityType.CALL, ActivityType.EMAIL, ActivityType.MEETING, ActivityType.NOTE)
RECENT_ACTIVITIES = 50


@router.get("/deals/{deal_id}", response_class=HTMLResponse)
def deal_page(
    request: Request, session: DbSession, user: CurrentUser, deal_id: DealId
) -> HTMLResponse:
    """One deal the viewer may see (else 404)."""
    deal = access.get_visible(session, Deal, deal_id, user)
    return _render(request, session, user, deal, logged=request.query_params.get("logged"))


@router.post("/deals/{deal_id}/activities", response_class=HTMLResponse, response_model=None)
def log_on_deal(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    deal_id: DealId,
    type: Annotated[str, Form()] = "call",
    subject: Annotated[str, Form(max_length=1000)] = "",
    body: Annotated[str, Form(max_length=20000)] = "",
    outcome: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Log a touch on the deal as the viewer, now; mistakes keep what was typed."""
    deal = access.get_visible(session, Deal, deal_id, user)
    errors: dict[str, str] = {}
    kind = next((k for k in LOGGABLE if k.value == type), None)
    if kind is None:
        errors["type"] = "Choose a call, email, meeting or note."
    if not subject.strip():
        errors["subject"] = "Say in a few words what happened."
    elif len(subject.strip()) > 300:
        errors["subject"] = "Keep the subject under 300 characters."
    if len(outcome.strip()) > 100:
        errors["outcome"] = "Keep the outcome under 100 characters."
    if errors or kind is None:
        typed = {"type": type, "subject": subject, "body": body, "outcome": outcome}
        return _render(request, session, user, deal, form=typed, errors=errors, status_code=422)
    activity = log_activity(
        session,
        user=user,
        type=kind,
        subject=subject.strip(),
        occurred_at=utcnow(),
        deal=deal,
        body=body.strip() or None,
        outcome=outcome.strip() or None,
    )
    created = ActivityRead.model_validate(activity)
    audit(session, user, action="create", entity="activity", entity_id=activity.id, after=created)
    return RedirectResponse(f"/deals/{deal.id}?logged=1", status_code=303)


def _render(
    request: Request,
    session: Session,
    user: User,
    deal: Deal,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    logged: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    rows = deal_history(session, deal.id)
    names = _names(session, deal, rows)
    activities = session.execute(
        select(Activity, User.name)
        .join(User, User.id == Activity.user_id)
        .where(Activity.deal_id == deal.id)
        .order_by(Activity.occurred_at.desc(), Activity.id.desc())
        .limit(RECENT_ACTIVITIES)
    ).all()
    try:
        score = deal_score(session, deal)
    except DealScoreNotFound:
        score = None
    risk = deals_at_risk(session, owner_ids=None, now=utcnow(), deal_ids=[deal.id])
    flags = risk.deals[0].flags if risk.deals else ()
    context: dict[str, Any] = {
        "deal": deal,
        "names": names,
        "timeline": _timeline(rows, names),
        "activities": activities,
        "score": score,
        "flags": flags,
        "loggable": [kind.value for kind in LOGGABLE],
        "form": form or {"type": "call", "subject": "", "body": "", "outcome": ""},
        "errors": errors or {},
        "logged": logged == "1",
    }
    return templates.TemplateResponse(request, "crm/deal.html", context, status_code=status_code)


def _names(session: Session, deal: Deal, rows: list[DealHistory]) -> dict[str, dict[int, str]]:
    """The names of the stages, people and account the deal and its history name (3 queries)."""
    stage_ids = {row.stage_id for row in rows} | {deal.stage_id}
    people = {row.owner_id for row in rows} | {
        row.changed_by_id for row in rows if row.changed_by_id
    }
    people.add(deal.owner_id)

    return {
        "stages": names_by_id(session, Stage, stage_ids),
        "people": names_by_id(session, User, people),
        "accounts": names_by_id(session, Account, [deal.account_id]),
    }


def _timeline(rows: list[DealHistory], names: dict[str, dict[int, str]]) -> list[dict[str, Any]]:
    """Each recorded change, newest first, said as what changed."""
    events = []
    previous: DealHistory | None = None
    for row in rows:
        changes: list[str] = []
        if previous is None:
            changes.append(f"Created in {names['stages'].get(row.stage_id, '?')}")
        else:
            if row.stage_id != previous.stage_id:
                changes.append(
                    f"Stage {names['stages'].get(previous.stage_id, '?')} → "
                    f"{names['stages'].get(row.stage_id, '?')}"
                )
            if row.amount_cents != previous.amount_cents:
                changes.append(
                    f"Amount {_dollars(previous.amount_cents)} → {_dollars(row.amount_cents)}"
                )
            if row.close_date != previous.close_date:
                direction = "pushed" if row.close_date > previous.close_date else "pulled in"
                changes.append(
                    f"Close date {direction}: {previous.close_date:%b %-d, %Y} → "
                    f"{row.close_date:%b %-d, %Y}"
                )
            if row.forecast_category != previous.forecast_category:
                changes.append(
                    f"Forecast category {previous.forecast_category.value.replace('_', ' ')} → "
                    f"{row.forecast_category.value.replace('_', ' ')}"
                )
            if row.owner_id != previous.owner_id:
                changes.append(
                    f"Owner {names['people'].get(previous.owner_id, '?')} → "
                    f"{names['people'].get(row.owner_id, '?')}"
                )
        events.append(
            {
                "at": row.valid_from,
                "by": names["people"].get(row.changed_by_id, "") if row.changed_by_id else "",
                "changes": changes or ["Recorded without a tracked change"],
            }
        )
        previous = row
    return events[::-1]


def _dollars(cents: int) -> str:
    return f"${cents / 100:,.0f}"

"""A deal's page: its details (edited in place, against the version the editor read), the
buying committee at its account, the timeline of every recorded change, its activities, its
win probability with the reasons, its warning signs, and a form to log a call, email, meeting
or note on it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.models import User
from topline.clock import utcnow
from topline.crm import deals as deal_service
from topline.crm.activities import log_activity
from topline.crm.enums import ActivityType, ForecastCategory, StageType
from topline.crm.errors import StaleDeal
from topline.crm.history import deal_history
from topline.crm.models import Account, Activity, Contact, Deal, DealHistory, Stage
from topline.crm.queries import deals_at_risk
from topline.crm.schemas import ActivityRead, DealUpdate
from topline.errors import ToplineError
from topline.scoring.service import DealScoreNotFound, deal_score
from topline.storage.sql import names_by_id
from topline.types import MAX_ID
from topline.web.api.common import audit
from topline.web.api.deals import act_on_deal
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates
from topline.web.views.common import RISK_LABELS

router = APIRouter(route_class=TransactionRoute)

DealId = Annotated[int, Path(ge=1, le=MAX_ID)]
LOGGABLE = (ActivityType.CALL, ActivityType.EMAIL, ActivityType.MEETING, ActivityType.NOTE)
RECENT_ACTIVITIES = 50
COMMITTEE_SIZE = 50
EDITABLE = ("name", "amount", "close_date", "forecast_category", "next_step")
CATEGORIES = [
    ForecastCategory.PIPELINE, ForecastCategory.BEST_CASE, ForecastCategory.COMMIT,
    ForecastCategory.OMITTED,
]  # fmt: skip


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


@router.post("/deals/{deal_id}/edit", response_class=HTMLResponse, response_model=None)
def edit_deal(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    deal_id: DealId,
    version: Annotated[int, Form(ge=1)],
    name: Annotated[str, Form(max_length=1000)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    close_date: Annotated[str, Form(max_length=20)] = "",
    forecast_category: Annotated[str, Form(max_length=20)] = "",
    next_step: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Change the deal's details at the version the editor read, as the API's edit does
    (editable-by rule, history, audit). Mistakes keep what was typed; when someone else changed
    the deal meanwhile nothing is saved and the page shows their change beside what was typed,
    to be submitted again on top of it."""
    deal = access.get_visible(session, Deal, deal_id, user)
    typed = {
        "name": name, "amount": amount, "close_date": close_date,
        "forecast_category": forecast_category, "next_step": next_step,
    }  # fmt: skip
    changes, errors = _parse_edit(deal, typed)
    if errors:
        return _render(request, session, user, deal, edit=typed, edit_errors=errors,
                       edit_version=version, status_code=422)  # fmt: skip
    if not changes.model_fields_set:
        return RedirectResponse(f"/deals/{deal.id}", status_code=303)
    try:
        act_on_deal(
            session, user, deal.id, version, "update",
            lambda found: deal_service.update_deal(
                session, found, changes=changes, actor=user, expected_version=version
            ),
        )  # fmt: skip
    except StaleDeal as stale:
        session.refresh(deal)
        return _render(request, session, user, deal, edit=typed, edit_version=deal.version,
                       edit_conflict=stale.message, status_code=409)  # fmt: skip
    except ToplineError as error:
        field = (error.details or {}).get("field")
        problem = {field if field in EDITABLE else "form": error.message}
        return _render(request, session, user, deal, edit=typed, edit_errors=problem,
                       edit_version=version, status_code=error.status_code)  # fmt: skip
    return RedirectResponse(f"/deals/{deal.id}?edited=1", status_code=303)


def _parse_edit(deal: Deal, typed: dict[str, str]) -> tuple[DealUpdate, dict[str, str]]:
    """The fields that differ from the deal, checked; or what is wrong with each."""
    errors: dict[str, str] = {}
    changed: dict[str, Any] = {}
    name = " ".join(typed["name"].split())
    if not name:
        errors["name"] = "Give the deal a name."
    elif len(name) > 300:
        errors["name"] = "Keep the name under 300 characters."
    elif name != deal.name:
        changed["name"] = name
    try:
        dollars = Decimal(typed["amount"].strip().replace(",", "").removeprefix("$"))
        if not dollars.is_finite() or dollars < 0 or dollars >= Decimal(10) ** 15:
            raise InvalidOperation
        cents = int((dollars * 100).to_integral_value())
        if cents != deal.amount_cents:
            changed["amount_cents"] = cents
    except InvalidOperation:
        errors["amount"] = "Enter an amount of zero or more dollars, such as 12500."
    try:
        day = date.fromisoformat(typed["close_date"].strip())
        if day != deal.close_date:
            changed["close_date"] = day
    except ValueError:
        errors["close_date"] = "Enter the expected close date as YYYY-MM-DD."
    category = next((c for c in CATEGORIES if c.value == typed["forecast_category"]), None)
    if category is None:
        errors["forecast_category"] = "Choose pipeline, best case, commit or omitted."
    elif category != deal.forecast_category:
        changed["forecast_category"] = category
    next_step = typed["next_step"].strip()
    if len(next_step) > 500:
        errors["next_step"] = "Keep the next step under 500 characters."
    elif (next_step or None) != deal.next_step:
        changed["next_step"] = next_step or None
    if errors:
        return DealUpdate(), errors
    return DealUpdate(**changed), {}


def _render(
    request: Request,
    session: Session,
    user: User,
    deal: Deal,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    logged: str | None = None,
    edit: dict[str, str] | None = None,
    edit_errors: dict[str, str] | None = None,
    edit_version: int | None = None,
    edit_conflict: str | None = None,
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
    stage_type = session.scalar(select(Stage.type).where(Stage.id == deal.stage_id))
    context: dict[str, Any] = {
        "committee": _committee(session, deal),
        "risk_labels": RISK_LABELS,
        "can_edit": stage_type == StageType.OPEN and _may_edit(user, deal),
        "categories": [category.value for category in CATEGORIES],
        "edit": edit or _current_values(deal),
        "edit_errors": edit_errors or {},
        "edit_version": edit_version or deal.version,
        "edit_conflict": edit_conflict,
        "current": _current_values(deal),
        "edited": request.query_params.get("edited") == "1",
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


def _may_edit(user: User, deal: Deal) -> bool:
    try:
        access.require_editable(user, deal)
    except ToplineError:
        return False
    return True


def _current_values(deal: Deal) -> dict[str, str]:
    """The deal's editable fields as the edit form shows them."""
    return {
        "name": deal.name,
        "amount": f"{deal.amount_cents / 100:.2f}".removesuffix(".00"),
        "close_date": deal.close_date.isoformat(),
        "forecast_category": deal.forecast_category.value,
        "next_step": deal.next_step or "",
    }


def _committee(session: Session, deal: Deal) -> list[Contact]:
    """The people at the deal's account, its main contact first, then by buying role and name
    (one query; none without an account)."""
    if deal.account_id is None:
        return []
    contacts = session.scalars(
        select(Contact).where(Contact.account_id == deal.account_id).limit(COMMITTEE_SIZE)
    ).all()
    return sorted(
        contacts,
        key=lambda c: (
            c.id != deal.contact_id, c.buying_role is None,
            c.buying_role.value if c.buying_role else "", c.last_name.casefold(), c.id,
        ),
    )  # fmt: skip


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

"""The lead queue: the leads the viewer may see with their status, BANT and source, and the
steps a lead takes — start working it, qualify it (MQL, or SQL with BANT), disqualify it with a
reason, convert it into an account, a contact and a deal."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.models import User
from topline.clock import utcnow
from topline.crm import leads as lead_service
from topline.crm.enums import LeadStatus
from topline.crm.errors import InvalidLead, StaleLead
from topline.crm.models import Lead
from topline.crm.schemas import AccountRead, ContactRead, DealRead, LeadRead
from topline.errors import ToplineError
from topline.types import MAX_ID
from topline.web.api.common import audit, change_versioned
from topline.web.api.leads import act_on_lead
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates

router = APIRouter(route_class=TransactionRoute)

QUEUE_SIZE = 100
ACTIONS = ("work", "mql", "sql", "disqualify", "convert")
OPEN = [status.value for status in LeadStatus if status in lead_service.OPEN_STATUSES]


@router.get("/leads", response_class=HTMLResponse)
def leads_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    status: Annotated[LeadStatus | None, Query()] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """The open leads (or those of one status), newest first."""
    return _render(request, session, user, status, done=done)


@router.post("/leads/{lead_id}", response_class=HTMLResponse, response_model=None)
def lead_step(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    lead_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    action: Annotated[str, Form()],
    version: Annotated[int, Form(ge=1)],
    reason: Annotated[str, Form(max_length=1000)] = "",
    budget: Annotated[bool, Form()] = False,
    authority: Annotated[bool, Form()] = False,
    need: Annotated[bool, Form()] = False,
    timeline: Annotated[bool, Form()] = False,
    amount: Annotated[str, Form(max_length=40)] = "",
    close_date: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """One step of a lead's way; a refused step says why and changes nothing."""
    lead = access.get_visible(session, Lead, lead_id, user)
    try:
        access.require_editable(user, lead)
        _step(session, user, lead, action, version, reason=reason, amount=amount,
              close_date=close_date, bant=(budget, authority, need, timeline))  # fmt: skip
    except ToplineError as error:
        return _render(
            request, session, user, None, problem=(lead_id, error.message),
            status_code=error.status_code,
        )  # fmt: skip
    return RedirectResponse(f"/leads?done={action}", status_code=303)


def _step(
    session: Session,
    user: User,
    lead: Lead,
    action: str,
    version: int,
    *,
    reason: str,
    amount: str,
    close_date: str,
    bant: tuple[bool, bool, bool, bool],
) -> None:
    """Apply one step at the version the viewer read and record it in the audit log, as the
    API does; a refused step runs in a savepoint and leaves no trace."""
    if action not in ACTIONS:
        raise InvalidLead(f"unknown step {action!r}")
    if action == "convert":
        cents, day = _conversion(amount, close_date)
        before, done = change_versioned(
            session, lead, version, read=LeadRead, stale=StaleLead,
            change=lambda: lead_service.convert_lead(
                session, lead, actor=user, owner=user,
                deal_name=f"{lead.company} – new business", amount_cents=cents, close_date=day,
                expected_version=version,
            ),
        )  # fmt: skip
        created = (
            ("account", AccountRead.model_validate(done.account)),
            ("contact", ContactRead.model_validate(done.contact)),
            ("deal", DealRead.model_validate(done.deal)),
        )
        for entity, record in created:
            audit(session, user, action="create", entity=entity, entity_id=record.id, after=record)
        after = LeadRead.model_validate(done.lead)
        audit(session, user, action="convert", entity="lead", entity_id=lead.id, before=before,
              after=after)  # fmt: skip
        return
    budget, authority, need, timeline = bant

    def change(lead: Lead) -> Lead:
        if action == "work":
            return lead_service.start_working_lead(
                session, lead, owner=user, expected_version=version
            )
        if action == "disqualify":
            return lead_service.disqualify_lead(
                session, lead, reason=reason, actor=user, expected_version=version
            )
        return lead_service.qualify_lead(
            session, lead, level=LeadStatus(action), actor=user, budget=budget,
            authority=authority, need=need, timeline=timeline, expected_version=version,
        )  # fmt: skip

    audit_action = "qualify" if action in ("mql", "sql") else action
    act_on_lead(session, user, lead.id, version, audit_action, change)


def _conversion(amount: str, close_date: str) -> tuple[int, date]:
    """The new deal's amount (dollars) and close date, as typed."""
    try:
        dollars = Decimal(amount.strip().replace(",", "").removeprefix("$") or "0")
    except InvalidOperation:
        raise InvalidLead("the deal's amount must be a number of dollars") from None
    if not dollars.is_finite() or dollars < 0 or dollars >= Decimal(10) ** 15:
        raise InvalidLead("the deal's amount must be zero or more dollars")
    try:
        day = date.fromisoformat(close_date) if close_date else utcnow().date() + timedelta(days=90)
    except ValueError:
        raise InvalidLead("the close date must be a date such as 2026-03-31") from None
    return int((dollars * 100).to_integral_value()), day


def _render(
    request: Request,
    session: Session,
    user: User,
    status: LeadStatus | None,
    *,
    done: str | None = None,
    problem: tuple[int, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    stmt = access.scoped(select(Lead), Lead, user)
    if status is None:
        stmt = stmt.where(Lead.status.in_(lead_service.OPEN_STATUSES))
    else:
        stmt = stmt.where(Lead.status == status)
    leads = list(
        session.scalars(stmt.order_by(Lead.created_at.desc(), Lead.id.desc()).limit(QUEUE_SIZE))
    )
    owner_ids = {lead.owner_id for lead in leads if lead.owner_id}
    owners = (
        {
            row[0]: row[1]
            for row in session.execute(select(User.id, User.name).where(User.id.in_(owner_ids)))
        }
        if owner_ids
        else {}
    )
    context: dict[str, Any] = {
        "leads": leads,
        "owners": owners,
        "status": status.value if status else None,
        "statuses": [s.value for s in LeadStatus],
        "open_statuses": OPEN,
        "done": done if done in ACTIONS else None,
        "problem": problem,
        "default_close": utcnow().date() + timedelta(days=90),
    }
    return templates.TemplateResponse(request, "crm/leads.html", context, status_code=status_code)

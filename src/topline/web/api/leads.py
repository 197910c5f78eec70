"""Leads over HTTP: capture, work, qualify, disqualify and convert prospects.

Reps act only on their own leads; managers on the leads of their team and on unassigned leads,
which they route.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm import leads as lead_service
from topline.crm.enums import LeadStatus
from topline.crm.errors import StaleLead
from topline.crm.models import Account, Lead, Stage
from topline.crm.schemas import (
    AccountRead,
    ContactRead,
    DealRead,
    LeadConversionRead,
    LeadConvert,
    LeadCreate,
    LeadDisqualify,
    LeadQualify,
    LeadRead,
    LeadWork,
)
from topline.errors import MissingReference, PermissionDenied
from topline.exporters.tables import ExportFormat
from topline.types import MAX_ID, IsoDateTime, Text
from topline.web.api.common import (
    ApiCaller,
    ApiUser,
    Cursor,
    Limit,
    Page,
    WithTotal,
    audit,
    change_versioned,
    errors,
    paginate,
)
from topline.web.api.exports import export_columns, export_response, export_responses
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute, reads_one_record

router = APIRouter(prefix="/leads", tags=["leads"], route_class=TransactionRoute)

LeadId = Annotated[int, Path(ge=1, le=MAX_ID, description="Lead id.")]
IdList = Annotated[list[Annotated[int, Query(ge=1, le=MAX_ID)]] | None, Query()]
LeadSort = Literal["created_at", "-created_at", "last_name", "-last_name", "id", "-id"]
SORT_COLUMNS = {"created_at": Lead.created_at, "last_name": Lead.last_name, "id": Lead.id}


@router.get("", response_model=Page[LeadRead], responses=errors(404))
def list_leads(
    session: DbSession,
    user: ApiUser,
    owner_id: IdList = None,
    unassigned: Annotated[
        bool | None, Query(description="Only leads nobody owns yet (true) or only owned ones.")
    ] = None,
    status_: Annotated[list[LeadStatus] | None, Query(alias="status")] = None,
    source: Annotated[Text | None, Query(min_length=1, max_length=50)] = None,
    created_from: IsoDateTime | None = None,
    created_to: Annotated[IsoDateTime | None, Query(description="Exclusive.")] = None,
    q: Annotated[
        Text | None,
        Query(min_length=1, max_length=100, description="Name, company or email contains."),
    ] = None,
    sort: LeadSort = "-created_at",
    cursor: Cursor = None,
    limit: Limit = 50,
    with_total: WithTotal = True,
) -> Page[LeadRead]:
    """Leads the caller may see, newest first unless sorted otherwise, one page at a time."""
    stmt = _leads_query(
        user, owner_id=owner_id, unassigned=unassigned, status_=status_, source=source,
        created_from=created_from, created_to=created_to, q=q,
    )  # fmt: skip
    rows, next_cursor, total = paginate(
        session,
        stmt,
        sort_column=SORT_COLUMNS[sort.lstrip("-")],
        id_column=Lead.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
        with_total=with_total,
        mappings=True,
    )
    return Page[LeadRead](
        items=[LeadRead.model_validate(lead) for lead in rows], next_cursor=next_cursor, total=total
    )


def _leads_query(
    user: User,
    *,
    owner_id: list[int] | None,
    unassigned: bool | None,
    status_: list[LeadStatus] | None,
    source: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    q: str | None,
) -> Select[Any]:
    """The columns of the leads the caller may see, filtered (for the list and the export)."""
    stmt = access.scoped(select(Lead.__table__), Lead, user)
    if owner_id:
        stmt = stmt.where(Lead.owner_id.in_(owner_id))
    if unassigned is not None:
        stmt = stmt.where(Lead.owner_id.is_(None) if unassigned else Lead.owner_id.is_not(None))
    if status_:
        stmt = stmt.where(Lead.status.in_(status_))
    if source is not None:
        # Sources are stored trimmed and lowercase.
        stmt = stmt.where(Lead.source == source.strip().lower())
    if created_from is not None:
        stmt = stmt.where(Lead.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(Lead.created_at < created_to)
    if q is not None:
        stmt = stmt.where(
            or_(
                *(
                    column.icontains(q, autoescape=True)
                    for column in (Lead.first_name, Lead.last_name, Lead.company, Lead.email)
                )
            )
        )
    return stmt


# BANT answers as booleans, the score a float, the milestones datetimes.
EXPORT_COLUMNS = export_columns(LeadRead)


@router.get("/export", response_class=Response, responses=export_responses("leads"))
def export_leads(
    session: DbSession,
    user: ApiUser,
    format: ExportFormat = ExportFormat.CSV,
    owner_id: IdList = None,
    unassigned: Annotated[
        bool | None, Query(description="Only leads nobody owns yet (true) or only owned ones.")
    ] = None,
    status_: Annotated[list[LeadStatus] | None, Query(alias="status")] = None,
    source: Annotated[Text | None, Query(min_length=1, max_length=50)] = None,
    created_from: IsoDateTime | None = None,
    created_to: Annotated[IsoDateTime | None, Query(description="Exclusive.")] = None,
    q: Annotated[
        Text | None,
        Query(min_length=1, max_length=100, description="Name, company or email contains."),
    ] = None,
) -> Response:
    """Every lead the caller may see (with the list's filters) as CSV, XLSX or Parquet.

    Text a spreadsheet would run as a formula is neutralized.
    """
    stmt = _leads_query(
        user, owner_id=owner_id, unassigned=unassigned, status_=status_, source=source,
        created_from=created_from, created_to=created_to, q=q,
    )  # fmt: skip
    return export_response(session, stmt, EXPORT_COLUMNS, format, "leads")


@router.post(
    "",
    response_model=LeadRead,
    status_code=status.HTTP_201_CREATED,
    responses=errors(403, 404, 409),
)
def create_lead(session: DbSession, user: ApiUser, body: LeadCreate) -> LeadRead:
    """Capture a prospect, owned by the caller unless routed to someone else or left unassigned."""
    owner: User | None
    if "owner_id" in body.model_fields_set and body.owner_id is None:
        if user.role == Role.REP:
            raise PermissionDenied("reps cannot leave a lead unassigned; managers route leads")
        owner = None
    else:
        owner = access.assignable_owner(session, user, body.owner_id, field="owner_id")
    lead = lead_service.create_lead(
        session,
        actor=user,
        first_name=body.first_name,
        last_name=body.last_name,
        company=body.company,
        source=body.source,
        email=body.email,
        phone=body.phone,
        title=body.title,
        company_domain=body.company_domain,
        industry=body.industry,
        employees=body.employees,
        country=body.country,
        region=body.region,
        owner=owner,
    )
    created = LeadRead.model_validate(lead)
    audit(session, user, action="create", entity="lead", entity_id=lead.id, after=created)
    return created


@router.get("/{lead_id:int}", response_model=LeadRead, responses=errors(404))
@reads_one_record
def get_lead(session: DbSession, user: ApiCaller, lead_id: LeadId) -> LeadRead:
    """One lead."""
    return LeadRead.model_validate(access.get_visible(session, Lead, lead_id, user))


@router.post("/{lead_id:int}/work", response_model=LeadRead, responses=errors(403, 404, 409))
def work_lead(session: DbSession, user: ApiUser, lead_id: LeadId, body: LeadWork) -> LeadRead:
    """Start working a new lead: the caller takes it, or a manager routes it to a rep."""
    return act_on_lead(
        session, user, lead_id, body.version, "work",
        lambda lead: lead_service.start_working_lead(
            session, lead,
            owner=access.assignable_owner(session, user, body.owner_id, field="owner_id"),
            expected_version=body.version,
        ),
    )  # fmt: skip


@router.post("/{lead_id:int}/qualify", response_model=LeadRead, responses=errors(403, 404, 409))
def qualify_lead(session: DbSession, user: ApiUser, lead_id: LeadId, body: LeadQualify) -> LeadRead:
    """Qualify a lead as MQL or SQL; an SQL needs three of the four BANT criteria confirmed."""
    return act_on_lead(
        session, user, lead_id, body.version, "qualify",
        lambda lead: lead_service.qualify_lead(
            session, lead, level=LeadStatus(body.level), actor=user, budget=body.budget,
            authority=body.authority, need=body.need, timeline=body.timeline,
            expected_version=body.version,
        ),
    )  # fmt: skip


@router.post("/{lead_id:int}/disqualify", response_model=LeadRead, responses=errors(403, 404, 409))
def disqualify_lead(
    session: DbSession, user: ApiUser, lead_id: LeadId, body: LeadDisqualify
) -> LeadRead:
    """Close a lead as not worth pursuing, with the reason."""
    return act_on_lead(
        session, user, lead_id, body.version, "disqualify",
        lambda lead: lead_service.disqualify_lead(
            session, lead, reason=body.reason, actor=user, expected_version=body.version
        ),
    )  # fmt: skip


@router.post(
    "/{lead_id:int}/convert", response_model=LeadConversionRead, responses=errors(403, 404, 409)
)
def convert_lead(
    session: DbSession, user: ApiUser, lead_id: LeadId, body: LeadConvert
) -> LeadConversionRead:
    """Turn an open lead into an account (new or existing), a contact and a first deal.

    The deal goes to `owner_id`, else the lead's owner, else the caller. All of it is written
    or, if any part is refused, none of it; a stale `version` is refused with the current lead.
    """
    lead = access.get_visible(session, Lead, lead_id, user)
    access.require_editable(user, lead)
    if body.owner_id is None and lead.owner_id is not None:
        owner = access.assignable_owner(session, user, lead.owner_id, field="owner_id")
    else:
        owner = access.assignable_owner(session, user, body.owner_id, field="owner_id")
    account = access.get_referenced(session, Account, body.account_id, user, field="account_id")
    stage = _stage(session, body.stage_id)
    before, done = change_versioned(
        session, lead, body.version, read=LeadRead, stale=StaleLead,
        change=lambda: lead_service.convert_lead(
            session, lead, actor=user, owner=owner, deal_name=body.deal_name,
            amount_cents=body.amount_cents, close_date=body.close_date, account=account,
            stage=stage, buying_role=body.buying_role, expected_version=body.version,
        ),
    )  # fmt: skip
    after = LeadRead.model_validate(done.lead)
    if account is None:
        audit(
            session, user, action="create", entity="account", entity_id=done.account.id,
            after=AccountRead.model_validate(done.account),
        )  # fmt: skip
    for entity, record in (
        ("contact", ContactRead.model_validate(done.contact)),
        ("deal", DealRead.model_validate(done.deal)),
    ):
        audit(session, user, action="create", entity=entity, entity_id=record.id, after=record)
    audit(
        session, user, action="convert", entity="lead", entity_id=lead.id,
        before=before, after=after,
    )  # fmt: skip
    return LeadConversionRead(
        lead=after, account_id=done.account.id, contact_id=done.contact.id, deal_id=done.deal.id
    )


def act_on_lead(
    session: Session,
    user: User,
    lead_id: int,
    version: int,
    action: str,
    change: Callable[[Lead], Lead],
) -> LeadRead:
    """Load the lead in scope, check the caller may act on it at this version, apply, audit.

    The change runs in a savepoint: a refused step (an SQL short of BANT, …) leaves no trace.
    """
    lead = access.get_visible(session, Lead, lead_id, user)
    access.require_editable(user, lead)
    before, changed = change_versioned(
        session, lead, version, read=LeadRead, stale=StaleLead, change=lambda: change(lead)
    )
    after = LeadRead.model_validate(changed)
    audit(
        session, user, action=action, entity="lead", entity_id=lead.id, before=before, after=after
    )
    return after


def _stage(session: Session, stage_id: int | None) -> Stage | None:
    if stage_id is None:
        return None
    stage = session.get(Stage, stage_id)
    if stage is None:
        raise MissingReference(
            f"stage_id: stage {stage_id} not found", details={"field": "stage_id"}
        )
    return stage

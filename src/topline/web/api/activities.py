"""Activities over HTTP: the calls, emails, meetings, notes and tasks logged against records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy import Select, select

from topline import access
from topline.auth.models import User
from topline.crm.activities import log_activity
from topline.crm.enums import ActivityType
from topline.crm.models import Account, Activity, Contact, Deal, Lead
from topline.crm.schemas import ActivityCreate, ActivityRead, EmailActivityCreate
from topline.exporters.tables import ExportFormat
from topline.types import MAX_ID, IsoDateTime
from topline.web.api.common import (
    ApiCaller,
    ApiUser,
    Cursor,
    Limit,
    Page,
    WithTotal,
    audit,
    errors,
    paginate,
)
from topline.web.api.exports import export_columns, export_response, export_responses
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute, reads_one_record

router = APIRouter(prefix="/activities", tags=["activities"], route_class=TransactionRoute)
R = TypeVar("R")

ActivityId = Annotated[int, Path(ge=1, le=MAX_ID, description="Activity id.")]
OneId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
IdList = Annotated[list[Annotated[int, Query(ge=1, le=MAX_ID)]] | None, Query()]
ActivitySort = Literal["occurred_at", "-occurred_at", "id", "-id"]
SORT_COLUMNS = {"occurred_at": Activity.occurred_at, "id": Activity.id}


@router.get("", response_model=Page[ActivityRead], responses=errors(404))
def list_activities(
    session: DbSession,
    user: ApiUser,
    user_id: Annotated[IdList, Query(description="Logged by these people.")] = None,
    deal_id: OneId = None,
    account_id: OneId = None,
    contact_id: OneId = None,
    lead_id: OneId = None,
    type_: Annotated[list[ActivityType] | None, Query(alias="type")] = None,
    occurred_from: IsoDateTime | None = None,
    occurred_to: Annotated[IsoDateTime | None, Query(description="Exclusive.")] = None,
    sort: ActivitySort = "-occurred_at",
    cursor: Cursor = None,
    limit: Limit = 50,
    with_total: WithTotal = True,
) -> Page[ActivityRead]:
    """Activities logged by people the caller may see, most recent first, page by page."""
    stmt = _activities_query(
        user, user_id=user_id, deal_id=deal_id, account_id=account_id, contact_id=contact_id,
        lead_id=lead_id, type_=type_, occurred_from=occurred_from, occurred_to=occurred_to,
    )  # fmt: skip
    rows, next_cursor, total = paginate(
        session,
        stmt,
        sort_column=SORT_COLUMNS[sort.lstrip("-")],
        id_column=Activity.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
        with_total=with_total,
        mappings=True,
    )
    return Page[ActivityRead](
        items=[ActivityRead.model_validate(a) for a in rows], next_cursor=next_cursor, total=total
    )


def _activities_query(
    user: User,
    *,
    user_id: list[int] | None,
    deal_id: int | None,
    account_id: int | None,
    contact_id: int | None,
    lead_id: int | None,
    type_: list[ActivityType] | None,
    occurred_from: datetime | None,
    occurred_to: datetime | None,
) -> Select[Any]:
    """The columns of the activities the caller may see, filtered (for the list and export)."""
    stmt = access.scoped(select(Activity.__table__), Activity, user)
    if user_id:
        stmt = stmt.where(Activity.user_id.in_(user_id))
    for column, value in (
        (Activity.deal_id, deal_id),
        (Activity.account_id, account_id),
        (Activity.contact_id, contact_id),
        (Activity.lead_id, lead_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if type_:
        stmt = stmt.where(Activity.type.in_(type_))
    if occurred_from is not None:
        stmt = stmt.where(Activity.occurred_at >= occurred_from)
    if occurred_to is not None:
        stmt = stmt.where(Activity.occurred_at < occurred_to)
    return stmt


# Email engagement as booleans (empty for other types), durations in minutes.
EXPORT_COLUMNS = export_columns(ActivityRead)


@router.get("/export", response_class=Response, responses=export_responses("activities"))
def export_activities(
    session: DbSession,
    user: ApiUser,
    format: ExportFormat = ExportFormat.CSV,
    user_id: Annotated[IdList, Query(description="Logged by these people.")] = None,
    deal_id: OneId = None,
    account_id: OneId = None,
    contact_id: OneId = None,
    lead_id: OneId = None,
    type_: Annotated[list[ActivityType] | None, Query(alias="type")] = None,
    occurred_from: IsoDateTime | None = None,
    occurred_to: Annotated[IsoDateTime | None, Query(description="Exclusive.")] = None,
) -> Response:
    """Every activity the caller may see (with the list's filters) as CSV, XLSX or Parquet.

    Text a spreadsheet would run as a formula is neutralized.
    """
    stmt = _activities_query(
        user, user_id=user_id, deal_id=deal_id, account_id=account_id, contact_id=contact_id,
        lead_id=lead_id, type_=type_, occurred_from=occurred_from, occurred_to=occurred_to,
    )  # fmt: skip
    return export_response(session, stmt, EXPORT_COLUMNS, format, "activities")


@router.post(
    "",
    response_model=ActivityRead,
    status_code=status.HTTP_201_CREATED,
    responses=errors(404, 409),
)
def create_activity(session: DbSession, user: ApiUser, body: ActivityCreate) -> ActivityRead:
    """Log a touch the caller had (or plans) with a customer or prospect they can see.

    A record the caller cannot see is 404; a contact at another account than the activity's
    is 409.
    """
    email = body if isinstance(body, EmailActivityCreate) else None
    activity = log_activity(
        session,
        user=user,
        type=body.type,
        subject=body.subject,
        occurred_at=body.occurred_at,
        deal=access.get_referenced(session, Deal, body.deal_id, user, field="deal_id"),
        contact=access.get_referenced(session, Contact, body.contact_id, user, field="contact_id"),
        account=access.get_referenced(session, Account, body.account_id, user, field="account_id"),
        lead=access.get_referenced(session, Lead, body.lead_id, user, field="lead_id"),
        body=body.body,
        duration_minutes=body.duration_minutes,
        outcome=body.outcome,
        email_opened=email.email_opened if email else None,
        email_clicked=email.email_clicked if email else None,
        email_replied=email.email_replied if email else None,
    )
    created = ActivityRead.model_validate(activity)
    audit(session, user, action="create", entity="activity", entity_id=activity.id, after=created)
    return created


@router.get("/{activity_id:int}", response_model=ActivityRead, responses=errors(404))
@reads_one_record
def get_activity(session: DbSession, user: ApiCaller, activity_id: ActivityId) -> ActivityRead:
    """One activity."""
    return ActivityRead.model_validate(access.get_visible(session, Activity, activity_id, user))

"""Deals over HTTP: list, read, create, edit, move, win, lose, reopen, reassign, history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload

from topline import access
from topline.auth.models import User
from topline.auth.service import visible_user_ids_query
from topline.crm import deals as deal_service
from topline.crm.enums import StageType
from topline.crm.errors import StaleDeal
from topline.crm.history import deal_history
from topline.crm.models import Account, Contact, Deal, Stage
from topline.crm.schemas import (
    DealCreate,
    DealHistoryRead,
    DealLose,
    DealMove,
    DealPatch,
    DealRead,
    DealReassign,
    DealReopen,
    DealUpdate,
    DealWin,
)
from topline.errors import InvalidInput, MissingReference
from topline.exporters.tables import ExportFormat
from topline.types import MAX_ID, IsoDate, IsoDateTime, Text
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

router = APIRouter(prefix="/deals", tags=["deals"], route_class=TransactionRoute)

DealId = Annotated[int, Path(ge=1, le=MAX_ID, description="Deal id.")]
IdList = Annotated[list[Annotated[int, Query(ge=1, le=MAX_ID)]] | None, Query()]
DealSort = Literal[
    "close_date", "-close_date", "amount_cents", "-amount_cents", "created_at", "-created_at",
    "updated_at", "-updated_at", "name", "-name", "id", "-id",
]  # fmt: skip
SORT_COLUMNS = {
    "close_date": Deal.close_date,
    "amount_cents": Deal.amount_cents,
    "created_at": Deal.created_at,
    "updated_at": Deal.updated_at,
    "name": Deal.name,
    "id": Deal.id,
}


@router.get("", response_model=Page[DealRead], responses=errors(400, 404))
def list_deals(
    session: DbSession,
    user: ApiUser,
    owner_id: IdList = None,
    team_of: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Deals of this manager's whole reporting subtree."),
    ] = None,
    stage_id: IdList = None,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status_: Annotated[StageType | None, Query(alias="status")] = None,
    close_date_from: IsoDate | None = None,
    close_date_to: Annotated[IsoDate | None, Query(description="Inclusive.")] = None,
    amount_min: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    amount_max: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    updated_since: IsoDateTime | None = None,
    q: Annotated[
        Text | None, Query(min_length=1, max_length=100, description="Name contains.")
    ] = None,
    sort: DealSort = "close_date",
    cursor: Cursor = None,
    limit: Limit = 50,
    with_total: WithTotal = True,
) -> Page[DealRead]:
    """Deals the caller may see, filtered, in a stable order, one page at a time."""
    stmt = deals_query(
        session, user, owner_id=owner_id, team_of=team_of, stage_id=stage_id,
        account_id=account_id, status_=status_, close_date_from=close_date_from,
        close_date_to=close_date_to, amount_min=amount_min, amount_max=amount_max,
        updated_since=updated_since, q=q,
    )  # fmt: skip
    rows, next_cursor, total = paginate(
        session,
        stmt,
        sort_column=SORT_COLUMNS[sort.lstrip("-")],
        id_column=Deal.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
        with_total=with_total,
        mappings=True,
    )
    return Page[DealRead](
        items=[DealRead.model_validate(d) for d in rows], next_cursor=next_cursor, total=total
    )


def deals_query(
    session: Session,
    user: User,
    *,
    owner_id: list[int] | None,
    team_of: int | None,
    stage_id: list[int] | None,
    account_id: int | None,
    status_: StageType | None,
    close_date_from: date | None,
    close_date_to: date | None,
    amount_min: int | None,
    amount_max: int | None,
    updated_since: datetime | None,
    q: str | None,
) -> Select[Any]:
    """The columns of the deals the caller may see, filtered (lists and exports answer the
    columns only, so no ORM objects are built)."""
    stmt = access.scoped(select(Deal.__table__), Deal, user)
    if owner_id:
        stmt = stmt.where(Deal.owner_id.in_(owner_id))
    if team_of is not None:
        manager = access.get_visible(session, User, team_of, user)
        subtree = visible_user_ids_query(manager)
        if subtree is not None:
            stmt = stmt.where(Deal.owner_id.in_(subtree))
    if stage_id:
        stmt = stmt.where(Deal.stage_id.in_(stage_id))
    if account_id is not None:
        stmt = stmt.where(Deal.account_id == account_id)
    if status_ is not None:
        stmt = stmt.where(Deal.stage_id.in_(select(Stage.id).where(Stage.type == status_)))
    if close_date_from is not None:
        stmt = stmt.where(Deal.close_date >= close_date_from)
    if close_date_to is not None:
        stmt = stmt.where(Deal.close_date <= close_date_to)
    if amount_min is not None:
        stmt = stmt.where(Deal.amount_cents >= amount_min)
    if amount_max is not None:
        stmt = stmt.where(Deal.amount_cents <= amount_max)
    if updated_since is not None:
        stmt = stmt.where(Deal.updated_at >= _aware(updated_since, "updated_since"))
    if q is not None:
        stmt = stmt.where(Deal.name.icontains(q, autoescape=True))
    return stmt


# Money in cents and ids as integers, close_date a date, the timestamps datetimes.
EXPORT_COLUMNS = export_columns(DealRead)


@router.get(
    "/export",
    response_class=Response,
    responses=export_responses("deals"),
)
def export_deals(
    session: DbSession,
    user: ApiUser,
    format: ExportFormat = ExportFormat.CSV,
    owner_id: IdList = None,
    team_of: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Deals of this manager's whole reporting subtree."),
    ] = None,
    stage_id: IdList = None,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status_: Annotated[StageType | None, Query(alias="status")] = None,
    close_date_from: IsoDate | None = None,
    close_date_to: Annotated[IsoDate | None, Query(description="Inclusive.")] = None,
    amount_min: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    amount_max: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    updated_since: IsoDateTime | None = None,
    q: Annotated[
        Text | None, Query(min_length=1, max_length=100, description="Name contains.")
    ] = None,
) -> Response:
    """Every deal the caller may see (with the list's filters) as CSV, XLSX or Parquet.

    Money stays in cents; text a spreadsheet would run as a formula is neutralized.
    """
    stmt = deals_query(
        session, user, owner_id=owner_id, team_of=team_of, stage_id=stage_id,
        account_id=account_id, status_=status_, close_date_from=close_date_from,
        close_date_to=close_date_to, amount_min=amount_min, amount_max=amount_max,
        updated_since=updated_since, q=q,
    )  # fmt: skip
    return export_response(session, stmt, EXPORT_COLUMNS, format, "deals")


@router.post(
    "",
    response_model=DealRead,
    status_code=status.HTTP_201_CREATED,
    responses=errors(403, 404, 409),
)
def create_deal(session: DbSession, user: ApiUser, body: DealCreate) -> DealRead:
    """Open a new deal for the caller or, for managers, for someone in their team."""
    owner = access.assignable_owner(session, user, body.owner_id, field="owner_id")
    account = access.get_referenced(session, Account, body.account_id, user, field="account_id")
    contact = access.get_referenced(session, Contact, body.contact_id, user, field="contact_id")
    stage = stage_by_id(session, body.stage_id) if body.stage_id is not None else None
    deal = deal_service.create_deal(
        session,
        actor=user,
        name=body.name,
        owner=owner,
        amount_cents=body.amount_cents,
        close_date=body.close_date,
        account=account,
        contact=contact,
        stage=stage,
        forecast_category=body.forecast_category,
        type=body.type,
        recurring_amount_cents=body.recurring_amount_cents,
        source=body.source,
        next_step=body.next_step,
    )
    created = DealRead.model_validate(deal)
    audit(session, user, action="create", entity="deal", entity_id=deal.id, after=created)
    return created


@router.get("/{deal_id:int}", response_model=DealRead, responses=errors(404))
@reads_one_record
def get_deal(session: DbSession, user: ApiCaller, deal_id: DealId) -> DealRead:
    """One deal."""
    return DealRead.model_validate(access.get_visible_row(session, Deal, deal_id, user))


@router.get("/{deal_id:int}/history", response_model=list[DealHistoryRead], responses=errors(404))
def get_deal_history(session: DbSession, user: ApiUser, deal_id: DealId) -> list[DealHistoryRead]:
    """Every recorded state of the deal, oldest first, each with its validity interval."""
    access.get_visible(session, Deal, deal_id, user)
    return [DealHistoryRead.model_validate(row) for row in deal_history(session, deal_id)]


@router.patch("/{deal_id:int}", response_model=DealRead, responses=errors(403, 404, 409))
def update_deal(session: DbSession, user: ApiUser, deal_id: DealId, body: DealPatch) -> DealRead:
    """Edit fields of a deal. A stale `version` is refused with the current deal in `details`."""
    changes = DealUpdate.model_validate(body.model_dump(exclude={"version"}, exclude_unset=True))
    return act_on_deal(
        session, user, deal_id, body.version, "update",
        lambda deal: deal_service.update_deal(
            session, deal, changes=changes, actor=user, expected_version=body.version
        ),
    )  # fmt: skip


@router.post("/{deal_id:int}/move", response_model=DealRead, responses=errors(403, 404, 409))
def move_deal(session: DbSession, user: ApiUser, deal_id: DealId, body: DealMove) -> DealRead:
    """Move an open deal to another open stage of its pipeline."""
    stage = stage_by_id(session, body.stage_id)
    return act_on_deal(
        session, user, deal_id, body.version, "move",
        lambda deal: deal_service.move_deal_to_stage(
            session, deal, stage=stage, actor=user, expected_version=body.version
        ),
    )  # fmt: skip


@router.post("/{deal_id:int}/win", response_model=DealRead, responses=errors(403, 404, 409))
def win_deal(session: DbSession, user: ApiUser, deal_id: DealId, body: DealWin) -> DealRead:
    """Mark an open deal won."""
    return act_on_deal(
        session, user, deal_id, body.version, "win",
        lambda deal: deal_service.close_deal_won(
            session, deal, actor=user, amount_cents=body.amount_cents,
            expected_version=body.version,
        ),
    )  # fmt: skip


@router.post("/{deal_id:int}/lose", response_model=DealRead, responses=errors(403, 404, 409))
def lose_deal(session: DbSession, user: ApiUser, deal_id: DealId, body: DealLose) -> DealRead:
    """Mark an open deal lost, with the reason."""
    stage = stage_by_id(session, body.stage_id) if body.stage_id is not None else None
    return act_on_deal(
        session, user, deal_id, body.version, "lose",
        lambda deal: deal_service.close_deal_lost(
            session, deal, loss_reason=body.loss_reason, actor=user, stage=stage,
            expected_version=body.version,
        ),
    )  # fmt: skip


@router.post("/{deal_id:int}/reopen", response_model=DealRead, responses=errors(403, 404, 409))
def reopen_deal(session: DbSession, user: ApiUser, deal_id: DealId, body: DealReopen) -> DealRead:
    """Put a won or lost deal back into an open stage."""
    stage = stage_by_id(session, body.stage_id)
    return act_on_deal(
        session, user, deal_id, body.version, "reopen",
        lambda deal: deal_service.reopen_deal(
            session, deal, stage=stage, close_date=body.close_date, actor=user,
            expected_version=body.version,
        ),
    )  # fmt: skip


@router.post("/{deal_id:int}/owner", response_model=DealRead, responses=errors(403, 404, 409))
def reassign_deal(
    session: DbSession, user: ApiUser, deal_id: DealId, body: DealReassign
) -> DealRead:
    """Hand a deal to someone else in the caller's team (managers and admins)."""
    owner = access.assignable_owner(session, user, body.owner_id, field="owner_id")
    return act_on_deal(
        session, user, deal_id, body.version, "reassign",
        lambda deal: deal_service.change_deal_owner(
            session, deal, owner=owner, actor=user, expected_version=body.version
        ),
    )  # fmt: skip


# Made once so that the statement that loads the deal is reused (`access.get_visible`).
_WITH_STAGE = (joinedload(Deal.stage),)


def act_on_deal(
    session: Session,
    user: User,
    deal_id: int,
    version: int,
    action: str,
    change: Callable[[Deal], Deal],
) -> DealRead:
    """Load the deal in scope, check the caller may change it, apply, audit, answer."""
    # Every change checks the deal's stage: load it in the same query, and lock the deal's row.
    deal = access.get_visible(session, Deal, deal_id, user, options=_WITH_STAGE, for_update=True)
    access.require_editable(user, deal)
    before, changed = change_versioned(
        session, deal, version, read=DealRead, stale=StaleDeal, change=lambda: change(deal),
        locked=True,
    )  # fmt: skip
    after = DealRead.model_validate(changed)
    audit(
        session, user, action=action, entity="deal", entity_id=deal.id, before=before, after=after
    )
    return after


def stage_by_id(session: Session, stage_id: int) -> Stage:
    stage = session.get(Stage, stage_id)
    if stage is None:
        raise MissingReference(
            f"stage_id: stage {stage_id} not found", details={"field": "stage_id"}
        )
    return stage


def _aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput(
            f"{field}: give a timezone (e.g. 2025-01-31T00:00:00Z)", details={"field": field}
        )
    return moment

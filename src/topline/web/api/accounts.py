"""Accounts over HTTP: list, read, create and edit the companies the team sells to."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.models import User
from topline.auth.service import visible_user_ids_query
from topline.crm import accounts as account_service
from topline.crm.enums import Segment
from topline.crm.errors import StaleAccount
from topline.crm.models import Account
from topline.crm.schemas import AccountCreate, AccountPatch, AccountRead, AccountUpdate
from topline.errors import InvalidInput
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

router = APIRouter(prefix="/accounts", tags=["accounts"], route_class=TransactionRoute)

AccountId = Annotated[int, Path(ge=1, le=MAX_ID, description="Account id.")]
IdList = Annotated[list[Annotated[int, Query(ge=1, le=MAX_ID)]] | None, Query()]
Exact = Annotated[Text | None, Query(min_length=1, max_length=100, description="Exact match.")]
AccountSort = Literal["name", "-name", "created_at", "-created_at", "id", "-id"]
SORT_COLUMNS = {"name": Account.name, "created_at": Account.created_at, "id": Account.id}


@router.get("", response_model=Page[AccountRead], responses=errors(404))
def list_accounts(
    session: DbSession,
    user: ApiUser,
    owner_id: IdList = None,
    team_of: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Accounts owned in this manager's whole subtree."),
    ] = None,
    segment: Annotated[list[Segment] | None, Query()] = None,
    region: Exact = None,
    territory: Exact = None,
    industry: Exact = None,
    created_from: IsoDateTime | None = None,
    created_to: Annotated[IsoDateTime | None, Query(description="Exclusive.")] = None,
    q: Annotated[
        Text | None, Query(min_length=1, max_length=100, description="Name contains.")
    ] = None,
    sort: AccountSort = "name",
    cursor: Cursor = None,
    limit: Limit = 50,
    with_total: WithTotal = True,
) -> Page[AccountRead]:
    """Accounts the caller may see, filtered, in a stable order, one page at a time."""
    stmt = _accounts_query(
        session, user, owner_id=owner_id, team_of=team_of, segment=segment, region=region,
        territory=territory, industry=industry, created_from=created_from,
        created_to=created_to, q=q,
    )  # fmt: skip
    rows, next_cursor, total = paginate(
        session,
        stmt,
        sort_column=SORT_COLUMNS[sort.lstrip("-")],
        id_column=Account.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
        with_total=with_total,
        mappings=True,
    )
    return Page[AccountRead](
        items=[AccountRead.model_validate(a) for a in rows], next_cursor=next_cursor, total=total
    )


def _accounts_query(
    session: Session,
    user: User,
    *,
    owner_id: list[int] | None,
    team_of: int | None,
    segment: list[Segment] | None,
    region: str | None,
    territory: str | None,
    industry: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    q: str | None,
) -> Select[Any]:
    """The columns of the accounts the caller may see, filtered (for the list and the export)."""
    stmt = access.scoped(select(Account.__table__), Account, user)
    if owner_id:
        stmt = stmt.where(Account.owner_id.in_(owner_id))
    if team_of is not None:
        manager = access.get_visible(session, User, team_of, user)
        subtree = visible_user_ids_query(manager)
        if subtree is not None:
            stmt = stmt.where(Account.owner_id.in_(subtree))
    if segment:
        stmt = stmt.where(Account.segment.in_(segment))
    for column, value in (
        (Account.region, region),
        (Account.territory, territory),
        (Account.industry, industry),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if created_from is not None:
        stmt = stmt.where(Account.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(Account.created_at < created_to)
    if q is not None:
        stmt = stmt.where(Account.name.icontains(q, autoescape=True))
    return stmt


EXPORT_COLUMNS = export_columns(AccountRead)


@router.get("/export", response_class=Response, responses=export_responses("accounts"))
def export_accounts(
    session: DbSession,
    user: ApiUser,
    format: ExportFormat = ExportFormat.CSV,
    owner_id: IdList = None,
    team_of: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Accounts owned in this manager's whole subtree."),
    ] = None,
    segment: Annotated[list[Segment] | None, Query()] = None,
    region: Exact = None,
    territory: Exact = None,
    industry: Exact = None,
    created_from: IsoDateTime | None = None,
    created_to: Annotated[IsoDateTime | None, Query(description="Exclusive.")] = None,
    q: Annotated[
        Text | None, Query(min_length=1, max_length=100, description="Name contains.")
    ] = None,
) -> Response:
    """Every account the caller may see (with the list's filters) as CSV, XLSX or Parquet.

    Revenue stays in cents; text a spreadsheet would run as a formula is neutralized.
    """
    stmt = _accounts_query(
        session, user, owner_id=owner_id, team_of=team_of, segment=segment, region=region,
        territory=territory, industry=industry, created_from=created_from,
        created_to=created_to, q=q,
    )  # fmt: skip
    return export_response(session, stmt, EXPORT_COLUMNS, format, "accounts")


@router.post(
    "",
    response_model=AccountRead,
    status_code=status.HTTP_201_CREATED,
    responses=errors(403, 404, 409),
)
def create_account(session: DbSession, user: ApiUser, body: AccountCreate) -> AccountRead:
    """Add a company to sell to, owned by the caller or, for managers, by someone in their team."""
    owner = access.assignable_owner(session, user, body.owner_id, field="owner_id")
    account = account_service.create_account(
        session,
        name=body.name,
        owner=owner,
        domain=body.domain,
        industry=body.industry,
        segment=body.segment,
        employees=body.employees,
        annual_revenue_cents=body.annual_revenue_cents,
        country=body.country,
        region=body.region,
        postal_code=body.postal_code,
        territory=body.territory,
    )
    created = AccountRead.model_validate(account)
    audit(session, user, action="create", entity="account", entity_id=account.id, after=created)
    return created


@router.get("/{account_id:int}", response_model=AccountRead, responses=errors(404))
@reads_one_record
def get_account(session: DbSession, user: ApiCaller, account_id: AccountId) -> AccountRead:
    """One account."""
    return AccountRead.model_validate(access.get_visible(session, Account, account_id, user))


@router.patch("/{account_id:int}", response_model=AccountRead, responses=errors(403, 404, 409))
def update_account(
    session: DbSession, user: ApiUser, account_id: AccountId, body: AccountPatch
) -> AccountRead:
    """Edit what the team knows about an account, or hand it to someone else in the team.

    Reps edit only the accounts they own; managers and admins any account they can see. A
    stale `version` is refused with the current account in `details`.
    """
    account = access.get_visible(session, Account, account_id, user)
    access.require_editable(user, account)
    owner = None
    if "owner_id" in body.model_fields_set:
        if body.owner_id is None:
            raise InvalidInput(
                "owner_id: an account's owner cannot be cleared", details={"field": "owner_id"}
            )
        owner = access.assignable_owner(session, user, body.owner_id, field="owner_id")
    changes = AccountUpdate.model_validate(
        body.model_dump(exclude={"owner_id", "version"}, exclude_unset=True)
    )
    before, _ = change_versioned(
        session, account, body.version, read=AccountRead, stale=StaleAccount,
        change=lambda: account_service.update_account(
            session, account, changes=changes, owner=owner, expected_version=body.version
        ),
    )  # fmt: skip
    after = AccountRead.model_validate(account)
    audit(
        session, user, action="update", entity="account", entity_id=account.id,
        before=before, after=after,
    )  # fmt: skip
    return after

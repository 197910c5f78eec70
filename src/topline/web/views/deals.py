"""The deals list: every deal the viewer may see, filtered and sorted, a page at a time, with
the same filters as the API's list and an export of all matching deals as CSV."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline.auth.models import User
from topline.auth.service import visible_user_ids
from topline.crm.enums import StageType
from topline.crm.models import Account, Deal, Stage
from topline.exporters.tables import ExportFormat
from topline.types import MAX_ID
from topline.web.api.common import paginate
from topline.web.api.deals import EXPORT_COLUMNS, SORT_COLUMNS, DealSort, deals_query
from topline.web.api.exports import export_response
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates
from topline.web.views.common import names_by_id

router = APIRouter(route_class=TransactionRoute)

PAGE_SIZE = 50
SORTABLE = {
    "name": "Deal",
    "amount_cents": "Amount",
    "close_date": "Close date",
    "updated_at": "Last change",
}
OwnerId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
StageId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Status = Annotated[StageType | None, Query(alias="status")]
Words = Annotated[str | None, Query(max_length=100)]


def _filters(
    owner_id: int | None,
    stage_id: int | None,
    status: StageType | None,
    close_from: date | None,
    close_to: date | None,
    q: str | None,
) -> dict[str, Any]:
    """The list's filters as the API's query builder takes them."""
    return {
        "owner_id": [owner_id] if owner_id else None,
        "team_of": None,
        "stage_id": [stage_id] if stage_id else None,
        "account_id": None,
        "status_": status,
        "close_date_from": close_from,
        "close_date_to": close_to,
        "amount_min": None,
        "amount_max": None,
        "updated_since": None,
        "q": q.strip() if q and q.strip() else None,
    }


@router.get("/deals", response_class=HTMLResponse)
def deals_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    owner_id: OwnerId = None,
    stage_id: StageId = None,
    status: Status = None,
    close_from: date | None = None,
    close_to: Annotated[date | None, Query(description="Inclusive.")] = None,
    q: Words = None,
    sort: DealSort = "close_date",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """One page of the deals the viewer may see, filtered and sorted."""
    filters = _filters(owner_id, stage_id, status, close_from, close_to, q)
    rows, next_cursor, total = paginate(
        session,
        deals_query(session, user, **filters),
        sort_column=SORT_COLUMNS[sort.lstrip("-")],
        id_column=Deal.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=PAGE_SIZE,
        with_total=True,
        mappings=True,
    )
    given = {
        "owner_id": owner_id, "stage_id": stage_id, "status": status.value if status else None,
        "close_from": close_from, "close_to": close_to, "q": q,
    }  # fmt: skip
    kept = {key: value for key, value in given.items() if value not in (None, "")}
    context: dict[str, Any] = {
        "deals": _with_names(session, rows),
        "total": total,
        "filters": given,
        "owners": _owners(session, user),
        "stages": session.execute(
            select(Stage.id, Stage.name).order_by(Stage.pipeline_id, Stage.position)
        ).all(),
        "statuses": [kind.value for kind in StageType],
        "sort": sort,
        "sortable": SORTABLE,
        "sort_link": lambda column: _link("/deals", kept, sort=_next_sort(sort, column)),
        "next_link": _link("/deals", kept, sort=sort, cursor=next_cursor) if next_cursor else None,
        "export_link": _link("/deals/export", kept),
        "first_page": cursor is None,
    }
    return templates.TemplateResponse(request, "crm/deals.html", context)


@router.get("/deals/export", response_class=Response)
def export_deals_page(
    session: DbSession,
    user: CurrentUser,
    owner_id: OwnerId = None,
    stage_id: StageId = None,
    status: Status = None,
    close_from: date | None = None,
    close_to: date | None = None,
    q: Words = None,
) -> Response:
    """Every matching deal the viewer may see as CSV (money in cents, formulas neutralized)."""
    stmt = deals_query(
        session, user, **_filters(owner_id, stage_id, status, close_from, close_to, q)
    )
    return export_response(session, stmt, EXPORT_COLUMNS, ExportFormat.CSV, "deals")


def _next_sort(current: str, column: str) -> str:
    """A header's sort: by `column`, reversed when the list is already sorted by it."""
    if current == column:
        return f"-{column}"
    return column


def _link(path: str, params: dict[str, Any], **more: Any) -> str:
    query = {**params, **{key: value for key, value in more.items() if value is not None}}
    return f"{path}?{urlencode(query)}" if query else path


def _owners(session: Session, viewer: User) -> list[tuple[int, str]]:
    """The people whose deals the viewer may filter by."""
    ids = visible_user_ids(session, viewer)
    stmt = select(User.id, User.name).order_by(User.name, User.id)
    if ids is not None:
        stmt = stmt.where(User.id.in_(ids))
    return [(row[0], row[1]) for row in session.execute(stmt)]


def _with_names(session: Session, rows: Any) -> list[dict[str, Any]]:
    """The page's deals with their owner's, stage's and account's names (three queries)."""
    deals = [dict(row) for row in rows]

    owners = names_by_id(session, User, {deal["owner_id"] for deal in deals})
    stages = names_by_id(session, Stage, {deal["stage_id"] for deal in deals})
    accounts = names_by_id(session, Account, {deal["account_id"] for deal in deals})
    for deal in deals:
        deal["owner_name"] = owners.get(deal["owner_id"], "")
        deal["stage_name"] = stages.get(deal["stage_id"], "")
        deal["account_name"] = accounts.get(deal["account_id"], "") if deal["account_id"] else ""
    return deals

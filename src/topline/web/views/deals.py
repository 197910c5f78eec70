"""The deals list: every deal the viewer may see, filtered and sorted, a page at a time, with
the same filters as the API's list (plus a warning sign, a creation range and a manager's
team, so every number on the dashboard can link to the deals behind it), saved views, and an
export of all matching deals as CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from topline.auth import saved_views
from topline.auth.enums import Role
from topline.auth.models import User
from topline.auth.service import visible_user_ids
from topline.clock import utcnow
from topline.crm.enums import StageType
from topline.crm.models import Account, Deal, Stage
from topline.crm.queries import RISK_FLAGS, risk_signs
from topline.errors import ToplineError
from topline.exporters.tables import ExportFormat
from topline.storage.sql import names_by_id
from topline.types import MAX_ID
from topline.web.api.common import audit, paginate
from topline.web.api.deals import EXPORT_COLUMNS, SORT_COLUMNS, DealSort, deals_query
from topline.web.api.exports import export_response
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates
from topline.web.views.common import (
    RISK_HELP,
    RISK_LABELS,
    Blank,
    people_in_view,
)

router = APIRouter(route_class=TransactionRoute)

PAGE_SIZE = 50
SORTABLE = {
    "name": "Deal",
    "amount_cents": "Amount",
    "close_date": "Close date",
    "updated_at": "Last change",
}
OwnerId = Annotated[int | None, Query(ge=1, le=MAX_ID), Blank]
StageId = Annotated[int | None, Query(ge=1, le=MAX_ID), Blank]
Status = Annotated[StageType | None, Query(alias="status"), Blank]
Words = Annotated[str | None, Query(max_length=100), Blank]
TeamOf = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="Deals of this manager's reporting subtree."),
    Blank,
]
RiskSign = Literal["any", "past_close_date", "no_next_step", "stale", "slipped"]
Risk = Annotated[
    RiskSign | None, Query(description="Open deals showing this warning sign (or any)."), Blank
]
Day = Annotated[date | None, Query(), Blank]
LastDay = Annotated[date | None, Query(description="Inclusive."), Blank]
PAGE = "deals"


class DealFilters(BaseModel):
    """The list's filters, as the page's query string gives them."""

    owner_id: int | None = None
    team_of: int | None = None
    stage_id: int | None = None
    status: StageType | None = None
    risk: RiskSign | None = None
    close_from: date | None = None
    close_to: date | None = None
    created_from: date | None = None
    created_to: date | None = None
    q: str | None = None

    def given(self) -> dict[str, Any]:
        """The filters that are set, as query-string values."""
        values = self.model_dump(mode="json")
        return {key: value for key, value in values.items() if value not in (None, "")}


class SavedViewRead(BaseModel):
    id: int
    page: str
    name: str
    query: str


def filtered_deals(session: Session, user: User, filters: DealFilters) -> Select[Any]:
    """The deals the viewer may see that match `filters`: the API's query, then the page's own
    filters (a warning sign, a creation range)."""
    stmt = deals_query(
        session,
        user,
        owner_id=[filters.owner_id] if filters.owner_id else None,
        team_of=filters.team_of,
        stage_id=[filters.stage_id] if filters.stage_id else None,
        account_id=None,
        status_=filters.status,
        close_date_from=filters.close_from,
        close_date_to=filters.close_to,
        amount_min=None,
        amount_max=None,
        updated_since=None,
        q=filters.q.strip() if filters.q and filters.q.strip() else None,
    )
    if filters.risk is not None:
        signs = risk_signs(utcnow())
        wanted = list(signs.values()) if filters.risk == "any" else [signs[filters.risk]]
        open_stages = select(Stage.id).where(Stage.type == StageType.OPEN)
        stmt = stmt.where(Deal.stage_id.in_(open_stages), or_(*wanted))
    if filters.created_from is not None:
        stmt = stmt.where(Deal.created_at >= _midnight(filters.created_from))
    if filters.created_to is not None:
        stmt = stmt.where(Deal.created_at < _midnight(filters.created_to + timedelta(days=1)))
    return stmt


def _filters_from_query(
    owner_id: OwnerId = None,
    team_of: TeamOf = None,
    stage_id: StageId = None,
    status: Status = None,
    risk: Risk = None,
    close_from: Day = None,
    close_to: LastDay = None,
    created_from: Day = None,
    created_to: LastDay = None,
    q: Words = None,
) -> DealFilters:
    """The list's filters from the query string (shared by the list and its export)."""
    return DealFilters(
        owner_id=owner_id, team_of=team_of, stage_id=stage_id, status=status, risk=risk,
        close_from=close_from, close_to=close_to, created_from=created_from,
        created_to=created_to, q=q,
    )  # fmt: skip


Filters = Annotated[DealFilters, Depends(_filters_from_query)]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@router.get("/deals", response_class=HTMLResponse)
def deals_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    filters: Filters,
    sort: DealSort = "close_date",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """One page of the deals the viewer may see, filtered and sorted."""
    return _render(request, session, user, filters, sort, cursor)


def _render(
    request: Request,
    session: DbSession,
    user: User,
    filters: DealFilters,
    sort: str,
    cursor: str | None,
    *,
    view_problem: str | None = None,
    view_name: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    rows, next_cursor, total = paginate(
        session,
        filtered_deals(session, user, filters),
        sort_column=SORT_COLUMNS[sort.lstrip("-")],
        id_column=Deal.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=PAGE_SIZE,
        with_total=True,
        mappings=True,
    )
    kept = filters.given()
    owners = people_in_view(session, visible_user_ids(session, user))
    context: dict[str, Any] = {
        "deals": _with_names(session, rows),
        "total": total,
        "filters": filters,
        "owners": [(person_id, name) for person_id, name, _ in owners],
        "managers": [(person_id, name) for person_id, name, role in owners if role != Role.REP],
        "stages": session.execute(
            select(Stage.id, Stage.name).order_by(Stage.pipeline_id, Stage.position)
        ).all(),
        "statuses": [kind.value for kind in StageType],
        "risks": [(flag, RISK_LABELS[flag], RISK_HELP[flag]) for flag in RISK_FLAGS],
        "sort": sort,
        "sortable": SORTABLE,
        "sort_link": lambda column: _link("/deals", kept, sort=_next_sort(sort, column)),
        "next_link": _link("/deals", kept, sort=sort, cursor=next_cursor) if next_cursor else None,
        "export_link": _link("/deals/export", kept),
        "first_page": cursor is None,
        "views": saved_views.list_views(session, user, PAGE),
        "current_query": urlencode({**kept, "sort": sort}),
        "view_problem": view_problem,
        "view_name": view_name,
    }
    return templates.TemplateResponse(request, "crm/deals.html", context, status_code=status_code)


@router.get("/deals/export", response_class=Response)
def export_deals_page(
    session: DbSession,
    user: CurrentUser,
    filters: Filters,
) -> Response:
    """Every matching deal the viewer may see as CSV (money in cents, formulas neutralized)."""
    stmt = filtered_deals(session, user, filters)
    return export_response(session, stmt, EXPORT_COLUMNS, ExportFormat.CSV, "deals")


@router.post("/deals/views", response_class=HTMLResponse, response_model=None)
def save_deals_view(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    name: Annotated[str, Form(max_length=200)] = "",
    query: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Save the list's current filters and sort under a name (the same name replaces it)."""
    try:
        view = saved_views.save_view(session, user, PAGE, name, query)
    except ToplineError as error:
        filters, sort = _parse_saved(query)
        return _render(
            request, session, user, filters, sort, None, view_problem=error.message,
            view_name=name, status_code=error.status_code,
        )  # fmt: skip
    saved = SavedViewRead.model_validate(view, from_attributes=True)
    audit(session, user, action="save", entity="saved_view", entity_id=view.id, after=saved)
    return RedirectResponse(f"/deals?{view.query}" if view.query else "/deals", status_code=303)


@router.post("/deals/views/{view_id}/delete", response_class=Response)
def delete_deals_view(
    session: DbSession,
    user: CurrentUser,
    view_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> Response:
    """Delete one of the viewer's saved views."""
    view = saved_views.delete_view(session, user, view_id)
    gone = SavedViewRead.model_validate(view, from_attributes=True)
    audit(session, user, action="delete", entity="saved_view", entity_id=view_id, before=gone)
    return RedirectResponse("/deals", status_code=303)


def _parse_saved(query: str) -> tuple[DealFilters, str]:
    """The filters and sort of a view being saved, for showing the list again when saving is
    refused (values that do not parse are dropped)."""
    values = dict(parse_qsl(query.lstrip("?")))
    sort = values.pop("sort", "close_date")
    if sort.lstrip("-") not in SORT_COLUMNS:
        sort = "close_date"
    known = {
        key: value
        for key, value in values.items()
        if key in DealFilters.model_fields and value != ""
    }
    try:
        return DealFilters.model_validate(known), sort
    except ValueError:
        return DealFilters(), sort


def _next_sort(current: str, column: str) -> str:
    """A header's sort: by `column`, reversed when the list is already sorted by it."""
    if current == column:
        return f"-{column}"
    return column


def _link(path: str, params: dict[str, Any], **more: Any) -> str:
    query = {**params, **{key: value for key, value in more.items() if value is not None}}
    return f"{path}?{urlencode(query)}" if query else path


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

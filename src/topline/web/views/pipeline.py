"""The pipeline page: open deals by stage for whoever the viewer may see, as a table and a
board, narrowed to a pipeline, a person or a manager's team, and a close period."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline import access
from topline.analytics.periods import PeriodKind, period_containing
from topline.analytics.reports import fiscal_start_month
from topline.auth.enums import Role
from topline.auth.models import User
from topline.auth.service import visible_user_ids
from topline.clock import utcnow
from topline.crm.deals import move_deal_to_stage
from topline.crm.errors import PipelineNotFound
from topline.crm.models import Pipeline
from topline.crm.pipelines import default_pipeline, get_pipeline
from topline.crm.queries import (
    BoardCard,
    CloseWindow,
    board_cards,
    largest_open_deals,
    open_pipeline_by_stage,
    pipeline_totals,
)
from topline.errors import InvalidInput, ToplineError
from topline.types import MAX_ID
from topline.web.api.deals import act_on_deal, stage_by_id
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates
from topline.web.views.common import Blank, people_in_view

router = APIRouter(route_class=TransactionRoute)

LARGEST_DEALS = 10
PersonId = Annotated[int | None, Query(ge=1, le=MAX_ID), Blank]
Day = Annotated[date | None, Query(), Blank]
LastDay = Annotated[date | None, Query(description="Inclusive."), Blank]


@dataclass(frozen=True)
class BoardFilters:
    """What the page is narrowed to (all None: the default pipeline, everyone the viewer may
    see, any close date)."""

    pipeline_id: int | None = None
    owner_id: int | None = None
    team_of: int | None = None
    close_from: date | None = None
    close_to: date | None = None

    def query(self) -> dict[str, Any]:
        values = {
            "pipeline_id": self.pipeline_id, "owner_id": self.owner_id, "team_of": self.team_of,
            "close_from": self.close_from, "close_to": self.close_to,
        }  # fmt: skip
        return {key: str(value) for key, value in values.items() if value is not None}


def pipeline_heading(viewer: User) -> str:
    """Whose pipeline the page shows, in the viewer's terms."""
    if viewer.role == Role.ADMIN:
        return "All pipeline"
    if viewer.role == Role.MANAGER:
        return f"Team pipeline — {viewer.name}"
    return "Your pipeline"


@router.get("/pipeline", response_class=HTMLResponse)
def pipeline_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    pipeline_id: PersonId = None,
    owner_id: PersonId = None,
    team_of: PersonId = None,
    close_from: Day = None,
    close_to: LastDay = None,
) -> HTMLResponse:
    """Open pipeline by stage, with totals, the board of the largest deals of each stage, and
    the largest deals overall: of one pipeline (the default one unless chosen), for one person
    or a manager's team if chosen, closing in a window if one is given."""
    filters = BoardFilters(pipeline_id, owner_id, team_of, close_from, close_to)
    return _page(request, session, user, filters, moved=request.query_params.get("moved") == "1")


def _owner_ids(
    session: Session, viewer: User, visible: list[int] | None, filters: BoardFilters
) -> list[int] | None:
    """The owners whose deals the page shows: a chosen person, a chosen manager's team, or
    everyone the viewer may see (`visible`). Someone the viewer may not see is not found."""
    if filters.owner_id is not None and filters.team_of is not None:
        raise InvalidInput("choose a person or a team, not both")
    if filters.owner_id is not None:
        return [access.get_visible(session, User, filters.owner_id, viewer).id]
    if filters.team_of is not None:
        manager = access.get_visible(session, User, filters.team_of, viewer)
        return visible_user_ids(session, manager)
    return visible


def _quick_windows(session: Session) -> list[tuple[str, date, date]]:
    """This fiscal quarter and the next, as close-date windows (last day included)."""
    month = fiscal_start_month(session)
    this = period_containing(utcnow().date(), PeriodKind.QUARTER, month)
    following = period_containing(this.end, PeriodKind.QUARTER, month)
    return [
        (f"This quarter ({this.label})", this.start, this.end - timedelta(days=1)),
        (f"Next quarter ({following.label})", following.start, following.end - timedelta(days=1)),
    ]


def _page(
    request: Request,
    session: Session,
    user: User,
    filters: BoardFilters,
    *,
    moved: bool = False,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    visible = visible_user_ids(session, user)
    owner_ids = _owner_ids(session, user, visible, filters)
    closing = CloseWindow(filters.close_from, filters.close_to)
    people = people_in_view(session, visible)
    context: dict[str, object] = {
        "heading": pipeline_heading(user),
        "filters": filters,
        "filter_query": urlencode(filters.query()),
        "pipelines": session.execute(
            select(Pipeline.id, Pipeline.name).order_by(Pipeline.name)
        ).all(),
        "people": [(person_id, name) for person_id, name, _ in people],
        "managers": [(person_id, name) for person_id, name, role in people if role != Role.REP],
        "windows": [
            (label, urlencode({**filters.query(), "close_from": start, "close_to": end}))
            for label, start, end in _quick_windows(session)
        ],
        "any_close_query": urlencode(replace(filters, close_from=None, close_to=None).query()),
        "pipeline": None,
        "stages": [],
        "totals": None,
        "largest_deals": [],
        "today": utcnow().date(),
        "board": {},
        "moved": moved,
        "problem": problem,
    }
    try:
        if filters.pipeline_id is not None:
            pipeline = get_pipeline(session, filters.pipeline_id)
        else:
            pipeline = default_pipeline(session)
    except PipelineNotFound:
        if filters.pipeline_id is not None:
            raise
        return templates.TemplateResponse(request, "crm/pipeline.html", context)
    stages = open_pipeline_by_stage(
        session, owner_ids=owner_ids, pipeline_id=pipeline.id, closing=closing
    )
    cards: dict[int, list[BoardCard]] = {stage.stage_id: [] for stage in stages}
    for card in board_cards(session, owner_ids=owner_ids, pipeline_id=pipeline.id, closing=closing):
        cards.setdefault(card.stage_id, []).append(card)
    context.update(
        board=cards,
        pipeline=pipeline,
        stages=stages,
        totals=pipeline_totals(stages),
        largest_deals=largest_open_deals(
            session,
            owner_ids=owner_ids,
            pipeline_id=pipeline.id,
            limit=LARGEST_DEALS,
            closing=closing,
        ),
    )
    return templates.TemplateResponse(
        request, "crm/pipeline.html", context, status_code=status_code
    )


@router.post("/pipeline/move", response_class=HTMLResponse, response_model=None)
def move_on_board(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    deal_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    version: Annotated[int, Form(ge=1)],
    stage_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    back: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Move a deal to another open stage at the version the viewer saw, as the API does
    (editable-by rule, audit). From the board's script the answer is JSON; from the form, the
    page again. A stale version says who changed what, and nothing is lost."""
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        stage = stage_by_id(session, stage_id)
        moved = act_on_deal(
            session, user, deal_id, version, "move",
            lambda deal: move_deal_to_stage(
                session, deal, stage=stage, actor=user, expected_version=version
            ),
        )  # fmt: skip
    except ToplineError as error:
        if wants_json:
            return JSONResponse({"error": error.message}, status_code=error.status_code)
        return _page(
            request, session, user, _filters_from(back), problem=error.message,
            status_code=error.status_code,
        )  # fmt: skip
    if wants_json:
        return JSONResponse(
            {"deal_id": moved.id, "stage_id": moved.stage_id, "version": moved.version}
        )
    kept = _filters_from(back).query()
    return RedirectResponse(f"/pipeline?{urlencode({**kept, 'moved': 1})}", status_code=303)


def _filters_from(query: str) -> BoardFilters:
    """The page's filters from the query string a move form carried back (anything that does
    not parse is dropped, so the page is shown unfiltered rather than refused)."""
    values = dict(parse_qsl(query))

    def number(key: str) -> int | None:
        text = values.get(key, "")
        return int(text) if text.isdigit() and 1 <= int(text) <= MAX_ID else None

    def day(key: str) -> date | None:
        try:
            return date.fromisoformat(values.get(key, ""))
        except ValueError:
            return None

    return BoardFilters(
        number("pipeline_id"), number("owner_id"), number("team_of"), day("close_from"),
        day("close_to"),
    )  # fmt: skip

"""The pipeline page: open deals by stage for whoever the viewer may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from topline.auth.enums import Role
from topline.auth.models import User
from topline.auth.service import visible_user_ids
from topline.clock import utcnow
from topline.crm.deals import move_deal_to_stage
from topline.crm.errors import PipelineNotFound
from topline.crm.pipelines import default_pipeline
from topline.crm.queries import (
    BoardCard,
    board_cards,
    largest_open_deals,
    open_pipeline_by_stage,
    pipeline_totals,
)
from topline.errors import ToplineError
from topline.types import MAX_ID
from topline.web.api.deals import act_on_deal, stage_by_id
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates

router = APIRouter(route_class=TransactionRoute)

LARGEST_DEALS = 10


def pipeline_heading(viewer: User) -> str:
    """Whose pipeline the page shows, in the viewer's terms."""
    if viewer.role == Role.ADMIN:
        return "All pipeline"
    if viewer.role == Role.MANAGER:
        return f"Team pipeline — {viewer.name}"
    return "Your pipeline"


@router.get("/pipeline", response_class=HTMLResponse)
def pipeline_page(request: Request, session: DbSession, user: CurrentUser) -> HTMLResponse:
    """Open pipeline of the default pipeline by stage, with totals, the board of the largest
    deals of each stage, and the largest deals overall."""
    return _page(request, session, user, moved=request.query_params.get("moved") == "1")


def _page(
    request: Request,
    session: Session,
    user: User,
    *,
    moved: bool = False,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    owner_ids = visible_user_ids(session, user)
    context: dict[str, object] = {
        "heading": pipeline_heading(user),
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
        pipeline = default_pipeline(session)
    except PipelineNotFound:
        return templates.TemplateResponse(request, "crm/pipeline.html", context)
    stages = open_pipeline_by_stage(session, owner_ids=owner_ids, pipeline_id=pipeline.id)
    cards: dict[int, list[BoardCard]] = {stage.stage_id: [] for stage in stages}
    for card in board_cards(session, owner_ids=owner_ids, pipeline_id=pipeline.id):
        cards.setdefault(card.stage_id, []).append(card)
    context.update(
        board=cards,
        pipeline=pipeline,
        stages=stages,
        totals=pipeline_totals(stages),
        largest_deals=largest_open_deals(
            session, owner_ids=owner_ids, pipeline_id=pipeline.id, limit=LARGEST_DEALS
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
        return _page(request, session, user, problem=error.message, status_code=error.status_code)
    if wants_json:
        return JSONResponse(
            {"deal_id": moved.id, "stage_id": moved.stage_id, "version": moved.version}
        )
    return RedirectResponse("/pipeline?moved=1", status_code=303)

"""The pipeline page: open deals by stage for whoever the viewer may see."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from topline.auth.enums import Role
from topline.auth.models import User
from topline.auth.service import visible_user_ids
from topline.clock import utcnow
from topline.crm.errors import PipelineNotFound
from topline.crm.pipelines import default_pipeline
from topline.crm.queries import largest_open_deals, open_pipeline_by_stage, pipeline_totals
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
    """Open pipeline of the default pipeline by stage, with totals and the largest deals."""
    owner_ids = visible_user_ids(session, user)
    context: dict[str, object] = {
        "heading": pipeline_heading(user),
        "pipeline": None,
        "stages": [],
        "totals": None,
        "largest_deals": [],
        "today": utcnow().date(),
    }
    try:
        pipeline = default_pipeline(session)
    except PipelineNotFound:
        return templates.TemplateResponse(request, "crm/pipeline.html", context)
    stages = open_pipeline_by_stage(session, owner_ids=owner_ids, pipeline_id=pipeline.id)
    context.update(
        pipeline=pipeline,
        stages=stages,
        totals=pipeline_totals(stages),
        largest_deals=largest_open_deals(
            session, owner_ids=owner_ids, pipeline_id=pipeline.id, limit=LARGEST_DEALS
        ),
    )
    return templates.TemplateResponse(request, "crm/pipeline.html", context)

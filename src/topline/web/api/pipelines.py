"""Pipelines over HTTP: every signed-in user reads the sales processes; admins define them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from topline import access
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm import pipelines as pipeline_service
from topline.crm.errors import PipelineNotFound
from topline.crm.models import Pipeline
from topline.crm.schemas import PipelineCreate, PipelineRead
from topline.types import MAX_ID
from topline.web.api.common import ApiUser, audit, errors
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/pipelines", tags=["pipelines"], route_class=TransactionRoute)

PipelineId = Annotated[int, Path(ge=1, le=MAX_ID, description="Pipeline id.")]


@router.get("", response_model=list[PipelineRead], responses=errors())
def list_pipelines(session: DbSession, user: ApiUser) -> list[PipelineRead]:
    """Every pipeline with its stages in order, the default pipeline first."""
    return [PipelineRead.model_validate(p) for p in pipelines_with_stages(session)]


@router.get("/{pipeline_id:int}", response_model=PipelineRead, responses=errors(404))
def get_pipeline(session: DbSession, user: ApiUser, pipeline_id: PipelineId) -> PipelineRead:
    """One pipeline with its stages in order."""
    pipeline = session.scalar(
        select(Pipeline).options(selectinload(Pipeline.stages)).where(Pipeline.id == pipeline_id)
    )
    if pipeline is None:
        raise PipelineNotFound(f"pipeline {pipeline_id} not found")
    return PipelineRead.model_validate(pipeline)


@router.post(
    "",
    response_model=PipelineRead,
    status_code=status.HTTP_201_CREATED,
    responses=errors(403, 409),
)
def create_pipeline(session: DbSession, user: ApiUser, body: PipelineCreate) -> PipelineRead:
    """Define a new sales process with its stages in order (admins only).

    It needs open stages, exactly one won stage and a lost stage; pipeline names are unique.
    """
    return add_pipeline(session, user, body)


def add_pipeline(session: Session, actor: User, body: PipelineCreate) -> PipelineRead:
    """Define a pipeline as an admin, and record it in the audit log (the API's and pages'
    write)."""
    access.require_role(actor, Role.ADMIN)
    pipeline = pipeline_service.create_pipeline(
        session,
        name=body.name,
        stages=[pipeline_service.StageSpec(s.name, s.probability, s.type) for s in body.stages],
    )
    session.refresh(pipeline, ["stages"])
    created = PipelineRead.model_validate(pipeline)
    audit(session, actor, action="create", entity="pipeline", entity_id=pipeline.id, after=created)
    return created


def pipelines_with_stages(session: Session) -> list[Pipeline]:
    """Every pipeline with its stages loaded in order, the default pipeline first (two queries)."""
    return list(
        session.scalars(
            select(Pipeline)
            .options(selectinload(Pipeline.stages))
            .order_by(Pipeline.is_default.desc(), Pipeline.id)
        )
    )

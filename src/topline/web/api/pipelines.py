"""Pipelines over HTTP: every signed-in user reads the sales processes; admins define them and
edit their stages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from topline import access
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm import pipelines as pipeline_service
from topline.crm.errors import PipelineNotFound
from topline.crm.models import Pipeline
from topline.crm.schemas import (
    PipelineCreate,
    PipelineRead,
    StageAdd,
    StageOrder,
    StageRead,
    StageUpdate,
)
from topline.types import MAX_ID
from topline.web.api.common import ApiUser, audit, errors
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/pipelines", tags=["pipelines"], route_class=TransactionRoute)

PipelineId = Annotated[int, Path(ge=1, le=MAX_ID, description="Pipeline id.")]
StageId = Annotated[int, Path(ge=1, le=MAX_ID, description="Stage id.")]


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


@router.patch(
    "/{pipeline_id:int}/stages/{stage_id:int}",
    response_model=StageRead,
    responses=errors(403, 404, 409),
)
def update_stage(
    session: DbSession, user: ApiUser, pipeline_id: PipelineId, stage_id: StageId, body: StageUpdate
) -> StageRead:
    """Rename a stage or change its default win probability (admins only).

    Any stage may change, won and lost ones too; its deals stay in it. Stage names are unique
    within the pipeline whatever their letter case.
    """
    return change_pipeline_stage(session, user, pipeline_id, stage_id, body)


@router.post(
    "/{pipeline_id:int}/stages",
    response_model=StageRead,
    status_code=status.HTTP_201_CREATED,
    responses=errors(403, 404, 409),
)
def create_stage(
    session: DbSession, user: ApiUser, pipeline_id: PipelineId, body: StageAdd
) -> StageRead:
    """Add an open stage at `position` among the open stages, else after them (admins only).

    A position past the one after the last open stage is refused (409).
    """
    return add_pipeline_stage(session, user, pipeline_id, body)


@router.delete(
    "/{pipeline_id:int}/stages/{stage_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(403, 404, 409),
)
def delete_stage(
    session: DbSession, user: ApiUser, pipeline_id: PipelineId, stage_id: StageId
) -> Response:
    """Delete an open stage that no deal sits in or has passed through (admins only).

    A stage in use, a won or lost stage and the pipeline's last open stage are refused (409).
    """
    remove_pipeline_stage(session, user, pipeline_id, stage_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/{pipeline_id:int}/stage-order",
    response_model=PipelineRead,
    responses=errors(403, 404, 409),
)
def reorder_stages(
    session: DbSession, user: ApiUser, pipeline_id: PipelineId, body: StageOrder
) -> PipelineRead:
    """Put the open stages in a new order; won and lost stages follow them (admins only).

    `stage_ids` must list each open stage of the pipeline exactly once (else 409). Reports read
    a later stage as further along, so the order is the path deals take.
    """
    return reorder_pipeline_stages(session, user, pipeline_id, body)


def change_pipeline_stage(
    session: Session, actor: User, pipeline_id: int, stage_id: int, body: StageUpdate
) -> StageRead:
    """Edit a stage as an admin, audited on its pipeline (the API's and pages' write)."""
    access.require_role(actor, Role.ADMIN)
    stage = pipeline_service.get_pipeline_stage(session, pipeline_id, stage_id)
    before = _read(session, pipeline_id)
    pipeline_service.change_stage(session, stage, name=body.name, probability=body.probability)
    _audit_stages(session, actor, "update_stage", before)
    return StageRead.model_validate(stage)


def add_pipeline_stage(
    session: Session, actor: User, pipeline_id: int, body: StageAdd
) -> StageRead:
    """Add an open stage as an admin, audited on its pipeline (the API's and pages' write)."""
    access.require_role(actor, Role.ADMIN)
    before = _read(session, pipeline_id)
    stage = pipeline_service.add_stage(
        session,
        pipeline_service.get_pipeline(session, pipeline_id),
        name=body.name,
        probability=body.probability,
        position=body.position,
    )
    _audit_stages(session, actor, "add_stage", before)
    return StageRead.model_validate(stage)


def remove_pipeline_stage(session: Session, actor: User, pipeline_id: int, stage_id: int) -> None:
    """Delete an unused open stage as an admin, audited on its pipeline (the API's and pages'
    write)."""
    access.require_role(actor, Role.ADMIN)
    stage = pipeline_service.get_pipeline_stage(session, pipeline_id, stage_id)
    before = _read(session, pipeline_id)
    pipeline_service.delete_stage(session, stage)
    _audit_stages(session, actor, "delete_stage", before)


def reorder_pipeline_stages(
    session: Session, actor: User, pipeline_id: int, body: StageOrder
) -> PipelineRead:
    """Reorder the open stages as an admin, audited on their pipeline (the API's and pages'
    write)."""
    access.require_role(actor, Role.ADMIN)
    before = _read(session, pipeline_id)
    pipeline_service.reorder_stages(
        session, pipeline_service.get_pipeline(session, pipeline_id), stage_ids=body.stage_ids
    )
    return _audit_stages(session, actor, "reorder_stages", before)


def _read(session: Session, pipeline_id: int) -> PipelineRead:
    """The pipeline with its stages as they stand, or `PipelineNotFound`."""
    pipeline = pipeline_service.get_pipeline(session, pipeline_id)
    session.refresh(pipeline, ["stages"])
    return PipelineRead.model_validate(pipeline)


def _audit_stages(session: Session, actor: User, action: str, before: PipelineRead) -> PipelineRead:
    """Record a change of a pipeline's stages with the stages before and after; a change that
    changed nothing leaves no entry."""
    after = _read(session, before.id)
    if after != before:
        audit(
            session, actor, action=action, entity="pipeline", entity_id=before.id,
            before=before, after=after,
        )  # fmt: skip
    return after


def pipelines_with_stages(session: Session) -> list[Pipeline]:
    """Every pipeline with its stages loaded in order, the default pipeline first (two queries)."""
    return list(
        session.scalars(
            select(Pipeline)
            .options(selectinload(Pipeline.stages))
            .order_by(Pipeline.is_default.desc(), Pipeline.id)
        )
    )

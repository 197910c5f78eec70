"""Pipelines and their ordered stages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from topline.crm.enums import StageType
from topline.crm.errors import InvalidPipeline, PipelineNotFound, StageNameTaken, StageNotFound
from topline.crm.models import Pipeline, Stage
from topline.errors import Conflict
from topline.storage.db import refuse_duplicates


@dataclass(frozen=True)
class StageSpec:
    """A stage to create: its name, default win probability and type."""

    name: str
    probability: float
    type: StageType = StageType.OPEN


DEFAULT_STAGES: tuple[StageSpec, ...] = (
    StageSpec("Prospecting", 0.10),
    StageSpec("Qualification", 0.20),
    StageSpec("Discovery", 0.40),
    StageSpec("Proposal", 0.60),
    StageSpec("Negotiation", 0.80),
    StageSpec("Closed Won", 1.0, StageType.WON),
    StageSpec("Closed Lost", 0.0, StageType.LOST),
)


def create_pipeline(
    session: Session,
    *,
    name: str,
    stages: Sequence[StageSpec] = DEFAULT_STAGES,
    is_default: bool = False,
) -> Pipeline:
    """A sales process with its stages in the given order.

    It needs a name no other pipeline has, at least one open stage, exactly one won stage and
    at least one lost stage, with unique names and probabilities between 0 and 1.
    """
    name = name.strip()
    if not name:
        raise InvalidPipeline("pipeline name must not be empty")
    taken = Conflict(f"name: a pipeline called {name!r} already exists", details={"field": "name"})
    if find_pipeline_by_name(session, name) is not None:
        raise taken
    types = [spec.type for spec in stages]
    if (
        StageType.OPEN not in types
        or types.count(StageType.WON) != 1
        or StageType.LOST not in types
    ):
        raise InvalidPipeline("a pipeline needs open stages, exactly one won and a lost stage")
    names = [spec.name.strip() for spec in stages]
    if not all(names):
        raise InvalidPipeline("stage names must not be empty")
    if len(set(names)) != len(names):
        raise StageNameTaken(
            "stages: two stages of a pipeline cannot share a name", details={"field": "stages"}
        )
    for spec in stages:
        if not 0.0 <= spec.probability <= 1.0:
            raise InvalidPipeline(f"stage {spec.name!r}: probability must be between 0 and 1")
    pipeline = Pipeline(name=name, is_default=is_default)
    # The constraint also catches a pipeline of this name created since the check above.
    with refuse_duplicates(session, taken):
        session.add(pipeline)
    session.add_all(
        Stage(
            pipeline_id=pipeline.id,
            name=spec.name.strip(),
            position=position,
            probability=spec.probability,
            type=spec.type,
        )
        for position, spec in enumerate(stages, start=1)
    )
    session.flush()
    return pipeline


def find_pipeline_by_name(session: Session, name: str) -> Pipeline | None:
    """The pipeline called exactly `name`, if any."""
    return session.scalar(select(Pipeline).where(Pipeline.name == name))


def get_pipeline(session: Session, pipeline_id: int) -> Pipeline:
    """The pipeline with `pipeline_id`, or `PipelineNotFound`."""
    pipeline = session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise PipelineNotFound(f"pipeline {pipeline_id} not found")
    return pipeline


def default_pipeline(session: Session) -> Pipeline:
    """The pipeline new deals go into unless told otherwise."""
    pipeline = session.scalar(
        select(Pipeline).order_by(Pipeline.is_default.desc(), Pipeline.id).limit(1)
    )
    if pipeline is None:
        raise PipelineNotFound("no pipeline exists yet; create one first")
    return pipeline


def list_stages(session: Session, pipeline_id: int) -> list[Stage]:
    """The stages of a pipeline in order."""
    return list(
        session.scalars(
            select(Stage).where(Stage.pipeline_id == pipeline_id).order_by(Stage.position)
        )
    )


def get_stage(session: Session, stage_id: int) -> Stage:
    """The stage with `stage_id`, or `StageNotFound`."""
    stage = session.get(Stage, stage_id)
    if stage is None:
        raise StageNotFound(f"stage {stage_id} not found")
    return stage


def find_stage_by_type(session: Session, pipeline_id: int, stage_type: StageType) -> Stage:
    """The first stage of the given type in a pipeline (the won stage, the first lost stage)."""
    stage = session.scalar(
        select(Stage)
        .where(Stage.pipeline_id == pipeline_id, Stage.type == stage_type)
        .order_by(Stage.position)
        .limit(1)
    )
    if stage is None:
        raise StageNotFound(f"pipeline {pipeline_id} has no {stage_type.value} stage")
    return stage

"""Pipelines and their ordered stages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from topline.crm.enums import StageType
from topline.crm.errors import (
    InvalidPipeline,
    InvalidStageChange,
    PipelineNotFound,
    StageInUse,
    StageNameTaken,
    StageNotFound,
)
from topline.crm.models import Deal, DealHistory, Pipeline, Stage
from topline.crm.stays import refresh_advances
from topline.errors import Conflict
from topline.storage.db import is_unique_violation, refuse_duplicates


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
    at least one lost stage, with names unique whatever their letter case (importers match stage
    names that way) and probabilities between 0 and 1.
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
    if len({stage_name.casefold() for stage_name in names}) != len(names):
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


def get_pipeline_stage(session: Session, pipeline_id: int, stage_id: int) -> Stage:
    """The stage `stage_id` of pipeline `pipeline_id`; a stage of another pipeline is not
    found."""
    get_pipeline(session, pipeline_id)
    stage = session.get(Stage, stage_id)
    if stage is None or stage.pipeline_id != pipeline_id:
        raise StageNotFound(f"stage {stage_id} not found in pipeline {pipeline_id}")
    return stage


def change_stage(
    session: Session, stage: Stage, *, name: str | None = None, probability: float | None = None
) -> Stage:
    """Rename a stage or change its default win probability; its deals stay where they are.

    Any stage may change, won and lost ones too. The name stays unique within the pipeline
    whatever its letter case, and the probability between 0 and 1.
    """
    new_name = stage.name if name is None else _stage_name(name)
    if probability is not None:
        _check_probability(probability)
    taken = _refuse_taken_name(
        list_stages(session, stage.pipeline_id), new_name, other_than=stage.id
    )
    with refuse_duplicates(session, taken):
        stage.name = new_name
        if probability is not None:
            stage.probability = probability
    return stage


def add_stage(
    session: Session,
    pipeline: Pipeline,
    *,
    name: str,
    probability: float,
    position: int | None = None,
) -> Stage:
    """A new open stage, at `position` among the open stages (1 is first), else after them.

    Open stages come first, so `position` is also the stage's place in the pipeline; the won
    and lost stages move down by one.
    """
    name = _stage_name(name)
    _check_probability(probability)
    stages = list_stages(session, pipeline.id)
    opened = [stage for stage in stages if stage.type == StageType.OPEN]
    if position is None:
        position = len(opened) + 1
    if not 1 <= position <= len(opened) + 1:
        raise InvalidStageChange(
            f"position: the pipeline has {len(opened)} open stages, so a new one goes at "
            f"position 1 to {len(opened) + 1}",
            details={"field": "position"},
        )
    taken = _refuse_taken_name(stages, name)
    stage = Stage(
        pipeline_id=pipeline.id,
        name=name,
        # A free position until the renumbering below gives it its place.
        position=max((s.position for s in stages), default=0) + 1,
        probability=probability,
        type=StageType.OPEN,
    )
    opened.insert(position - 1, stage)
    # One savepoint for both steps: a refused renumbering must not leave the stage behind.
    with session.begin_nested():
        with refuse_duplicates(session, taken):
            session.add(stage)
        _renumber(session, pipeline, [*opened, *_closed(stages)])
    return stage


def reorder_stages(
    session: Session, pipeline: Pipeline, *, stage_ids: Sequence[int]
) -> list[Stage]:
    """Put the open stages of a pipeline in the order of `stage_ids`; won and lost stages
    follow them, in their order.

    `stage_ids` lists every open stage of the pipeline exactly once. Reports read a higher
    position as further along (a deal that moves there has advanced), so the order is the
    path deals take.
    """
    stages = list_stages(session, pipeline.id)
    opened = {stage.id: stage for stage in stages if stage.type == StageType.OPEN}
    if sorted(stage_ids) != sorted(opened):
        raise InvalidStageChange(
            "stage_ids: list each open stage of the pipeline exactly once "
            f"(ids {', '.join(str(i) for i in opened)}, in any order)",
            details={"field": "stage_ids"},
        )
    ordered = [*(opened[stage_id] for stage_id in stage_ids), *_closed(stages)]
    _renumber(session, pipeline, ordered)
    if list(stage_ids) != list(opened):
        # What counts as advancing follows the positions: the stays' advances change too.
        session.flush()
        refresh_advances(session, pipeline.id)
    return ordered


def delete_stage(session: Session, stage: Stage) -> None:
    """Delete an open stage no deal sits in or has passed through.

    A stage in use is refused: its deals would lose their stage and their history its meaning.
    The won and lost stages stay, and so does a pipeline's last open stage.
    """
    if stage.type != StageType.OPEN:
        raise InvalidStageChange(
            f"stage {stage.name!r} is the {stage.type.value} stage: only open stages can be deleted"
        )
    stages = list_stages(session, stage.pipeline_id)
    opened = [s for s in stages if s.type == StageType.OPEN]
    if len(opened) == 1:
        raise InvalidStageChange(
            f"stage {stage.name!r} is the pipeline's last open stage: a pipeline needs one"
        )
    deals = session.scalar(select(func.count()).where(Deal.stage_id == stage.id)) or 0
    if deals:
        them = "its deal" if deals == 1 else f"its {deals} deals"
        raise StageInUse(
            f"stage {stage.name!r} holds {_deals(deals)} (open or closed): move {them} to "
            "another stage first",
            details={"deals": deals},
        )
    passed = session.scalar(select(func.count()).where(DealHistory.stage_id == stage.id)) or 0
    if passed:
        raise StageInUse(
            f"stage {stage.name!r} is in the history of deals ({passed} history rows): deleting "
            "it would rewrite their past; rename it instead",
            details={"history_rows": passed},
        )
    name = stage.name
    pipeline = get_pipeline(session, stage.pipeline_id)
    try:
        # One savepoint for both steps: a refused renumbering must not leave a gap.
        with session.begin_nested():
            session.delete(stage)
            session.flush()
            _renumber(session, pipeline, [s for s in stages if s is not stage])
    except IntegrityError as exc:
        # A deal moved into the stage after the counts above: the foreign key refuses.
        raise StageInUse(
            f"stage {name!r} has just received deals: move them to another stage first"
        ) from exc
    except StaleDataError as exc:
        raise _changed_meanwhile(pipeline) from exc


def _stage_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidPipeline("name: a stage needs a name", details={"field": "name"})
    return name


def _check_probability(probability: float) -> None:
    if not 0.0 <= probability <= 1.0:
        raise InvalidPipeline(
            "probability: must be between 0 and 1", details={"field": "probability"}
        )


def _refuse_taken_name(
    stages: Sequence[Stage], name: str, *, other_than: int | None = None
) -> StageNameTaken:
    """Raise if another of the pipeline's `stages` has `name` in any letter case; else the error
    to raise when the constraint finds it taken after all."""
    taken = StageNameTaken(
        f"name: the pipeline already has a stage called {name!r}", details={"field": "name"}
    )
    # In Python: SQLite's lower() folds ASCII letters only.
    folded = name.casefold()
    clash = next(
        (stage for stage in stages if stage.id != other_than and stage.name.casefold() == folded),
        None,
    )
    if clash is not None:
        raise taken
    return taken


def _closed(stages: Sequence[Stage]) -> list[Stage]:
    return [stage for stage in stages if stage.type != StageType.OPEN]


def _deals(count: int) -> str:
    return "1 deal" if count == 1 else f"{count} deals"


def _renumber(session: Session, pipeline: Pipeline, ordered: Sequence[Stage]) -> None:
    """Give the stages positions 1, 2, … in the order given.

    Each position is unique within the pipeline at every moment, so the stages first go
    through negative positions. The constraint refuses the second of two concurrent
    reorderings, which may have added a stage this one does not know of.
    """
    if [stage.position for stage in ordered] == list(range(1, len(ordered) + 1)):
        return
    try:
        with session.begin_nested():
            for index, stage in enumerate(ordered):
                stage.position = -(index + 1)
            session.flush()
            for index, stage in enumerate(ordered):
                stage.position = index + 1
            session.flush()
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise _changed_meanwhile(pipeline) from exc
    except StaleDataError as exc:
        # A stage this change knows of was deleted meanwhile.
        raise _changed_meanwhile(pipeline) from exc


def _changed_meanwhile(pipeline: Pipeline) -> Conflict:
    return Conflict(
        f"the stages of pipeline {pipeline.name!r} changed meanwhile; reload them and try again"
    )

"""Pipelines and stages: every sales process with its stages in order, their default win
probability and type, and how many open deals sit in each; admins define new pipelines.

Admins also edit the stages of a pipeline: rename one or change its probability, move an open
stage up or down, add an open stage, delete an open stage no deal uses. Each is a plain form
that calls the API's write, so the same rules, refusals and audit entries apply. Managers see
the page read-only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.enums import StageType
from topline.crm.models import Deal, Stage
from topline.crm.pipelines import DEFAULT_STAGES, get_pipeline_stage, list_stages
from topline.crm.schemas import PipelineCreate, StageAdd, StageOrder, StageUpdate
from topline.errors import ToplineError
from topline.types import MAX_ID
from topline.web.api.pipelines import (
    add_pipeline,
    add_pipeline_stage,
    change_pipeline_stage,
    pipelines_with_stages,
    remove_pipeline_stage,
    reorder_pipeline_stages,
)
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.views.admin_forms import AdminForm, render, require_staff

router = APIRouter(route_class=TransactionRoute)

# Rows of the new-pipeline form: the default stages and a few blank rows to add more.
STAGE_ROWS = len(DEFAULT_STAGES) + 3
MAX_STAGE_ROWS = 50
STAGE_NAME_KEY = re.compile(r"^stage-([0-9]{1,2})-name$")


async def typed_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields: the new-pipeline form has as many stage rows as needed."""
    fields = await request.form()
    return {key: value for key, value in fields.items() if isinstance(value, str)}


TypedFields = Annotated[dict[str, str], Depends(typed_fields)]
PipelineId = Annotated[int, Path(ge=1, le=MAX_ID)]
StageId = Annotated[int, Path(ge=1, le=MAX_ID)]
PERCENT_MESSAGE = "Enter a percentage from 0 to 100."
StageInput = TypeVar("StageInput", StageUpdate, StageAdd)


@router.get("/admin/pipelines", response_class=HTMLResponse)
def pipelines_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    saved: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    changed: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """Every pipeline with its stages in order, the default first; admins define new ones and
    edit the stages."""
    require_staff(user)
    return _render(request, session, user, _default_form(), saved=saved, changed=changed)


@router.post("/admin/pipelines", response_class=HTMLResponse, response_model=None)
def add_pipeline_page(
    request: Request, session: DbSession, user: CurrentUser, typed: TypedFields
) -> Response:
    """Define a pipeline (admins only); a refusal keeps every row as typed and says why."""
    access.require_role(user, Role.ADMIN)
    form, body = parse_pipeline(typed)
    if body is not None:
        try:
            created = add_pipeline(session, user, body)
        except ToplineError as error:
            form.refuse(error, ("name",))
        else:
            return RedirectResponse(f"/admin/pipelines?saved={created.id}", status_code=303)
    return _render(request, session, user, form, status_code=form.status_code)


@router.post(
    "/admin/pipelines/{pipeline_id}/stages/{stage_id}",
    response_class=HTMLResponse,
    response_model=None,
)
def change_stage_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    typed: TypedFields,
    pipeline_id: PipelineId,
    stage_id: StageId,
) -> Response:
    """Rename a stage or change its probability (admins only); a refusal keeps what was typed
    and says why next to the field."""
    access.require_role(user, Role.ADMIN)
    prefix = f"edit-{stage_id}"
    form = _stage_form(typed, prefix)
    probability = _percent(form, f"{prefix}-probability")
    body = _validated(
        form, prefix, StageUpdate, {"name": form.values.get(f"{prefix}-name", "")}, probability
    )
    if body is not None and _saved(
        form, prefix, lambda: change_pipeline_stage(session, user, pipeline_id, stage_id, body)
    ):
        return _changed(pipeline_id)
    return _render_stage_refusal(request, session, user, form, pipeline_id)


@router.post(
    "/admin/pipelines/{pipeline_id}/stages", response_class=HTMLResponse, response_model=None
)
def add_stage_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    typed: TypedFields,
    pipeline_id: PipelineId,
) -> Response:
    """Add an open stage at the place picked (admins only); a refusal keeps what was typed."""
    access.require_role(user, Role.ADMIN)
    prefix = f"add-{pipeline_id}"
    form = _stage_form(typed, prefix)
    probability = _percent(form, f"{prefix}-probability")
    position = form.values.get(f"{prefix}-position", "").strip()
    fields: dict[str, Any] = {"name": form.values.get(f"{prefix}-name", "")}
    if position.isdigit() and len(position) <= 4:
        fields["position"] = int(position)
    elif position:
        form.errors[f"{prefix}-position"] = "Pick a place from the list."
    body = _validated(form, prefix, StageAdd, fields, probability)
    if body is not None and _saved(
        form, prefix, lambda: add_pipeline_stage(session, user, pipeline_id, body)
    ):
        return _changed(pipeline_id)
    return _render_stage_refusal(request, session, user, form, pipeline_id)


@router.post(
    "/admin/pipelines/{pipeline_id}/stages/{stage_id}/move",
    response_class=HTMLResponse,
    response_model=None,
)
def move_stage_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    typed: TypedFields,
    pipeline_id: PipelineId,
    stage_id: StageId,
) -> Response:
    """Move an open stage one place up or down among the open stages (admins only)."""
    access.require_role(user, Role.ADMIN)
    stage = get_pipeline_stage(session, pipeline_id, stage_id)
    opened = [s.id for s in list_stages(session, pipeline_id) if s.type == StageType.OPEN]
    form = AdminForm()
    direction = typed.get("direction", "")
    if stage.id not in opened or direction not in ("up", "down"):
        form.problem = "Only an open stage moves, one place up or down."
        # A won or lost stage is refused for what it is (409); a forged direction for its shape.
        form.status_code = 409 if stage.id not in opened else 422
        return _render_stage_refusal(request, session, user, form, pipeline_id)
    index = opened.index(stage.id)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(opened):
        opened[index], opened[other] = opened[other], opened[index]
        try:
            reorder_pipeline_stages(session, user, pipeline_id, StageOrder(stage_ids=opened))
        except ToplineError as error:
            form.refuse(error, ())
            return _render_stage_refusal(request, session, user, form, pipeline_id)
    return _changed(pipeline_id)


@router.post(
    "/admin/pipelines/{pipeline_id}/stages/{stage_id}/delete",
    response_class=HTMLResponse,
    response_model=None,
)
def delete_stage_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    pipeline_id: PipelineId,
    stage_id: StageId,
) -> Response:
    """Delete an open stage no deal uses (admins only); a refusal says how many deals use it."""
    access.require_role(user, Role.ADMIN)
    try:
        remove_pipeline_stage(session, user, pipeline_id, stage_id)
    except ToplineError as error:
        if error.status_code == 404:
            raise
        form = AdminForm()
        form.refuse(error, ())
        return _render_stage_refusal(request, session, user, form, pipeline_id)
    return _changed(pipeline_id)


def _saved(form: AdminForm, prefix: str, write: Callable[[], object]) -> bool:
    """Run a stage form's write; a refusal goes next to the form's field it names (an unknown
    pipeline or stage stays a 404 page)."""
    try:
        write()
    except ToplineError as error:
        if error.status_code == 404:
            raise
        form.refuse(error, _fields(prefix), _aliases(prefix))
        return False
    return True


def _stage_form(typed: dict[str, str], prefix: str) -> AdminForm:
    """The fields of one stage form, as typed (cut to the columns' sizes and then some)."""
    return AdminForm(
        {key: value[:300] for key, value in typed.items() if key.startswith(f"{prefix}-")}
    )


def _percent(form: AdminForm, key: str) -> float | None:
    """A probability typed as a percentage (a trailing % allowed), as a fraction of 1."""
    text = form.values.get(key, "").strip().removesuffix("%")
    try:
        probability = float(text) / 100
    except ValueError:
        form.errors[key] = PERCENT_MESSAGE
        return None
    if not 0 <= probability <= 1:
        form.errors[key] = PERCENT_MESSAGE
        return None
    return probability


def _validated(
    form: AdminForm,
    prefix: str,
    schema: type[StageInput],
    fields: dict[str, Any],
    probability: float | None,
) -> StageInput | None:
    """The API's input built from the form, or None with the refusals set on the form."""
    if probability is not None:
        fields["probability"] = probability
    try:
        body = schema.model_validate(fields)
    except ValidationError as error:
        for problem in error.errors():
            field = str(problem["loc"][0]) if problem["loc"] else ""
            key = f"{prefix}-{field}"
            if key not in form.errors:
                form.errors[key] = _stage_message(field)
        return None
    return None if form.failed else body


def _fields(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}-{field}" for field in ("name", "probability", "position"))


def _aliases(prefix: str) -> dict[str, str]:
    return {field: f"{prefix}-{field}" for field in ("name", "probability", "position")}


def _changed(pipeline_id: int) -> RedirectResponse:
    return RedirectResponse(
        f"/admin/pipelines?changed={pipeline_id}#pipeline-{pipeline_id}-title", status_code=303
    )


def _render_stage_refusal(
    request: Request, session: Session, viewer: User, form: AdminForm, pipeline_id: int
) -> HTMLResponse:
    """The page again with a stage form's refusal shown in its pipeline."""
    return _render(
        request,
        session,
        viewer,
        _default_form(),
        stage_form=form,
        refused_pipeline=pipeline_id,
        status_code=form.status_code,
    )


def parse_pipeline(typed: dict[str, str]) -> tuple[AdminForm, PipelineCreate | None]:
    """The form as typed, and the pipeline it asks for when every row reads (blank rows are
    skipped)."""
    form = AdminForm({key: value[:300] for key, value in typed.items() if len(key) <= 40})
    stages: list[dict[str, Any]] = []
    rows: list[int] = []
    for row in range(MAX_STAGE_ROWS):
        name = form.values.get(f"stage-{row}-name", "").strip()
        percent = form.values.get(f"stage-{row}-probability", "").strip()
        if not name and not percent:
            continue
        try:
            probability = float(percent.removesuffix("%")) / 100
        except ValueError:
            form.errors[f"stage-{row}-probability"] = "Enter a percentage from 0 to 100."
            continue
        if not 0 <= probability <= 1:
            form.errors[f"stage-{row}-probability"] = "Enter a percentage from 0 to 100."
            continue
        kind = form.values.get(f"stage-{row}-type", StageType.OPEN.value)
        stages.append({"name": name, "probability": probability, "type": kind})
        rows.append(row)
    try:
        body = PipelineCreate.model_validate(
            {"name": form.values.get("name", ""), "stages": stages}
        )
    except ValidationError as error:
        for problem in error.errors():
            loc = problem["loc"]
            if loc[0] == "name":
                form.errors["name"] = "Enter the pipeline's name (up to 100 characters)."
            elif len(loc) >= 3 and isinstance(loc[1], int):
                form.errors[f"stage-{rows[loc[1]]}-{loc[2]}"] = _stage_message(str(loc[2]))
            else:
                form.problem = (
                    "A pipeline needs at least 3 stages: open ones, exactly one won stage and "
                    "a lost stage."
                )
        return form, None
    return form, (None if form.failed else body)


def _stage_message(field: str) -> str:
    return {
        "name": "Enter the stage's name (up to 100 characters).",
        "probability": PERCENT_MESSAGE,
        "type": "Pick open, won or lost.",
        "position": "Pick a place from the list.",
    }.get(field, "This value is refused.")


def _default_form() -> AdminForm:
    values = {"name": ""}
    for row, spec in enumerate(DEFAULT_STAGES):
        values[f"stage-{row}-name"] = spec.name
        values[f"stage-{row}-probability"] = f"{spec.probability * 100:g}"
        values[f"stage-{row}-type"] = spec.type.value
    return AdminForm(values)


def _render(
    request: Request,
    session: Session,
    viewer: User,
    form: AdminForm,
    *,
    saved: int | None = None,
    changed: int | None = None,
    stage_form: AdminForm | None = None,
    refused_pipeline: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    pipelines = pipelines_with_stages(session)
    counts = (
        select(Deal.stage_id, func.count())
        .join(Stage, Stage.id == Deal.stage_id)
        .where(Stage.type == StageType.OPEN)
        .group_by(Deal.stage_id)
    )
    in_scope = access.deals_filter(viewer)
    if in_scope is not None:
        counts = counts.where(in_scope)
    open_deals: dict[int, int] = {row[0]: row[1] for row in session.execute(counts)}
    context: dict[str, Any] = {
        "pipelines": pipelines,
        "open_deals": open_deals,
        "saved": next((p.name for p in pipelines if p.id == saved), None),
        "changed": next((p.name for p in pipelines if p.id == changed), None),
        "form": form,
        "stage_form": stage_form or AdminForm(),
        "refused_pipeline": refused_pipeline,
        "rows": range(max(STAGE_ROWS, _rows_typed(form))),
        "types": [(kind.value, kind.value.capitalize()) for kind in StageType],
    }
    return render(request, "admin/pipelines.html", context, status_code)


def _rows_typed(form: AdminForm) -> int:
    """How many stage rows the form needs to show everything that was typed."""
    typed = [
        int(match.group(1))
        for key, value in form.values.items()
        if value.strip() and (match := STAGE_NAME_KEY.match(key))
    ]
    return min(max(typed, default=-1) + 2, MAX_STAGE_ROWS)

"""Pipelines and stages: every sales process with its stages in order, their default win
probability and type, and how many open deals sit in each; admins define new pipelines.

Stages of an existing pipeline are shown read-only: there is no service that edits them yet.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.enums import StageType
from topline.crm.models import Deal, Stage
from topline.crm.pipelines import DEFAULT_STAGES
from topline.crm.schemas import PipelineCreate
from topline.errors import ToplineError
from topline.types import MAX_ID
from topline.web.api.pipelines import add_pipeline, pipelines_with_stages
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


@router.get("/admin/pipelines", response_class=HTMLResponse)
def pipelines_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    saved: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """Every pipeline with its stages in order, the default first; admins define new ones."""
    require_staff(user)
    return _render(request, session, user, _default_form(), saved=saved)


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
        "probability": "Enter a percentage from 0 to 100.",
        "type": "Pick open, won or lost.",
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
        "form": form,
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

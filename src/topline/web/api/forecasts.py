"""Forecast calls over HTTP: submissions in the caller's scope; submit a call."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from topline import access
from topline.auth.enums import Role
from topline.errors import PermissionDenied
from topline.forecasting.models import ForecastSubmission
from topline.forecasting.schemas import ForecastSubmissionRead, ForecastSubmit
from topline.forecasting.service import submit_forecast
from topline.types import MAX_ID, IsoDate, IsoDateTime
from topline.web.api.common import ApiUser, Cursor, Limit, Page, WithTotal, audit, errors, paginate
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/forecast-submissions", tags=["forecasts"], route_class=TransactionRoute)

ForecastSort = Literal[
    "submitted_at", "-submitted_at", "period_start", "-period_start", "id", "-id"
]  # fmt: skip
SORT_COLUMNS = {
    "submitted_at": ForecastSubmission.submitted_at,
    "period_start": ForecastSubmission.period_start,
    "id": ForecastSubmission.id,
}


@router.get("", response_model=Page[ForecastSubmissionRead], responses=errors(404))
def list_forecast_submissions(
    session: DbSession,
    user: ApiUser,
    user_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Calls for this person's number.")
    ] = None,
    period_start: IsoDate | None = None,
    submitted_since: Annotated[
        IsoDateTime | None, Query(description="With a timezone, e.g. 2025-01-31T00:00:00Z.")
    ] = None,
    sort: ForecastSort = "-submitted_at",
    cursor: Cursor = None,
    limit: Limit = 50,
    with_total: WithTotal = True,
) -> Page[ForecastSubmissionRead]:
    """Forecast calls for the numbers the caller may see, newest first by default."""
    stmt = access.scoped(select(ForecastSubmission), ForecastSubmission, user)
    if user_id is not None:
        stmt = stmt.where(ForecastSubmission.user_id == user_id)
    if period_start is not None:
        stmt = stmt.where(ForecastSubmission.period_start == period_start)
    if submitted_since is not None:
        stmt = stmt.where(ForecastSubmission.submitted_at >= submitted_since)
    rows, next_cursor, total = paginate(
        session,
        stmt,
        sort_column=SORT_COLUMNS[sort.lstrip("-")],
        id_column=ForecastSubmission.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
        with_total=with_total,
    )
    return Page[ForecastSubmissionRead](
        items=[ForecastSubmissionRead.model_validate(f) for f in rows],
        next_cursor=next_cursor,
        total=total,
    )


@router.post(
    "",
    response_model=ForecastSubmissionRead,
    status_code=status.HTTP_201_CREATED,
    responses=errors(403, 404, 409),
)
def create_forecast_submission(
    session: DbSession, user: ApiUser, body: ForecastSubmit
) -> ForecastSubmissionRead:
    """Submit a forecast call for a period of whole months.

    A rep calls their own number; a manager calls their roll-up or adjusts the number of
    someone below them. A `user_id` the caller cannot see is 404.
    """
    if user.role == Role.REP and body.user_id not in (None, user.id):
        raise PermissionDenied("reps call only their own number")
    target = access.resolve_user(session, user, body.user_id, field="user_id")
    submission = submit_forecast(
        session,
        submitted_by=user,
        user=target,
        period_start=body.period_start,
        period_end=body.period_end,
        commit_cents=body.commit_cents,
        best_case_cents=body.best_case_cents,
        pipeline_cents=body.pipeline_cents,
        note=body.note,
    )
    after = ForecastSubmissionRead.model_validate(submission)
    audit(
        session, user, action="submit", entity="forecast_submission", entity_id=submission.id,
        after=after,
    )  # fmt: skip
    return after

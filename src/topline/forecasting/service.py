"""Submitting forecast calls."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from topline.auth.enums import Role
from topline.auth.models import User
from topline.auth.service import visible_user_ids
from topline.clock import ensure_utc, utcnow
from topline.errors import InvalidInput, PermissionDenied
from topline.forecasting.models import ForecastSubmission
from topline.money import require_cents


def submit_forecast(
    session: Session,
    *,
    submitted_by: User,
    user: User,
    period_start: date,
    period_end: date,
    commit_cents: int,
    best_case_cents: int,
    pipeline_cents: int,
    note: str | None = None,
    at: datetime | None = None,
) -> ForecastSubmission:
    """Record a forecast call for `user`'s number in a period.

    Reps call their own number; a manager calls their own roll-up and may override the number of
    anyone in their reporting subtree. Commit ≤ best case ≤ pipeline, all non-negative.
    """
    if user.id != submitted_by.id:
        visible = visible_user_ids(session, submitted_by)
        if submitted_by.role == Role.REP or (visible is not None and user.id not in visible):
            raise PermissionDenied(f"{submitted_by.email} cannot call {user.email}'s number")
    require_cents(commit_cents, "commit")
    require_cents(best_case_cents, "best case")
    require_cents(pipeline_cents, "pipeline")
    if not commit_cents <= best_case_cents <= pipeline_cents:
        raise InvalidInput("a forecast needs commit ≤ best case ≤ pipeline")
    if period_end <= period_start:
        raise InvalidInput(f"forecast period ends ({period_end}) before it starts ({period_start})")
    submission = ForecastSubmission(
        user_id=user.id,
        submitted_by_id=submitted_by.id,
        period_start=period_start,
        period_end=period_end,
        commit_cents=commit_cents,
        best_case_cents=best_case_cents,
        pipeline_cents=pipeline_cents,
        note=note,
        submitted_at=ensure_utc(at or utcnow()),
    )
    session.add(submission)
    session.flush()
    return submission

"""Pydantic shapes of forecast calls for services and the API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field, model_validator

from topline.auth.schemas import IsoDate, ReadModel, StrictModel
from topline.types import Cents, Id, Text


class ForecastSubmit(StrictModel):
    """A forecast call for one person's number in one period.

    Commit ≤ best case ≤ pipeline. `user_id` defaults to the caller; a manager may call the
    number of anyone below them (an adjustment of that person's call).
    """

    user_id: Id | None = Field(default=None, description="Whose number; the caller when absent.")
    period_start: IsoDate
    period_end: IsoDate = Field(description="Exclusive: the first day after the period.")
    commit_cents: Cents
    best_case_cents: Cents
    pipeline_cents: Cents
    note: Text | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _ordered_amounts_and_a_real_period(self) -> ForecastSubmit:
        if not self.commit_cents <= self.best_case_cents <= self.pipeline_cents:
            raise ValueError("need commit_cents ≤ best_case_cents ≤ pipeline_cents")
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self


class ForecastSubmissionRead(ReadModel):
    """A forecast call as submitted."""

    id: int
    user_id: int
    submitted_by_id: int
    period_start: date
    period_end: date
    commit_cents: int
    best_case_cents: int
    pipeline_cents: int
    note: str | None
    submitted_at: datetime

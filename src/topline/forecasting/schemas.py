"""Pydantic shapes of forecast calls for services and the API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from topline.auth.schemas import ReadModel, StrictModel
from topline.types import Cents, Id, MonthPeriod, Text


class ForecastSubmit(StrictModel, MonthPeriod):
    """A forecast call for one person's number in a period of whole months.

    The three numbers are cumulative (commit ≤ best case ≤ pipeline), so the call is given as
    the commit and what each next category adds to it; an inverted call cannot be written.
    `user_id` defaults to the caller; a manager may call the number of anyone below them (an
    adjustment of that person's call).
    """

    user_id: Id | None = Field(default=None, description="Whose number; the caller when absent.")
    commit_cents: Cents = Field(description="What the caller commits to close in the period.")
    best_case_over_commit_cents: Cents = Field(
        description="Upside: what could close on top of the commit. Best case = commit + this."
    )
    pipeline_over_best_case_cents: Cents = Field(
        description="The rest of the pipeline beyond the best case. Pipeline = best case + this."
    )
    note: Text | None = Field(default=None, max_length=2000)

    @property
    def best_case_cents(self) -> int:
        """The best case: the commit plus the upside."""
        return self.commit_cents + self.best_case_over_commit_cents

    @property
    def pipeline_cents(self) -> int:
        """All the pipeline the call counts: the best case plus the rest."""
        return self.best_case_cents + self.pipeline_over_best_case_cents


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

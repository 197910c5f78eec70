"""Pydantic shapes of quotas for services and the API."""

from __future__ import annotations

from datetime import date

from pydantic import Field, model_validator

from topline.auth.schemas import IsoDate, ReadModel, StrictModel
from topline.types import Cents, Id


class QuotaSet(StrictModel):
    """The bookings target of one rep or one team for `[period_start, period_end)`.

    Setting a quota again for the same owner and start replaces its amount and end.
    """

    user_id: Id | None = Field(default=None, description="Give this or `team_id`.")
    team_id: Id | None = Field(default=None, description="Give this or `user_id`.")
    period_start: IsoDate
    period_end: IsoDate = Field(description="Exclusive: the first day after the period.")
    amount_cents: Cents

    @model_validator(mode="after")
    def _one_owner_and_a_real_period(self) -> QuotaSet:
        if (self.user_id is None) == (self.team_id is None):
            raise ValueError("give exactly one of user_id or team_id")
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self


class QuotaRead(ReadModel):
    """A quota as the API shows it."""

    id: int
    user_id: int | None
    team_id: int | None
    period_start: date
    period_end: date
    amount_cents: int

"""Pydantic shapes of quotas for services and the API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import Discriminator, Tag

from topline.auth.schemas import ReadModel, StrictModel
from topline.types import Cents, Id, MonthPeriod


class QuotaTarget(StrictModel, MonthPeriod):
    """The bookings target for a period of whole months.

    Setting a quota again for the same owner and first month replaces its amount and length.
    """

    amount_cents: Cents


class UserQuotaSet(QuotaTarget):
    """The quota of one person (a rep's number, or a manager's own)."""

    user_id: Id


class TeamQuotaSet(QuotaTarget):
    """The quota of one team."""

    team_id: Id


def _quota_owner(value: Any) -> str | None:
    # The owner field tells the two shapes apart; with both or neither there is no shape.
    if isinstance(value, TeamQuotaSet):
        return "team"
    if not isinstance(value, dict):
        return "user"  # refused there for not being an object at all
    if ("user_id" in value) == ("team_id" in value):
        return None
    return "user" if "user_id" in value else "team"


QuotaSet = Annotated[
    Annotated[UserQuotaSet, Tag("user")] | Annotated[TeamQuotaSet, Tag("team")],
    Discriminator(
        _quota_owner,
        custom_error_type="one_owner",
        custom_error_message="give exactly one of user_id or team_id",
    ),
]
"""A quota for exactly one owner: a person (`user_id`) or a team (`team_id`)."""


class QuotaRead(ReadModel):
    """A quota as the API shows it."""

    id: int
    user_id: int | None
    team_id: int | None
    period_start: date
    period_end: date
    amount_cents: int

"""What several pages share: the `as_of` day they are shown at, names looked up by id, and how
the warning signs of a deal at risk are named."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import Query
from pydantic import BeforeValidator
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline.auth.enums import Role
from topline.auth.models import User
from topline.clock import utcnow


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


# A filter form's empty choice ("Any", an empty date field) sends an empty value: it means
# the filter is not set. Add `Blank` to a query parameter's `Annotated[...]` to read it so.
Blank = BeforeValidator(_blank_is_none)

AsOfDay = Annotated[
    date | None, Query(description="Show the page as it stood at the end of that day."), Blank
]


def end_of_day(day: date | None) -> datetime:
    """The end of `day` (UTC), never later than now; now without a day."""
    now = utcnow()
    if day is None:
        return now
    return min(now, datetime.combine(day, time.max, tzinfo=UTC))


def people_in_view(session: Session, ids: Collection[int] | None) -> list[tuple[int, str, Role]]:
    """The people a filter may name: `ids` (from `visible_user_ids`; None for everyone), as
    (id, name, role), by name."""
    stmt = select(User.id, User.name, User.role).order_by(User.name, User.id)
    if ids is not None:
        stmt = stmt.where(User.id.in_(list(ids)))
    return [(row[0], row[1], row[2]) for row in session.execute(stmt)]


RISK_LABELS = {
    "past_close_date": "Past close date",
    "no_next_step": "No next step",
    "stale": "Gone quiet",
    "slipped": "Slipped",
}
RISK_HELP = {
    "past_close_date": "The expected close date is before today and the deal is still open.",
    "no_next_step": "Nobody wrote down what happens next.",
    "stale": "Nothing logged on the deal and no change to it in 30 days.",
    "slipped": "Its close date was moved later in the last 30 days.",
}

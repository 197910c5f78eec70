"""The forecast call over HTTP: a manager's roll-up, a person's prefill and their bias.

Each takes `as_of` (default now): the call is shown as it stood then. The roll-up and the
prefill take a named `period` (a month, fiscal quarter or fiscal year; by default the fiscal
quarter of `as_of`), the periods calls are submitted for. A person the caller may not see is
404, as everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from topline import access
from topline.analytics.periods import Period
from topline.analytics.reports import choose_period
from topline.auth.models import User
from topline.clock import utcnow
from topline.errors import NotFound
from topline.forecasting.calls import forecast_bias, forecast_rollup, prefill
from topline.forecasting.schemas import (
    CallAmountsRead,
    CallPeriodRead,
    ForecastBiasRead,
    ForecastBiasReport,
    ForecastRollupReport,
    PrefillReport,
)
from topline.types import MAX_ID
from topline.web.api.common import ApiUser, errors
from topline.web.api.reports import AsOf
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/forecast", tags=["forecasts"], route_class=TransactionRoute)

# The reports' period names, with years 1000 to 2999 so that every period the pattern admits
# exists on the calendar (the last date Python holds is in 9999).
CALL_PERIOD_PATTERN = r"^((FY)?[12]\d{3}(-?Q[1-4])?|[12]\d{3}-(0[1-9]|1[0-2]))$"
CallPeriod = Annotated[
    str | None,
    Query(
        pattern=CALL_PERIOD_PATTERN,
        description="A fiscal quarter (2025Q3), fiscal year (2025 or FY2025) or month "
        "(2025-07); by default the fiscal quarter of `as_of`.",
    ),
]
UserId = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="Whose number; the caller when absent.")
]
ManagerId = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="The manager at the root; the caller when absent."),
]


class PeriodOutOfRange(NotFound):
    """The default period of an `as_of` the calendar cannot hold a whole quarter around."""

    code = "period_not_found"


def _moment(as_of: datetime | None) -> datetime:
    """`as_of` in UTC (default now); a moment past either end of the calendar is its end."""
    if as_of is None:
        return utcnow()
    try:
        return as_of.astimezone(UTC)
    except OverflowError:
        edge = datetime.max if as_of.year > 1 else datetime.min
        return edge.replace(tzinfo=UTC)


def _period(session: Session, period: str | None, moment: datetime) -> Period:
    """The named period, or the fiscal quarter `moment` falls in."""
    try:
        return choose_period(session, period=period, start=None, end=None, as_of=moment)
    except (ValueError, OverflowError):
        raise PeriodOutOfRange(
            f"as_of {moment.isoformat()}: its fiscal quarter runs past the calendar; give `period`"
        ) from None


def _person(session: Session, viewer: User, user_id: int | None) -> User:
    """The person `user_id` names (the viewer when absent), if the viewer may see them."""
    if user_id is None or user_id == viewer.id:
        return viewer
    return access.get_visible(session, User, user_id, viewer)


@router.get("/rollup", response_model=ForecastRollupReport, responses=errors(404))
def get_forecast_rollup(
    session: DbSession,
    user: ApiUser,
    period: CallPeriod = None,
    manager_id: ManagerId = None,
    as_of: AsOf = None,
) -> ForecastRollupReport:
    """A manager's forecast call and everyone's below them: each person's own call, their
    manager's adjustment, the call that counts, the prefill from their deals, the roll-up of
    their reports' calls, whether the call is stale, and their bias."""
    moment = _moment(as_of)
    chosen = _period(session, period, moment)
    manager = _person(session, user, manager_id)
    rollup = forecast_rollup(session, user, manager, chosen, moment)
    return ForecastRollupReport.model_validate(rollup, from_attributes=True)


@router.get("/prefill", response_model=PrefillReport, responses=errors(404))
def get_forecast_prefill(
    session: DbSession,
    user: ApiUser,
    period: CallPeriod = None,
    user_id: UserId = None,
    as_of: AsOf = None,
) -> PrefillReport:
    """What a person's deals said about the period at `as_of`: the commit, best case and
    pipeline a call would start from."""
    moment = _moment(as_of)
    chosen = _period(session, period, moment)
    person = _person(session, user, user_id)
    amounts = prefill(session, person, chosen, moment)
    return PrefillReport(
        user_id=person.id,
        period=CallPeriodRead.model_validate(chosen, from_attributes=True),
        as_of=moment,
        amounts=CallAmountsRead.model_validate(amounts, from_attributes=True),
    )


@router.get("/bias", response_model=ForecastBiasReport, responses=errors(404))
def get_forecast_bias(
    session: DbSession,
    user: ApiUser,
    user_id: UserId = None,
    as_of: AsOf = None,
) -> ForecastBiasReport:
    """How far a person's calls were from what was won, by horizon and category, over the
    periods that had ended by `as_of`, with a plain-words label."""
    moment = _moment(as_of)
    person = _person(session, user, user_id)
    bias = forecast_bias(session, [person.id], moment)[person.id]
    return ForecastBiasReport(
        as_of=moment, bias=ForecastBiasRead.model_validate(bias, from_attributes=True)
    )

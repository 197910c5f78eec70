"""Revenue reports over HTTP: ramp-up time of new reps, and MRR with net revenue retention.

They take the scope and `as_of` parameters of the other reports (`topline.web.api.reports`);
`mrr` also takes the period, `ramp` a `window` of months up to `as_of` in which reps were hired.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from topline.analytics.reports import Report
from topline.analytics.revenue import (
    DEFAULT_WINDOW_MONTHS,
    MAX_WINDOW_MONTHS,
    MrrBreakdown,
    MrrRow,
    MrrSummary,
    RampRow,
    RampSummary,
    mrr_report,
    ramp_report,
)
from topline.web.api.common import ApiUser, errors
from topline.web.api.reports import ReportParams, TrailingParams, report_inputs
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/reports", tags=["reports"], route_class=TransactionRoute)

WindowMonths = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_WINDOW_MONTHS,
        description="Reps hired in this many calendar months up to the day of `as_of`.",
    ),
]


@router.get("/ramp", response_model=Report[RampSummary, RampRow], responses=errors(404))
def get_ramp_report(
    session: DbSession,
    user: ApiUser,
    query: TrailingParams,
    window: WindowMonths = DEFAULT_WINDOW_MONTHS,
) -> Report[RampSummary, RampRow]:
    """Ramp-up time of the reps hired in the window: days from hire until their
    trailing-90-day bookings first reach the median of the scope's reps with more than a year
    of tenure, with their bookings by month of tenure. The window is the report's period."""
    scope, _, moment = report_inputs(session, user, query)
    return ramp_report(session, scope, moment, window=window, page=query.page)


@router.get("/mrr", response_model=Report[MrrSummary, MrrRow], responses=errors(404))
def get_mrr_report(
    session: DbSession,
    user: ApiUser,
    query: ReportParams,
    by: Annotated[MrrBreakdown, Query(description="Rows by month or by account.")] = (
        MrrBreakdown.MONTH
    ),
) -> Report[MrrSummary, MrrRow]:
    """MRR from the recurring amounts of won deals (a won renewal replaces the account's MRR,
    a lost one churns it), its movements by month or account, NRR over the 12 months up to
    `as_of`, and the period's bookings by deal type."""
    scope, chosen, moment = report_inputs(session, user, query)
    return mrr_report(session, scope, chosen, moment, by=by, page=query.page)

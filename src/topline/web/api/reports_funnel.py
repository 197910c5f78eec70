"""Funnel reports over HTTP: stage conversion and pipeline velocity, in the caller's scope.

They take the scope and `as_of` parameters of the other reports (`topline.web.api.reports`);
the funnel also takes the period, velocity a trailing `window` of days ending at `as_of`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from topline.analytics.funnel import (
    DEFAULT_WINDOW_DAYS,
    MAX_WINDOW_DAYS,
    FunnelRow,
    FunnelSummary,
    VelocityRow,
    VelocitySummary,
    funnel_report,
    velocity_report,
)
from topline.analytics.reports import Report
from topline.web.api.common import ApiUser, errors
from topline.web.api.reports import ReportParams, TrailingParams, report_inputs
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/reports", tags=["reports"], route_class=TransactionRoute)

Window = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_WINDOW_DAYS,
        description="Trailing UTC calendar days ending on the day of `as_of`.",
    ),
]


@router.get("/funnel", response_model=Report[FunnelSummary, FunnelRow], responses=errors(404))
def get_funnel_report(
    session: DbSession,
    user: ApiUser,
    query: ReportParams,
) -> Report[FunnelSummary, FunnelRow]:
    """Of the deals that entered each open stage in the period, how many advanced, were lost,
    stayed or moved back, and the median days they spent in the stage."""
    scope, chosen, moment = report_inputs(session, user, query)
    return funnel_report(session, scope, chosen, moment, page=query.page)


@router.get("/velocity", response_model=Report[VelocitySummary, VelocityRow], responses=errors(404))
def get_velocity_report(
    session: DbSession,
    user: ApiUser,
    query: TrailingParams,
    window: Window = DEFAULT_WINDOW_DAYS,
) -> Report[VelocitySummary, VelocityRow]:
    """Pipeline velocity (open deals × average won amount × win rate / average cycle days, in
    cents per day) over a trailing window, for the scope and each rep. The window is the
    report's period."""
    scope, _, moment = report_inputs(session, user, query)
    return velocity_report(session, scope, moment, window=window, page=query.page)

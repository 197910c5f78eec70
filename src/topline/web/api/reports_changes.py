"""Change reports over HTTP: slippage and the pipeline waterfall between `since` and `as_of`.

They take the shared report parameters of `topline.web.api.reports` (scope, period, `as_of`)
plus `since`, the earlier moment (default: the period's start).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from topline.analytics.changes import (
    SlippageRow,
    SlippageSummary,
    WaterfallRow,
    WaterfallSummary,
    slippage_report,
    waterfall_report,
)
from topline.analytics.reports import Report
from topline.types import IsoDateTime
from topline.web.api.common import ApiUser, errors
from topline.web.api.reports import ReportParams, report_inputs
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/reports", tags=["reports"], route_class=TransactionRoute)

Since = Annotated[
    IsoDateTime | None,
    Query(
        description="The earlier moment (with a timezone); default the period's start. "
        "It must not be after `as_of`."
    ),
]


@router.get(
    "/slippage",
    response_model=Report[SlippageSummary, SlippageRow],
    responses=errors(404),
)
def get_slippage_report(
    session: DbSession,
    user: ApiUser,
    query: ReportParams,
    since: Since = None,
) -> Report[SlippageSummary, SlippageRow]:
    """Deals pushed out of the period while open between `since` and `as_of`: one row per
    deal with its pushes, and the share of the period's pipeline at `since` that slipped."""
    scope, chosen, moment = report_inputs(session, user, query)
    return slippage_report(session, scope, chosen, moment, since=since, page=query.page)


@router.get(
    "/waterfall",
    response_model=Report[WaterfallSummary, WaterfallRow],
    responses=errors(404),
)
def get_waterfall_report(
    session: DbSession,
    user: ApiUser,
    query: ReportParams,
    since: Since = None,
) -> Report[WaterfallSummary, WaterfallRow]:
    """The period's open pipeline from `since` to `as_of`: open at since + created + pulled in
    + increased − decreased − pushed out − won − lost − other = open at as_of."""
    scope, chosen, moment = report_inputs(session, user, query)
    return waterfall_report(session, scope, chosen, moment, since=since, page=query.page)

"""People reports over HTTP: each rep against the scope's median, and the concentration of won
revenue among accounts and reps.

They take the same scope, period and `as_of` parameters as the other reports
(`topline.web.api.reports`); the concentration report also takes `by`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from topline.analytics.people import (
    ConcentrationBy,
    ConcentrationRow,
    ConcentrationSummary,
    RepsRow,
    RepsSummary,
    concentration_report,
    reps_report,
)
from topline.analytics.reports import Report
from topline.web.api.common import ApiUser, errors
from topline.web.api.reports import ReportParams, report_inputs
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/reports", tags=["reports"], route_class=TransactionRoute)


@router.get("/reps", response_model=Report[RepsSummary, RepsRow], responses=errors(404))
def get_reps_report(
    session: DbSession,
    user: ApiUser,
    query: ReportParams,
) -> Report[RepsSummary, RepsRow]:
    """Each rep of the scope against the median rep, metric by metric (pipeline created, open
    pipeline, win rate, won amount, average won deal, sales cycle, stage conversion, activities),
    and per rep the metrics furthest below the median."""
    scope, chosen, moment = report_inputs(session, user, query)
    return reps_report(session, scope, chosen, moment, page=query.page)


@router.get(
    "/concentration",
    response_model=Report[ConcentrationSummary, ConcentrationRow],
    responses=errors(404),
)
def get_concentration_report(
    session: DbSession,
    user: ApiUser,
    query: ReportParams,
    by: Annotated[ConcentrationBy, Query(description="What the rows list.")] = (
        ConcentrationBy.ACCOUNTS
    ),
) -> Report[ConcentrationSummary, ConcentrationRow]:
    """The share of won revenue from the top 20% of accounts and of reps, with the accounts
    (or reps) by won revenue and their cumulative share."""
    scope, chosen, moment = report_inputs(session, user, query)
    return concentration_report(session, scope, chosen, moment, by=by, page=query.page)

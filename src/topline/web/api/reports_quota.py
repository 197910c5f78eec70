"""Quota reports over HTTP: pipeline coverage, attainment and the leaderboard.

They take the same scope, period and `as_of` parameters as the other reports
(`topline.web.api.reports`); quotas are prorated to the period by the days they share with it.
"""

from __future__ import annotations

from fastapi import APIRouter

from topline.analytics.quota import (
    AttainmentRow,
    AttainmentSummary,
    CoverageRow,
    CoverageSummary,
    LeaderboardRow,
    LeaderboardSummary,
    attainment_report,
    coverage_report,
    leaderboard_report,
)
from topline.analytics.reports import Report
from topline.web.api.common import ApiUser, errors
from topline.web.api.reports import ReportParams, report_inputs
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/reports", tags=["reports"], route_class=TransactionRoute)


@router.get("/coverage", response_model=Report[CoverageSummary, CoverageRow], responses=errors(404))
def get_coverage_report(
    session: DbSession,
    user: ApiUser,
    query: ReportParams,
) -> Report[CoverageSummary, CoverageRow]:
    """Open pipeline closing in the period against the quota still to close (quota − won),
    for the scope and each person in it."""
    scope, chosen, moment = report_inputs(session, user, query)
    return coverage_report(session, scope, chosen, moment, page=query.page)


@router.get(
    "/attainment", response_model=Report[AttainmentSummary, AttainmentRow], responses=errors(404)
)
def get_attainment_report(
    session: DbSession,
    user: ApiUser,
    query: ReportParams,
) -> Report[AttainmentSummary, AttainmentRow]:
    """Won amount against quota in the period, for the scope and each person in it."""
    scope, chosen, moment = report_inputs(session, user, query)
    return attainment_report(session, scope, chosen, moment, page=query.page)


@router.get(
    "/leaderboard",
    response_model=Report[LeaderboardSummary, LeaderboardRow],
    responses=errors(404),
)
def get_leaderboard_report(
    session: DbSession,
    user: ApiUser,
    query: ReportParams,
) -> Report[LeaderboardSummary, LeaderboardRow]:
    """The scope's people ranked by won amount in the period, with attainment, deals won,
    win rate and average deal size."""
    scope, chosen, moment = report_inputs(session, user, query)
    return leaderboard_report(session, scope, chosen, moment, page=query.page)

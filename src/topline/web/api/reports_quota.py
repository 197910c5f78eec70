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
from topline.web.api.reports import AsOf, End, PeriodText, RepId, Start, TeamOf, _inputs
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/reports", tags=["reports"], route_class=TransactionRoute)


@router.get("/coverage", response_model=Report[CoverageSummary, CoverageRow], responses=errors(404))
def get_coverage_report(
    session: DbSession,
    user: ApiUser,
    period: PeriodText = None,
    start: Start = None,
    end: End = None,
    as_of: AsOf = None,
    team_of: TeamOf = None,
    rep_id: RepId = None,
) -> Report[CoverageSummary, CoverageRow]:
    """Open pipeline closing in the period against the quota still to close (quota − won),
    for the scope and each person in it."""
    scope, chosen, moment = _inputs(
        session, user, period=period, start=start, end=end, as_of=as_of, team_of=team_of,
        rep_id=rep_id,
    )  # fmt: skip
    return coverage_report(session, scope, chosen, moment)


@router.get(
    "/attainment", response_model=Report[AttainmentSummary, AttainmentRow], responses=errors(404)
)
def get_attainment_report(
    session: DbSession,
    user: ApiUser,
    period: PeriodText = None,
    start: Start = None,
    end: End = None,
    as_of: AsOf = None,
    team_of: TeamOf = None,
    rep_id: RepId = None,
) -> Report[AttainmentSummary, AttainmentRow]:
    """Won amount against quota in the period, for the scope and each person in it."""
    scope, chosen, moment = _inputs(
        session, user, period=period, start=start, end=end, as_of=as_of, team_of=team_of,
        rep_id=rep_id,
    )  # fmt: skip
    return attainment_report(session, scope, chosen, moment)


@router.get(
    "/leaderboard",
    response_model=Report[LeaderboardSummary, LeaderboardRow],
    responses=errors(404),
)
def get_leaderboard_report(
    session: DbSession,
    user: ApiUser,
    period: PeriodText = None,
    start: Start = None,
    end: End = None,
    as_of: AsOf = None,
    team_of: TeamOf = None,
    rep_id: RepId = None,
) -> Report[LeaderboardSummary, LeaderboardRow]:
    """The scope's people ranked by won amount in the period, with attainment, deals won,
    win rate and average deal size."""
    scope, chosen, moment = _inputs(
        session, user, period=period, start=start, end=end, as_of=as_of, team_of=team_of,
        rep_id=rep_id,
    )  # fmt: skip
    return leaderboard_report(session, scope, chosen, moment)

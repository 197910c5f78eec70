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
from topline.web.api.reports import AsOf, End, PeriodText, RepId, Start, TeamOf, _inputs
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/reports", tags=["reports"], route_class=TransactionRoute)


@router.get("/reps", response_model=Report[RepsSummary, RepsRow], responses=errors(404))
def get_reps_report(
    session: DbSession,
    user: ApiUser,
    period: PeriodText = None,
    start: Start = None,
    end: End = None,
    as_of: AsOf = None,
    team_of: TeamOf = None,
    rep_id: RepId = None,
) -> Report[RepsSummary, RepsRow]:
    """Each rep of the scope against the median rep, metric by metric (pipeline created, open
    pipeline, win rate, won amount, average won deal, sales cycle, stage conversion, activities),
    and per rep the metrics furthest below the median."""
    scope, chosen, moment = _inputs(
        session, user, period=period, start=start, end=end, as_of=as_of, team_of=team_of,
        rep_id=rep_id,
    )  # fmt: skip
    return reps_report(session, scope, chosen, moment)


@router.get(
    "/concentration",
    response_model=Report[ConcentrationSummary, ConcentrationRow],
    responses=errors(404),
)
def get_concentration_report(
    session: DbSession,
    user: ApiUser,
    period: PeriodText = None,
    start: Start = None,
    end: End = None,
    as_of: AsOf = None,
    team_of: TeamOf = None,
    rep_id: RepId = None,
    by: Annotated[ConcentrationBy, Query(description="What the rows list.")] = (
        ConcentrationBy.ACCOUNTS
    ),
) -> Report[ConcentrationSummary, ConcentrationRow]:
    """The share of won revenue from the top 20% of accounts and of reps, with the accounts
    (or reps) by won revenue and their cumulative share."""
    scope, chosen, moment = _inputs(
        session, user, period=period, start=start, end=end, as_of=as_of, team_of=team_of,
        rep_id=rep_id,
    )  # fmt: skip
    return concentration_report(session, scope, chosen, moment, by=by)

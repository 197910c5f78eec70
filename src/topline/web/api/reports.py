"""Reports over HTTP: the pipeline analytics of `topline.analytics`, in the caller's scope.

Every report takes a scope (`team_of` a manager, or `rep_id`; by default all the caller may
see), a period (`period` such as 2025Q3, FY2026, 2025-07, or `start` and `end`; by default the
fiscal quarter of `as_of`) and `as_of` (default now; any past moment is rebuilt from the deals'
history). The summary covers the whole scope; the rows come a page at a time (`limit`, default
1000, and `offset`), with `total_rows` telling how many there are. The export gives them all.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as FastApiPath
from pydantic import BaseModel
from sqlalchemy.orm import Session

from topline.analytics.catalog import REPORTS
from topline.analytics.paging import ALL_ROWS, DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, RowPage
from topline.analytics.periods import Period
from topline.analytics.reports import (
    Breakdown,
    CycleRow,
    CycleSummary,
    PipelineRow,
    PipelineSummary,
    Report,
    WinRateRow,
    WinRateSummary,
    choose_period,
    cycle_report,
    pipeline_report,
    win_rate_report,
)
from topline.analytics.scope import Scope, resolve_scope
from topline.auth.models import User
from topline.clock import utcnow
from topline.errors import InvalidInput
from topline.exporters.tables import ExportFormat
from topline.types import MAX_ID, IsoDate, IsoDateTime
from topline.web.api.common import ApiUser, errors
from topline.web.api.exports import export_columns, export_responses, rows_response
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/reports", tags=["reports"], route_class=TransactionRoute)

PERIOD_PATTERN = r"^((FY)?[1-9]\d{3}(-?Q[1-4])?|[1-9]\d{3}-(0[1-9]|1[0-2]))$"
PeriodText = Annotated[
    str | None,
    Query(
        pattern=PERIOD_PATTERN,
        description="A fiscal quarter (2025Q3), fiscal year (2025 or FY2025) or month "
        "(2025-07). Instead, give `start` and `end`.",
    ),
]
Start = Annotated[IsoDate | None, Query(description="First day of a custom period.")]
End = Annotated[IsoDate | None, Query(description="First day after a custom period.")]
AsOf = Annotated[
    IsoDateTime | None,
    Query(description="The moment the data is taken at (with a timezone); default now."),
]
TeamOf = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="A manager: their whole reporting subtree.")
]
RepId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="One rep.")]
Limit = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_LIMIT,
        description="At most this many rows (the summary always covers the whole scope).",
    ),
]
Offset = Annotated[
    int,
    Query(
        ge=0,
        le=MAX_OFFSET,
        description="Skip this many rows: the next page starts at `offset` + the rows given, "
        "while that is under `total_rows`.",
    ),
]


@dataclass(frozen=True)
class ReportQuery:
    """The scope, period and moment a report is asked for, as the query gave them."""

    period: str | None
    start: date | None
    end: date | None
    as_of: datetime | None
    team_of: int | None
    rep_id: int | None
    page: RowPage = ALL_ROWS


async def period_query(
    period: PeriodText = None,
    start: Start = None,
    end: End = None,
    as_of: AsOf = None,
    team_of: TeamOf = None,
    rep_id: RepId = None,
) -> ReportQuery:
    """The scope, period and moment every report over a period takes (all its rows)."""
    return ReportQuery(period, start, end, as_of, team_of, rep_id)


async def report_query(
    query: Annotated[ReportQuery, Depends(period_query)],
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> ReportQuery:
    """The parameters every report over a period takes: a page of its rows."""
    return replace(query, page=RowPage(offset, limit))


async def trailing_query(
    as_of: AsOf = None,
    team_of: TeamOf = None,
    rep_id: RepId = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> ReportQuery:
    """The parameters of a report over a trailing window ending at `as_of` (no period)."""
    return ReportQuery(None, None, None, as_of, team_of, rep_id, RowPage(offset, limit))


ReportParams = Annotated[ReportQuery, Depends(report_query)]
ExportParams = Annotated[ReportQuery, Depends(period_query)]
TrailingParams = Annotated[ReportQuery, Depends(trailing_query)]


def report_inputs(
    session: Session, user: User, query: ReportQuery
) -> tuple[Scope, Period, datetime]:
    """The scope (if the user may see it), the period and the moment of a report."""
    moment = query.as_of or utcnow()
    scope = resolve_scope(session, user, team_of=query.team_of, rep_id=query.rep_id)
    chosen = choose_period(
        session, period=query.period, start=query.start, end=query.end, as_of=moment
    )
    return scope, chosen, moment


@router.get("/pipeline", response_model=Report[PipelineSummary, PipelineRow], responses=errors(404))
def get_pipeline_report(
    session: DbSession,
    user: ApiUser,
    query: ReportParams,
) -> Report[PipelineSummary, PipelineRow]:
    """Open pipeline closing in the period by stage (count, amount, weighted), and pipeline
    created in the period against the previous one."""
    scope, chosen, moment = report_inputs(session, user, query)
    return pipeline_report(session, scope, chosen, moment, page=query.page)


@router.get("/win-rate", response_model=Report[WinRateSummary, WinRateRow], responses=errors(404))
def get_win_rate_report(
    session: DbSession,
    user: ApiUser,
    query: ReportParams,
    by: Annotated[Breakdown, Query(description="How the rows break the total down.")] = (
        Breakdown.REP
    ),
) -> Report[WinRateSummary, WinRateRow]:
    """Won against lost among deals closed in the period, by count and by value."""
    scope, chosen, moment = report_inputs(session, user, query)
    return win_rate_report(session, scope, chosen, moment, by=by, page=query.page)


@router.get("/cycle", response_model=Report[CycleSummary, CycleRow], responses=errors(404))
def get_cycle_report(
    session: DbSession,
    user: ApiUser,
    query: ReportParams,
) -> Report[CycleSummary, CycleRow]:
    """Sales-cycle length (days from creation to close) of deals closed in the period."""
    scope, chosen, moment = report_inputs(session, user, query)
    return cycle_report(session, scope, chosen, moment, page=query.page)


# --- Any report's rows as a file ----------------------------------------------------------------

ReportName = StrEnum("ReportName", {name: name for name in REPORTS})  # type: ignore[misc]


@router.get("/{name}/export", response_class=Response, responses=export_responses("report"))
def export_report(
    session: DbSession,
    user: ApiUser,
    name: Annotated[ReportName, FastApiPath(description="Which report.")],
    query: ExportParams,
    format: ExportFormat = ExportFormat.CSV,
    by: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=50,
            pattern=r"^[a-z_]+$",
            description="Reports with rows by one of several keys (win-rate, concentration, mrr).",
        ),
    ] = None,
    since: Annotated[
        IsoDateTime | None, Query(description="Reports between two moments (slippage, waterfall).")
    ] = None,
    window: Annotated[
        int | None,
        Query(ge=1, le=3650, description="Reports over a trailing window (velocity, ramp)."),
    ] = None,
) -> Response:
    """All of a report's rows (its breakdown) as CSV, XLSX or Parquet, in the caller's scope.

    Rows that hold lists (the rep comparison's metrics) carry them as JSON text.
    """
    spec = REPORTS[name.value]
    given = {"by": by, "since": since.isoformat() if since else None,
             "window": str(window) if window is not None else None}  # fmt: skip
    options = {key: value for key, value in given.items() if value is not None}
    for key in options:
        if key not in spec.options:
            raise InvalidInput(f"{key} does not apply to the {spec.name} report")
    scope, chosen, moment = report_inputs(session, user, query)
    result = spec.run(session, scope, chosen, moment, options)
    rows_of: Any = result.rows  # type: ignore[attr-defined]
    row_model = type(rows_of[0]) if rows_of else _declared_row_model(result)
    columns = export_columns(row_model) if row_model is not None else []
    rows = (
        [_cell(column.name, row) for column in columns]
        for row in result.rows  # type: ignore[attr-defined]
    )
    return rows_response(columns, rows, format, spec.name)


def _declared_row_model(result: BaseModel) -> type[BaseModel] | None:
    """The row model of a report built as `Report[Summary, Row]` (None if left generic)."""
    (row_model,) = typing.get_args(type(result).model_fields["rows"].annotation) or (None,)
    return row_model if isinstance(row_model, type) else None


def _cell(name: str, row: BaseModel) -> Any:
    value = getattr(row, name)
    if isinstance(value, list | dict):
        return json.loads(row.model_dump_json(include={name}))[name]
    return value

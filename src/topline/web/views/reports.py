"""Report pages: every report of `topline.analytics` for the viewer's scope, a period and a
moment, as a chart (Plotly, served from the installed package, no CDN), its headline figures
and its rows, with a CSV export of the rows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import plotly
import plotly.graph_objects as go
from fastapi import APIRouter, Query, Request
from fastapi import Path as UrlPath
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel

from topline.analytics.catalog import REPORTS
from topline.analytics.paging import ALL_ROWS, MAX_OFFSET, RowPage
from topline.analytics.reports import choose_period
from topline.analytics.scope import resolve_scope
from topline.auth.enums import Role
from topline.auth.models import User
from topline.auth.service import visible_user_ids
from topline.errors import NotFound
from topline.exporters.tables import ExportFormat
from topline.web.api.exports import export_columns, rows_response
from topline.web.api.reports import PERIOD_PATTERN
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates
from topline.web.views.common import Blank, end_of_day, people_in_view

router = APIRouter(route_class=TransactionRoute)

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
# Per report: the rows' label field, value field, and how the value reads (money, rate, count).
CHARTS: dict[str, tuple[str, str, str]] = {
    "pipeline": ("stage", "amount_cents", "money"),
    "funnel": ("stage", "conversion", "rate"),
    "win-rate": ("key", "win_rate", "rate"),
    "cycle": ("bucket", "won", "count"),
    "attainment": ("name", "attainment", "rate"),
    "leaderboard": ("name", "won_cents", "money"),
    "coverage": ("name", "coverage", "count"),
    "mrr": ("key", "mrr_end_cents", "money"),
    "velocity": ("key", "velocity_cents_per_day", "money"),
    "slippage": ("name", "pushed_cents", "money"),
}
WATERFALL_STEPS = [
    ("Open at A", "open_at_since_cents", "absolute"),
    ("Created", "created_cents", "relative"),
    ("Pulled in", "pulled_in_cents", "relative"),
    ("Increased", "increased_cents", "relative"),
    ("Decreased", "decreased_cents", "negative"),
    ("Pushed out", "pushed_out_cents", "negative"),
    ("Won", "won_cents", "negative"),
    ("Lost", "lost_cents", "negative"),
    ("Other", "other_cents", "negative"),
]
PeriodText = Annotated[str | None, Query(pattern=PERIOD_PATTERN), Blank]
Day = Annotated[date | None, Query(), Blank]
Offset = Annotated[int | None, Query(ge=0, le=MAX_OFFSET), Blank]
# Rows on one page: a long list (slipped deals, accounts) comes a page at a time, and its chart
# shows the page's rows.
PAGE_ROWS = 100


@router.get("/assets/plotly.min.js", include_in_schema=False)
def plotly_js() -> FileResponse:
    """plotly.js as the installed Plotly package ships it."""
    return FileResponse(
        PLOTLY_JS,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/reports", response_class=HTMLResponse)
def reports_index(request: Request, user: CurrentUser) -> HTMLResponse:
    """Every report, by name."""
    context = {"reports": sorted(REPORTS.values(), key=lambda spec: spec.title)}
    return templates.TemplateResponse(request, "reports/index.html", context)


ScopeText = Annotated[
    str | None,
    Query(pattern=r"^(team|rep):[0-9]{1,18}$", description="team:<manager id> or rep:<user id>."),
    Blank,
]


def _run(
    session: Any, user: Any, name: str, period: str | None, as_of: date | None,
    since: date | None, scope_text: str | None = None, page: RowPage = ALL_ROWS,
) -> tuple[Any, BaseModel, datetime]:  # fmt: skip
    spec = REPORTS.get(name)
    if spec is None:
        raise NotFound(f"no report {name!r}")
    moment = end_of_day(as_of)
    kind, _, number = (scope_text or "").partition(":")
    scope = resolve_scope(
        session, user,
        team_of=int(number) if kind == "team" else None,
        rep_id=int(number) if kind == "rep" else None,
    )  # fmt: skip
    chosen = choose_period(session, period=period, start=None, end=None, as_of=moment)
    options = {}
    if since is not None and "since" in spec.options:
        options["since"] = datetime.combine(since, time.max, tzinfo=UTC).isoformat()
    return spec, spec.run(session, scope, chosen, moment, options, page), moment


@router.get("/reports/{name}", response_class=HTMLResponse)
def report_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    name: Annotated[str, UrlPath(max_length=40)],
    period: PeriodText = None,
    as_of: Day = None,
    since: Day = None,
    scope: ScopeText = None,
    offset: Offset = None,
) -> HTMLResponse:
    """One report for the viewer's scope, or a team or rep in it: chart, headline figures,
    rows (a page of them)."""
    page = RowPage(offset or 0, PAGE_ROWS)
    spec, result, _ = _run(session, user, name, period, as_of, since, scope, page)
    data = json.loads(result.model_dump_json())
    rows = data.get("rows", [])
    context: dict[str, Any] = {
        "spec": spec,
        "result": data,
        "summary": [(key, value) for key, value in data["summary"].items()],
        "columns": list(rows[0]) if rows else [],
        "rows": rows,
        "figure": _figure(spec.name, data),
        "period_text": period or "",
        "as_of": as_of,
        "since": since,
        "takes_since": "since" in spec.options,
        "scope_text": scope or "",
        "scopes": _scope_choices(session, user),
        "export_link": str(request.url.remove_query_params("offset")).replace(
            f"/reports/{spec.name}", f"/reports/{spec.name}/export", 1
        ),
        "paging": _paging(request, page, len(rows), data["total_rows"]),
        "page_rows": PAGE_ROWS,
    }
    return templates.TemplateResponse(request, "reports/report.html", context)


@router.get("/reports/{name}/export", response_class=Response)
def report_export(
    session: DbSession,
    user: CurrentUser,
    name: Annotated[str, UrlPath(max_length=40)],
    period: PeriodText = None,
    as_of: Day = None,
    since: Day = None,
    scope: ScopeText = None,
) -> Response:
    """The report's rows as CSV."""
    spec, result, _ = _run(session, user, name, period, as_of, since, scope)
    rows_of: list[BaseModel] = getattr(result, "rows", [])
    if not rows_of:
        return rows_response([], [], ExportFormat.CSV, spec.name)
    columns = export_columns(type(rows_of[0]))
    values = ([_plain(getattr(row, column.name)) for column in columns] for row in rows_of)
    return rows_response(columns, values, ExportFormat.CSV, spec.name)


def _paging(request: Request, page: RowPage, shown: int, total: int) -> dict[str, Any] | None:
    """Where the page's rows fall among the report's and links to the pages around it; None
    when one page holds them all."""
    if page.offset == 0 and shown >= total:
        return None
    size = page.limit or PAGE_ROWS

    def link(offset: int) -> str:
        return str(request.url.include_query_params(offset=offset))

    return {
        "first": page.offset + 1,
        "last": page.offset + shown,
        "total": total,
        "previous": link(max(page.offset - size, 0)) if page.offset > 0 else None,
        "next": link(page.offset + size) if page.offset + shown < total else None,
    }


def _scope_choices(session: Any, viewer: User) -> list[tuple[str, str]]:
    """The teams and reps the viewer may narrow a report to, as (value, label): managers'
    teams first, then reps, by name."""
    people = people_in_view(session, visible_user_ids(session, viewer))
    teams = [
        (f"team:{id_}", f"Team of {name}") for id_, name, role in people if role == Role.MANAGER
    ]
    reps = [(f"rep:{id_}", name) for id_, name, role in people if role == Role.REP]
    return teams + reps


def _plain(value: Any) -> Any:
    return json.dumps(value, default=str) if isinstance(value, list | dict | BaseModel) else value


def _figure(name: str, data: dict[str, Any]) -> str | None:
    """The report's chart as Plotly JSON, or None for reports without one."""
    layout = {"margin": {"l": 60, "r": 20, "t": 20, "b": 60}, "height": 340,
              "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)"}  # fmt: skip
    if name == "waterfall":
        summary = data["summary"]
        labels = [label for label, _, _ in WATERFALL_STEPS] + ["Open at B"]
        values = [
            -summary[field] / 100 if kind == "negative" else summary[field] / 100
            for _, field, kind in WATERFALL_STEPS
        ] + [summary["open_at_as_of_cents"] / 100]
        measures = [
            "absolute" if kind == "absolute" else "relative" for _, _, kind in WATERFALL_STEPS
        ]
        figure = go.Figure(
            go.Waterfall(x=labels, y=values, measure=[*measures, "total"]),
            layout={**layout, "yaxis": {"tickprefix": "$"}},
        )
        return str(figure.to_json())
    chart = CHARTS.get(name)
    rows = data.get("rows", [])
    if chart is None or not rows or chart[0] not in rows[0] or chart[1] not in rows[0]:
        return None
    label, field, unit = chart
    xs = [str(row[label]) for row in rows]
    ys = [row[field] for row in rows]
    if unit == "money":
        ys = [None if y is None else y / 100 for y in ys]
    axis = (
        {"tickprefix": "$"} if unit == "money" else {"tickformat": ".0%"} if unit == "rate" else {}
    )
    figure = go.Figure(go.Bar(x=xs, y=ys, marker_color="#1f4fd1"), layout={**layout, "yaxis": axis})
    return str(figure.to_json())

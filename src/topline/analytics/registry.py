"""The reports by name, for the CLI (`topline report NAME`) and the docs.

Each report module registers its reports here with `register`; `topline.analytics.catalog`
imports every report module, so importing it fills `REPORTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from topline.analytics.paging import ALL_ROWS, RowPage
from topline.analytics.periods import Period
from topline.analytics.scope import Scope

# A report run from text options (the CLI's `--by`, `--since`, `--window`), for a page of its
# rows: it reads the options it knows and refuses bad values with `InvalidInput`.
Runner = Callable[[Session, Scope, Period, datetime, Mapping[str, str], RowPage], BaseModel]


@dataclass(frozen=True)
class ReportSpec:
    name: str
    title: str
    runner: Runner
    options: Mapping[str, str] = field(default_factory=dict)  # option → what it means here

    def run(
        self,
        session: Session,
        scope: Scope,
        period: Period,
        as_of: datetime,
        options: Mapping[str, str],
        page: RowPage = ALL_ROWS,
    ) -> BaseModel:
        """The report (a `topline.analytics.reports.Report`) with the rows of `page`."""
        return self.runner(session, scope, period, as_of, options, page)


REPORTS: dict[str, ReportSpec] = {}


def register(spec: ReportSpec) -> None:
    if spec.name in REPORTS:
        raise ValueError(f"report {spec.name!r} registered twice")
    REPORTS[spec.name] = spec


def option(options: Mapping[str, str], name: str, default: Any = None) -> Any:
    value = options.get(name)
    return default if value is None or value == "" else value

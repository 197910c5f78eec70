"""A page of a report's rows is that slice of all its rows, with the same summary.

Every registered report (and the options that send it down another query) runs on the tiny
demo org three times: with all its rows, for a page in the middle of them and for a page past
the end. Slippage and concentration make their rows for the page only, so their pages are
checked against rows made another way, not against a slice of the same list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.databases import fresh_engine
from topline.analytics.catalog import REPORTS
from topline.analytics.paging import ALL_ROWS, MAX_LIMIT, RowPage
from topline.analytics.periods import PeriodKind, period_containing
from topline.analytics.reports import fiscal_start_month
from topline.analytics.scope import org_scope
from topline.demo import build_demo
from topline.demo.builder import DEFAULT_AS_OF
from topline.errors import InvalidInput

CASES: list[tuple[str, Mapping[str, str]]] = [(name, {}) for name in REPORTS] + [
    ("win-rate", {"by": "source"}),
    ("concentration", {"by": "reps"}),
    ("mrr", {"by": "account"}),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = fresh_engine("sqlite", tmp_path_factory.mktemp("pages"), "pages")
    build_demo(engine, size="tiny", seed=5)
    yield engine
    engine.dispose()


def _run(engine: Engine, name: str, options: Mapping[str, str], page: RowPage) -> Any:
    as_of = DEFAULT_AS_OF
    with Session(engine) as session:
        month = fiscal_start_month(session)
        quarter = period_containing(as_of.date(), PeriodKind.QUARTER, month).previous()
        return REPORTS[name].run(session, org_scope(), quarter, as_of, options, page)


@pytest.mark.parametrize(("name", "options"), CASES, ids=lambda case: str(case))
def test_a_page_is_a_slice_of_all_rows(demo: Engine, name: str, options: Mapping[str, str]) -> None:
    whole = _run(demo, name, options, ALL_ROWS)
    rows = [row.model_dump() for row in whole.rows]
    assert (whole.total_rows, whole.offset) == (len(rows), 0)
    middle = _run(demo, name, options, RowPage(1, 2))
    assert [row.model_dump() for row in middle.rows] == rows[1:3]
    assert (middle.total_rows, middle.offset) == (len(rows), 1)
    assert middle.summary == whole.summary
    past = _run(demo, name, options, RowPage(len(rows) + 3, 5))
    assert (past.rows, past.total_rows) == ([], len(rows))
    assert past.summary == whole.summary


def test_the_long_lists_have_pages_to_check(demo: Engine) -> None:
    """The reports that make rows for the page only have enough rows here for a middle page."""
    for name, options in (
        ("slippage", {}),
        ("concentration", {}),
        ("concentration", {"by": "reps"}),
    ):
        assert _run(demo, name, options, ALL_ROWS).total_rows >= 4, name


def test_concentration_pages_keep_ranks_and_running_shares(demo: Engine) -> None:
    """Ranks, shares and the top-20% mark belong to a row's place among all rows, not the
    page's: worked out again here from the won amounts of every row."""
    whole = _run(demo, "concentration", {}, ALL_ROWS)
    total = whole.summary.won_cents
    page = _run(demo, "concentration", {}, RowPage(2, 3))
    running = sum(row.won_cents for row in whole.rows[:2])
    for place, row in enumerate(page.rows, start=3):
        running += row.won_cents
        assert row.rank == place
        assert row.cumulative_share == pytest.approx(running / total)
        assert row.top == (place <= whole.summary.top_accounts)


@pytest.mark.parametrize(
    ("offset", "limit", "message"),
    [
        (-1, None, "offset -1: use 0 to"),
        (0, 0, "limit 0: use 1 to 10000"),
        (0, MAX_LIMIT + 1, f"limit {MAX_LIMIT + 1}: use 1 to 10000"),
    ],
)
def test_bad_pages_are_refused(offset: int, limit: int | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        RowPage(offset, limit)


def test_a_slice_needs_no_database() -> None:
    page = RowPage(2, 2)
    assert page.take("abcdef") == "cd"
    assert page.report_rows([1, 2, 3, 4, 5], make=lambda n: n * 10) == {
        "rows": [30, 40],
        "total_rows": 5,
        "offset": 2,
    }
    assert ALL_ROWS.report_rows([1, 2]) == {"rows": [1, 2], "total_rows": 2, "offset": 0}

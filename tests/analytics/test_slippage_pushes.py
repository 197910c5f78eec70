"""The slippage report reads the pushes in its window from the marks history rows carry
(`DealHistory.pushed_from`); they must be the pushes the rows themselves show, compared here
pair by pair in Python, on both databases. The team is the hand-built one of
tests/analytics/test_change_reports.py."""

from __future__ import annotations

from datetime import datetime
from itertools import groupby, pairwise

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.analytics.test_change_reports import Q1, A, B, Team, at, team  # noqa: F401
from topline.analytics.changes import _pushes
from topline.analytics.scope import org_scope
from topline.crm.enums import StageType
from topline.crm.models import DealHistory


def pushes_by_hand(session: Session, since: datetime, as_of: datetime) -> list[tuple[object, ...]]:
    """(row id, deal, start, close date, close date before, out of the period) of each row in
    the window that moves an open deal, staying open, to a later date after Q1 from a date in
    Q1 or after it."""
    rows = session.scalars(
        select(DealHistory).order_by(DealHistory.deal_id, DealHistory.valid_from, DealHistory.id)
    )
    found = []
    for _, deal in groupby(rows, key=lambda row: row.deal_id):
        for before, row in pairwise(deal):
            if not (since < row.valid_from <= as_of):
                continue
            if before.stage_type != StageType.OPEN or row.stage_type != StageType.OPEN:
                continue
            moved_later = row.close_date > before.close_date
            if moved_later and before.close_date >= Q1.start and row.close_date >= Q1.end:
                is_out = int(before.close_date < Q1.end)
                found.append(
                    (row.id, row.deal_id, row.valid_from, row.close_date, before.close_date, is_out)
                )
    return sorted(found)


@pytest.mark.parametrize(
    ("since", "as_of"),
    [
        (A, B),
        (at("2024-12-01"), B),  # W14's push before the period counts
        (at("2025-02-10"), B),  # W7's push falls before the window, W6's two in it
        (A, at("2025-02-15")),
    ],
)
def test_the_marked_pushes_are_the_pushes_the_rows_show(
    session: Session,
    team: Team,  # noqa: F811
    since: datetime,
    as_of: datetime,
) -> None:
    pushes = _pushes(org_scope(), Q1, since, as_of)
    found = sorted(tuple(row) for row in session.execute(select(pushes)))
    expected = pushes_by_hand(session, since, as_of)
    assert expected  # the window holds pushes to find
    assert found == expected

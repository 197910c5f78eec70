"""The slippage report narrows the deals it compares row by row on PostgreSQL only (ref: issue 5);
both ways must find the same pushes, on both databases. The team is the hand-built one of
tests/analytics/test_change_reports.py."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.analytics.test_change_reports import Q1, A, B, Team, at, team  # noqa: F401
from topline.analytics.changes import _pushes


@pytest.mark.parametrize(
    ("since", "as_of"),
    [
        (A, B),
        (at("2024-12-01"), B),  # W14's push before the period counts
        (at("2025-02-10"), B),  # W7's push falls before the window, W6's two in it
        (A, at("2025-02-15")),
    ],
)
def test_checking_the_next_row_finds_the_same_pushes(
    session: Session,
    team: Team,  # noqa: F811
    since: datetime,
    as_of: datetime,
) -> None:
    def found(check_next_row: bool) -> list[tuple[object, ...]]:
        pushes = _pushes(Q1, since, as_of, check_next_row=check_next_row)
        return sorted(tuple(row) for row in session.execute(select(pushes)))

    everything = found(False)
    assert everything  # the window holds pushes to find
    assert found(True) == everything

"""The deals open at a moment (`open_as_of`) against the history rows read back one by one.

Deals (times from T0 = 2025-01-06 09:00 UTC), in the default pipeline:

| deal | what happens                                                            |
|------|-------------------------------------------------------------------------|
| A    | created by Rita at T0, still open (only one row, still current)         |
| B    | created at T0, won at T0+2d, reopened at T0+5d, lost at T0+9d           |
| C    | created at T0+1d, handed to Ray at T0+3d, moved on at T0+4d             |
| D    | created at T0+6d                                                        |
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import T0, make_deal, make_pipeline, make_user, open_stages
from topline.analytics.history import open_as_of
from topline.crm.deals import (
    change_deal_owner,
    close_deal_lost,
    close_deal_won,
    move_deal_to_stage,
    reopen_deal,
)
from topline.crm.enums import StageType
from topline.crm.models import Deal, DealHistory


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


@pytest.fixture
def deals(session: Session) -> dict[str, Deal]:
    pipeline = make_pipeline(session)
    stages = open_stages(session, pipeline)
    rita, ray = make_user(session, name="Rita"), make_user(session, name="Ray")
    a = make_deal(session, owner=rita, pipeline=pipeline, at=day(0))
    b = make_deal(session, owner=rita, pipeline=pipeline, at=day(0))
    close_deal_won(session, b, actor=None, at=day(2))
    reopen_deal(
        session, b, stage=stages[1], close_date=date(2025, 6, 30), actor=None, at=day(5)
    )  # fmt: skip
    close_deal_lost(session, b, loss_reason="Price", actor=None, at=day(9))
    c = make_deal(session, owner=rita, pipeline=pipeline, at=day(1))
    change_deal_owner(session, c, owner=ray, actor=None, at=day(3))
    move_deal_to_stage(session, c, stage=stages[2], actor=None, at=day(4))
    d = make_deal(session, owner=ray, pipeline=pipeline, at=day(6))
    session.flush()
    return {"A": a, "B": b, "C": c, "D": d}


def open_at(session: Session, moment: datetime) -> set[tuple[int, int]]:
    state = open_as_of(moment)
    return set(session.execute(select(state.c.deal_id, state.c.owner_id)).all())


def replayed(session: Session, deal_ids: list[int], moment: datetime) -> set[tuple[int, int]]:
    """Each deal's row holding at `moment`, found by walking its rows in Python."""
    found = set()
    for deal_id in deal_ids:
        rows = session.scalars(
            select(DealHistory).where(DealHistory.deal_id == deal_id).order_by(DealHistory.id)
        ).all()
        for row in rows:
            began = row.valid_from <= moment
            holds = row.valid_to is None or row.valid_to > moment
            if began and holds and row.stage_type == StageType.OPEN:
                found.add((deal_id, row.owner_id))
    return found


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (day(-1), set()),
        (day(0), {"A", "B"}),  # created at that very moment
        (day(2), {"A", "C"}),  # B won at that very moment: its open row ended then
        (day(4.5), {"A", "C"}),
        (day(5), {"A", "B", "C"}),  # reopened
        (day(8), {"A", "B", "C", "D"}),
        (day(30), {"A", "C", "D"}),  # B lost, the rest still current
    ],
)
def test_open_as_of_lists_the_deals_open_then(
    session: Session, deals: dict[str, Deal], moment: datetime, expected: set[str]
) -> None:
    ids = [deal.id for deal in deals.values()]
    found = open_at(session, moment)
    assert {deal_id for deal_id, _ in found} == {deals[name].id for name in expected}
    assert found == replayed(session, ids, moment)


def test_open_as_of_credits_the_owner_then(session: Session, deals: dict[str, Deal]) -> None:
    c = deals["C"]
    before, after = open_at(session, day(2)), open_at(session, day(3))
    (rita_then,) = {owner for deal_id, owner in before if deal_id == c.id}
    (ray_then,) = {owner for deal_id, owner in after if deal_id == c.id}
    assert rita_then == deals["A"].owner_id
    assert ray_then == deals["D"].owner_id

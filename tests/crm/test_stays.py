"""Deal stays (`DealStay`): what the deal service leaves in them, by hand and against the stays
worked out independently from the history (`tests.helpers.assert_deal_stays`)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_deal, make_pipeline, make_user, open_stages
from tests.helpers import assert_deal_stays
from topline.analytics.funnel import funnel_report
from topline.analytics.periods import custom_period
from topline.analytics.scope import org_scope
from topline.crm import pipelines as pipeline_service
from topline.crm.deals import (
    change_deal_owner,
    close_deal_lost,
    close_deal_won,
    move_deal_to_stage,
    reopen_deal,
    update_deal,
)
from topline.crm.models import DealStay
from topline.crm.schemas import DealUpdate

START = datetime(2025, 1, 6, 9, tzinfo=UTC)
DAY = timedelta(days=1)


def stays_of(session: Session, deal_id: int | None = None) -> list[tuple[Any, ...]]:
    """The stays as (deal, stage, entered, left, days, advanced, previous, previous open,
    owner, owner until)."""
    stmt = select(
        DealStay.deal_id,
        DealStay.stage_id,
        DealStay.entered_at,
        DealStay.left_at,
        DealStay.days,
        DealStay.advanced_at,
        DealStay.previous_at,
        DealStay.previous_open_at,
        DealStay.owner_id,
        DealStay.owner_until,
    ).order_by(DealStay.deal_id, DealStay.entered_at, DealStay.entry_id)
    if deal_id is not None:
        stmt = stmt.where(DealStay.deal_id == deal_id)
    return [tuple(row) for row in session.execute(stmt)]


def test_a_deals_path_by_hand(session: Session) -> None:
    owner = make_user(session)
    pipeline = make_pipeline(session)
    p1, p2, p3, p4, _ = (stage.id for stage in open_stages(session, pipeline))
    stages = {stage.id: stage for stage in open_stages(session, pipeline)}
    deal = make_deal(session, owner=owner, pipeline=pipeline, at=START)

    def move(stage_id: int, at: datetime) -> None:
        move_deal_to_stage(session, deal, stage=stages[stage_id], actor=owner, at=at)

    move(p3, START + DAY)  # skips the second stage
    move(p2, START + 3 * DAY)  # back
    update_deal(session, deal, changes=DealUpdate(amount_cents=5), actor=owner, at=START + 4 * DAY)
    other = make_user(session)
    change_deal_owner(session, deal, owner=other, actor=owner, at=START + 4 * DAY)
    move(p3, START + 5 * DAY)  # again
    close_deal_won(session, deal, actor=owner, at=START + 8 * DAY)
    reopen_deal(session, deal, stage=stages[p4], close_date=date(2025, 6, 30), actor=owner,
                at=START + 9 * DAY)  # fmt: skip
    # The next UTC calendar day, 15.5 hours later.
    lost_at = (START + 10 * DAY).replace(hour=0, minute=30)
    close_deal_lost(session, deal, loss_reason="price", actor=owner, at=lost_at)
    session.flush()

    def day(n: int) -> datetime:
        return START + n * DAY

    me, them = owner.id, other.id
    assert stays_of(session, deal.id) == [
        (deal.id, p1, START, day(1), 1, day(1), None, None, me, day(4)),
        # Advanced when won: the way back to the second stage is no advance.
        (deal.id, p3, day(1), day(3), 2, day(8), None, START, me, day(4)),
        # Handed over during the stay.
        (deal.id, p2, day(3), day(5), 2, day(5), None, day(1), me, day(4)),
        # The amount and owner changes are no new stay; the second stay in p3 knows the first.
        (deal.id, p3, day(5), day(8), 3, day(8), day(1), day(3), them, None),
        # Reopened: lost, never advanced.
        (deal.id, p4, day(9), lost_at, 1, None, None, day(5), them, None),
    ]
    latest = session.execute(
        select(DealStay.last_stage_id, DealStay.last_entered_at).where(DealStay.deal_id == deal.id)
    ).all()
    assert set(latest) == {(deal.stage_id, lost_at)}  # lost, since the next UTC day
    assert_deal_stays(session)


def test_the_service_keeps_the_stays_the_history_gives(session: Session) -> None:
    """Random paths through the deal service: creations, moves both ways, wins, losses,
    reopenings, owner and amount changes, several at one moment."""
    chooser = random.Random(7)
    owners = [make_user(session) for _ in range(2)]
    pipeline = make_pipeline(session)
    opened = open_stages(session, pipeline)
    deals = [
        make_deal(session, owner=owners[0], pipeline=pipeline, stage=chooser.choice(opened),
                  at=START)
        for _ in range(12)
    ]  # fmt: skip
    for step in range(150):
        deal = chooser.choice(deals)
        at = START + timedelta(hours=step // 2)  # two changes share each moment
        if deal.closed_at is not None:
            reopen_deal(session, deal, stage=chooser.choice(opened),
                        close_date=date(2025, 12, 31), actor=None, at=at)  # fmt: skip
            continue
        action = chooser.randrange(6)
        if action < 3:
            stage = chooser.choice([s for s in opened if s.id != deal.stage_id])
            move_deal_to_stage(session, deal, stage=stage, actor=None, at=at)
        elif action == 3:
            close_deal_won(session, deal, actor=None, at=at)
        elif action == 4:
            close_deal_lost(session, deal, loss_reason="price", actor=None, at=at)
        else:
            owner = owners[1] if deal.owner_id == owners[0].id else owners[0]
            change_deal_owner(session, deal, owner=owner, actor=None, at=at)
    session.flush()
    found = stays_of(session)
    assert len(found) > 100
    assert assert_deal_stays(session) == len(found)


def test_reordering_stages_changes_what_counts_as_advancing(session: Session) -> None:
    owner = make_user(session)
    pipeline = make_pipeline(session)
    first, second, *rest = open_stages(session, pipeline)
    deal = make_deal(session, owner=owner, pipeline=pipeline, stage=first, at=START)
    move_deal_to_stage(session, deal, stage=second, actor=owner, at=START + DAY)
    session.flush()
    period = custom_period(date(2025, 1, 1), date(2025, 2, 1))
    moment = START + 2 * DAY

    def advanced_from_first() -> tuple[Any, int]:
        row = funnel_report(session, org_scope(), period, moment).rows
        entered = next(r for r in row if r.stage == first.name)
        return stays_of(session, deal.id)[0][5], entered.advanced

    assert advanced_from_first() == (START + DAY, 1)
    # The second stage now comes first: moving there is going back.
    pipeline_service.reorder_stages(
        session, pipeline, stage_ids=[second.id, first.id, *(s.id for s in rest)]
    )
    session.flush()
    assert advanced_from_first() == (None, 0)
    assert_deal_stays(session)

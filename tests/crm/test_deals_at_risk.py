"""Deals at risk: each warning sign on hand-made deals, and "slipped" read from the pushes each
deal keeps checked against a search of the history itself."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, aliased

from tests.factories import T0, make_deal, make_pipeline, make_user, open_stages
from tests.helpers import assert_deal_pushes
from topline.crm import deals
from topline.crm.history import refresh_pushes
from topline.crm.models import Deal, DealHistory
from topline.crm.queries import SLIPPED_DAYS, deals_at_risk
from topline.crm.schemas import DealUpdate

NOW = T0 + timedelta(days=100)


def move_close_date(session: Session, deal: Deal, to: date, at: datetime) -> None:
    deals.update_deal(session, deal, actor=None, at=at, changes=DealUpdate(close_date=to))


def flags_by_name(session: Session, now: datetime) -> dict[str, tuple[str, ...]]:
    risk = deals_at_risk(session, owner_ids=None, now=now, limit=100)
    return {deal.name: deal.flags for deal in risk.deals}


def test_each_deal_shows_the_signs_its_story_gives(session: Session) -> None:
    pipeline = make_pipeline(session)
    owner = make_user(session)

    def deal(name: str) -> Deal:
        return make_deal(
            session, pipeline=pipeline, owner=owner, name=name, close_date=date(2025, 6, 30),
            next_step="Send the proposal",
        )  # fmt: skip

    pushed = deal("pushed 10 days ago")
    move_close_date(session, pushed, date(2025, 7, 31), NOW - timedelta(days=10))
    long_ago = deal("pushed 40 days ago")
    move_close_date(session, long_ago, date(2025, 7, 31), NOW - timedelta(days=40))
    pulled = deal("pulled in")
    move_close_date(session, pulled, date(2025, 5, 31), NOW - timedelta(days=5))
    back_and_forth = deal("pushed then pulled back")
    move_close_date(session, back_and_forth, date(2025, 9, 30), NOW - timedelta(days=20))
    move_close_date(session, back_and_forth, date(2025, 6, 30), NOW - timedelta(days=5))
    twice = deal("pushed twice, long ago")
    move_close_date(session, twice, date(2025, 7, 31), NOW - timedelta(days=60))
    move_close_date(session, twice, date(2025, 8, 31), NOW - timedelta(days=50))
    deal("never moved")  # created on T0, 100 days before NOW: quiet since

    assert flags_by_name(session, NOW) == {
        "pushed 10 days ago": ("slipped",),
        # Quiet for 40 days as well: nothing logged, no change.
        "pushed 40 days ago": ("stale",),
        "pushed then pulled back": ("slipped",),
        "pushed twice, long ago": ("stale",),
        "never moved": ("stale",),
    }
    assert (twice.push_count, twice.last_pushed_at) == (2, NOW - timedelta(days=50))
    assert (pulled.push_count, pulled.last_pushed_at) == (0, None)
    assert (back_and_forth.push_count, back_and_forth.last_pushed_at) == (
        1, NOW - timedelta(days=20),
    )  # fmt: skip
    assert assert_deal_pushes(session) == 4


def test_a_push_is_a_slip_for_exactly_the_window_after_it(session: Session) -> None:
    pushed = make_deal(session, close_date=date(2025, 6, 30), next_step="Call")
    at = NOW - timedelta(days=3)
    move_close_date(session, pushed, date(2025, 7, 31), at)

    def slipped(now: datetime) -> bool:
        return "slipped" in flags_by_name(session, now).get(pushed.name, ())

    assert slipped(at)
    assert slipped(at + timedelta(days=SLIPPED_DAYS))
    assert not slipped(at + timedelta(days=SLIPPED_DAYS, seconds=1))


def slipped_by_history(session: Session, now: datetime) -> set[int]:
    """Open or not, the deals whose close date a history row moved later since `now` minus the
    window: the history searched directly, pair of consecutive rows by pair."""
    later, before = aliased(DealHistory), aliased(DealHistory)
    since = now - timedelta(days=SLIPPED_DAYS)
    moved = exists().where(
        later.deal_id == Deal.id,
        later.valid_from >= since,
        before.deal_id == Deal.id,
        before.valid_to == later.valid_from,
        later.close_date > before.close_date,
    )
    return set(session.scalars(select(Deal.id).where(moved)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_slipped_equals_a_search_of_the_history_on_random_stories(
    session: Session, seed: int
) -> None:
    rng = random.Random(seed)
    pipeline = make_pipeline(session)
    stage = open_stages(session, pipeline)[0]
    owner = make_user(session)
    made = []
    for n in range(30):
        deal = make_deal(
            session, pipeline=pipeline, stage=stage, owner=owner, next_step="Call",
            name=f"Deal {n}", close_date=date(2025, 6, 1) + timedelta(days=rng.randrange(60)),
        )  # fmt: skip
        at = T0
        for _ in range(rng.randrange(6)):
            at += timedelta(days=rng.randrange(0, 40), hours=rng.randrange(24))
            move_close_date(session, deal, deal.close_date + timedelta(rng.randint(-20, 30)), at)
        made.append(deal)

    for now in (T0 + timedelta(days=d) for d in (10, 45, 90, 150, 400)):
        flagged = deals_at_risk(session, owner_ids=None, now=now, limit=100)
        slipped = {d.deal_id for d in flagged.deals if "slipped" in d.flags}
        assert flagged.by_flag["slipped"] == len(slipped)
        assert slipped == slipped_by_history(session, now), now
    assert_deal_pushes(session)


def test_refresh_works_the_pushes_out_again_from_the_history(session: Session) -> None:
    pushed = make_deal(session, close_date=date(2025, 6, 30))
    move_close_date(session, pushed, date(2025, 7, 31), NOW - timedelta(days=10))
    move_close_date(session, pushed, date(2025, 8, 31), NOW - timedelta(days=5))
    never = make_deal(session, close_date=date(2025, 6, 30))
    # As a bulk load leaves them: nothing counted, or counted wrong.
    session.execute(
        update(Deal).values(push_count=7, last_pushed_at=T0),
        execution_options={"synchronize_session": False},
    )

    refresh_pushes(session, [pushed.id])
    session.expire_all()
    assert (pushed.push_count, pushed.last_pushed_at) == (2, NOW - timedelta(days=5))
    assert (never.push_count, never.last_pushed_at) == (7, T0)  # not asked about

    refresh_pushes(session)
    session.expire_all()
    assert (never.push_count, never.last_pushed_at) == (0, None)
    assert assert_deal_pushes(session) == 1

"""Property: any sequence of deal operations keeps the history a faithful, gap-free record."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from tests.factories import T0, make_deal, make_pipeline, make_user, open_stages
from tests.helpers import assert_deal_pushes, assert_history_marks
from topline.crm import deals
from topline.crm.enums import DealType, ForecastCategory
from topline.crm.history import DealState, deal_history, deal_state_as_of, replay
from topline.crm.schemas import DealUpdate
from topline.errors import ToplineError

operation = st.one_of(
    st.tuples(st.just("move"), st.integers(0, 4)),
    st.tuples(st.just("amount"), st.integers(0, 5_000_000_00)),
    st.tuples(st.just("push"), st.integers(-30, 120)),
    # `closed` is not an edit: `DealUpdate` refuses it, and only winning a deal sets it.
    st.tuples(
        st.just("category"),
        st.sampled_from([c for c in ForecastCategory if c != ForecastCategory.CLOSED]),
    ),
    st.tuples(st.just("owner"), st.integers(0, 2)),
    st.tuples(st.just("won"), st.integers(0, 5_000_000_00)),
    st.tuples(st.just("lost"), st.sampled_from(["Price", "", "No decision"])),
    st.tuples(st.just("reopen"), st.integers(0, 4)),
    # Not tracked: rewrites the copies on every history row, adds none.
    st.tuples(
        st.just("subscription"),
        st.tuples(st.sampled_from(DealType), st.none() | st.integers(0, 100_000_00)),
    ),
)
steps = st.lists(st.tuples(operation, st.integers(0, 72)), min_size=1, max_size=25)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_random_operations_keep_history_consistent(session: Session, steps: list) -> None:
    # Each example runs in its own savepoint so examples never see each other's rows.
    with session.begin_nested() as savepoint:
        pipeline = make_pipeline(session)
        stages = open_stages(session, pipeline)
        owners = [make_user(session) for _ in range(3)]
        deal = make_deal(session, pipeline=pipeline, owner=owners[0], close_date=date(2025, 2, 1))
        moment = T0
        snapshots = [(moment, DealState.of(deal))]
        for (kind, arg), hours in steps:
            moment += timedelta(hours=hours)
            try:
                _apply(session, deal, kind, arg, moment, stages, owners)
            except ToplineError:
                continue  # refused operations must leave no trace; checked below
            snapshots.append((moment, DealState.of(deal)))

        rows = deal_history(session, deal.id)
        assert replay(rows) == DealState.of(deal)
        assert assert_history_marks(session) >= len(rows)
        assert_deal_pushes(session)
        assert [r.valid_to for r in rows[:-1]] == [r.valid_from for r in rows[1:]]
        assert sum(r.valid_to is None for r in rows) == 1
        assert all(r.valid_to is None or r.valid_from <= r.valid_to for r in rows)
        # The state as of each moment an operation succeeded is the state right after it.
        for moment_seen, state in _last_per_moment(snapshots):
            assert deal_state_as_of(session, deal.id, moment_seen) == state
        savepoint.rollback()


def _apply(session, deal, kind, arg, moment, stages, owners) -> None:
    if kind == "move":
        deals.move_deal_to_stage(session, deal, stage=stages[arg], actor=None, at=moment)
    elif kind == "amount":
        deals.update_deal(
            session, deal, actor=None, at=moment, changes=DealUpdate(amount_cents=arg)
        )
    elif kind == "push":
        new_date = deal.close_date + timedelta(days=arg)
        deals.update_deal(
            session, deal, actor=None, at=moment, changes=DealUpdate(close_date=new_date)
        )
    elif kind == "category":
        deals.update_deal(
            session, deal, actor=None, at=moment, changes=DealUpdate(forecast_category=arg)
        )
    elif kind == "owner":
        deals.change_deal_owner(session, deal, owner=owners[arg], actor=None, at=moment)
    elif kind == "won":
        deals.close_deal_won(session, deal, actor=None, at=moment, amount_cents=arg)
    elif kind == "lost":
        deals.close_deal_lost(session, deal, loss_reason=arg, actor=None, at=moment)
    elif kind == "reopen":
        deals.reopen_deal(
            session,
            deal,
            stage=stages[arg],
            close_date=moment.date() + timedelta(days=30),
            actor=None,
            at=moment,
        )
    elif kind == "subscription":
        kind_of_deal, recurring = arg
        changes = DealUpdate(type=kind_of_deal, recurring_amount_cents=recurring)
        deals.update_deal(session, deal, actor=None, at=moment, changes=changes)


def _last_per_moment(snapshots):
    """Several operations may share a moment; the state as of it is the last one's."""
    latest = {}
    for moment, state in snapshots:
        latest[moment] = state
    return latest.items()

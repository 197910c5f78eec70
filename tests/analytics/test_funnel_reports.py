"""Funnel and velocity reports on a hand-built team, on both databases: every figure below is
worked out by hand.

Stages (default pipeline): Prospecting 1, Qualification 2, Discovery 3, Proposal 4,
Negotiation 5. Times are 10:00 UTC unless said otherwise; amounts in dollars.

| deal | rep  | what happens                                                                   |
|------|------|--------------------------------------------------------------------------------|
| F1   | Rita | 1000, Prospecting 01-06, Proposal 01-16 (skips two stages), won 02-05           |
| F2   | Rita | 500, Qualification 01-10, amount changed to 0 on 01-20, still there             |
| F3   | Ray  | 600, Prospecting 02-03 08:00, won 02-03 17:00 at amount 0 (same day)             |
| F4   | Ray  | 300, Prospecting 2024-12-01, Discovery 01-08, lost 01-28, reopened in           |
|      |      | Qualification 02-10, Discovery 02-20, Proposal 03-05, lost 03-20                |
| F5   | Olga | 700, Negotiation 01-15, back to Proposal 02-01, still there                     |
| F6   | Olga | 200, Prospecting 03-25, Qualification 04-02 (after the quarter)                 |
| F7   | Ray  | 100, Prospecting 04-05 (Q2)                                                     |
| F8   | Rita | 400, Discovery 02-01, Proposal 02-10, Discovery 02-15, Proposal 02-25,          |
|      |      | Negotiation 03-10, still there                                                  |
| F9   | Ray  | 900, Prospecting 03-01, lost 03-11                                              |

Rita and Ray report to Maria; Olga does not. The period is 2025Q1 and `as_of` 2025-04-15
unless said otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from tests.factories import make_deal, make_pipeline, make_user, open_stages, stage_named
from topline.analytics import metrics
from topline.analytics.catalog import REPORTS
from topline.analytics.funnel import FunnelRow, funnel_report, velocity_report, velocity_window
from topline.analytics.people import reps_report
from topline.analytics.periods import parse_period
from topline.analytics.scope import org_scope, rep_scope, team_scope
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.deals import (
    change_deal_owner,
    close_deal_lost,
    close_deal_won,
    move_deal_to_stage,
    reopen_deal,
    update_deal,
)
from topline.crm.models import Deal, Pipeline
from topline.crm.schemas import DealUpdate
from topline.errors import InvalidInput
from topline.storage.sql import utc_days_between
from topline.storage.types import UTCDateTime

Q1 = parse_period("2025Q1")
AFTER = datetime(2025, 4, 15, tzinfo=UTC)
MID_FEBRUARY = datetime(2025, 2, 15, tzinfo=UTC)


def at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if "T" in text else moment.replace(hour=10, tzinfo=UTC)


@dataclass
class Team:
    maria: User
    rita: User
    ray: User
    olga: User


@pytest.fixture
def team(session: Session) -> Team:
    maria = make_user(session, role=Role.MANAGER, name="Maria")
    rita = make_user(session, manager=maria, name="Rita")
    ray = make_user(session, manager=maria, name="Ray")
    olga = make_user(session, name="Olga")
    pipeline = make_pipeline(session)

    def stage(name: str) -> Any:
        return stage_named(session, pipeline, name)

    def deal(owner: User, created: str, dollars: int, name: str) -> Deal:
        return make_deal(
            session,
            owner=owner,
            pipeline=pipeline,
            stage=stage(name),
            amount_cents=dollars * 100,
            close_date=date(2025, 3, 31),
            at=at(created),
        )

    def move(deal: Deal, name: str, when: str) -> None:
        move_deal_to_stage(session, deal, stage=stage(name), actor=None, at=at(when))

    def lose(deal: Deal, when: str) -> None:
        close_deal_lost(session, deal, loss_reason="Price", actor=None, at=at(when))

    f1 = deal(rita, "2025-01-06", 1000, "Prospecting")
    move(f1, "Proposal", "2025-01-16")
    close_deal_won(session, f1, actor=rita, at=at("2025-02-05"))
    f2 = deal(rita, "2025-01-10", 500, "Qualification")
    update_deal(session, f2, changes=DealUpdate(amount_cents=0), actor=rita, at=at("2025-01-20"))
    f3 = deal(ray, "2025-02-03T08:00", 600, "Prospecting")
    close_deal_won(session, f3, actor=ray, at=at("2025-02-03T17:00"), amount_cents=0)
    f4 = deal(ray, "2024-12-01", 300, "Prospecting")
    move(f4, "Discovery", "2025-01-08")
    lose(f4, "2025-01-28")
    reopen_deal(
        session,
        f4,
        stage=stage("Qualification"),
        close_date=date(2025, 3, 31),
        actor=ray,
        at=at("2025-02-10"),
    )
    move(f4, "Discovery", "2025-02-20")
    move(f4, "Proposal", "2025-03-05")
    lose(f4, "2025-03-20")
    f5 = deal(olga, "2025-01-15", 700, "Negotiation")
    move(f5, "Proposal", "2025-02-01")
    f6 = deal(olga, "2025-03-25", 200, "Prospecting")
    move(f6, "Qualification", "2025-04-02")
    deal(ray, "2025-04-05", 100, "Prospecting")
    f8 = deal(rita, "2025-02-01", 400, "Discovery")
    move(f8, "Proposal", "2025-02-10")
    move(f8, "Discovery", "2025-02-15")
    move(f8, "Proposal", "2025-02-25")
    move(f8, "Negotiation", "2025-03-10")
    f9 = deal(ray, "2025-03-01", 900, "Prospecting")
    lose(f9, "2025-03-11")
    session.flush()
    return Team(maria, rita, ray, olga)


def counts(rows: list[FunnelRow]) -> dict[str, tuple[Any, ...]]:
    """Per stage: entered, advanced, lost, still in stage, moved back, conversion."""
    return {
        row.stage: (
            row.entered,
            row.advanced,
            row.lost,
            row.still_in_stage,
            row.moved_back,
            row.conversion,
        )
        for row in rows
    }


def stays(rows: list[FunnelRow]) -> dict[str, tuple[int, float | None]]:
    return {row.stage: (row.completed_stays, row.median_days_in_stage) for row in rows}


class TestFunnel:
    def test_conversion_and_time_in_stage_for_the_org(self, session: Session, team: Team) -> None:
        report = funnel_report(session, org_scope(), Q1, AFTER)
        assert [(row.stage, row.position) for row in report.rows] == [
            ("Prospecting", 1),
            ("Qualification", 2),
            ("Discovery", 3),
            ("Proposal", 4),
            ("Negotiation", 5),
        ]
        assert counts(report.rows) == {
            # F1, F3, F6 advanced (F6 after the quarter, by as_of), F9 lost; F4 entered in 2024.
            "Prospecting": (4, 3, 1, 0, 0, 0.75),
            # F1 skipped it; F2 still there; F4 entered on its reopening and moved on.
            "Qualification": (2, 1, 0, 1, 0, 0.5),
            # F4 and F8 advanced; F8's return on 02-15 is not a second entry.
            "Discovery": (2, 2, 0, 0, 0, 1.0),
            # F1 won, F8 reached Negotiation, F4 lost from here, F5 still here.
            "Proposal": (4, 2, 1, 1, 0, 0.5),
            # F5 moved back to Proposal; F8 still here.
            "Negotiation": (2, 0, 0, 1, 1, 0.0),
        }
        assert stays(report.rows) == {
            "Prospecting": (4, 9),  # F1 10, F3 0 (same day), F6 8, F9 10 days
            "Qualification": (1, 10),  # F4 02-10 → 02-20; F2 has not left
            "Discovery": (2, 14.5),  # F4 20 (its first stay, until lost), F8 9
            "Proposal": (3, 15),  # F1 20, F4 15, F8 5 (its first stay)
            "Negotiation": (1, 17),  # F5
        }
        summary = report.summary
        # F1..F6, F8, F9 entered a stage in Q1; F1 and F3 are won, F4 and F9 lost.
        assert (summary.deals, summary.won, summary.lost) == (8, 2, 2)
        assert summary.conversion_to_won == 0.25

    def test_as_of_a_past_moment(self, session: Session, team: Team) -> None:
        report = funnel_report(session, org_scope(), Q1, MID_FEBRUARY)
        assert counts(report.rows) == {
            "Prospecting": (2, 2, 0, 0, 0, 1.0),  # F1, F3
            "Qualification": (2, 0, 0, 2, 0, 0.0),  # F2, F4 (reopened 02-10)
            # F4 was lost, then reopened into Qualification: an earlier stage.
            "Discovery": (2, 1, 0, 0, 1, 0.5),
            "Proposal": (3, 1, 0, 2, 0, pytest.approx(1 / 3)),  # F1 won; F5, F8 there
            "Negotiation": (1, 0, 0, 0, 1, 0.0),  # F5
        }
        assert stays(report.rows) == {
            "Prospecting": (2, 5),
            "Qualification": (0, None),
            "Discovery": (2, 14.5),
            "Proposal": (1, 20),
            "Negotiation": (1, 17),
        }
        summary = report.summary
        # F4 is open again on 02-15, so nothing counts as lost.
        assert (summary.deals, summary.won, summary.lost) == (6, 2, 0)
        assert summary.conversion_to_won == pytest.approx(2 / 6)

    def test_the_stays_of_a_stage_end_at_as_of(self, session: Session, team: Team) -> None:
        # On 03-31 F6 has not left Prospecting yet.
        report = funnel_report(session, org_scope(), Q1, at("2025-03-31T00:00"))
        prospecting = report.rows[0]
        assert (prospecting.entered, prospecting.advanced, prospecting.still_in_stage) == (4, 2, 1)
        assert (prospecting.completed_stays, prospecting.median_days_in_stage) == (3, 10)

    def test_team_and_rep_scopes(self, session: Session, team: Team) -> None:
        olga = funnel_report(session, rep_scope(team.olga), Q1, AFTER)
        assert {stage: c[:5] for stage, c in counts(olga.rows).items() if c[0]} == {
            "Prospecting": (1, 1, 0, 0, 0),
            "Proposal": (1, 0, 0, 1, 0),
            "Negotiation": (1, 0, 0, 0, 1),
        }
        assert (olga.summary.deals, olga.summary.won, olga.summary.conversion_to_won) == (2, 0, 0)
        maria = funnel_report(session, team_scope(team.maria), Q1, AFTER)
        assert [row.entered for row in maria.rows] == [3, 2, 2, 3, 1]
        assert (maria.summary.deals, maria.summary.won, maria.summary.lost) == (6, 2, 2)

    def test_a_deal_handed_to_another_team_counts_where_it_is_at_as_of(
        self, session: Session, team: Team
    ) -> None:
        # F5 (Olga: Negotiation 01-15, back to Proposal 02-01) goes to Rita on 03-01: from then
        # on its entries count for Maria's team and for Rita, no longer for Olga.
        f5 = session.scalars(select(Deal).where(Deal.amount_cents == 70_000)).one()
        change_deal_owner(session, f5, owner=team.rita, actor=None, at=at("2025-03-01"))
        session.flush()
        maria = funnel_report(session, team_scope(team.maria), Q1, AFTER)
        assert [row.entered for row in maria.rows] == [3, 2, 2, 4, 2]
        assert (maria.summary.deals, maria.summary.won, maria.summary.lost) == (7, 2, 2)
        olga = funnel_report(session, rep_scope(team.olga), Q1, AFTER)
        assert [row.entered for row in olga.rows] == [1, 0, 0, 0, 0]  # F6 alone
        # Before the hand-over it is still Olga's (and F9, F8's Negotiation, F6 are to come).
        before = funnel_report(session, team_scope(team.maria), Q1, at("2025-02-28"))
        assert [row.entered for row in before.rows] == [2, 2, 2, 2, 0]
        olga_before = funnel_report(session, rep_scope(team.olga), Q1, at("2025-02-28"))
        assert [row.entered for row in olga_before.rows] == [0, 0, 0, 1, 1]
        # The rep comparison credits the entries to the owner at `as_of` alike: Rita's Proposal
        # entries are F1 (won), F8 (on to Negotiation) and now F5 (still there).
        rita = next(row for row in reps_report(session, team_scope(team.maria), Q1, AFTER).rows
                    if row.id == team.rita.id)  # fmt: skip
        conversions = {m.metric: m.value for m in rita.metrics if m.metric.startswith("conv")}
        assert conversions["conversion:Proposal"] == pytest.approx(2 / 3)
        assert conversions["conversion:Negotiation"] == 0.0  # F8 still there, F5 moved back

    def test_an_empty_scope_has_every_stage_and_no_rates(
        self, session: Session, team: Team
    ) -> None:
        report = funnel_report(session, rep_scope(make_user(session, name="New")), Q1, AFTER)
        assert len(report.rows) == 5
        assert all(
            (row.entered, row.conversion, row.median_days_in_stage) == (0, None, None)
            for row in report.rows
        )
        assert (report.summary.deals, report.summary.conversion_to_won) == (0, None)


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_the_cohort_read_in_parts_is_the_cohort(
    session: Session, team: Team, monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    """The funnel and the rep comparison read their cohort in parts by deal and add the parts
    up; however many parts, the reports are those read in one."""
    from topline.analytics import funnel, people

    def reports() -> tuple[Any, ...]:
        return tuple(
            report.model_dump()
            for scope in (org_scope(), team_scope(team.maria))
            for moment in (AFTER, MID_FEBRUARY)
            for report in (
                funnel_report(session, scope, Q1, moment),
                reps_report(session, scope, Q1, moment),
            )
        )

    for module in (funnel, people):
        monkeypatch.setattr(module, "cohort_parts", lambda _session: 1)
    whole = reports()
    for module in (funnel, people):
        monkeypatch.setattr(module, "cohort_parts", lambda _session: parts)
    assert reports() == whole
    # The hand-built deals fall in more than one part (ids of both parities and more).
    deal_ids = set(session.scalars(select(Deal.id)))
    assert len({deal_id % 3 for deal_id in deal_ids}) == 3


class TestVelocity:
    def test_velocity_for_the_org_and_by_rep(self, session: Session, team: Team) -> None:
        report = velocity_report(session, org_scope(), AFTER)
        # The 90 days ending on 04-15: 2025-01-16 up to 2025-04-16 (exclusive).
        assert (report.period.start, report.period.end) == (date(2025, 1, 16), date(2025, 4, 16))
        summary = report.summary
        # Won F1 (1000, 30 days) and F3 (0, same day); lost F9 and F4 (03-20, its latest
        # close). Open: F2 (at 0), F5, F6, F7, F8.
        assert (summary.window_days, summary.open_deals, summary.won, summary.lost) == (
            90,
            5,
            2,
            2,
        )
        assert (summary.won_amount_cents, summary.average_won_amount_cents) == (1000_00, 500_00)
        assert (summary.win_rate, summary.average_cycle_days) == (0.5, 15)
        # 5 × 500 × 0.5 / 15 dollars a day.
        assert summary.velocity_cents_per_day == 8333
        rows = [
            (r.key, r.open_deals, r.won, r.lost, r.win_rate, r.velocity_cents_per_day)
            for r in report.rows
        ]
        assert rows == [
            ("Rita", 2, 1, 0, 1.0, 6667),  # 2 × 1000 × 1 / 30
            ("Olga", 2, 0, 0, None, None),  # nothing closed
            ("Ray", 1, 1, 2, pytest.approx(1 / 3), None),  # a 0-day average cycle
        ]

    def test_velocity_as_of_a_past_moment(self, session: Session, team: Team) -> None:
        summary = velocity_report(session, org_scope(), MID_FEBRUARY, window=30).summary
        # Won F1 and F3; F4's loss on 01-28 no longer stands (reopened 02-10).
        # Open on 02-15: F2, F4, F5, F8.
        assert (summary.open_deals, summary.won, summary.lost, summary.win_rate) == (4, 2, 0, 1.0)
        assert summary.velocity_cents_per_day == 13333  # 4 × 500 × 1 / 15
        short = velocity_report(session, org_scope(), MID_FEBRUARY, window=10).summary
        assert (short.won, short.win_rate, short.velocity_cents_per_day) == (0, None, None)

    def test_an_empty_scope(self, session: Session, team: Team) -> None:
        report = velocity_report(session, rep_scope(make_user(session, name="New")), AFTER)
        assert (report.summary.open_deals, report.summary.velocity_cents_per_day) == (0, None)
        assert report.rows == []

    def test_a_team_counts_only_its_reps(self, session: Session, team: Team) -> None:
        summary = velocity_report(session, team_scope(team.maria), AFTER).summary
        # Open F2, F7, F8; won F1, F3; lost F4, F9.
        assert (summary.open_deals, summary.won, summary.lost) == (3, 2, 2)
        assert summary.velocity_cents_per_day == 5000  # 3 × 500 × 0.5 / 15

    def test_the_window_runs_through_the_registry(self, session: Session, team: Team) -> None:
        run = REPORTS["velocity"].run
        report: Any = run(session, org_scope(), Q1, MID_FEBRUARY, {"window": "30"})
        assert report.summary.window_days == 30
        with pytest.raises(InvalidInput, match="number of days"):
            run(session, org_scope(), Q1, MID_FEBRUARY, {"window": "a month"})
        with pytest.raises(InvalidInput, match="1 to 3650"):
            run(session, org_scope(), Q1, MID_FEBRUARY, {"window": "0"})
        assert "window" in REPORTS["velocity"].options and not REPORTS["funnel"].options


def test_velocity_window_is_whole_utc_days() -> None:
    window = velocity_window(at("2025-03-01T00:00"), 1)
    assert (window.start, window.end, window.label) == (
        date(2025, 3, 1),
        date(2025, 3, 2),
        "2025-03-01..2025-03-02",
    )
    # The day is the UTC day, whatever the zone `as_of` is given in.
    evening = datetime.fromisoformat("2025-03-01T01:00+05:00")
    assert velocity_window(evening, 1).start == date(2025, 2, 28)
    with pytest.raises(InvalidInput):
        velocity_window(AFTER, 3651)
    with pytest.raises(InvalidInput, match="off the calendar"):
        velocity_window(datetime(1, 1, 5, tzinfo=UTC), 10)


@pytest.mark.parametrize(
    ("later", "earlier", "days"),
    [
        ("2025-01-15T23:59:59", "2025-01-15T00:00:00", 0),
        ("2025-01-16T00:00:00", "2025-01-15T23:59:59", 1),
        ("2025-03-01T10:00:00", "2024-02-28T10:00:00", 367),
        ("2025-01-14T10:00:00", "2025-01-15T10:00:00", -1),
        ("2025-01-16T00:00:00", "2025-01-15T23:59:59.998", 1),
        ("2025-01-15T12:00:00", "2025-01-15T11:59:59", 0),  # a Julian day turns at noon
        ("2025-01-16T11:59:59", "2025-01-15T12:00:00", 1),
        ("2000-03-01T00:00:00", "2000-02-28T23:59:59", 2),  # a leap day between
    ],
)
def test_utc_days_between_on_both_databases(
    session: Session, later: str, earlier: str, days: int
) -> None:
    value = session.scalar(
        select(
            utc_days_between(literal(at(later), UTCDateTime()), literal(at(earlier), UTCDateTime()))
        )
    )
    assert value == days


# --- pure pieces -----------------------------------------------------------------------------


def test_stage_conversion_and_velocity_by_hand() -> None:
    assert metrics.stage_conversion(3, 4) == 0.75
    assert metrics.stage_conversion(0, 0) is None
    assert metrics.pipeline_velocity(5, 50_000, 0.5, 15) == pytest.approx(8333.33, abs=0.01)
    assert metrics.pipeline_velocity(5, None, None, None) is None
    assert metrics.pipeline_velocity(5, 50_000, 0.5, 0) is None  # every win on its first day
    assert metrics.pipeline_velocity(0, 50_000, 0.5, 15) == 0


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_stage_conversion_stays_between_zero_and_one(advanced: int, others: int) -> None:
    rate = metrics.stage_conversion(advanced, advanced + others)
    assert rate is None if advanced + others == 0 else 0.0 <= rate <= 1.0


# A deal's life as steps: ("move", stage index), ("won",), ("lost",), ("amount", dollars), each
# some hours after the step before (0: the same moment).
STEP = st.one_of(
    st.tuples(st.just("move"), st.integers(0, 4)),
    st.tuples(st.just("won")),
    st.tuples(st.just("lost")),
    st.tuples(st.just("amount"), st.integers(0, 100)),
)
LIFE = st.tuples(
    st.integers(0, 4),
    st.lists(st.tuples(STEP, st.integers(0, 400)), max_size=8),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lives=st.lists(LIFE, min_size=1, max_size=4), as_of_hours=st.integers(0, 2500))
def test_funnel_figures_stay_consistent_on_any_history(
    session: Session, lives: list[tuple[int, list[tuple[Any, int]]]], as_of_hours: int
) -> None:
    """Whatever the moves, conversions stay in [0, 1], the outcomes add up to the entries, and
    the entries and advances match a direct reading of each deal's path."""
    savepoint = session.begin_nested()
    try:
        owner = make_user(session)
        pipeline = make_pipeline(session)
        stages = open_stages(session, pipeline)
        start = datetime(2025, 1, 1, tzinfo=UTC)
        as_of = start + timedelta(hours=as_of_hours)
        expected = {stage.id: [0, 0] for stage in stages}
        for first, steps in lives:
            paths = _live(session, owner, pipeline, stages, first, steps, start)
            _expect(expected, [path for path in paths if path[0] <= as_of], stages)
        report = funnel_report(session, rep_scope(owner), parse_period("2025"), as_of)
        by_id = {stage.name: stage.id for stage in stages}
        rows = [row for row in report.rows if row.pipeline == pipeline.name]
        assert len(rows) == len(stages)
        for row in rows:
            assert row.entered == row.advanced + row.lost + row.still_in_stage + row.moved_back
            assert min(row.advanced, row.lost, row.still_in_stage, row.moved_back) >= 0
            assert row.conversion is None or 0.0 <= row.conversion <= 1.0
            assert row.completed_stays <= row.entered
            assert [row.entered, row.advanced] == expected[by_id[row.stage]]
        summary = report.summary
        assert summary.won + summary.lost <= summary.deals
        assert summary.conversion_to_won is None or 0.0 <= summary.conversion_to_won <= 1.0
    finally:
        savepoint.rollback()


def _live(
    session: Session,
    owner: User,
    pipeline: Pipeline,
    stages: list[Any],
    first: int,
    steps: list[tuple[Any, int]],
    start: datetime,
) -> list[tuple[datetime, Any]]:
    """Create a deal and apply `steps`; its stage path as (moment, stage id, 'won' or 'lost')."""
    moment = start
    deal = make_deal(session, owner=owner, pipeline=pipeline, stage=stages[first], at=moment)
    path: list[tuple[datetime, Any]] = [(moment, stages[first].id)]
    state: Any = stages[first].id
    for step, hours in steps:
        moment += timedelta(hours=hours)
        closed = state in ("won", "lost")
        if step[0] == "move":
            target = stages[step[1]]
            if closed:
                reopen_deal(
                    session, deal, stage=target, close_date=date(2025, 6, 30), actor=None, at=moment
                )
            elif target.id == state:
                continue
            else:
                move_deal_to_stage(session, deal, stage=target, actor=None, at=moment)
            state = target.id
        elif step[0] in ("won", "lost") and not closed:
            if step[0] == "won":
                close_deal_won(session, deal, actor=None, at=moment)
            else:
                close_deal_lost(session, deal, loss_reason="Other", actor=None, at=moment)
            state = step[0]
        elif step[0] == "amount" and not closed:
            update_deal(
                session, deal, changes=DealUpdate(amount_cents=step[1] * 100), actor=None, at=moment
            )
            continue
        else:
            continue
        path.append((moment, state))
    return path


def _expect(
    expected: dict[int, list[int]], path: list[tuple[datetime, Any]], stages: list[Any]
) -> None:
    """Entries and advances per stage, read straight off one deal's path (all in 2025)."""
    position = {stage.id: index for index, stage in enumerate(stages)}
    seen: set[int] = set()
    for index, (_, state) in enumerate(path):
        if state in ("won", "lost") or state in seen:
            continue
        seen.add(state)
        expected[state][0] += 1
        if any(
            later == "won" or (later != "lost" and position[later] > position[state])
            for _, later in path[index + 1 :]
        ):
            expected[state][1] += 1

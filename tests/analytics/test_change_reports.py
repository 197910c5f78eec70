"""Slippage and waterfall on a hand-built team, on both databases; every figure worked by hand.

Period 2025Q1 ([2025-01-01, 2025-04-01)); A = `since` = 2025-01-01 00:00 (the default),
B = `as_of` = 2025-03-31 12:00. Amounts in dollars; Rita and Ray report to Maria, Olga does not.

| deal | rep  | created    | what happens                                                      |
|------|------|------------|-------------------------------------------------------------------|
| W1   | Rita | 2024-12-01 | 1000 closing 03-15, untouched                                     |
| W2   | Rita | 2024-12-02 | 2000 closing 02-28; 02-01 amount 2500                             |
| W3   | Ray  | 2024-12-03 | 800 closing 03-10; 02-10 amount 0                                 |
| W4   | Rita | 2025-01-20 | 1500 closing 03-30                                                |
| W5   | Ray  | 2024-11-01 | 3000 closing 05-15; 02-05 close date 03-25                        |
| W6   | Rita | 2024-12-05 | 1200 closing 03-01; 02-15 → 04-15; 03-01 → 05-30 (pushed twice)   |
| W7   | Ray  | 2024-12-06 | 900 closing 02-20; 02-01 → 04-10; 02-20 → 03-28 (pulled back)     |
| W8   | Rita | 2024-12-07 | 4000 closing 02-15; won 02-10 at 4400                             |
| W9   | Ray  | 2024-12-08 | 600 closing 03-05; lost 03-01                                     |
| W10  | Rita | 2024-10-01 | 700 closing 12-15; lost 2024-12-10; reopened 02-12 closing 03-31  |
| W11  | Ray  | 2025-02-03 | 500 closing 06-30; won 03-05                                      |
| W12  | Rita | 2024-12-09 | 350 closing 03-12; handed to Olga 03-02                           |
| W13  | Ray  | 2024-12-10 | 250 closing 02-10; 01-05 close date 2024-12-31 (before the period) |
| W14  | Olga | 2024-11-15 | 5000 closing 02-01; 2024-12-20 → 04-30 (pushed before A)          |

Open at A, closing in Q1: W1 1000, W2 2000, W3 800, W6 1200, W7 900, W8 4000, W9 600,
W12 350, W13 250 = 11,100 (9 deals). W5 and W14 close in Q2, W10 is lost, W4 and W11 do not
exist yet.

Open at B: W1 1000, W2 2500, W3 0, W4 1500, W5 3000, W7 900, W10 700, W12 350 = 9,950
(8 deals).

Waterfall for the org: created W4 1500 + W11 500 = 2000; pulled in W5 3000 + W10 700 (reopened)
= 3700; increased W2 500 + W8 400 = 900; decreased W3 800; pushed out W6 1200; won W8 4400 +
W11 500 = 4900; lost W9 600; other W13 250 (moved before the period). W7 (pushed and pulled
back) and W12 (handed over inside the org) do not move it.
11,100 + 2000 + 3700 + 900 − 800 − 1200 − 4900 − 600 − 250 = 9,950.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_deal, make_pipeline, make_user, open_stages, stage_named
from topline.analytics.changes import (
    Flow,
    parse_since,
    slippage_report,
    waterfall_report,
)
from topline.analytics.periods import Period, custom_period, parse_period
from topline.analytics.registry import REPORTS
from topline.analytics.reports import pipeline_report
from topline.analytics.scope import Scope, org_scope, rep_scope, team_scope
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
from topline.crm.models import Deal, DealHistory, Pipeline
from topline.crm.schemas import DealUpdate
from topline.errors import InvalidInput

Q1 = parse_period("2025Q1")
A = datetime(2025, 1, 1, tzinfo=UTC)
B = datetime(2025, 3, 31, 12, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Team:
    maria: User
    rita: User
    ray: User
    olga: User
    deals: dict[str, Deal]


@pytest.fixture
def team(session: Session) -> Team:
    maria = make_user(session, role=Role.MANAGER, name="Maria")
    rita = make_user(session, manager=maria, name="Rita")
    ray = make_user(session, manager=maria, name="Ray")
    olga = make_user(session, name="Olga")
    pipeline = make_pipeline(session)
    deals: dict[str, Deal] = {}

    def deal(name: str, owner: User, created: str, dollars: int, closes: date) -> Deal:
        deals[name] = make_deal(
            session,
            name=name,
            owner=owner,
            pipeline=pipeline,
            stage=stage_named(session, pipeline, "Qualification"),
            amount_cents=dollars * 100,
            close_date=closes,
            at=at(created),
        )
        return deals[name]

    def edit(d: Deal, when: str, **changes: object) -> None:
        update_deal(session, d, changes=DealUpdate(**changes), actor=d_owner(d), at=at(when))

    def d_owner(d: Deal) -> User:
        return next(u for u in (maria, rita, ray, olga) if u.id == d.owner_id)

    deal("W1", rita, "2024-12-01T09:00", 1000, date(2025, 3, 15))
    w2 = deal("W2", rita, "2024-12-02T09:00", 2000, date(2025, 2, 28))
    edit(w2, "2025-02-01T10:00", amount_cents=2500_00)
    w3 = deal("W3", ray, "2024-12-03T09:00", 800, date(2025, 3, 10))
    edit(w3, "2025-02-10T10:00", amount_cents=0)
    deal("W4", rita, "2025-01-20T09:00", 1500, date(2025, 3, 30))
    w5 = deal("W5", ray, "2024-11-01T09:00", 3000, date(2025, 5, 15))
    edit(w5, "2025-02-05T10:00", close_date=date(2025, 3, 25))
    w6 = deal("W6", rita, "2024-12-05T09:00", 1200, date(2025, 3, 1))
    edit(w6, "2025-02-15T10:00", close_date=date(2025, 4, 15))
    edit(w6, "2025-03-01T10:00", close_date=date(2025, 5, 30))
    w7 = deal("W7", ray, "2024-12-06T09:00", 900, date(2025, 2, 20))
    edit(w7, "2025-02-01T10:00", close_date=date(2025, 4, 10))
    edit(w7, "2025-02-20T10:00", close_date=date(2025, 3, 28))
    w8 = deal("W8", rita, "2024-12-07T09:00", 4000, date(2025, 2, 15))
    close_deal_won(session, w8, actor=rita, at=at("2025-02-10T10:00"), amount_cents=4400_00)
    w9 = deal("W9", ray, "2024-12-08T09:00", 600, date(2025, 3, 5))
    close_deal_lost(session, w9, loss_reason="Price", actor=ray, at=at("2025-03-01T10:00"))
    w10 = deal("W10", rita, "2024-10-01T09:00", 700, date(2024, 12, 15))
    close_deal_lost(session, w10, loss_reason="Timing", actor=rita, at=at("2024-12-10T10:00"))
    reopen_deal(
        session,
        w10,
        stage=stage_named(session, pipeline, "Proposal"),
        close_date=date(2025, 3, 31),
        actor=rita,
        at=at("2025-02-12T10:00"),
    )
    w11 = deal("W11", ray, "2025-02-03T09:00", 500, date(2025, 6, 30))
    close_deal_won(session, w11, actor=ray, at=at("2025-03-05T10:00"))
    w12 = deal("W12", rita, "2024-12-09T09:00", 350, date(2025, 3, 12))
    change_deal_owner(session, w12, owner=olga, actor=maria, at=at("2025-03-02T10:00"))
    w13 = deal("W13", ray, "2024-12-10T09:00", 250, date(2025, 2, 10))
    edit(w13, "2025-01-05T10:00", close_date=date(2024, 12, 31))
    w14 = deal("W14", olga, "2024-11-15T09:00", 5000, date(2025, 2, 1))
    edit(w14, "2024-12-20T10:00", close_date=date(2025, 4, 30))
    session.flush()
    return Team(maria, rita, ray, olga, deals)


def flows(report_rows: list) -> dict[str, tuple[int, int]]:  # type: ignore[type-arg]
    return {row.category.value: (row.deals, row.amount_cents) for row in report_rows}


class TestWaterfall:
    def test_org_waterfall_every_category(self, session: Session, team: Team) -> None:
        report = waterfall_report(session, org_scope(), Q1, B)
        assert flows(report.rows) == {
            "created": (2, 2000_00),
            "pulled_in": (2, 3700_00),
            "increased": (2, 900_00),
            "decreased": (1, 800_00),
            "pushed_out": (1, 1200_00),
            "won": (2, 4900_00),
            "lost": (1, 600_00),
            "other": (1, 250_00),
        }
        assert [row.sign for row in report.rows] == [1, 1, 1, -1, -1, -1, -1, -1]
        s = report.summary
        assert s.since == A
        assert (s.open_at_since_deals, s.open_at_since_cents) == (9, 11_100_00)
        assert (s.open_at_as_of_deals, s.open_at_as_of_cents) == (8, 9_950_00)
        assert (s.created_cents, s.won_cents, s.other_cents) == (2000_00, 4900_00, 250_00)
        assert s.reconciles is True
        assert s.equation == (
            "open_at_since 1110000 + created 200000 + pulled_in 370000 + increased 90000"
            " - decreased 80000 - pushed_out 120000 - won 490000 - lost 60000 - other 25000"
            " = open_at_as_of 995000"
        )
        assert report.report == "waterfall" and report.as_of == B

    def test_the_ends_are_the_pipeline_report_at_each_moment(
        self, session: Session, team: Team
    ) -> None:
        for scope in (org_scope(), team_scope(team.maria), rep_scope(team.olga)):
            summary = waterfall_report(session, scope, Q1, B).summary
            assert (
                summary.open_at_since_cents
                == pipeline_report(session, scope, Q1, A).summary.amount_cents
            )
            assert (
                summary.open_at_as_of_cents
                == pipeline_report(session, scope, Q1, B).summary.amount_cents
            )

    def test_a_handover_out_of_the_team_is_other(self, session: Session, team: Team) -> None:
        report = waterfall_report(session, team_scope(team.maria), Q1, B)
        # As for the org, plus W12 (350) handed to Olga: other is W13 250 + W12 350.
        assert flows(report.rows)["other"] == (2, 600_00)
        assert report.summary.open_at_as_of_cents == 9_600_00
        assert report.summary.reconciles

    def test_a_handover_into_a_scope_counts_negative(self, session: Session, team: Team) -> None:
        report = waterfall_report(session, rep_scope(team.olga), Q1, B)
        moved = {k: v for k, v in flows(report.rows).items() if v != (0, 0)}
        assert moved == {"other": (1, -350_00)}
        s = report.summary
        assert (s.open_at_since_cents, s.open_at_as_of_cents, s.reconciles) == (0, 350_00, True)

    def test_a_later_since(self, session: Session, team: Team) -> None:
        # Open at 02-12 12:00: W1 1000, W2 2500, W3 0, W4 1500, W5 3000, W6 1200, W9 600,
        # W10 700 (reopened at 10:00), W12 350 = 10,850. W7 was out (04-10) and W11 (created
        # 02-03) closed in Q2 then: both existed, so both are pulled in, and W11 is also won.
        since = at("2025-02-12T12:00")
        report = waterfall_report(session, org_scope(), Q1, B, since=since)
        assert flows(report.rows) == {
            "created": (0, 0),
            "pulled_in": (2, 1400_00),
            "increased": (0, 0),
            "decreased": (0, 0),
            "pushed_out": (1, 1200_00),
            "won": (1, 500_00),
            "lost": (1, 600_00),
            "other": (0, 0),
        }
        s = report.summary
        assert (s.open_at_since_deals, s.open_at_since_cents) == (9, 10_850_00)
        assert (s.open_at_as_of_cents, s.reconciles) == (9_950_00, True)

    def test_amount_changed_to_zero_stays_a_deal_at_zero(
        self, session: Session, team: Team
    ) -> None:
        report = waterfall_report(session, rep_scope(team.ray), Q1, B)
        # Ray at A: W3 800, W7 900, W9 600, W13 250 = 2550. At B: W3 0, W5 3000, W7 900.
        rows = flows(report.rows)
        assert rows["decreased"] == (1, 800_00)
        assert (rows["pulled_in"], rows["created"], rows["won"]) == (
            (1, 3000_00),
            (1, 500_00),
            (1, 500_00),
        )
        s = report.summary
        assert (s.open_at_since_deals, s.open_at_since_cents) == (4, 2550_00)
        assert (s.open_at_as_of_deals, s.open_at_as_of_cents) == (3, 3900_00)
        assert s.reconciles

    def test_since_after_as_of_is_refused(self, session: Session, team: Team) -> None:
        with pytest.raises(InvalidInput, match=r"since .* is after as_of"):
            waterfall_report(session, org_scope(), Q1, A, since=B)

    def test_before_the_period_the_default_window_is_empty(
        self, session: Session, team: Team
    ) -> None:
        q2 = parse_period("2025Q2")
        report = waterfall_report(session, org_scope(), q2, B)
        assert report.summary.since == B
        assert all(row.deals == 0 for row in report.rows)
        assert report.summary.open_at_since_cents == report.summary.open_at_as_of_cents


class TestSlippage:
    def test_pushed_twice_and_pushed_then_pulled_back(self, session: Session, team: Team) -> None:
        report = slippage_report(session, org_scope(), Q1, B)
        rows = [
            (r.name, r.owner, r.from_close_date, r.to_close_date, r.pushes, r.amount_cents,
             r.back_in_period)
            for r in report.rows
        ]  # fmt: skip
        assert rows == [
            ("W6", "Rita", date(2025, 3, 1), date(2025, 5, 30), 2, 1200_00, False),
            ("W7", "Ray", date(2025, 2, 20), date(2025, 4, 10), 1, 900_00, True),
        ]
        assert report.rows[0].deal_id == team.deals["W6"].id
        assert report.rows[0].owner_id == team.rita.id
        s = report.summary
        assert (s.since, s.deals_pushed, s.pushes, s.amount_pushed_cents) == (A, 2, 3, 2100_00)
        assert (s.pipeline_at_since_cents, s.slipped_at_since_cents) == (11_100_00, 2100_00)
        assert s.slipped_share == pytest.approx(2100 / 11_100)

    def test_a_push_before_since_is_outside_the_window(self, session: Session, team: Team) -> None:
        report = slippage_report(session, rep_scope(team.olga), Q1, B, since=at("2024-12-01"))
        # W14 (5000) was pushed on 2024-12-20; W12 came to Olga later and never slipped.
        assert [(r.name, r.pushes, r.amount_cents) for r in report.rows] == [("W14", 1, 5000_00)]
        s = report.summary
        assert (s.pipeline_at_since_cents, s.slipped_at_since_cents, s.slipped_share) == (
            5000_00,
            5000_00,
            1.0,
        )
        # From the period's start on, nothing of Olga's slipped and she had nothing then.
        later = slippage_report(session, rep_scope(team.olga), Q1, B).summary
        assert (later.deals_pushed, later.slipped_share) == (0, None)

    def test_only_pushes_inside_the_window_count(self, session: Session, team: Team) -> None:
        # From 02-20 12:00 on, only W6's second push (already out) happened: nothing left Q1.
        assert slippage_report(session, org_scope(), Q1, B, since=at("2025-02-20T12:00")).rows == []
        # Up to 02-16, W7 (02-01) and W6's first push (02-15) had happened.
        early = slippage_report(session, org_scope(), Q1, at("2025-02-16T00:00"))
        assert [(r.name, r.pushes, r.to_close_date, r.back_in_period) for r in early.rows] == [
            ("W6", 1, date(2025, 4, 15), False),
            ("W7", 1, date(2025, 4, 10), False),
        ]

    def test_scope_and_share_for_a_rep(self, session: Session, team: Team) -> None:
        report = slippage_report(session, rep_scope(team.ray), Q1, B)
        assert [r.name for r in report.rows] == ["W7"]
        # Ray at A: W3 800, W7 900, W9 600, W13 250 = 2550; W7 slipped.
        assert report.summary.slipped_share == pytest.approx(900 / 2550)

    def test_a_deal_handed_over_then_pushed(self, session: Session, team: Team) -> None:
        # W15: Rita's, 700 closing 03-20; handed to Olga 02-05, who pushes it to 04-20 on 02-25.
        # It slipped out of Rita's pipeline at A but under Olga, whose row lists it.
        pipeline = session.get(Pipeline, team.deals["W1"].pipeline_id)
        assert pipeline is not None
        w15 = make_deal(session, name="W15", owner=team.rita, pipeline=pipeline,
                        stage=stage_named(session, pipeline, "Qualification"),
                        amount_cents=700_00, close_date=date(2025, 3, 20),
                        at=at("2024-12-11T09:00"))  # fmt: skip
        change_deal_owner(session, w15, owner=team.olga, actor=team.maria,
                          at=at("2025-02-05T10:00"))  # fmt: skip
        update_deal(session, w15, changes=DealUpdate(close_date=date(2025, 4, 20)),
                    actor=team.olga, at=at("2025-02-25T10:00"))  # fmt: skip
        session.flush()
        olga = slippage_report(session, rep_scope(team.olga), Q1, B)
        assert [(r.name, r.owner_id, r.pushes, r.amount_cents) for r in olga.rows] == [
            ("W15", team.olga.id, 1, 700_00)
        ]
        assert (olga.summary.pipeline_at_since_cents, olga.summary.slipped_at_since_cents) == (0, 0)
        # Rita at A: W1 1000, W2 2000, W6 1200, W8 4000, W12 350, W15 700 = 9250; W6 and W15
        # slipped, though Olga pushed W15.
        rita = slippage_report(session, rep_scope(team.rita), Q1, B)
        assert [r.name for r in rita.rows] == ["W6"]
        assert (rita.summary.pipeline_at_since_cents, rita.summary.slipped_at_since_cents) == (
            9250_00,
            1900_00,
        )
        maria = slippage_report(session, team_scope(team.maria), Q1, B)
        assert [r.name for r in maria.rows] == ["W6", "W7"]
        assert maria.summary.slipped_at_since_cents == 1200_00 + 900_00 + 700_00

    def test_winning_and_reopening_are_not_pushes(self, session: Session, team: Team) -> None:
        # W11 was created closing in Q2 and won in Q1; W10 was reopened into Q1; W5 pulled in.
        names = {r.name for r in slippage_report(session, org_scope(), Q1, B).rows}
        assert names.isdisjoint({"W5", "W8", "W10", "W11"})


def test_since_option_parsing() -> None:
    assert parse_since({}) is None
    assert parse_since({"since": "2025-02-01"}) == datetime(2025, 2, 1, tzinfo=UTC)
    assert parse_since({"since": "2025-02-01T10:00+02:00"}) == datetime(2025, 2, 1, 8, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="ISO date"):
        parse_since({"since": "last week"})


def test_both_reports_are_registered_with_since() -> None:
    from topline.analytics import catalog

    for name in ("slippage", "waterfall"):
        assert name in catalog.REPORTS
        assert set(REPORTS[name].options) == {"since"}


def test_registered_runner_reads_since(session: Session, team: Team) -> None:
    report = REPORTS["waterfall"].run(session, org_scope(), Q1, B, {"since": "2025-02-12T12:00"})
    assert report.summary.since == at("2025-02-12T12:00")  # type: ignore[attr-defined]


# --- property: the waterfall reconciles for any history ---------------------------------------

BASE = datetime(2025, 1, 1, tzinfo=UTC)
DAY0 = BASE.date()


def _moment(hours: int) -> datetime:
    return BASE + timedelta(hours=hours)


OPERATIONS = st.sampled_from(["amount", "close_date", "stage", "win", "lose", "reopen", "owner"])


@pytest.mark.parametrize("parts", [2, 3])
def test_the_deals_read_in_parts_are_the_deals_read_at_once(
    session: Session, team: Team, monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    """Slippage reads its deals in parts by deal id, the waterfall in parts by the period's
    days (a deal counts in the part of its close date at B, or else at A), side by side, and
    each adds the parts up; however many parts, the reports are those read in one."""
    from topline.analytics import changes, history

    def reports() -> list[Any]:
        return [
            report.model_dump()
            for scope in (org_scope(), team_scope(team.maria), rep_scope(team.olga))
            for moment in (B, datetime(2025, 2, 15, tzinfo=UTC))
            for report in (
                slippage_report(session, scope, Q1, moment),
                waterfall_report(session, scope, Q1, moment),
            )
        ]

    # Slippage splits its reads itself, the waterfall through `history.in_parts`.
    for module in (changes, history):
        monkeypatch.setattr(module, "parallel_parts", lambda _session: 1)
    whole = reports()
    for module in (changes, history):
        monkeypatch.setattr(module, "parallel_parts", lambda _session: parts)
    assert reports() == whole
    # The hand-built deals fall in every part of slippage's, and some move between the
    # waterfall's: W8 from 02-15 (the second half of Q1) to its win on 02-10, W7 from 02-20 to
    # 03-28 (the second and the last third).
    assert len({deal_id % 3 for deal_id in session.scalars(select(Deal.id))}) == 3
    assert any(report["rows"] for report in whole[::2])  # some slippage rows to compare


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_waterfall_reconciles_for_any_history(session: Session, data: st.DataObject) -> None:
    savepoint = session.begin_nested()
    try:
        _check_random_history(session, data)
    finally:
        savepoint.rollback()
        # SQLite hands the rolled-back ids out again: forget every object of this example.
        session.expunge_all()


def _check_random_history(session: Session, data: st.DataObject) -> None:
    reps = [make_user(session, name="P1"), make_user(session, name="P2")]
    pipeline: Pipeline = make_pipeline(session)
    stages = open_stages(session, pipeline)
    days = st.integers(min_value=0, max_value=90)
    for _ in range(data.draw(st.integers(min_value=2, max_value=5), label="deals")):
        hours = data.draw(st.integers(min_value=0, max_value=24 * 40), label="created")
        owner = data.draw(st.sampled_from(reps))
        deal = make_deal(
            session,
            owner=owner,
            pipeline=pipeline,
            stage=data.draw(st.sampled_from(stages)),
            amount_cents=data.draw(st.integers(min_value=0, max_value=5_000)),
            close_date=DAY0 + timedelta(days=data.draw(days)),
            at=_moment(hours),
        )
        for operation in data.draw(
            st.lists(OPERATIONS, min_size=1, max_size=6), label="operations"
        ):
            hours += data.draw(st.integers(min_value=0, max_value=24 * 10))
            when = _moment(hours)
            closed = deal.closed_at is not None
            if operation == "amount" and not closed:
                amount = data.draw(st.integers(min_value=0, max_value=5_000))
                update_deal(session, deal, changes=DealUpdate(amount_cents=amount), actor=None,
                            at=when)  # fmt: skip
            elif operation == "close_date" and not closed:
                moved = DAY0 + timedelta(days=data.draw(days))
                update_deal(session, deal, changes=DealUpdate(close_date=moved), actor=None,
                            at=when)  # fmt: skip
            elif operation == "stage" and not closed:
                move_deal_to_stage(session, deal, stage=data.draw(st.sampled_from(stages)),
                                   actor=None, at=when)  # fmt: skip
            elif operation == "win" and not closed:
                amount = data.draw(st.none() | st.integers(min_value=0, max_value=5_000))
                close_deal_won(session, deal, actor=None, at=when, amount_cents=amount)
            elif operation == "lose" and not closed:
                close_deal_lost(session, deal, loss_reason="Price", actor=None, at=when)
            elif operation == "reopen" and closed:
                reopen_deal(session, deal, stage=data.draw(st.sampled_from(stages)),
                            close_date=DAY0 + timedelta(days=data.draw(days)), actor=None,
                            at=when)  # fmt: skip
            elif operation == "owner":
                change_deal_owner(session, deal, owner=data.draw(st.sampled_from(reps)),
                                  actor=None, at=when)  # fmt: skip
    session.flush()
    scopes: list[Scope] = [org_scope(), rep_scope(reps[0])]
    for _ in range(3):  # several windows over the same history
        start = DAY0 + timedelta(days=data.draw(st.integers(min_value=10, max_value=50)))
        period = custom_period(start, start + timedelta(days=data.draw(st.integers(20, 45))))
        a_hours = data.draw(st.integers(min_value=0, max_value=24 * 60), label="A")
        b_hours = data.draw(st.integers(min_value=a_hours + 1, max_value=24 * 100), label="B")
        for scope in scopes:
            _check_window(session, scope, period, _moment(a_hours), _moment(b_hours))
        _check_slippage_splits(session, reps, period, _moment(a_hours), _moment(b_hours))


def _check_slippage_splits(
    session: Session, reps: list[User], period: Period, since: datetime, as_of: datetime
) -> None:
    """Each rep's slippage is the org's split by owner: its rows are the org's rows of deals
    it owned when they first left the period, and the reps' pipelines at `since`, and the
    parts of them that slipped, add up to the org's. A rep's report reads only the pushes
    that may concern it, which owner changes in and around the window must not mislead."""
    whole = slippage_report(session, org_scope(), period, as_of, since=since)
    split = [slippage_report(session, rep_scope(rep), period, as_of, since=since) for rep in reps]
    for rep, report in zip(reps, split, strict=True):
        assert report.rows == [row for row in whole.rows if row.owner_id == rep.id]
    for figure in ("pipeline_at_since_cents", "slipped_at_since_cents"):
        parts = [getattr(report.summary, figure) for report in split]
        assert sum(parts) == getattr(whole.summary, figure), figure
    if any(row.owner_id != deal.owner_id for row in whole.rows
           for deal in [session.get(Deal, row.deal_id)]):  # fmt: skip
        event("slipped deal owned by another rep at as_of")


def _check_window(
    session: Session, scope: Scope, period: Period, since: datetime, as_of: datetime
) -> None:
    report = waterfall_report(session, scope, period, as_of, since=since)
    s = report.summary
    assert s.reconciles, s.equation
    at_since = pipeline_report(session, scope, period, since).summary
    at_as_of = pipeline_report(session, scope, period, as_of).summary
    assert (s.open_at_since_deals, s.open_at_since_cents) == (at_since.deals, at_since.amount_cents)
    assert (s.open_at_as_of_deals, s.open_at_as_of_cents) == (at_as_of.deals, at_as_of.amount_cents)
    balance = s.open_at_since_cents + sum(r.sign * r.amount_cents for r in report.rows)
    assert balance == s.open_at_as_of_cents
    for row in report.rows:
        if row.deals:
            event(f"{row.category.value} seen")
        if row.category != Flow.OTHER:
            assert row.amount_cents >= 0
        assert row.deals >= 0
    slipped = slippage_report(session, scope, period, as_of, since=since)
    if slipped.rows:
        event("slippage seen")
    assert 0 <= slipped.summary.slipped_at_since_cents <= slipped.summary.pipeline_at_since_cents
    _check_waterfall_parts(session, scope, period, since, as_of, report)


def _check_waterfall_parts(
    session: Session,
    scope: Scope,
    period: Period,
    since: datetime,
    as_of: datetime,
    whole: Any,
) -> None:
    """The waterfall read in parts by the period's days (each part the deals whose row at B,
    or else at A, closes in its days) is the waterfall read at once, whichever part a deal's
    close date moved into or out of between A and B."""
    from topline.analytics import history

    for parts in (2, 3):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(history, "parallel_parts", lambda _session, parts=parts: parts)
            assert waterfall_report(session, scope, period, as_of, since=since) == whole

    def close_dates(moment: datetime) -> dict[int, date]:
        rows = session.execute(
            select(DealHistory.deal_id, DealHistory.close_date).where(
                DealHistory.valid_from <= moment,
                (DealHistory.valid_to > moment) | DealHistory.valid_to.is_(None),
            )
        )
        return {deal_id: close_date for deal_id, close_date in rows if period.contains(close_date)}

    at_since, at_as_of = close_dates(since), close_dates(as_of)
    middle = period.start + timedelta(days=period.days // 2)
    if any((at_since[deal] < middle) != (at_as_of[deal] < middle)
           for deal in at_since.keys() & at_as_of.keys()):  # fmt: skip
        event("waterfall: a deal moved to the other half of the period")

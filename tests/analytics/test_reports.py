"""Reports on a hand-built team, on both databases: every figure below is worked out by hand.

The team (period 2025Q1 unless said otherwise; amounts in dollars):

| deal | rep  | created          | what happens                                              |
|------|------|------------------|-----------------------------------------------------------|
| D1   | Rita | 2024-12-10 10:00 | 1000, won 2025-02-10 23:30                                |
| D2   | Rita | 2025-01-05 09:00 | 500, lost 2025-03-31 23:59:59 (Price): the last second in |
| D3   | Ray  | 2025-02-01 09:00 | 2000, won 2025-04-01 00:00: the first moment of Q2        |
| D4   | Ray  | 2025-01-10 09:00 | 300, lost 01-20, reopened 02-01 in Proposal, won 03-10 at 400 |
| D5   | Olga | 2025-01-15 08:00 | 700, won 2025-01-15 17:00: created and closed the same day |
| D6   | Rita | 2025-02-01 09:00 | 800 in Proposal, closing 2025-03-20, still open           |
| D7   | Ray  | 2024-11-01 09:00 | 250 in Discovery, closing 2025-01-31, still open          |

Rita and Ray report to Maria; Olga does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from tests.factories import make_deal, make_pipeline, make_user, stage_named
from topline.analytics.periods import parse_period
from topline.analytics.reports import (
    Breakdown,
    closed_trend,
    cycle_report,
    pipeline_report,
    win_rate_report,
)
from topline.analytics.scope import Scope, org_scope, rep_scope, team_scope
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.deals import close_deal_lost, close_deal_won, reopen_deal

Q1 = parse_period("2025Q1")
AFTER = datetime(2025, 4, 15, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


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

    def deal(owner: User, created: str, dollars: int, stage: str, closes: date, **kw: object):  # type: ignore[no-untyped-def]
        return make_deal(
            session,
            owner=owner,
            pipeline=pipeline,
            stage=stage_named(session, pipeline, stage),
            amount_cents=dollars * 100,
            close_date=closes,
            at=at(created),
            **kw,
        )

    d1 = deal(rita, "2024-12-10T10:00", 1000, "Prospecting", date(2025, 2, 15), source="Web")
    close_deal_won(session, d1, actor=rita, at=at("2025-02-10T23:30"))
    d2 = deal(rita, "2025-01-05T09:00", 500, "Prospecting", date(2025, 3, 31), source="Web")
    close_deal_lost(session, d2, loss_reason="Price", actor=rita, at=at("2025-03-31T23:59:59"))
    d3 = deal(ray, "2025-02-01T09:00", 2000, "Prospecting", date(2025, 3, 31))
    close_deal_won(session, d3, actor=ray, at=at("2025-04-01T00:00"))
    d4 = deal(ray, "2025-01-10T09:00", 300, "Qualification", date(2025, 2, 28), source="Event")
    close_deal_lost(session, d4, loss_reason="Timing", actor=ray, at=at("2025-01-20T12:00"))
    reopen_deal(
        session,
        d4,
        stage=stage_named(session, pipeline, "Proposal"),
        close_date=date(2025, 3, 15),
        actor=ray,
        at=at("2025-02-01T12:00"),
    )
    close_deal_won(session, d4, actor=ray, at=at("2025-03-10T12:00"), amount_cents=400_00)
    d5 = deal(olga, "2025-01-15T08:00", 700, "Prospecting", date(2025, 1, 31), source="Web")
    close_deal_won(session, d5, actor=olga, at=at("2025-01-15T17:00"))
    deal(rita, "2025-02-01T09:00", 800, "Proposal", date(2025, 3, 20))
    deal(ray, "2024-11-01T09:00", 250, "Discovery", date(2025, 1, 31))
    session.flush()
    return Team(maria, rita, ray, olga)


def test_win_rate_for_the_org_the_team_and_a_rep(session: Session, team: Team) -> None:
    org = win_rate_report(session, org_scope(), Q1, AFTER).summary
    # Won D1 1000, D4 400 (its latest close), D5 700; lost D2 500. D3 closed in Q2.
    assert (org.won, org.lost, org.won_amount_cents, org.lost_amount_cents) == (
        3,
        1,
        2100_00,
        500_00,
    )
    assert org.win_rate == 0.75
    assert org.win_rate_by_value == pytest.approx(2100 / 2600)

    maria = win_rate_report(session, team_scope(team.maria), Q1, AFTER).summary
    assert (maria.won, maria.lost, maria.win_rate) == (2, 1, pytest.approx(2 / 3))
    assert maria.win_rate_by_value == pytest.approx(1400 / 1900)

    rita = win_rate_report(session, rep_scope(team.rita), Q1, AFTER)
    assert (rita.summary.won, rita.summary.lost, rita.summary.win_rate) == (1, 1, 0.5)
    assert [(row.key, row.id) for row in rita.rows] == [("Rita", team.rita.id)]


def test_win_rate_as_of_a_past_moment(session: Session, team: Team) -> None:
    # On 2025-01-25 D4 was lost (it reopened later) and D5 won; D1 and D2 were still open.
    then = win_rate_report(session, org_scope(), Q1, at("2025-01-25T00:00")).summary
    assert (then.won, then.lost, then.won_amount_cents, then.lost_amount_cents) == (
        1,
        1,
        700_00,
        300_00,
    )
    # On 2025-02-05 D4 was open again: only D5 had closed.
    reopened = win_rate_report(session, org_scope(), Q1, at("2025-02-05T00:00")).summary
    assert (reopened.won, reopened.lost) == (1, 0)


def test_win_rate_breakdowns(session: Session, team: Team) -> None:
    by_rep = win_rate_report(session, org_scope(), Q1, AFTER).rows
    assert [(r.key, r.won, r.lost) for r in by_rep] == [
        ("Rita", 1, 1),
        ("Olga", 1, 0),
        ("Ray", 1, 0),
    ]
    by_source = {r.key: (r.won, r.lost) for r in win_rate_report(
        session, org_scope(), Q1, AFTER, by=Breakdown.SOURCE).rows}  # fmt: skip
    assert by_source == {"Web": (2, 1), "Event": (1, 0)}
    reasons = {r.key: r.lost for r in win_rate_report(
        session, org_scope(), Q1, AFTER, by=Breakdown.LOSS_REASON).rows}  # fmt: skip
    assert reasons == {"Price": 1, None: 0}


def test_trend_matches_the_win_rate_and_cycle_reports_quarter_by_quarter(
    session: Session, team: Team
) -> None:
    quarters = [parse_period(label) for label in ("2024Q4", "2025Q1", "2025Q2")]
    points = closed_trend(session, org_scope(), quarters, AFTER)
    # Q1 by hand: won D1 (62 days), D4 (59), D5 (0); lost D2. Q2: D3 won. Q4 2024: nothing.
    assert [(p.period, p.won, p.lost, p.win_rate) for p in points] == [
        ("2024Q4", 0, 0, None),
        ("2025Q1", 3, 1, 0.75),
        ("2025Q2", 1, 0, 1.0),
    ]
    assert (points[1].median_days, points[1].mean_days) == (59, pytest.approx(121 / 3))
    for scope in (org_scope(), team_scope(team.maria), rep_scope(team.rita)):
        trend = closed_trend(session, scope, quarters, AFTER)
        for point, quarter in zip(trend, quarters, strict=True):
            rates = win_rate_report(session, scope, quarter, AFTER).summary
            cycle = cycle_report(session, scope, quarter, AFTER).summary
            assert (point.won, point.lost) == (rates.won, rates.lost)
            assert point.win_rate == rates.win_rate
            assert point.median_days == cycle.median_days
            assert point.mean_days == pytest.approx(cycle.mean_days)


def test_trend_as_of_a_past_moment(session: Session, team: Team) -> None:
    (q1,) = closed_trend(session, org_scope(), [Q1], at("2025-01-25T00:00"))
    assert (q1.won, q1.lost) == (1, 1)  # D5 won; D4 lost then (it reopened later)
    assert closed_trend(session, org_scope(), [], AFTER) == []


def test_quarter_boundaries_are_half_open(session: Session, team: Team) -> None:
    q2 = win_rate_report(session, org_scope(), parse_period("2025Q2"), AFTER).summary
    assert (q2.won, q2.won_amount_cents, q2.lost) == (1, 2000_00, 0)  # D3 at 04-01 00:00


def test_cycle_lengths(session: Session, team: Team) -> None:
    report = cycle_report(session, org_scope(), Q1, AFTER)
    # Won: D1 62 days, D4 59, D5 0 (same day); all closed adds D2's 85.
    summary = report.summary
    assert (summary.won, summary.median_days, summary.mean_days) == (3, 59, pytest.approx(121 / 3))
    assert (summary.closed, summary.median_days_all_closed, summary.mean_days_all_closed) == (
        4,
        60.5,
        51.5,
    )
    assert {row.bucket: (row.won, row.closed) for row in report.rows if row.closed} == {
        "0-7": (1, 1),
        "31-90": (2, 3),
    }


def test_pipeline_by_stage_as_of_a_moment(session: Session, team: Team) -> None:
    report = pipeline_report(session, org_scope(), Q1, at("2025-03-01T00:00"))
    by_stage = {row.stage: (row.deals, row.amount_cents) for row in report.rows}
    # Open on 03-01 and closing in Q1: D2, D3 (Prospecting), D7 (Discovery), D4, D6 (Proposal).
    assert by_stage == {
        "Prospecting": (2, 2500_00),
        "Qualification": (0, 0),
        "Discovery": (1, 250_00),
        "Proposal": (2, 1100_00),
        "Negotiation": (0, 0),
    }
    summary = report.summary
    assert (summary.deals, summary.amount_cents) == (5, 3850_00)
    assert summary.weighted_amount_cents == 250_00 + 100_00 + 660_00
    # Created in Q1 by 03-01: D2, D4, D5, D3, D6; in 2024Q4: D1, D7.
    assert (summary.created_deals, summary.created_amount_cents) == (5, 4300_00)
    assert summary.previous_created_amount_cents == 1250_00
    assert summary.growth == pytest.approx(2.44)


def test_the_current_moment_is_the_current_state(session: Session, team: Team) -> None:
    now = pipeline_report(session, org_scope(), Q1, datetime.now(UTC)).summary
    # Everything in Q1 has closed but D6 and D7.
    assert (now.deals, now.amount_cents) == (2, 1050_00)


def test_an_empty_scope_reports_nothing(session: Session, team: Team) -> None:
    nobody = make_user(session, name="Newbie")
    scope: Scope = rep_scope(nobody)
    win = win_rate_report(session, scope, Q1, AFTER)
    assert (win.summary.won, win.summary.win_rate, win.rows) == (0, None, [])
    cycle = cycle_report(session, scope, Q1, AFTER).summary
    assert (cycle.won, cycle.median_days, cycle.mean_days) == (0, None, None)
    pipe = pipeline_report(session, scope, Q1, AFTER).summary
    assert (pipe.deals, pipe.growth) == (0, None)

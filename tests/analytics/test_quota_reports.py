"""Quota reports on a hand-built team, on both databases: every figure is worked out by hand.

Period 2025Q1 = [2025-01-01, 2025-04-01), 90 days. Maria leads the team East (team quota
20,000 for Q1) and manages Rita, Ray, Nina, Paul and Lee; Otto manages Olga (no team).
Amounts in dollars.

| person | quotas                                        | Q1 quota                 |
|--------|-----------------------------------------------|--------------------------|
| Rita   | 3,000 each for January, February and March    | 9,000                    |
| Ray    | 8,900 over [02-01, 05-01): 89 days, 59 in Q1   | 8,900 × 59 / 89 = 5,900  |
| Nina   | 0 for Q1                                      | zero quota               |
| Paul   | none                                          | no quota                 |
| Olga   | 10,000 for Q1                                 | 10,000 (outside Maria's) |
| Lee    | none; left on 2024-12-15                      | not a row                |

| deal | owner | what happens                                                        |
|------|-------|---------------------------------------------------------------------|
| R1   | Rita  | 4,000, won 02-10                                                    |
| R2   | Rita  | 2,000 in Proposal (60 %), closing 03-20, still open                 |
| R3   | Rita  | 1,000, lost 03-01                                                   |
| Y1   | Ray   | 3,000, won 03-15                                                    |
| Y2   | Ray   | 5,000 in Negotiation (80 %), closing 03-28, won 03-25 (after AS_OF) |
| Y3   | Ray   | 1,500 in Discovery, closing 04-15: outside the period               |
| N1   | Nina  | 1,000, won 01-20                                                    |
| M1   | Maria | 1,000, won 02-20: a manager who sells is a row                      |
| O1   | Olga  | 6,000, won 02-01                                                    |

AS_OF is 2025-03-20 00:00, AFTER 2025-04-15 00:00.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from tests.factories import make_deal, make_pipeline, make_user, stage_named
from topline.analytics import metrics
from topline.analytics.catalog import REPORTS
from topline.analytics.periods import custom_period, parse_period
from topline.analytics.quota import (
    QuotaNote,
    attainment_report,
    coverage_and_leaderboard,
    coverage_report,
    leaderboard_report,
    overlap_days,
    prorated_quota,
    quota_note,
)
from topline.analytics.scope import org_scope, rep_scope, team_scope
from topline.auth.enums import Role
from topline.auth.models import Team, User
from topline.crm.deals import close_deal_lost, close_deal_won
from topline.crm.models import Deal
from topline.quotas.service import set_quota

Q1 = parse_period("2025Q1")
AS_OF = datetime(2025, 3, 20, tzinfo=UTC)
AFTER = datetime(2025, 4, 15, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- pure ------------------------------------------------------------------------------------


def test_coverage_and_attainment_by_hand() -> None:
    assert metrics.coverage(7_000, 11_000) == pytest.approx(7 / 11)
    assert metrics.coverage(7_000, 0) is None
    assert metrics.coverage(7_000, -500) is None
    assert metrics.attainment(4_500, 9_000) == 0.5
    assert metrics.attainment(12_000, 10_000) == 1.2
    assert metrics.attainment(1_000, 0) is None


def test_proration_by_hand() -> None:
    # A quarter over three monthly quotas: each counts in full.
    months = [(date(2025, 1, 1), date(2025, 2, 1)), (date(2025, 2, 1), date(2025, 3, 1)),
              (date(2025, 3, 1), date(2025, 4, 1))]  # fmt: skip
    assert sum(prorated_quota(300_000, s, e, Q1.start, Q1.end) for s, e in months) == 900_000
    # Ray's quota: 59 of its 89 days fall in Q1.
    assert prorated_quota(890_000, date(2025, 2, 1), date(2025, 5, 1), Q1.start, Q1.end) == 590_000
    # A month over a quarterly quota: February's 28 of 90 days.
    assert prorated_quota(900_000, Q1.start, Q1.end, date(2025, 2, 1), date(2025, 3, 1)) == 280_000
    # No overlap, and touching ends (half-open) share no day.
    assert prorated_quota(900_000, Q1.start, Q1.end, date(2025, 4, 1), date(2025, 5, 1)) == 0
    assert overlap_days(Q1.start, Q1.end, date(2024, 12, 1), date(2025, 1, 1)) == 0
    # Rita's custom range 01-15..02-15: 17/31 of January and 14/28 of February, rounded once.
    share = prorated_quota(300_000, date(2025, 1, 1), date(2025, 2, 1), date(2025, 1, 15),
                           date(2025, 2, 15)) + Fraction(150_000)  # fmt: skip
    assert round(share) == 314_516


def test_quota_notes() -> None:
    assert quota_note(False, 0, 0) == QuotaNote.NO_QUOTA
    assert quota_note(True, 0, 100) == QuotaNote.ZERO_QUOTA
    assert quota_note(True, 1_000, 1_000) == QuotaNote.QUOTA_MET
    assert quota_note(True, 1_000, 999) is None


@st.composite
def partitions(draw: st.DrawFn) -> tuple[int, date, date, list[date]]:
    """A quota's amount and days, and a split of those days into consecutive parts."""
    start = date.fromordinal(date(2024, 1, 1).toordinal() + draw(st.integers(0, 800)))
    days = draw(st.integers(1, 400))
    end = date.fromordinal(start.toordinal() + days)
    cuts = sorted(set(draw(st.lists(st.integers(1, max(days - 1, 1)), max_size=12))) - {days})
    bounds = [start, *(date.fromordinal(start.toordinal() + cut) for cut in cuts), end]
    return draw(st.integers(0, 10**12)), start, end, bounds


@given(partitions())
def test_prorating_over_a_partition_sums_back_to_the_quota(
    case: tuple[int, date, date, list[date]],
) -> None:
    amount, start, end, bounds = case
    parts = [prorated_quota(amount, start, end, a, b) for a, b in itertools.pairwise(bounds)]
    assert sum(parts) == amount  # exactly, before rounding
    rounded = sum(round(part) for part in parts)
    assert abs(rounded - amount) <= len(parts) / 2  # each part rounds by half a cent at most


@given(st.integers(0, 10**12), st.integers(-(10**12), 10**12))
def test_coverage_is_none_exactly_when_nothing_remains(pipeline: int, remaining: int) -> None:
    value = metrics.coverage(pipeline, remaining)
    assert (value is None) == (remaining <= 0)
    assert value is None or value >= 0


# --- the team --------------------------------------------------------------------------------


@dataclass
class Org:
    maria: User
    rita: User
    ray: User
    nina: User
    paul: User
    otto: User
    olga: User


@pytest.fixture
def org(session: Session) -> Org:
    maria = make_user(session, role=Role.MANAGER, name="Maria")
    otto = make_user(session, role=Role.MANAGER, name="Otto")
    rita = make_user(session, manager=maria, name="Rita")
    ray = make_user(session, manager=maria, name="Ray")
    nina = make_user(session, manager=maria, name="Nina")
    paul = make_user(session, manager=maria, name="Paul")
    make_user(
        session, manager=maria, name="Lee", hired_at=at("2024-01-02T00:00"),
        left_at=at("2024-12-15T00:00"), active=False,
    )  # fmt: skip
    olga = make_user(session, manager=otto, name="Olga")
    east = Team(name="East", manager_id=maria.id)
    session.add(east)
    session.flush()

    set_quota(session, team=east, amount_cents=20_000_00, period_start=Q1.start, period_end=Q1.end)
    for month in (1, 2, 3):
        set_quota(
            session, user=rita, amount_cents=3_000_00, period_start=date(2025, month, 1),
            period_end=date(2025, month + 1, 1),
        )  # fmt: skip
    set_quota(
        session, user=ray, amount_cents=8_900_00, period_start=date(2025, 2, 1),
        period_end=date(2025, 5, 1),
    )  # fmt: skip
    set_quota(session, user=nina, amount_cents=0, period_start=Q1.start, period_end=Q1.end)
    set_quota(session, user=olga, amount_cents=10_000_00, period_start=Q1.start, period_end=Q1.end)

    pipeline = make_pipeline(session)

    def deal(owner: User, dollars: int, stage: str, closes: date) -> Deal:
        return make_deal(
            session, owner=owner, pipeline=pipeline, stage=stage_named(session, pipeline, stage),
            amount_cents=dollars * 100, close_date=closes, at=at("2025-01-06T09:00"),
        )  # fmt: skip

    def won(owner: User, dollars: int, when: str, stage: str = "Proposal") -> None:
        opened = deal(owner, dollars, stage, date(2025, 3, 28))
        close_deal_won(session, opened, actor=owner, at=at(when))

    won(rita, 4_000, "2025-02-10T12:00")  # R1
    deal(rita, 2_000, "Proposal", date(2025, 3, 20))  # R2
    lost = deal(rita, 1_000, "Proposal", date(2025, 3, 31))  # R3
    close_deal_lost(session, lost, loss_reason="Price", actor=rita, at=at("2025-03-01T12:00"))
    won(ray, 3_000, "2025-03-15T12:00")  # Y1
    won(ray, 5_000, "2025-03-25T12:00", stage="Negotiation")  # Y2
    deal(ray, 1_500, "Discovery", date(2025, 4, 15))  # Y3
    won(nina, 1_000, "2025-01-20T12:00")  # N1
    won(maria, 1_000, "2025-02-20T12:00")  # M1
    won(olga, 6_000, "2025-02-01T12:00")  # O1
    session.flush()
    return Org(maria, rita, ray, nina, paul, otto, olga)


def figures(row: Any) -> tuple[Any, ...]:
    return (
        row.quota_cents // 100,
        row.won_cents // 100,
        row.remaining_quota_cents // 100,
        row.open_pipeline_cents // 100,
        row.weighted_pipeline_cents // 100,
        row.note,
    )


class TestCoverage:
    def test_team_uses_its_team_quota(self, session: Session, org: Org) -> None:
        report = coverage_report(session, team_scope(org.maria), Q1, AS_OF)
        # Won by AS_OF: Rita 4,000, Ray 3,000 (Y2 only later), Nina 1,000, Maria 1,000.
        # Open closing in Q1: R2 2,000 (60 %), Y2 5,000 (80 %); Y3 closes in Q2.
        assert figures(report.summary) == (20_000, 9_000, 11_000, 7_000, 5_200, None)
        assert report.summary.coverage == pytest.approx(7 / 11)
        # Lee left before Q1; Olga is Otto's.
        assert {row.name: figures(row) for row in report.rows} == {
            "Maria": (0, 1_000, 0, 0, 0, QuotaNote.NO_QUOTA),
            "Nina": (0, 1_000, 0, 0, 0, QuotaNote.ZERO_QUOTA),
            "Paul": (0, 0, 0, 0, 0, QuotaNote.NO_QUOTA),
            "Ray": (5_900, 3_000, 2_900, 5_000, 4_000, None),
            "Rita": (9_000, 4_000, 5_000, 2_000, 1_200, None),
        }
        assert [row.name for row in report.rows] == ["Maria", "Nina", "Paul", "Ray", "Rita"]
        coverage = {row.name: row.coverage for row in report.rows}
        assert coverage == {
            "Maria": None,
            "Nina": None,
            "Paul": None,
            "Ray": pytest.approx(50 / 29),
            "Rita": pytest.approx(0.4),
        }

    def test_won_later_reduces_the_remaining_quota(self, session: Session, org: Org) -> None:
        report = coverage_report(session, team_scope(org.maria), Q1, AFTER)
        # Y2 is won now: the team has won 14,000 and only R2 (2,000) is still open.
        assert figures(report.summary) == (20_000, 14_000, 6_000, 2_000, 1_200, None)
        assert report.summary.coverage == pytest.approx(1 / 3)
        ray = next(row for row in report.rows if row.id == org.ray.id)
        assert figures(ray) == (5_900, 8_000, 0, 0, 0, QuotaNote.QUOTA_MET)
        assert ray.coverage is None

    def test_org_sums_the_reps_quotas(self, session: Session, org: Org) -> None:
        report = coverage_report(session, org_scope(), Q1, AS_OF)
        # Rita 9,000 + Ray 5,900 + Nina 0 + Olga 10,000; the team quota does not add.
        assert figures(report.summary) == (24_900, 15_000, 9_900, 7_000, 5_200, None)
        assert report.summary.coverage == pytest.approx(7_000 / 9_900)
        assert "Olga" in {row.name for row in report.rows}
        assert "Otto" not in {row.name for row in report.rows}

    def test_a_manager_without_a_team_sums_the_reps(self, session: Session, org: Org) -> None:
        report = coverage_report(session, team_scope(org.otto), Q1, AS_OF)
        assert figures(report.summary) == (10_000, 6_000, 4_000, 0, 0, None)
        assert report.summary.coverage == 0.0
        assert [row.name for row in report.rows] == ["Olga"]

    def test_one_rep(self, session: Session, org: Org) -> None:
        ray = coverage_report(session, rep_scope(org.ray), Q1, AS_OF)
        assert figures(ray.summary) == (5_900, 3_000, 2_900, 5_000, 4_000, None)
        assert [row.name for row in ray.rows] == ["Ray"]
        nina = coverage_report(session, rep_scope(org.nina), Q1, AS_OF).summary
        assert (nina.coverage, nina.note) == (None, QuotaNote.ZERO_QUOTA)
        paul = coverage_report(session, rep_scope(org.paul), Q1, AS_OF).summary
        assert (paul.quota_cents, paul.coverage, paul.note) == (0, None, QuotaNote.NO_QUOTA)


class TestAttainment:
    def test_team_and_its_people(self, session: Session, org: Org) -> None:
        report = attainment_report(session, team_scope(org.maria), Q1, AS_OF)
        summary = report.summary
        assert (summary.quota_cents, summary.won_cents, summary.attainment) == (
            20_000_00,
            9_000_00,
            0.45,
        )
        # Highest attainment first, then those without one by name.
        assert [(row.name, row.attainment, row.note) for row in report.rows] == [
            ("Ray", pytest.approx(3_000 / 5_900), None),
            ("Rita", pytest.approx(4_000 / 9_000), None),
            ("Maria", None, QuotaNote.NO_QUOTA),
            ("Nina", None, QuotaNote.ZERO_QUOTA),
            ("Paul", None, QuotaNote.NO_QUOTA),
        ]

    def test_quotas_are_prorated_to_the_report_period(self, session: Session, org: Org) -> None:
        march = attainment_report(session, rep_scope(org.ray), parse_period("2025-03"), AFTER)
        # 31 of the 89 days of Ray's quota; he won Y1 and Y2 in March.
        assert (march.summary.quota_cents, march.summary.won_cents) == (3_100_00, 8_000_00)
        assert march.summary.attainment == pytest.approx(8_000 / 3_100)
        assert march.summary.note == QuotaNote.QUOTA_MET
        february = attainment_report(session, team_scope(org.maria), parse_period("2025-02"), AFTER)
        # 28/90 of the team's 20,000 is 6,222.22; R1 and M1 were won in February.
        assert (february.summary.quota_cents, february.summary.won_cents) == (622_222, 5_000_00)
        rita = attainment_report(
            session, rep_scope(org.rita), custom_period(date(2025, 1, 15), date(2025, 2, 15)), AFTER
        ).summary
        # 17/31 of January's 3,000 plus 14/28 of February's, rounded once.
        assert (rita.quota_cents, rita.won_cents) == (314_516, 4_000_00)


class TestLeaderboard:
    def test_ranked_by_won_amount_then_name(self, session: Session, org: Org) -> None:
        report = leaderboard_report(session, team_scope(org.maria), Q1, AFTER)
        rows = [
            (r.rank, r.name, r.won_cents // 100, r.deals_won, r.deals_lost, r.win_rate,
             r.average_deal_size_cents, r.quota_cents // 100)
            for r in report.rows
        ]  # fmt: skip
        assert rows == [
            (1, "Ray", 8_000, 2, 0, 1.0, 4_000_00, 5_900),
            (2, "Rita", 4_000, 1, 1, 0.5, 4_000_00, 9_000),
            (3, "Maria", 1_000, 1, 0, 1.0, 1_000_00, 0),
            (4, "Nina", 1_000, 1, 0, 1.0, 1_000_00, 0),
            (5, "Paul", 0, 0, 0, None, None, 0),
        ]
        assert [r.attainment for r in report.rows] == [
            pytest.approx(8_000 / 5_900),
            pytest.approx(4_000 / 9_000),
            None,
            None,
            None,
        ]
        summary = report.summary
        assert (summary.people, summary.won_cents, summary.deals_won, summary.deals_lost) == (
            5,
            14_000_00,
            5,
            1,
        )
        assert summary.win_rate == pytest.approx(5 / 6)
        assert (summary.average_deal_size_cents, summary.quota_cents) == (2_800_00, 20_000_00)
        assert summary.attainment == pytest.approx(0.7)

    def test_won_after_as_of_is_not_counted(self, session: Session, org: Org) -> None:
        report = leaderboard_report(session, team_scope(org.maria), Q1, AS_OF)
        assert [(r.name, r.won_cents // 100, r.deals_won) for r in report.rows[:2]] == [
            ("Rita", 4_000, 1),
            ("Ray", 3_000, 1),
        ]
        assert report.summary.won_cents == 9_000_00

    def test_a_rep_outside_the_scope_is_not_ranked(self, session: Session, org: Org) -> None:
        otto = leaderboard_report(session, team_scope(org.otto), Q1, AFTER)
        assert [(r.rank, r.name, r.won_cents) for r in otto.rows] == [(1, "Olga", 6_000_00)]
        maria = leaderboard_report(session, team_scope(org.maria), Q1, AFTER)
        assert org.olga.id not in {row.id for row in maria.rows}


def test_an_empty_scope_reports_nothing(session: Session, org: Org) -> None:
    eve = make_user(session, role=Role.MANAGER, name="Eve")
    scope = team_scope(eve)
    coverage = coverage_report(session, scope, Q1, AS_OF)
    assert coverage.rows == []
    assert figures(coverage.summary) == (0, 0, 0, 0, 0, QuotaNote.NO_QUOTA)
    assert coverage.summary.coverage is None
    attainment = attainment_report(session, scope, Q1, AS_OF)
    assert (attainment.rows, attainment.summary.attainment) == ([], None)
    board = leaderboard_report(session, scope, Q1, AS_OF)
    assert (board.rows, board.summary.people, board.summary.win_rate) == ([], 0, None)
    assert board.summary.average_deal_size_cents is None


def test_a_new_rep_is_listed_with_nothing(session: Session, org: Org) -> None:
    newbie = make_user(session, name="Newbie")
    report = leaderboard_report(session, rep_scope(newbie), Q1, AS_OF)
    assert [(r.rank, r.name, r.won_cents, r.win_rate) for r in report.rows] == [
        (1, "Newbie", 0, None)
    ]


def test_the_reports_are_registered(session: Session, org: Org) -> None:
    for name in ("coverage", "attainment", "leaderboard"):
        result = REPORTS[name].run(session, team_scope(org.maria), Q1, AS_OF, {})
        assert result.model_dump()["report"] == name


def test_coverage_and_leaderboard_together_equal_each_report(session: Session, org: Org) -> None:
    for scope in (org_scope(), team_scope(org.maria), team_scope(org.otto), rep_scope(org.rita)):
        for period in (parse_period("2025Q1"), parse_period("2025-02"), parse_period("2024Q4")):
            for moment in (at("2025-02-15T00:00"), AS_OF, at("2025-06-01T00:00")):
                coverage, leaderboard = coverage_and_leaderboard(session, scope, period, moment)
                assert coverage == coverage_report(session, scope, period, moment)
                assert leaderboard == leaderboard_report(session, scope, period, moment)

"""Revenue reports on hand-built teams, on both databases: every figure is worked out by hand.

**ramp**, AS_OF = 2025-06-30 12:00. The trailing 90 days run 2025-04-02 … 2025-06-30, the 12
months 2024-07-01 … 2025-06-30; tenured reps were hired before 2024-06-30, and the default
window (12 months) is [2024-06-30, 2025-07-01). Amounts in dollars, every close at 12:00
unless said.

| rep  | team  | hired      | won (day: amount)                              | 90 days | 12 months |
|------|-------|------------|------------------------------------------------|---------|-----------|
| Tara | Maria | 2023-01-09 | 2024-09-10: 6,000; 2025-05-10: 6,000           | 6,000   | 12,000    |
| Tom  | Maria | 2022-05-02 | 2024-03-01: 2,400; 2025-04-15: 9,000           | 9,000   | 9,000     |
| Tess | Maria | 2024-01-15 | 2025-04-01: 3,000; 2025-06-30 11:00: 3,000     | 3,000   | 6,000     |
| Lena | Maria | 2020-03-02 | 2025-02-10: 20,000; left 2025-03-01            | —       | —         |
| Olga | Otto  | 2021-06-01 | 2025-05-01: 100,000                            | 100,000 | 100,000   |
| Nora | Maria | 01-15 9:00 | 02-20: 2,500; 03-25: 2,000; 05-10: 1,500 (*)   |         |           |
| Neil | Maria | 2025-03-31 | nothing won (one deal lost)                    |         |           |
| Nico | Maria | 2024-11-01 | 2024-12-02: 7,000                              |         |           |

(*) and 5,000 won on 03-01, reopened on 03-03 and lost on 03-10. Nora was hired on 2025-01-15
at 09:00. Tess's first win is a day before the 90 days; Lena has left, so is not tenured.

Maria's team: the bar is the median of 6,000, 9,000 and 3,000 = 6,000; the monthly median is
the median of 1,000, 750 and 500 = 750. Nora's trailing bookings: 2,500 on 02-20, 4,500 on
03-25 (02-20 is within 90 days), 6,000 on 05-10 (window from 02-10): ramped on 05-10, 115 days
after 01-15. Counting the lost 5,000 would have ramped her on 03-01. Nico ramps on his first
win, 31 days after hire. Neil never ramps. Median ramp-up: (115 + 31) / 2 = 73.

The org adds Olga: the bar is the median of 3,000, 6,000, 9,000, 100,000 = 7,500, which Nora
never reaches; the monthly median is (750 + 1,000) / 2 = 875.

**mrr**, AS_OF = 2025-06-30 12:00; 12 months before is 2024-06-30 12:00; period 2025Q2. Rosa
(team Maria) sells; recurring amounts are per month, amounts are the deals' bookings.

| account | deal (type, outcome)          | closes     | recurring | amount | MRR after        |
|---------|------------------------------|------------|-----------|--------|------------------|
| A       | new business, won            | 2024-03-10 | 1,000     | 12,000 | 1,000            |
| A       | renewal, won                 | 2025-03-10 | 1,200     | 14,400 | 1,200 (+200 exp) |
| B       | new business, won            | 2024-05-01 | 500       | 6,000  | 500              |
| B       | renewal, lost                | 2025-05-01 | 500       |        | 0 (500 churn)    |
| C       | new business, won            | 2024-02-01 | 2,000     | 24,000 | 2,000            |
| C       | expansion, won               | 2025-04-15 | 300       | 3,600  | 2,300 (+300 exp) |
| C       | renewal, won                 | 2025-06-01 | 1,800     | 21,600 | 1,800 (−500 con) |
| D       | new business, won            | 2025-04-20 | 800       | 9,600  | 800 (new)        |
| D       | expansion, reopened, open    | 05-20 (*)  | 100       | 1,200  | —                |
| E       | new business, won            | 2025-05-05 | none      | 5,000  | — (one-off)      |
| G       | new business, lost           | 2025-04-10 | 700       |        | —                |
| H (Ron) | new business, won            | 2024-01-02 | 1,000     | 12,000 | 1,000            |

(*) won on 2025-05-20 and reopened on 05-25: still open at AS_OF. Ron is in Otto's team.

Rosa: MRR 12 months ago = A 1,000 + B 500 + C 2,000 = 3,500 (the cohort); at AS_OF A 1,200 +
C 1,800 + D 800 = 3,800. Cohort movements: expansion 200 + 300, contraction 500, churn 500:
NRR = (3,500 + 500 − 500 − 500) / 3,500 = 6/7 (the cohort ends at 1,200 + 0 + 1,800 = 3,000).
Q2 bookings: new business D 9,600 + E 5,000, expansion C 3,600, renewal C 21,600. Months: April
3,700 → +800 new +300 expansion → 4,800; May → −500 churn → 4,300; June → −500 contraction →
3,800.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_account, make_deal, make_pipeline, make_user, stage_named
from topline.analytics import metrics
from topline.analytics.catalog import REPORTS
from topline.analytics.periods import custom_period, parse_period
from topline.analytics.revenue import (
    MrrBreakdown,
    months_later,
    mrr_changes,
    mrr_report,
    ramp_report,
    ramp_window,
)
from topline.analytics.scope import org_scope, rep_scope, team_scope
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.deals import close_deal_lost, close_deal_won, reopen_deal, update_deal
from topline.crm.enums import DealType
from topline.crm.models import Account, Deal, Pipeline
from topline.crm.schemas import DealUpdate
from topline.errors import InvalidInput

AS_OF = datetime(2025, 6, 30, 12, tzinfo=UTC)
Q2 = parse_period("2025Q2")


def at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if len(text) == 10:
        moment = moment.replace(hour=12)
    return moment.replace(tzinfo=UTC)


# --- pure ------------------------------------------------------------------------------------


def test_months_later_keeps_the_day_or_takes_the_month_end() -> None:
    assert months_later(date(2025, 3, 31), 1) == date(2025, 4, 30)
    assert months_later(date(2025, 3, 31), 2) == date(2025, 5, 31)
    assert months_later(date(2024, 2, 29), -12) == date(2023, 2, 28)
    assert months_later(date(2025, 1, 15), -1) == date(2024, 12, 15)
    assert months_later(date(2025, 11, 30), 3) == date(2026, 2, 28)


def test_first_day_reaching_by_hand() -> None:
    nora = [(36, 2_500), (69, 2_000), (115, 1_500)]
    assert metrics.first_day_reaching(nora, 6_000) == 115
    assert metrics.first_day_reaching(nora, 6_001) is None
    # 2,500 on day 36 leaves the window on day 126: 90 days are days D − 89 … D.
    assert metrics.first_day_reaching([(36, 2_500), (125, 3_500)], 6_000) == 125
    assert metrics.first_day_reaching([(36, 2_500), (126, 3_500)], 6_000) is None
    assert metrics.first_day_reaching([], 0) is None
    assert metrics.first_day_reaching([(5, 0)], 0) == 5  # a bar of 0: the first win
    assert metrics.first_day_reaching([(3, 100), (3, 200)], 300) == 3


@given(
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 10_000)), max_size=30),
    st.integers(0, 40_000),
    st.integers(1, 120),
)
def test_first_day_reaching_matches_a_daily_scan(
    bookings: list[tuple[int, int]], bar: int, window: int
) -> None:
    def trailing(day: int) -> int:
        return sum(amount for d, amount in bookings if day - window < d <= day)

    booked_days = {d for d, _ in bookings}

    def reached(day: int) -> bool:
        # A bar of 0 is reached at the first booking, not before any.
        return trailing(day) >= bar and (bar > 0 or day in booked_days)

    expected = next((day for day in range(0, 401) if reached(day)), None)
    assert metrics.first_day_reaching(bookings, bar, window) == expected


def test_account_mrr_after_and_movements_by_hand() -> None:
    assert metrics.account_mrr_after(1_000, 200, renewal=False, won=True) == 1_200
    assert metrics.account_mrr_after(1_000, 200, renewal=False, won=False) == 1_000
    assert metrics.account_mrr_after(1_000, 1_200, renewal=True, won=True) == 1_200
    assert metrics.account_mrr_after(1_000, 1_200, renewal=True, won=False) == 0
    assert metrics.mrr_movement(0, 800) == "new"
    assert metrics.mrr_movement(1_000, 1_200) == "expansion"
    assert metrics.mrr_movement(2_300, 1_800) == "contraction"
    assert metrics.mrr_movement(500, 0) == "churn"
    assert metrics.mrr_movement(500, 500) is None
    assert metrics.net_revenue_retention(3_500, 500, 500, 500) == pytest.approx(6 / 7)
    assert metrics.net_revenue_retention(0, 500, 0, 0) is None


events = st.lists(
    st.tuples(
        st.integers(1, 4),
        st.integers(0, 50).map(lambda d: datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=d)),
        st.booleans(),
        st.booleans(),
        st.integers(0, 5_000),
    ),
    max_size=40,
)


@given(events)
def test_mrr_movements_add_up_to_the_mrr_changes(
    replay: list[tuple[int, datetime, bool, bool, int]],
) -> None:
    changes = mrr_changes(replay)
    final: dict[int, int] = {}
    parts = {"new": 0, "expansion": 0, "contraction": 0, "churn": 0}
    for change in changes:
        assert change.before == final.get(change.account, 0)
        final[change.account] = change.after
        kind = metrics.mrr_movement(change.before, change.after)
        assert kind is not None
        parts[kind] += abs(change.after - change.before)
    total = parts["new"] + parts["expansion"] - parts["contraction"] - parts["churn"]
    assert total == sum(final.values())
    assert all(value >= 0 for value in final.values())


def test_ramp_window_bounds() -> None:
    window = ramp_window(AS_OF, 12)
    assert (window.start, window.end) == (date(2024, 6, 30), date(2025, 7, 1))
    with pytest.raises(InvalidInput):
        ramp_window(AS_OF, 0)
    with pytest.raises(InvalidInput):
        ramp_window(AS_OF, 121)


# --- ramp ------------------------------------------------------------------------------------


@dataclass
class RampTeam:
    maria: User
    otto: User
    nora: User
    neil: User
    nico: User


def _won(
    session: Session, pipeline: Pipeline, owner: User, dollars: int, when: str, **extra: Any
) -> Any:
    closes = at(when)
    deal = make_deal(
        session, owner=owner, pipeline=pipeline, stage=stage_named(session, pipeline, "Proposal"),
        amount_cents=dollars * 100, close_date=closes.date(), at=closes - timedelta(days=20),
        **extra,
    )  # fmt: skip
    return close_deal_won(session, deal, actor=owner, at=closes)


def _lost(
    session: Session, pipeline: Pipeline, owner: User, dollars: int, when: str, **extra: Any
) -> Any:
    closes = at(when)
    deal = make_deal(
        session, owner=owner, pipeline=pipeline, stage=stage_named(session, pipeline, "Proposal"),
        amount_cents=dollars * 100, close_date=closes.date(), at=closes - timedelta(days=20),
        **extra,
    )  # fmt: skip
    return close_deal_lost(session, deal, loss_reason="Price", actor=owner, at=closes)


@pytest.fixture
def ramp_team(session: Session) -> RampTeam:
    maria = make_user(session, role=Role.MANAGER, name="Maria", hired_at=at("2019-01-07"))
    otto = make_user(session, role=Role.MANAGER, name="Otto", hired_at=at("2019-01-07"))

    def rep(name: str, hired: str, manager: User = maria) -> User:
        return make_user(session, manager=manager, name=name, hired_at=at(hired))

    tara, tom, tess = rep("Tara", "2023-01-09"), rep("Tom", "2022-05-02"), rep("Tess", "2024-01-15")
    lena, olga = rep("Lena", "2020-03-02"), rep("Olga", "2021-06-01", otto)
    nora = rep("Nora", "2025-01-15T09:00")
    neil, nico = rep("Neil", "2025-03-31"), rep("Nico", "2024-11-01")
    pipeline = make_pipeline(session)

    def won(owner: User, dollars: int, when: str) -> None:
        _won(session, pipeline, owner, dollars, when)

    won(tara, 6_000, "2024-09-10")
    won(tara, 6_000, "2025-05-10")
    won(tom, 2_400, "2024-03-01")
    won(tom, 9_000, "2025-04-15")
    won(tess, 3_000, "2025-04-01")
    won(tess, 3_000, "2025-06-30T11:00")
    won(lena, 20_000, "2025-02-10")
    lena.left_at, lena.active = at("2025-03-01"), False
    won(olga, 100_000, "2025-05-01")
    won(nora, 2_500, "2025-02-20")
    won(nora, 2_000, "2025-03-25")
    won(nora, 1_500, "2025-05-10")
    reopened = _won(session, pipeline, nora, 5_000, "2025-03-01")
    reopen_deal(
        session, reopened, stage=stage_named(session, pipeline, "Proposal"),
        close_date=date(2025, 3, 31), actor=nora, at=at("2025-03-03"),
    )  # fmt: skip
    close_deal_lost(session, reopened, loss_reason="Budget", actor=nora, at=at("2025-03-10"))
    _lost(session, pipeline, neil, 4_000, "2025-05-15")
    won(nico, 7_000, "2024-12-02")
    session.flush()
    return RampTeam(maria, otto, nora, neil, nico)


def _ramp_rows(report: Any) -> list[tuple[Any, ...]]:
    return [
        (row.name, row.bookings_cents // 100, row.trailing_bookings_cents // 100, row.ramped_on,
         row.ramp_days)
        for row in report.rows
    ]  # fmt: skip


class TestRamp:
    def test_a_team_against_its_tenured_reps(self, session: Session, ramp_team: RampTeam) -> None:
        report = ramp_report(session, team_scope(ramp_team.maria), AS_OF)
        summary = report.summary
        assert (summary.window_months, summary.new_reps, summary.ramped_reps) == (12, 3, 2)
        assert (summary.tenured_reps, summary.bar_cents) == (3, 6_000_00)
        assert summary.tenured_monthly_median_cents == 750_00
        assert summary.median_ramp_days == 73
        assert (report.period.start, report.period.end) == (date(2024, 6, 30), date(2025, 7, 1))
        # By hire date; the lost deal of Nora's never counts.
        assert _ramp_rows(report) == [
            ("Nico", 7_000, 0, date(2024, 12, 2), 31),
            ("Nora", 6_000, 1_500, date(2025, 5, 10), 115),
            ("Neil", 0, 0, None, None),
        ]

    def test_bookings_by_month_of_tenure(self, session: Session, ramp_team: RampTeam) -> None:
        report = ramp_report(session, team_scope(ramp_team.maria), AS_OF)
        nora, neil = report.rows[1], report.rows[2]
        assert [(m.month, m.start, m.bookings_cents // 100) for m in nora.months] == [
            (1, date(2025, 1, 15), 0),
            (2, date(2025, 2, 15), 2_500),
            (3, date(2025, 3, 15), 2_000),
            (4, date(2025, 4, 15), 1_500),
            (5, date(2025, 5, 15), 0),
            (6, date(2025, 6, 15), 0),
        ]
        assert {m.tenured_median_cents for m in nora.months} == {750_00}
        # Hired on the 31st: later months start on the last day of shorter months.
        assert [m.start for m in neil.months] == [
            date(2025, 3, 31), date(2025, 4, 30), date(2025, 5, 31), date(2025, 6, 30),
        ]  # fmt: skip
        assert sum(m.bookings_cents for m in neil.months) == 0

    def test_the_org_bar_includes_the_other_team(
        self, session: Session, ramp_team: RampTeam
    ) -> None:
        summary = ramp_report(session, org_scope(), AS_OF).summary
        assert (summary.tenured_reps, summary.bar_cents) == (4, 7_500_00)
        assert summary.tenured_monthly_median_cents == 875_00
        report = ramp_report(session, org_scope(), AS_OF)
        assert [(row.name, row.ramp_days) for row in report.rows] == [
            ("Nico", None),
            ("Nora", None),
            ("Neil", None),
        ]
        assert (report.summary.ramped_reps, report.summary.median_ramp_days) == (0, None)

    def test_a_narrower_window_lists_fewer_reps(
        self, session: Session, ramp_team: RampTeam
    ) -> None:
        report = ramp_report(session, team_scope(ramp_team.maria), AS_OF, window=3)
        assert (report.period.start, report.period.end) == (date(2025, 3, 30), date(2025, 7, 1))
        assert [row.name for row in report.rows] == ["Neil"]
        assert report.summary.bar_cents == 6_000_00

    def test_as_of_an_earlier_moment(self, session: Session, ramp_team: RampTeam) -> None:
        # On 2025-04-20 tenured reps were hired before 2024-04-20 (Lena left on 03-01), and
        # the trailing 90 days run from 01-21: Tara 0, Tom 9,000, Tess 3,000; median 3,000.
        # Nora's reach it on 03-25 (2,500 + 2,000): 69 days; Nico's with his 7,000.
        report = ramp_report(session, team_scope(ramp_team.maria), at("2025-04-20"))
        assert (report.summary.tenured_reps, report.summary.bar_cents) == (3, 3_000_00)
        assert [(row.name, row.ramp_days) for row in report.rows] == [
            ("Nico", 31),
            ("Nora", 69),
            ("Neil", None),
        ]

    def test_no_tenured_reps_means_no_bar(self, session: Session, ramp_team: RampTeam) -> None:
        report = ramp_report(session, rep_scope(ramp_team.nora), AS_OF)
        summary = report.summary
        assert (summary.tenured_reps, summary.bar_cents, summary.tenured_monthly_median_cents) == (
            0,
            None,
            None,
        )
        assert (summary.new_reps, summary.ramped_reps, summary.median_ramp_days) == (1, 0, None)
        (nora,) = report.rows
        assert (nora.ramp_days, nora.bookings_cents) == (None, 6_000_00)
        assert len(nora.months) == 6 and nora.months[0].tenured_median_cents is None

    def test_an_empty_scope(self, session: Session, ramp_team: RampTeam) -> None:
        eve = make_user(session, role=Role.MANAGER, name="Eve")
        report = ramp_report(session, team_scope(eve), AS_OF)
        assert report.rows == []
        assert report.summary.model_dump() == {
            "window_months": 12,
            "new_reps": 0,
            "ramped_reps": 0,
            "tenured_reps": 0,
            "bar_cents": None,
            "tenured_monthly_median_cents": None,
            "median_ramp_days": None,
        }


# --- mrr -------------------------------------------------------------------------------------


@dataclass
class MrrTeam:
    maria: User
    rosa: User
    accounts: dict[str, Account]


@pytest.fixture
def mrr_team(session: Session) -> MrrTeam:
    maria = make_user(session, role=Role.MANAGER, name="Maria")
    otto = make_user(session, role=Role.MANAGER, name="Otto")
    rosa = make_user(session, manager=maria, name="Rosa", hired_at=at("2023-01-02"))
    ron = make_user(session, manager=otto, name="Ron", hired_at=at("2023-01-02"))
    accounts = {
        key: make_account(session, owner=ron if key == "H" else rosa, name=f"Account {key}")
        for key in "ABCDEGH"
    }
    pipeline = make_pipeline(session)
    new, expansion, renewal = DealType.NEW_BUSINESS, DealType.EXPANSION, DealType.RENEWAL

    def won(key: str, kind: DealType, recurring: int | None, dollars: int, when: str) -> Any:
        return _won(
            session, pipeline, ron if key == "H" else rosa, dollars, when,
            account=accounts[key], type=kind,
            recurring_amount_cents=None if recurring is None else recurring * 100,
        )  # fmt: skip

    def lost(key: str, kind: DealType, recurring: int, when: str) -> None:
        _lost(
            session, pipeline, rosa, 1_000, when, account=accounts[key], type=kind,
            recurring_amount_cents=recurring * 100,
        )  # fmt: skip

    won("A", new, 1_000, 12_000, "2024-03-10")
    won("A", renewal, 1_200, 14_400, "2025-03-10")
    won("B", new, 500, 6_000, "2024-05-01")
    lost("B", renewal, 500, "2025-05-01")
    won("C", new, 2_000, 24_000, "2024-02-01")
    won("C", expansion, 300, 3_600, "2025-04-15")
    won("C", renewal, 1_800, 21_600, "2025-06-01")
    won("D", new, 800, 9_600, "2025-04-20")
    reopened = won("D", expansion, 100, 1_200, "2025-05-20")
    reopen_deal(
        session, reopened, stage=stage_named(session, pipeline, "Proposal"),
        close_date=date(2025, 7, 31), actor=rosa, at=at("2025-05-25"),
    )  # fmt: skip
    won("E", new, None, 5_000, "2025-05-05")
    lost("G", new, 700, "2025-04-10")
    won("H", new, 1_000, 12_000, "2024-01-02")
    session.flush()
    return MrrTeam(maria, rosa, accounts)


def _movements(row: Any) -> tuple[int, ...]:
    return tuple(
        value // 100
        for value in (
            row.mrr_start_cents, row.new_cents, row.expansion_cents, row.contraction_cents,
            row.churn_cents, row.mrr_end_cents,
        )
    )  # fmt: skip


class TestMrr:
    def test_summary_of_a_rep(self, session: Session, mrr_team: MrrTeam) -> None:
        summary = mrr_report(session, rep_scope(mrr_team.rosa), Q2, AS_OF).summary
        assert (summary.mrr_cents, summary.mrr_12_months_ago_cents) == (3_800_00, 3_500_00)
        assert (
            summary.cohort_expansion_cents,
            summary.cohort_contraction_cents,
            summary.cohort_churn_cents,
        ) == (500_00, 500_00, 500_00)
        assert summary.nrr == pytest.approx(6 / 7)
        assert (summary.new_business_cents, summary.expansion_cents, summary.renewal_cents) == (
            14_600_00,
            3_600_00,
            21_600_00,
        )

    def test_rows_by_month(self, session: Session, mrr_team: MrrTeam) -> None:
        report = mrr_report(session, team_scope(mrr_team.maria), Q2, AS_OF)
        assert [(row.key, row.start, row.end, row.id) for row in report.rows] == [
            ("2025-04", date(2025, 4, 1), date(2025, 5, 1), None),
            ("2025-05", date(2025, 5, 1), date(2025, 6, 1), None),
            ("2025-06", date(2025, 6, 1), date(2025, 7, 1), None),
        ]
        assert [_movements(row) for row in report.rows] == [
            (3_700, 800, 300, 0, 0, 4_800),
            (4_800, 0, 0, 0, 500, 4_300),
            (4_300, 0, 0, 500, 0, 3_800),
        ]

    def test_rows_by_account(self, session: Session, mrr_team: MrrTeam) -> None:
        report = mrr_report(session, rep_scope(mrr_team.rosa), Q2, AS_OF, by=MrrBreakdown.ACCOUNT)
        assert [(row.key, row.id, *_movements(row)) for row in report.rows] == [
            ("Account C", mrr_team.accounts["C"].id, 2_000, 0, 300, 500, 0, 1_800),
            ("Account A", mrr_team.accounts["A"].id, 1_200, 0, 0, 0, 0, 1_200),
            ("Account D", mrr_team.accounts["D"].id, 0, 800, 0, 0, 0, 800),
            ("Account B", mrr_team.accounts["B"].id, 500, 0, 0, 0, 500, 0),
        ]

    def test_a_custom_period_cuts_the_months(self, session: Session, mrr_team: MrrTeam) -> None:
        period = custom_period(date(2025, 4, 16), date(2025, 6, 10))
        report = mrr_report(session, rep_scope(mrr_team.rosa), period, AS_OF)
        # C's expansion on 04-15 falls before the period; D's new business on 04-20 in it.
        assert [(row.key, row.start, row.end, *_movements(row)) for row in report.rows] == [
            ("2025-04", date(2025, 4, 16), date(2025, 5, 1), 4_000, 800, 0, 0, 0, 4_800),
            ("2025-05", date(2025, 5, 1), date(2025, 6, 1), 4_800, 0, 0, 0, 500, 4_300),
            ("2025-06", date(2025, 6, 1), date(2025, 6, 10), 4_300, 0, 0, 500, 0, 3_800),
        ]
        assert report.summary.new_business_cents == 14_600_00

    def test_as_of_before_the_reopen(self, session: Session, mrr_team: MrrTeam) -> None:
        # On 05-22 D's expansion is still won: A 1,200 + C 2,300 + D 800 + 100; B churned.
        # 12 months before (2024-05-22) A, B and C had 3,500.
        report = mrr_report(session, rep_scope(mrr_team.rosa), Q2, at("2025-05-22"))
        summary = report.summary
        assert (summary.mrr_cents, summary.mrr_12_months_ago_cents) == (4_400_00, 3_500_00)
        # Cohort: A +200, C +300, B −500 churn.
        assert summary.nrr == pytest.approx(3_500 / 3_500)
        assert summary.expansion_cents == 3_600_00 + 1_200_00
        assert summary.renewal_cents == 0  # C's renewal is still to come
        # June has not happened: it stays flat.
        assert _movements(report.rows[2]) == (4_400, 0, 0, 0, 0, 4_400)

    def test_the_org_adds_the_other_team(self, session: Session, mrr_team: MrrTeam) -> None:
        summary = mrr_report(session, org_scope(), Q2, AS_OF).summary
        assert (summary.mrr_cents, summary.mrr_12_months_ago_cents) == (4_800_00, 4_500_00)
        assert summary.nrr == pytest.approx(4_000 / 4_500)

    def test_no_starting_mrr_means_no_nrr(self, session: Session, mrr_team: MrrTeam) -> None:
        summary = mrr_report(session, rep_scope(mrr_team.rosa), Q2, at("2024-02-15")).summary
        assert (summary.mrr_cents, summary.mrr_12_months_ago_cents, summary.nrr) == (
            2_000_00,
            0,
            None,
        )

    def test_an_edited_recurring_amount_counts_as_it_is_now(
        self, session: Session, mrr_team: MrrTeam
    ) -> None:
        # E's one-off sale (won 05-05) gets a recurring amount of 400 after the quarter: MRR
        # counts it from its win, as of any moment (recurring amounts have no history).
        e_deal = session.scalars(
            select(Deal).where(Deal.account_id == mrr_team.accounts["E"].id)
        ).one()
        update_deal(
            session, e_deal, changes=DealUpdate(recurring_amount_cents=400_00), actor=None,
            at=AS_OF + timedelta(days=1),
        )  # fmt: skip

        now = mrr_report(session, rep_scope(mrr_team.rosa), Q2, AS_OF).summary
        before = mrr_report(session, rep_scope(mrr_team.rosa), Q2, at("2025-05-22")).summary
        assert (now.mrr_cents, before.mrr_cents) == (4_200_00, 4_800_00)
        assert now.new_business_cents == 14_600_00

    def test_an_empty_scope(self, session: Session, mrr_team: MrrTeam) -> None:
        eve = make_user(session, role=Role.MANAGER, name="Eve")
        report = mrr_report(session, team_scope(eve), Q2, AS_OF)
        assert [_movements(row) for row in report.rows] == [(0, 0, 0, 0, 0, 0)] * 3
        assert report.summary.model_dump() == {
            "mrr_cents": 0,
            "mrr_12_months_ago_cents": 0,
            "cohort_expansion_cents": 0,
            "cohort_contraction_cents": 0,
            "cohort_churn_cents": 0,
            "nrr": None,
            "new_business_cents": 0,
            "expansion_cents": 0,
            "renewal_cents": 0,
        }
        by_account = mrr_report(session, team_scope(eve), Q2, AS_OF, by=MrrBreakdown.ACCOUNT)
        assert by_account.rows == []


def test_the_reports_are_registered(session: Session, mrr_team: MrrTeam) -> None:
    scope = team_scope(mrr_team.maria)
    ramp = REPORTS["ramp"].run(session, scope, Q2, AS_OF, {"window": "6"})
    assert ramp.model_dump()["report"] == "ramp"
    assert ramp.model_dump()["summary"]["window_months"] == 6
    mrr = REPORTS["mrr"].run(session, scope, Q2, AS_OF, {"by": "account"})
    assert len(mrr.model_dump()["rows"]) == 4
    assert set(REPORTS["ramp"].options) == {"window"}
    assert set(REPORTS["mrr"].options) == {"by"}
    with pytest.raises(InvalidInput):
        REPORTS["mrr"].run(session, scope, Q2, AS_OF, {"by": "rep"})
    with pytest.raises(InvalidInput):
        REPORTS["ramp"].run(session, scope, Q2, AS_OF, {"window": "many"})


@pytest.mark.parametrize("parts", [2, 3])
def test_the_events_read_in_parts_are_the_events_read_at_once(
    session: Session, mrr_team: MrrTeam, monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    """MRR reads its subscription events in parts by deal, side by side, and puts them in close
    order after; however many parts, the report is the one read in one."""
    from topline.analytics import revenue

    def reports() -> list[Any]:
        return [
            mrr_report(session, scope, Q2, moment, by=by).model_dump()
            for scope in (org_scope(), team_scope(mrr_team.maria))
            for moment in (AS_OF, at("2025-05-22"))
            for by in MrrBreakdown
        ]

    monkeypatch.setattr(revenue, "parallel_parts", lambda _session: 1)
    whole = reports()
    monkeypatch.setattr(revenue, "parallel_parts", lambda _session: parts)
    assert reports() == whole
    assert len({deal_id % 3 for deal_id in session.scalars(select(Deal.id))}) == 3

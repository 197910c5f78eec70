"""People reports on a hand-built team, on both databases: every figure is worked out by hand.

Maria manages Rita, Ray, Nina and Paul (no deals, no activity); Otto manages Olga. Period
2025Q1; AFTER is 2025-04-15 00:00 and MID 2025-02-20 00:00. Times are 10:00 UTC unless said
otherwise; amounts in dollars; close dates 03-31 unless said otherwise.

| deal | owner | account | what happens                                                       |
|------|-------|---------|--------------------------------------------------------------------|
| R1   | Rita  | Core    | 4,000 in Proposal 01-06, won 02-10 (35 days)                        |
| R2   | Rita  | Echo    | 2,000 in Proposal 01-10, closing 03-28, still open                  |
| R3   | Rita  | Echo    | 1,000 in Negotiation 01-20, lost 03-01                              |
| R4   | Rita  | Dyna    | 3,000 in Proposal 02-01, Negotiation 02-15, won 03-03 (30 days)     |
| Y1   | Ray   | Beta    | 5,000 in Proposal 01-08, won 01-28 (20 days)                        |
| Y2   | Ray   | Echo    | 1,000 in Prospecting 02-05, lost 02-25                              |
| Y3   | Ray   | Acme    | 6,000 in Proposal 2024-12-10 (before Q1), won 03-20 (100 days)      |
| Y4   | Ray   | —       | 2,000 in Negotiation 03-01, still open                              |
| N1   | Nina  | Beta    | 1,000 in Proposal 01-15 09:00, won the same day 16:00 (0 days)      |
| N2   | Nina  | Echo    | 500 in Proposal 02-10, lost 03-10                                   |
| N3   | Nina  | Echo    | 500 in Proposal 02-12, lost 03-12                                   |
| O1   | Olga  | —       | 7,000 in Proposal 01-07, won 02-01                                  |
| O2   | Olga  | Zero    | 500 in Prospecting 02-01, won 02-02 at amount 0                     |

Activities in Q1: Rita 3 calls (01-10, 02-10, 03-10), an email (01-12) and a meeting (02-20),
plus a call on 04-02 (Q2); Ray a call (01-15) and 2 emails (02-01, 03-01); Nina 2 meetings
(01-20, 02-20) and a call (03-05); Maria a call (01-10; she owns no deal, so is no row); Olga a
call (01-10).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_account, make_deal, make_pipeline, make_user, stage_named
from topline.analytics import metrics
from topline.analytics.catalog import REPORTS
from topline.analytics.paging import RowPage
from topline.analytics.people import (
    Better,
    ConcentrationBy,
    Unit,
    concentration_report,
    median_value,
    relative_difference,
    reps_report,
    shortfall,
    weakest_metrics,
)
from topline.analytics.periods import parse_period
from topline.analytics.quota import attainment_report
from topline.analytics.scope import org_scope, rep_scope, team_scope
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.activities import log_activity
from topline.crm.deals import close_deal_lost, close_deal_won, move_deal_to_stage
from topline.crm.enums import ActivityType
from topline.crm.models import Account, Deal
from topline.errors import InvalidInput
from topline.quotas.service import set_quota

Q1 = parse_period("2025Q1")
AFTER = datetime(2025, 4, 15, tzinfo=UTC)
MID = datetime(2025, 2, 20, tzinfo=UTC)


def at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if "T" in text else moment.replace(hour=10, tzinfo=UTC)


# --- pure ------------------------------------------------------------------------------------


def test_top_count_is_the_ceiling_of_a_fifth() -> None:
    assert [metrics.top_count(n) for n in (0, 1, 4, 5, 6, 10, 11, 15, 16)] == [
        0, 1, 1, 1, 2, 2, 3, 3, 4,
    ]  # fmt: skip
    assert metrics.top_count(3, percent=50) == 2


def test_top_share_by_hand() -> None:
    # Five accounts: the top one (ceil(1)) brings 60 of 100.
    assert metrics.top_share([10, 60, 10, 10, 10]) == 0.6
    # A tie at the cut gives the same share whichever is taken.
    assert metrics.top_share([6_000, 6_000, 4_000, 3_000]) == 6 / 19
    # Zero amounts are not contributors: 1 of 1 is the top.
    assert metrics.top_share([0, 0, 500]) == 1.0
    # A larger total (revenue without an account) lowers the share.
    assert metrics.top_share([6, 6, 4, 3], total=26) == 6 / 26
    assert metrics.top_share([]) is None
    assert metrics.top_share([0, 0]) is None
    assert metrics.top_share([], total=500) == 0.0


def test_cumulative_shares_by_hand() -> None:
    assert metrics.cumulative_shares([6, 6, 4, 3]) == [6 / 19, 12 / 19, 16 / 19, 1.0]
    assert metrics.cumulative_shares([1, 1], total=4) == [0.25, 0.5]
    assert metrics.cumulative_shares([0, 0]) == [None, None]
    assert metrics.cumulative_shares([]) == []


@given(st.lists(st.integers(0, 10**12), max_size=60), st.integers(0, 10**12))
def test_concentration_shares_stay_in_bounds(amounts: list[int], extra: int) -> None:
    total = sum(amounts)
    share = metrics.top_share(amounts)
    assert (share is None) == (total == 0)
    if share is not None:
        assert 0.0 <= share <= 1.0
        # The top fifth holds at least a fifth: its average is at least the overall average.
        assert share >= 0.2
    wider = metrics.top_share(amounts, total=total + extra)
    assert wider is None or 0.0 <= wider <= 1.0
    shares = metrics.cumulative_shares(amounts)
    if total:
        known = [s for s in shares if s is not None]
        assert len(known) == len(amounts)
        assert all(0.0 <= s <= 1.0 for s in known)
        assert known == sorted(known)
        assert known[-1] == 1.0


def test_median_and_relative_difference_by_hand() -> None:
    assert median_value([0, 3, 3, 4], Unit.COUNT) == 3.0
    assert median_value([0, 200_000, 800_000, 1_000_001], Unit.CENTS) == 500_000  # halves to even
    assert median_value([None, 1 / 3, 2 / 3, 2 / 3], Unit.RATE) == 2 / 3
    assert median_value([None, None], Unit.RATE) is None
    assert relative_difference(1_000, 4_000) == -0.75
    assert relative_difference(0, 0) is None
    assert relative_difference(None, 3) is None
    assert shortfall(-0.75, Better.HIGHER) == 0.75
    assert shortfall(0.5, Better.LOWER) == 0.5
    assert shortfall(None, Better.LOWER) is None


def test_weakest_are_the_largest_shortfalls_in_metric_order_on_ties() -> None:
    falls = [("a", 0.2), ("b", 1.0), ("c", None), ("d", 0.0), ("e", 1.0), ("f", 0.5), ("g", -2)]
    assert weakest_metrics(falls) == ["b", "e", "f"]
    assert weakest_metrics(falls, count=5) == ["b", "e", "f", "a"]
    assert weakest_metrics([("a", 0.0), ("b", None)]) == []


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
    olga = make_user(session, manager=otto, name="Olga")
    pipeline = make_pipeline(session)
    accounts = {
        name: make_account(session, owner=maria, name=name)
        for name in ("Acme", "Beta", "Core", "Dyna", "Echo", "Zero")
    }

    def deal(
        owner: User, account: str | None, dollars: int, stage: str, created: str,
        closes: date = date(2025, 3, 31),
    ) -> Deal:  # fmt: skip
        return make_deal(
            session, owner=owner, pipeline=pipeline, stage=stage_named(session, pipeline, stage),
            account=accounts[account] if account else None, amount_cents=dollars * 100,
            close_date=closes, at=at(created),
        )  # fmt: skip

    def win(deal: Deal, when: str, **amount: Any) -> None:
        close_deal_won(session, deal, actor=None, at=at(when), **amount)

    def lose(deal: Deal, when: str) -> None:
        close_deal_lost(session, deal, loss_reason="Price", actor=None, at=at(when))

    win(deal(rita, "Core", 4_000, "Proposal", "2025-01-06"), "2025-02-10")  # R1
    deal(rita, "Echo", 2_000, "Proposal", "2025-01-10", date(2025, 3, 28))  # R2
    lose(deal(rita, "Echo", 1_000, "Negotiation", "2025-01-20"), "2025-03-01")  # R3
    r4 = deal(rita, "Dyna", 3_000, "Proposal", "2025-02-01")
    move_deal_to_stage(
        session, r4, stage=stage_named(session, pipeline, "Negotiation"), actor=None,
        at=at("2025-02-15"),
    )  # fmt: skip
    win(r4, "2025-03-03")
    win(deal(ray, "Beta", 5_000, "Proposal", "2025-01-08"), "2025-01-28")  # Y1
    lose(deal(ray, "Echo", 1_000, "Prospecting", "2025-02-05"), "2025-02-25")  # Y2
    y3 = deal(ray, "Acme", 6_000, "Proposal", "2024-12-10", date(2025, 3, 20))
    win(y3, "2025-03-20")
    deal(ray, None, 2_000, "Negotiation", "2025-03-01")  # Y4
    win(deal(nina, "Beta", 1_000, "Proposal", "2025-01-15T09:00"), "2025-01-15T16:00")  # N1
    lose(deal(nina, "Echo", 500, "Proposal", "2025-02-10"), "2025-03-10")  # N2
    lose(deal(nina, "Echo", 500, "Proposal", "2025-02-12"), "2025-03-12")  # N3
    win(deal(olga, None, 7_000, "Proposal", "2025-01-07"), "2025-02-01")  # O1
    win(deal(olga, "Zero", 500, "Prospecting", "2025-02-01"), "2025-02-02", amount_cents=0)

    def log(user: User, kind: ActivityType, *days: str) -> None:
        for day in days:
            log_activity(
                session, user=user, type=kind, subject=f"{kind} {day}", occurred_at=at(day),
                account=accounts["Echo"], at=at(day),
            )  # fmt: skip

    log(rita, ActivityType.CALL, "2025-01-10", "2025-02-10", "2025-03-10", "2025-04-02")
    log(rita, ActivityType.EMAIL, "2025-01-12")
    log(rita, ActivityType.MEETING, "2025-02-20")
    log(ray, ActivityType.CALL, "2025-01-15")
    log(ray, ActivityType.EMAIL, "2025-02-01", "2025-03-01")
    log(nina, ActivityType.MEETING, "2025-01-20", "2025-02-20")
    log(nina, ActivityType.CALL, "2025-03-05")
    log(maria, ActivityType.CALL, "2025-01-10")
    log(olga, ActivityType.CALL, "2025-01-10")
    session.flush()
    return Org(maria, rita, ray, nina, paul, otto, olga)


def by_metric(row: Any) -> dict[str, Any]:
    return {m.metric: m.value for m in row.metrics}


def rows_by_name(report: Any) -> dict[str, dict[str, Any]]:
    return {row.name: by_metric(row) for row in report.rows}


class TestReps:
    def test_attainment_against_each_reps_prorated_quota(self, session: Session, org: Org) -> None:
        set_quota(session, user=org.rita, amount_cents=14_000_00, period_start=Q1.start,
                  period_end=Q1.end)  # fmt: skip
        # Ray's quota runs over Q1 and Q2 (181 days): 22,000 × 90 / 181 of it falls in Q1.
        set_quota(session, user=org.ray, amount_cents=22_000_00, period_start=Q1.start,
                  period_end=date(2025, 7, 1))  # fmt: skip

        report = reps_report(session, team_scope(org.maria), Q1, AFTER)

        values = rows_by_name(report)
        assert values["Rita"]["attainment"] == pytest.approx(0.5)  # 7,000 of 14,000
        ray_quota = round(22_000_00 * 90 / 181)
        assert values["Ray"]["attainment"] == pytest.approx(11_000_00 / ray_quota)
        assert values["Nina"]["attainment"] is values["Paul"]["attainment"] is None
        medians = {m.metric: m.median for m in report.summary.medians}
        assert medians["attainment"] == pytest.approx((0.5 + 11_000_00 / ray_quota) / 2)
        attainment = {r.name: r.attainment for r in attainment_report(
            session, team_scope(org.maria), Q1, AFTER).rows}  # fmt: skip
        assert values["Ray"]["attainment"] == pytest.approx(attainment["Ray"])

    def test_every_rep_against_the_team_median(self, session: Session, org: Org) -> None:
        report = reps_report(session, team_scope(org.maria), Q1, AFTER)
        # Maria owns no deal: she is no row. Paul has nothing and is one.
        assert [row.name for row in report.rows] == ["Nina", "Paul", "Ray", "Rita"]
        medians = {m.metric: m.median for m in report.summary.medians}
        assert list(medians) == [
            "deals_created", "pipeline_created_cents", "open_pipeline_cents", "win_rate",
            "won_cents", "attainment", "average_won_cents", "median_cycle_days",
            "conversion:Prospecting", "conversion:Qualification", "conversion:Discovery",
            "conversion:Proposal", "conversion:Negotiation",
            "activities", "activities:call", "activities:email", "activities:meeting",
            "activities:note", "activities:task",
        ]  # fmt: skip
        assert medians == {
            "deals_created": 3.0,  # 0, 3, 3, 4 (Y3 was created in 2024)
            "pipeline_created_cents": 5_000_00,  # 0, 2,000, 8,000, 10,000
            "open_pipeline_cents": 1_000_00,  # 0, 0, 2,000 (Y4), 2,000 (R2)
            "win_rate": pytest.approx(2 / 3),  # 1/3, 2/3, 2/3; Paul closed nothing
            "won_cents": 4_000_00,  # 0, 1,000, 7,000, 11,000
            "attainment": None,  # nobody has a quota
            "average_won_cents": 3_500_00,  # 1,000, 3,500, 5,500
            "median_cycle_days": 32.5,  # Nina 0, Rita 32.5 (35, 30), Ray 60 (20, 100)
            "conversion:Prospecting": 0.0,  # Ray's Y2 lost
            "conversion:Qualification": None,
            "conversion:Discovery": None,
            "conversion:Proposal": pytest.approx(2 / 3),  # Nina 1/3, Rita 2/3, Ray 1
            "conversion:Negotiation": 0.25,  # Ray 0 (Y4 open), Rita 1/2 (R3 lost, R4 won)
            "activities": 3.0,  # 0, 3, 3, 5 (Rita's April call is in Q2)
            "activities:call": 1.0,
            "activities:email": 0.5,
            "activities:meeting": 0.5,
            "activities:note": 0.0,
            "activities:task": 0.0,
        }
        units = {m.metric: (m.unit, m.better) for m in report.summary.medians}
        assert units["median_cycle_days"] == (Unit.DAYS, Better.LOWER)
        assert units["won_cents"] == (Unit.CENTS, Better.HIGHER)
        values = rows_by_name(report)
        assert values["Rita"] == {
            "deals_created": 4,
            "pipeline_created_cents": 10_000_00,
            "open_pipeline_cents": 2_000_00,
            "win_rate": pytest.approx(2 / 3),
            "won_cents": 7_000_00,
            "attainment": None,
            "average_won_cents": 3_500_00,
            "median_cycle_days": 32.5,
            "conversion:Prospecting": None,
            "conversion:Qualification": None,
            "conversion:Discovery": None,
            "conversion:Proposal": pytest.approx(2 / 3),  # R1 won, R4 to Negotiation, R2 stays
            "conversion:Negotiation": 0.5,
            "activities": 5,
            "activities:call": 3,
            "activities:email": 1,
            "activities:meeting": 1,
            "activities:note": 0,
            "activities:task": 0,
        }
        ray = values["Ray"]
        assert (ray["deals_created"], ray["pipeline_created_cents"], ray["won_cents"]) == (
            3,
            8_000_00,
            11_000_00,
        )
        assert (ray["average_won_cents"], ray["median_cycle_days"]) == (5_500_00, 60.0)
        assert (ray["conversion:Prospecting"], ray["conversion:Proposal"]) == (0.0, 1.0)
        nina = values["Nina"]
        assert (nina["win_rate"], nina["median_cycle_days"]) == (pytest.approx(1 / 3), 0.0)
        assert (nina["conversion:Proposal"], nina["open_pipeline_cents"]) == (
            pytest.approx(1 / 3),
            0,
        )
        # A rep with no deals and no activity: zero counts, no rates.
        paul = values["Paul"]
        assert paul["deals_created"] == paul["won_cents"] == paul["activities"] == 0
        assert paul["win_rate"] is paul["average_won_cents"] is paul["median_cycle_days"] is None
        assert all(paul[key] is None for key in paul if key.startswith("conversion:"))

    def test_differences_from_the_median(self, session: Session, org: Org) -> None:
        report = reps_report(session, team_scope(org.maria), Q1, AFTER)
        nina = next(row for row in report.rows if row.name == "Nina")
        compared = {m.metric: (m.difference, m.relative_difference) for m in nina.metrics}
        assert compared["won_cents"] == (-3_000_00, -0.75)
        assert compared["pipeline_created_cents"] == (-3_000_00, -0.6)
        assert compared["deals_created"] == (0.0, 0.0)
        assert compared["median_cycle_days"] == (-32.5, -1.0)
        assert compared["activities:meeting"] == (1.5, 3.0)
        # A zero median has no relative difference; an unknown value no difference at all.
        assert compared["activities:note"] == (0.0, None)
        assert compared["conversion:Negotiation"] == (None, None)
        assert compared["win_rate"][0] == pytest.approx(-1 / 3)

    def test_weakest_metrics_per_rep(self, session: Session, org: Org) -> None:
        report = reps_report(session, team_scope(org.maria), Q1, AFTER)
        weakest = {entry.name: entry.weakest for entry in report.summary.weakest}
        assert weakest == {
            # Open pipeline and emails are both 100% below; open pipeline is listed first.
            "Nina": ["open_pipeline_cents", "activities:email", "won_cents"],
            # Every count is 100% below: the first three in the report's order.
            "Paul": ["deals_created", "pipeline_created_cents", "open_pipeline_cents"],
            # 0 against 0.25, no meeting against 0.5, then 60 days against 32.5 (lower is
            # better): 27.5 / 32.5 above. Prospecting's median is 0, so it is not compared.
            "Ray": ["conversion:Negotiation", "activities:meeting", "median_cycle_days"],
            # At or above the median everywhere.
            "Rita": [],
        }
        assert [entry.id for entry in report.summary.weakest] == [row.id for row in report.rows]
        assert report.summary.reps == 4

    def test_as_of_a_past_moment(self, session: Session, org: Org) -> None:
        report = reps_report(session, team_scope(org.maria), Q1, MID)
        rita = rows_by_name(report)["Rita"]
        # By 02-20 only R1 is won; R2, R3 and R4 are open; the meeting is at 10:00 that day.
        assert (rita["won_cents"], rita["win_rate"], rita["open_pipeline_cents"]) == (
            4_000_00,
            1.0,
            6_000_00,
        )
        assert (rita["activities"], rita["activities:meeting"], rita["median_cycle_days"]) == (
            3,
            0,
            35.0,
        )
        # R4 was in Negotiation, not yet won.
        assert (rita["conversion:Proposal"], rita["conversion:Negotiation"]) == (
            pytest.approx(2 / 3),
            0.0,
        )

    def test_one_rep_is_their_own_median(self, session: Session, org: Org) -> None:
        report = reps_report(session, rep_scope(org.paul), Q1, AFTER)
        assert [row.name for row in report.rows] == ["Paul"]
        assert all(m.difference in (0, None) for m in report.rows[0].metrics)
        assert [entry.weakest for entry in report.summary.weakest] == [[]]

    def test_the_org_lists_every_rep(self, session: Session, org: Org) -> None:
        report = reps_report(session, org_scope(), Q1, AFTER)
        assert [row.name for row in report.rows] == ["Nina", "Olga", "Paul", "Ray", "Rita"]
        olga = rows_by_name(report)["Olga"]
        # O2 was won at 0: it counts as a win and in the average.
        assert (olga["won_cents"], olga["average_won_cents"], olga["activities:call"]) == (
            7_000_00,
            3_500_00,
            1,
        )
        assert olga["conversion:Prospecting"] == 1.0


class TestConcentration:
    def test_accounts_of_the_team(self, session: Session, org: Org) -> None:
        report = concentration_report(session, team_scope(org.maria), Q1, AFTER)
        summary = report.summary
        # Won: R1 4,000 Core, R4 3,000 Dyna, Y1 5,000 + N1 1,000 Beta, Y3 6,000 Acme.
        assert (summary.by, summary.won_deals, summary.won_cents) == (
            ConcentrationBy.ACCOUNTS,
            5,
            19_000_00,
        )
        # 4 accounts: the top ceil(0.8) = 1. Acme and Beta tie at 6,000: the share is the same.
        assert (summary.accounts, summary.top_accounts, summary.top_accounts_cents) == (
            4,
            1,
            6_000_00,
        )
        assert summary.top_accounts_share == pytest.approx(6 / 19)
        assert summary.no_account_cents == 0
        # 3 reps with revenue: Ray 11,000 is the top one.
        assert (summary.reps, summary.top_reps, summary.top_reps_cents) == (3, 1, 11_000_00)
        assert summary.top_reps_share == pytest.approx(11 / 19)
        rows: list[Any] = [
            (r.rank, r.name, r.won_deals, r.won_cents // 100, r.share, r.cumulative_share, r.top)
            for r in report.rows
        ]
        assert rows == [
            (1, "Acme", 1, 6_000, pytest.approx(6 / 19), pytest.approx(6 / 19), True),
            (2, "Beta", 2, 6_000, pytest.approx(6 / 19), pytest.approx(12 / 19), False),
            (3, "Core", 1, 4_000, pytest.approx(4 / 19), pytest.approx(16 / 19), False),
            (4, "Dyna", 1, 3_000, pytest.approx(3 / 19), 1.0, False),
        ]

    def test_a_page_orders_ties_it_cuts_through_by_name(self, session: Session, org: Org) -> None:
        """Acme and Beta tie at 6,000. Acme, the older account, is renamed Zeta: by id it
        comes first, by name last. A page holding either one orders the pair by name, and each
        keeps its rank and running share."""
        acme = session.scalars(select(Account).where(Account.name == "Acme")).one()
        beta = session.scalars(select(Account).where(Account.name == "Beta")).one()
        assert acme.id < beta.id
        acme.name = "Zeta"
        session.flush()
        pages = {
            (offset, limit): concentration_report(
                session, team_scope(org.maria), Q1, AFTER, page=RowPage(offset, limit)
            )
            for offset, limit in ((0, 1), (1, 1), (1, 2), (3, 5))
        }
        shown = {
            key: [(r.rank, r.name, r.cumulative_share) for r in report.rows]
            for key, report in pages.items()
        }
        assert shown == {
            (0, 1): [(1, "Beta", pytest.approx(6 / 19))],
            (1, 1): [(2, "Zeta", pytest.approx(12 / 19))],
            (1, 2): [(2, "Zeta", pytest.approx(12 / 19)), (3, "Core", pytest.approx(16 / 19))],
            (3, 5): [(4, "Dyna", 1.0)],
        }
        assert {report.total_rows for report in pages.values()} == {4}

    def test_reps_of_the_team(self, session: Session, org: Org) -> None:
        report = concentration_report(
            session, team_scope(org.maria), Q1, AFTER, by=ConcentrationBy.REPS
        )
        assert report.summary.by == ConcentrationBy.REPS
        assert [(r.rank, r.id, r.won_cents // 100, r.top) for r in report.rows] == [
            (1, org.ray.id, 11_000, True),
            (2, org.rita.id, 7_000, False),
            (3, org.nina.id, 1_000, False),
        ]
        assert [r.cumulative_share for r in report.rows] == [
            pytest.approx(11 / 19),
            pytest.approx(18 / 19),
            1.0,
        ]

    def test_the_org_with_revenue_without_an_account(self, session: Session, org: Org) -> None:
        report = concentration_report(session, org_scope(), Q1, AFTER)
        summary = report.summary
        # O1 7,000 has no account; O2 was won at 0, so Zero has no revenue.
        assert (summary.won_deals, summary.won_cents, summary.no_account_cents) == (
            7,
            26_000_00,
            7_000_00,
        )
        assert (summary.accounts, summary.top_accounts) == (4, 1)
        assert summary.top_accounts_share == pytest.approx(6 / 26)
        assert [(r.rank, r.id, r.name, r.won_cents // 100, r.top) for r in report.rows][-1] == (
            None,
            None,
            None,
            7_000,
            False,
        )
        assert [r.name for r in report.rows[:-1]] == ["Acme", "Beta", "Core", "Dyna"]
        assert report.rows[-1].cumulative_share == 1.0
        reps = concentration_report(session, org_scope(), Q1, AFTER, by=ConcentrationBy.REPS)
        # Olga and Rita tie at 7,000: by name.
        assert [(r.name, r.won_deals, r.won_cents // 100) for r in reps.rows] == [
            ("Ray", 2, 11_000),
            ("Olga", 2, 7_000),
            ("Rita", 2, 7_000),
            ("Nina", 1, 1_000),
        ]
        assert (reps.summary.reps, reps.summary.top_reps) == (4, 1)
        assert reps.summary.top_reps_share == pytest.approx(11 / 26)

    def test_as_of_a_past_moment(self, session: Session, org: Org) -> None:
        report = concentration_report(session, team_scope(org.maria), Q1, MID)
        # By 02-20: Y1 and N1 (Beta 6,000) and R1 (Core 4,000).
        assert report.summary.won_cents == 10_000_00
        assert [(r.name, r.won_cents // 100) for r in report.rows] == [
            ("Beta", 6_000),
            ("Core", 4_000),
        ]
        assert report.summary.top_accounts_share == 0.6
        assert report.summary.top_reps_share == 0.5  # Ray's 5,000

    def test_a_rep_without_wins_has_no_shares(self, session: Session, org: Org) -> None:
        report = concentration_report(session, rep_scope(org.paul), Q1, AFTER)
        summary = report.summary
        assert (summary.won_cents, summary.accounts, summary.reps, report.rows) == (0, 0, 0, [])
        assert summary.top_accounts_share is None and summary.top_reps_share is None


def test_an_empty_scope_reports_nothing(session: Session, org: Org) -> None:
    eve = make_user(session, role=Role.MANAGER, name="Eve")
    reps = reps_report(session, team_scope(eve), Q1, AFTER)
    assert (reps.rows, reps.summary.reps, reps.summary.weakest) == ([], 0, [])
    assert all(m.median is None for m in reps.summary.medians)
    concentration = concentration_report(session, team_scope(eve), Q1, AFTER)
    assert concentration.rows == []
    assert concentration.summary.top_accounts_share is None
    assert concentration.summary.top_reps_share is None


def test_stages_sharing_a_name_are_named_with_their_pipeline(session: Session, org: Org) -> None:
    other = make_pipeline(session, name="Renewals")
    make_deal(
        session, owner=org.rita, pipeline=other, stage=stage_named(session, other, "Proposal"),
        at=at("2025-01-10"),
    )  # fmt: skip
    report = reps_report(session, rep_scope(org.rita), Q1, AFTER)
    keys = [m.metric for m in report.summary.medians]
    assert "conversion:Renewals/Proposal" in keys
    assert "conversion:Proposal" not in keys
    rita = by_metric(report.rows[0])
    assert rita["conversion:Renewals/Proposal"] == 0.0


def test_the_reports_are_registered(session: Session, org: Org) -> None:
    scope = team_scope(org.maria)
    assert REPORTS["reps"].run(session, scope, Q1, AFTER, {}).model_dump()["report"] == "reps"
    concentration: Any = REPORTS["concentration"].run(session, scope, Q1, AFTER, {"by": "reps"})
    assert concentration.summary.by == ConcentrationBy.REPS
    assert set(REPORTS["concentration"].options) == {"by"}
    with pytest.raises(InvalidInput, match="by 'rep'"):
        REPORTS["concentration"].run(session, scope, Q1, AFTER, {"by": "rep"})


def test_account_names_come_from_the_accounts(session: Session, org: Org) -> None:
    acme = session.scalars(select(Account).where(Account.name == "Acme")).one()
    report = concentration_report(session, team_scope(org.maria), Q1, AFTER)
    assert report.rows[0].id == acme.id

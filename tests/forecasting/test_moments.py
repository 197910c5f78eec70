"""A period as it stood at a moment, read from the deals' history: won so far per owner, the
new deals' wins, the people's call and the open deals with their stage probability and
whether they close in the period. Every number is worked out by hand from the fixture."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from tests.factories import make_deal, make_pipeline, make_user, stage_named
from topline.analytics.periods import Period, custom_period, quarter_period
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.deals import close_deal_lost, close_deal_won, move_deal_to_stage, reopen_deal
from topline.crm.models import Deal, Pipeline
from topline.forecasting.moments import (
    CLOSES_IN_PERIOD,
    STAGE_PROBABILITY,
    new_deals_won_by_owner,
    people_call,
    period_moment,
    won_by_owner,
    won_deal_ids,
)
from topline.forecasting.service import submit_forecast
from topline.scoring.features import PERIOD_FEATURE

Q1 = quarter_period(2025, 1)  # 2025-01-01 .. 2025-04-01
Q2 = quarter_period(2025, 2)
MOMENT = datetime(2025, 3, 20, 12, tzinfo=UTC)


def at(month: int, day: int, year: int = 2025) -> datetime:
    return datetime(year, month, day, 10, tzinfo=UTC)


@dataclass
class Quarter:
    """Q1 2025 for Rita and Ray (Maria's team), deal by deal:

    won_jan   Rita 1,000  created 6 Jan, won 3 Feb
    reopened  Rita   500  created 6 Jan, won 10 Mar, reopened 15 Apr (after the quarter)
    late      Ray    700  created 6 Jan, won 5 Apr (after the quarter)
    lost      Ray    300  created 6 Jan, lost 1 Mar
    big       Ray  2,000  created 10 Feb in Negotiation closing 28 Mar, won 25 Mar
    december  Ray    400  created 1 Dec 2024, won 20 Dec 2024 (before the quarter)
    small     Ray    100  created 1 Mar, won 5 Mar
    april     Rita   900  created 15 Feb, won 2 Apr (after the quarter)
    proposal  Rita 3,000  created 6 Jan in Prospecting closing 31 Mar; Proposal 1 Feb,
                          Negotiation 25 Mar
    edge      Ray    600  created 6 Jan in Discovery closing 1 Apr (the day after the quarter)
    """

    pipeline: Pipeline
    maria: User
    rita: User
    ray: User
    deals: dict[str, Deal]


@pytest.fixture
def quarter(session: Session) -> Quarter:
    pipeline = make_pipeline(session)
    maria = make_user(session, role=Role.MANAGER, name="Maria")
    rita = make_user(session, manager=maria, name="Rita")
    ray = make_user(session, manager=maria, name="Ray")

    def deal(
        owner: User,
        dollars: int,
        created: datetime,
        stage: str = "Discovery",
        close_date: date = date(2025, 3, 31),
    ) -> Deal:
        return make_deal(
            session, owner=owner, pipeline=pipeline, stage=stage_named(session, pipeline, stage),
            amount_cents=dollars * 100, at=created, close_date=close_date,
        )  # fmt: skip

    def won(deal: Deal, when: datetime) -> None:
        close_deal_won(session, deal, actor=None, at=when)

    deals = {
        "won_jan": deal(rita, 1000, at(1, 6)),
        "reopened": deal(rita, 500, at(1, 6)),
        "late": deal(ray, 700, at(1, 6), close_date=date(2025, 4, 10)),
        "lost": deal(ray, 300, at(1, 6)),
        "big": deal(ray, 2000, at(2, 10), stage="Negotiation", close_date=date(2025, 3, 28)),
        "december": deal(ray, 400, at(12, 1, 2024), close_date=date(2024, 12, 31)),
        "small": deal(ray, 100, at(3, 1)),
        "april": deal(rita, 900, at(2, 15), close_date=date(2025, 4, 30)),
        "proposal": deal(rita, 3000, at(1, 6), stage="Prospecting"),
        "edge": deal(ray, 600, at(1, 6), close_date=date(2025, 4, 1)),
    }
    won(deals["won_jan"], at(2, 3))
    won(deals["reopened"], at(3, 10))
    reopen_deal(session, deals["reopened"], stage=stage_named(session, pipeline, "Proposal"),
                close_date=date(2025, 6, 30), actor=None, at=at(4, 15))  # fmt: skip
    won(deals["late"], at(4, 5))
    close_deal_lost(session, deals["lost"], loss_reason="Price", actor=None, at=at(3, 1))
    won(deals["big"], at(3, 25))
    won(deals["december"], at(12, 20, 2024))
    won(deals["small"], at(3, 5))
    won(deals["april"], at(4, 2))
    proposal = deals["proposal"]
    move_deal_to_stage(session, proposal, stage=stage_named(session, pipeline, "Proposal"),
                       actor=None, at=at(2, 1))  # fmt: skip
    move_deal_to_stage(session, proposal, stage=stage_named(session, pipeline, "Negotiation"),
                       actor=None, at=at(3, 25))  # fmt: skip
    return Quarter(pipeline, maria, rita, ray, deals)


def cents(series: pd.Series) -> dict[int, int]:
    return {int(owner): int(total) for owner, total in series.items()}


class TestWonByOwner:
    def test_won_so_far_as_recorded_at_the_moment(self, session: Session, quarter: Quarter) -> None:
        # By 20 Mar: Rita's won_jan 1,000 and reopened 500 (still won then), Ray's small 100.
        # Ray's big is won on 25 Mar, after the moment; lost, late and december do not count.
        won = won_by_owner(session, Q1.start_at, MOMENT, MOMENT)
        assert cents(won) == {quarter.rita.id: 150_000, quarter.ray.id: 10_000}
        assert won.dtype == "int64"

    def test_at_the_quarters_end_and_after_a_reopen(
        self, session: Session, quarter: Quarter
    ) -> None:
        # At the end Ray's big has been won too: 2,000 + 100.
        end = Q1.end_at
        assert cents(won_by_owner(session, Q1.start_at, end, end)) == {
            quarter.rita.id: 150_000,
            quarter.ray.id: 210_000,
        }
        # As recorded on 20 Apr, reopened (reopened on 15 Apr) is open again: Rita 1,000.
        # late and april were won after the quarter's end: still outside it.
        assert cents(won_by_owner(session, Q1.start_at, end, at(4, 20))) == {
            quarter.rita.id: 100_000,
            quarter.ray.id: 210_000,
        }
        assert won_deal_ids(session, Q1.start_at, end, end) == {
            quarter.deals[name].id for name in ("won_jan", "reopened", "big", "small")
        }

    def test_an_empty_range_is_nothing(self, session: Session, quarter: Quarter) -> None:
        assert won_by_owner(session, Q1.start_at, Q1.start_at, MOMENT).empty
        assert won_by_owner(session, Q1.start_at, Q1.end_at, at(1, 5)).empty


class TestNewDealsWon:
    def test_only_deals_created_after_the_moment_count(
        self, session: Session, quarter: Quarter
    ) -> None:
        # After 1 Feb: big (created 10 Feb, won 25 Mar) and small (1 Mar, won 5 Mar) for Ray;
        # Rita's april was created 15 Feb but won after the quarter. Deals created on 6 Jan
        # do not count however they ended.
        new = new_deals_won_by_owner(session, Q1, at(2, 1))
        assert cents(new) == {quarter.ray.id: 210_000}
        # After 15 Feb only small is left.
        assert cents(new_deals_won_by_owner(session, Q1, at(2, 15))) == {quarter.ray.id: 10_000}
        # From the quarter's start: everything the quarter won that was created in it.
        assert cents(new_deals_won_by_owner(session, Q1, Q1.start_at)) == {
            quarter.rita.id: 150_000,
            quarter.ray.id: 210_000,
        }


class TestPeriodMoment:
    def test_won_so_far_and_the_open_deals_as_they_stood(
        self, session: Session, quarter: Quarter
    ) -> None:
        moment = period_moment(session, Q1, MOMENT)
        assert moment.won_cents == 160_000
        # Open on 20 Mar: late, big, april, proposal and edge (reopened was won then).
        deals = moment.deals.set_index("deal_id")
        names = {deal.id: name for name, deal in quarter.deals.items()}
        assert sorted(names[i] for i in deals.index) == ["april", "big", "edge", "late", "proposal"]
        by_name = {names[i]: row for i, row in deals.iterrows()}
        # Stage probabilities then: proposal was in Proposal (Negotiation only from 25 Mar).
        assert {name: row[STAGE_PROBABILITY] for name, row in by_name.items()} == {
            "late": 0.4,
            "big": 0.8,
            "april": 0.4,
            "proposal": 0.6,
            "edge": 0.4,
        }
        # Closing in the quarter: big (28 Mar) and proposal (31 Mar); edge's 1 Apr is the day
        # after it; late (10 Apr) and april (30 Apr) are later.
        assert {name: row[CLOSES_IN_PERIOD] for name, row in by_name.items()} == {
            "late": 0.0,
            "big": 1.0,
            "april": 0.0,
            "proposal": 1.0,
            "edge": 0.0,
        }
        assert by_name["proposal"]["stage"] == "Proposal"
        # 20 Mar to 1 Apr.
        assert set(deals[PERIOD_FEATURE]) == {12.0}

    def test_restricted_to_owners(self, session: Session, quarter: Quarter) -> None:
        moment = period_moment(session, Q1, MOMENT)
        rita = moment.for_owners([quarter.rita.id])
        assert rita.won_cents == 150_000
        assert set(rita.deals["owner_id"]) == {quarter.rita.id}
        assert len(rita.deals) == 2
        assert moment.for_owners(None) is moment

    def test_after_the_quarter_won_is_what_it_won_then(
        self, session: Session, quarter: Quarter
    ) -> None:
        # On 20 Apr: reopened no longer counts; big does. Won so far stops at the quarter's end.
        assert period_moment(session, Q1, at(4, 20)).won_cents == 100_000 + 210_000

    def test_before_the_quarter_nothing_is_won(self, session: Session, quarter: Quarter) -> None:
        moment = period_moment(session, Q2, MOMENT)
        assert moment.won_cents == 0
        # Q2 (1 Apr .. 1 Jul): late, april and edge close in it.
        names = {deal.id: name for name, deal in quarter.deals.items()}
        closing = moment.deals[moment.deals[CLOSES_IN_PERIOD] == 1.0]["deal_id"]
        assert sorted(names[i] for i in closing) == ["april", "edge", "late"]


class TestPeopleCall:
    @pytest.fixture
    def calls(self, session: Session, quarter: Quarter) -> dict[str, User]:
        """Maria and Otto head the org (no manager); Rita reports to Maria.

        Maria's Q1 commit: 1,000 on 1 Feb, 1,500 on 1 Mar, 9,999 on 25 Mar; 5,000 for Q2 on
        15 Mar; 4,000 for Jan–Feb only on 15 Mar. Otto's: 600 then 700 in the same instant on
        10 Mar. Rita's own: 400 on 1 Mar."""
        otto = make_user(session, role=Role.MANAGER, name="Otto")

        def call(user: User, commit: int, when: datetime, period: Period = Q1) -> None:
            submit_forecast(
                session, submitted_by=user, user=user, period_start=period.start,
                period_end=period.end, commit_cents=commit * 100, best_case_cents=commit * 100,
                pipeline_cents=commit * 100, at=when,
            )  # fmt: skip

        call(quarter.maria, 1000, at(2, 1))
        call(quarter.maria, 1500, at(3, 1))
        call(quarter.maria, 9999, at(3, 25))
        call(quarter.maria, 5000, at(3, 15), Q2)
        call(quarter.maria, 4000, at(3, 15), custom_period(date(2025, 1, 1), date(2025, 3, 1)))
        call(otto, 600, at(3, 10))
        call(otto, 700, at(3, 10))
        call(quarter.rita, 400, at(3, 1))
        return {"otto": otto}

    def test_the_latest_call_of_each_person_at_the_top(
        self, session: Session, quarter: Quarter, calls: dict[str, User]
    ) -> None:
        # Maria's 1,500 (9,999 comes later) + Otto's later-written 700; Rita reports to Maria.
        assert people_call(session, Q1, MOMENT) == 220_000
        assert people_call(session, Q1, at(3, 26)) == 999_900 + 70_000
        # On 5 Mar only Maria had called: 1,500.
        assert people_call(session, Q1, at(3, 5)) == 150_000
        assert people_call(session, Q1, at(1, 15)) is None

    def test_other_periods_do_not_count(
        self, session: Session, quarter: Quarter, calls: dict[str, User]
    ) -> None:
        assert people_call(session, Q2, MOMENT) == 500_000
        assert people_call(session, quarter_period(2024, 4), MOMENT) is None

    def test_chosen_people(
        self, session: Session, quarter: Quarter, calls: dict[str, User]
    ) -> None:
        assert people_call(session, Q1, MOMENT, [quarter.rita.id]) == 40_000
        # Ray never called: only Rita's counts.
        assert people_call(session, Q1, MOMENT, [quarter.rita.id, quarter.ray.id]) == 40_000
        assert people_call(session, Q1, MOMENT, [quarter.ray.id]) is None
        assert people_call(session, Q1, MOMENT, [quarter.rita.id, calls["otto"].id]) == 110_000

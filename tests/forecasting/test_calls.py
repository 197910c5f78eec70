"""The forecast call: prefill from deal history, calls as of a moment, the roll-up and bias.

Every expected number is worked out by hand in the comments next to it, from the fixture
`call_org` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from tests.factories import T0, make_deal, make_pipeline, make_user, open_stages
from tests.helpers import assert_max_queries
from topline.analytics.periods import Period, month_period, quarter_period
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.deals import close_deal_lost, close_deal_won, update_deal
from topline.crm.enums import ForecastCategory
from topline.crm.models import Deal, Pipeline
from topline.crm.schemas import DealUpdate
from topline.errors import NotFound
from topline.forecasting.calls import (
    BiasLabel,
    BiasObservation,
    BiasStat,
    CallAmounts,
    RollupNode,
    bias_label,
    call_as_of,
    forecast_bias,
    forecast_rollup,
    prefill,
    summarize_bias,
)
from topline.forecasting.models import ForecastSubmission
from topline.forecasting.service import submit_forecast

Q1 = quarter_period(2025, 1)  # [2025-01-01, 2025-04-01)
AS_OF = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
EARLY = datetime(2025, 2, 1, 12, 0, tzinfo=UTC)
K = 1_000_00  # a thousand dollars, in cents


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def amounts(commit: int, best_case: int, pipeline: int) -> CallAmounts:
    """A call in thousands of dollars."""
    return CallAmounts(commit * K, best_case * K, pipeline * K)


def call(
    session: Session, by: User, whose: User, when: str, commit: int, best: int, pipe: int,
    period: Period = Q1,
) -> ForecastSubmission:  # fmt: skip
    """A submission in thousands of dollars."""
    return submit_forecast(
        session,
        submitted_by=by,
        user=whose,
        period_start=period.start,
        period_end=period.end,
        commit_cents=commit * K,
        best_case_cents=best * K,
        pipeline_cents=pipe * K,
        at=at(when),
    )


@dataclass
class CallOrg:
    """Director Dana over managers Mia (reps Rob, Rae) and Max (rep Raj); Otis manages Ola
    elsewhere; Lee left Max's team before Q1. Deals and calls are for Q1 2025."""

    admin: User
    dana: User
    mia: User
    rob: User
    rae: User
    max: User
    raj: User
    lee: User
    otis: User
    ola: User
    pipeline: Pipeline
    rob_commit: Deal
    rob_best: Deal


def deal(
    session: Session, org_pipeline: Pipeline, owner: User, thousands: int,
    category: ForecastCategory, close: date, created: datetime = T0,
) -> Deal:  # fmt: skip
    return make_deal(
        session,
        owner=owner,
        stage=open_stages(session, org_pipeline)[0],
        amount_cents=thousands * K,
        close_date=close,
        forecast_category=category,
        at=created,
    )


def call_org(session: Session) -> CallOrg:
    """The org, its deals (with history) and its Q1 calls; see the module's tests for sums."""
    admin = make_user(session, role=Role.ADMIN, name="Ada")
    dana = make_user(session, role=Role.MANAGER, name="Dana")
    mia = make_user(session, role=Role.MANAGER, manager=dana, name="Mia")
    rob = make_user(session, manager=mia, name="Rob")
    rae = make_user(session, manager=mia, name="Rae")
    max_ = make_user(session, role=Role.MANAGER, manager=dana, name="Max")
    raj = make_user(session, manager=max_, name="Raj")
    lee = make_user(session, manager=max_, name="Lee", left_at=at("2024-12-01T00:00"), active=False)
    otis = make_user(session, role=Role.MANAGER, name="Otis")
    ola = make_user(session, manager=otis, name="Ola")
    pipeline = make_pipeline(session)
    C, B, P = ForecastCategory.COMMIT, ForecastCategory.BEST_CASE, ForecastCategory.PIPELINE

    # Rob: commit 30 (amount 35 from Feb 20), best case 20 (commit from Feb 15), pipeline 10,
    # omitted 50 (never counts), commit 70 closing in Q2 (not this period), and 40 won Feb 10.
    rob_commit = deal(session, pipeline, rob, 30, C, date(2025, 3, 15))
    rob_best = deal(session, pipeline, rob, 20, B, date(2025, 2, 20))
    deal(session, pipeline, rob, 10, P, date(2025, 3, 31))
    deal(session, pipeline, rob, 50, ForecastCategory.OMITTED, date(2025, 3, 1))
    deal(session, pipeline, rob, 70, C, date(2025, 4, 15))
    won = deal(session, pipeline, rob, 40, P, date(2025, 3, 31))
    close_deal_won(session, won, actor=rob, at=at("2025-02-10T10:00"))
    update_deal(
        session, rob_best, changes=DealUpdate(forecast_category=C), actor=rob,
        at=at("2025-02-15T10:00"),
    )  # fmt: skip
    update_deal(
        session, rob_commit, changes=DealUpdate(amount_cents=35 * K), actor=rob,
        at=at("2025-02-20T10:00"),
    )  # fmt: skip
    # Rae: commit 15, and commit 5 lost on Feb 12.
    deal(session, pipeline, rae, 15, C, date(2025, 3, 10))
    lost = deal(session, pipeline, rae, 5, C, date(2025, 3, 20))
    close_deal_lost(session, lost, loss_reason="price", actor=rae, at=at("2025-02-12T10:00"))
    # Mia owns one commit deal of 1; Raj a best case of 8; Ola (another team) a commit of 99.
    deal(session, pipeline, mia, 1, C, date(2025, 3, 5))
    deal(session, pipeline, raj, 8, B, date(2025, 2, 28))
    deal(session, pipeline, ola, 99, C, date(2025, 3, 5))

    call(session, rob, rob, "2025-02-06T09:00", 60, 80, 120)
    call(session, rob, rob, "2025-02-27T09:00", 90, 100, 110)
    call(session, mia, rob, "2025-02-28T09:00", 80, 95, 110)  # Mia adjusts Rob
    call(session, rae, rae, "2025-02-20T09:00", 10, 15, 20)
    call(session, mia, mia, "2025-02-28T10:00", 85, 110, 130)
    call(session, dana, dana, "2025-02-28T11:00", 100, 120, 150)
    call(session, rob, rob, "2025-03-05T09:00", 1, 2, 3)  # after AS_OF: never seen at it
    call(session, rob, rob, "2025-02-27T09:00", 7, 8, 9, period=month_period(2025, 2))
    return CallOrg(
        admin, dana, mia, rob, rae, max_, raj, lee, otis, ola, pipeline, rob_commit, rob_best
    )


@pytest.fixture
def org(session: Session) -> CallOrg:
    return call_org(session)


def stat(bias: BiasStat) -> tuple[int, object]:
    """How many periods, and their mean bias."""
    return (bias.n, bias.mean)


def names(node: RollupNode) -> list[str]:
    return [child.user.name for child in node.children]


def effective(node: RollupNode) -> CallAmounts | None:
    chosen = node.effective_call
    return None if chosen is None else CallAmounts.of(chosen)


class TestPrefill:
    def test_a_reps_prefill_adds_won_and_open_deals_by_category(
        self, session: Session, org: CallOrg
    ) -> None:
        # Won 40; commit 35 + 20 (moved to commit); best case none; pipeline 10.
        # commit = 40 + 55 = 95, best = 95, pipeline = 95 + 10 = 105.
        assert prefill(session, org.rob, Q1, AS_OF) == amounts(95, 95, 105)

    def test_a_past_day_uses_the_deals_as_they_stood(self, session: Session, org: CallOrg) -> None:
        # On Feb 1: nothing won; commit 30; best case 20; pipeline 10 + 40 (not yet won).
        assert prefill(session, org.rob, Q1, EARLY) == amounts(30, 50, 100)
        # Rae on Feb 1: both commits open (15 + 5); on Mar 1 the lost one is gone.
        assert prefill(session, org.rae, Q1, EARLY) == amounts(20, 20, 20)
        assert prefill(session, org.rae, Q1, AS_OF) == amounts(15, 15, 15)

    def test_a_managers_prefill_covers_their_subtree(self, session: Session, org: CallOrg) -> None:
        # Mia = Rob (95, 95, 105) + Rae (15, 15, 15) + her own commit 1.
        assert prefill(session, org.mia, Q1, AS_OF) == amounts(111, 111, 121)
        # Dana = Mia's team + Raj's best case 8; Otis's team is not hers.
        assert prefill(session, org.dana, Q1, AS_OF) == amounts(111, 119, 129)

    def test_before_any_deal_existed_the_prefill_is_zero(
        self, session: Session, org: CallOrg
    ) -> None:
        assert prefill(session, org.mia, Q1, at("2025-01-01T00:00")) == CallAmounts.zero()


class TestCallAsOf:
    def test_the_latest_submission_by_then_counts_adjustments_included(
        self, session: Session, org: CallOrg
    ) -> None:
        standing = call_as_of(session, org.rob.id, Q1, AS_OF)
        assert standing is not None
        assert (standing.submitted_by_id, standing.commit_cents) == (org.mia.id, 80 * K)

    def test_a_past_day_sees_the_call_of_that_day(self, session: Session, org: CallOrg) -> None:
        standing = call_as_of(session, org.rob.id, Q1, at("2025-02-27T12:00"))
        assert standing is not None
        assert (standing.submitted_by_id, standing.commit_cents) == (org.rob.id, 90 * K)
        assert call_as_of(session, org.rob.id, Q1, at("2025-02-06T08:59")) is None

    def test_only_exactly_that_period_counts(self, session: Session, org: CallOrg) -> None:
        standing = call_as_of(session, org.rob.id, month_period(2025, 2), AS_OF)
        assert standing is not None and standing.commit_cents == 7 * K
        assert call_as_of(session, org.raj.id, Q1, AS_OF) is None


class TestRollup:
    def test_the_tree_shows_calls_adjustments_rollups_and_prefills(
        self, session: Session, org: CallOrg
    ) -> None:
        tree = forecast_rollup(session, org.admin, org.dana, Q1, AS_OF).root

        assert tree.user.id == org.dana.id
        assert names(tree) == ["Max", "Mia"]  # Lee left before Q1 and had nothing in it
        max_, mia = tree.children
        assert names(mia) == ["Rae", "Rob"] and names(max_) == ["Raj"]
        rob = mia.children[1]
        # Rob called 90/100/110 on Feb 27; Mia's adjustment of Feb 28 is later and counts.
        assert rob.own_call is not None and CallAmounts.of(rob.own_call) == amounts(90, 100, 110)
        assert rob.adjustment is not None and rob.adjustment.submitted_by_id == org.mia.id
        assert effective(rob) == amounts(80, 95, 110)
        assert rob.prefill == amounts(95, 95, 105) and rob.rollup is None
        # Mia's roll-up: Rob's effective call + Rae's = (80+10, 95+15, 110+20).
        assert mia.rollup == amounts(90, 110, 130)
        assert effective(mia) == amounts(85, 110, 130)
        assert mia.prefill == amounts(111, 111, 121)
        # Max's report Raj has no call: the roll-up is empty; Dana adds Mia's and nothing.
        assert max_.rollup == CallAmounts.zero() and effective(max_) is None
        assert tree.rollup == amounts(85, 110, 130)
        assert effective(tree) == amounts(100, 120, 150)
        assert tree.prefill == amounts(111, 119, 129)

    def test_stale_means_no_own_call_in_the_last_seven_days(
        self, session: Session, org: CallOrg
    ) -> None:
        tree = forecast_rollup(session, org.admin, org.dana, Q1, AS_OF).root
        max_, mia = tree.children
        rae, rob = mia.children
        # Rae called Feb 20, more than 7 days before Mar 1 12:00; Max and Raj never called.
        assert (rae.stale, rob.stale, mia.stale, tree.stale) == (True, False, False, False)
        assert (max_.stale, max_.children[0].stale) == (True, True)
        # Exactly seven days after Rae's call it is stale; a moment earlier it is not.
        rae_at = forecast_rollup(session, org.admin, org.rae, Q1, at("2025-02-27T09:00")).root
        assert rae_at.stale
        rae_before = forecast_rollup(session, org.admin, org.rae, Q1, at("2025-02-27T08:59")).root
        assert not rae_before.stale

    def test_a_past_day_shows_the_calls_of_that_day(self, session: Session, org: CallOrg) -> None:
        tree = forecast_rollup(session, org.admin, org.mia, Q1, at("2025-02-07T12:00")).root
        rae, rob = tree.children
        assert effective(rob) == amounts(60, 80, 120) and rob.adjustment is None
        assert effective(rae) is None and rae.stale
        assert tree.rollup == amounts(60, 80, 120) and tree.own_call is None
        # The deals too: nothing won yet, the 40 still in pipeline.
        assert rob.prefill == amounts(30, 50, 100)

    def test_a_later_own_call_wins_over_an_earlier_adjustment(
        self, session: Session, org: CallOrg
    ) -> None:
        call(session, org.rob, org.rob, "2025-03-01T08:00", 92, 102, 112)
        rob = forecast_rollup(session, org.admin, org.rob, Q1, AS_OF).root
        assert rob.adjustment is not None
        assert effective(rob) == amounts(92, 102, 112)

    def test_someone_gone_before_the_period_stays_while_they_hold_deals_in_it(
        self, session: Session, org: CallOrg
    ) -> None:
        lou = make_user(session, manager=org.max, name="Lou")
        deal(session, org.pipeline, lou, 4, ForecastCategory.COMMIT, date(2025, 3, 20))
        lou.left_at, lou.active = at("2024-12-15T00:00"), False
        session.flush()
        max_ = forecast_rollup(session, org.admin, org.max, Q1, AS_OF).root
        assert names(max_) == ["Lou", "Raj"]  # Lee, gone too, holds nothing
        assert max_.children[0].prefill == amounts(4, 4, 4)
        # Max's prefill: Lou's commit 4 and Raj's best case 8.
        assert max_.prefill == amounts(4, 12, 12)

    def test_the_query_count_does_not_grow_with_the_team(
        self, session: Session, org: CallOrg
    ) -> None:
        with assert_max_queries(session, 8) as small:
            forecast_rollup(session, org.admin, org.dana, Q1, AS_OF)
        for n in range(6):
            rep = make_user(session, manager=org.max, name=f"Extra {n}")
            call(session, rep, rep, "2025-02-26T09:00", n, n + 1, n + 2)
            deal(session, org.pipeline, rep, 3, ForecastCategory.COMMIT, date(2025, 3, 3))
        with assert_max_queries(session, small.count):
            tree = forecast_rollup(session, org.admin, org.dana, Q1, AS_OF).root
        # Max's roll-up: the six calls' commits 0 + 1 + … + 5 = 15.
        assert tree.children[0].rollup == amounts(15, 21, 27)


class TestRollupAccess:
    def test_a_manager_sees_only_their_subtree(self, session: Session, org: CallOrg) -> None:
        tree = forecast_rollup(session, org.mia, org.mia, Q1, AS_OF).root
        assert names(tree) == ["Rae", "Rob"]
        with pytest.raises(NotFound):
            forecast_rollup(session, org.mia, org.dana, Q1, AS_OF)
        with pytest.raises(NotFound):
            forecast_rollup(session, org.mia, org.max, Q1, AS_OF)
        with pytest.raises(NotFound):
            forecast_rollup(session, org.otis, org.mia, Q1, AS_OF)

    def test_a_rep_sees_only_their_own_node(self, session: Session, org: CallOrg) -> None:
        own = forecast_rollup(session, org.rob, org.rob, Q1, AS_OF).root
        assert own.user.id == org.rob.id and own.children == []
        with pytest.raises(NotFound):
            forecast_rollup(session, org.rob, org.rae, Q1, AS_OF)
        with pytest.raises(NotFound):
            forecast_rollup(session, org.rob, org.mia, Q1, AS_OF)


@dataclass
class BiasOrg:
    mx: User
    x: User
    y: User


@pytest.fixture
def bias_org(session: Session) -> BiasOrg:
    """Rep X and rep Y under manager MX, with calls and wins over Q4 2024, Q1 2025 and April.

    Q4 2024 (horizons Oct 1, Oct 29, Nov 26, Dec 24): X calls 50/60/100 on Sep 30 and
    90/110/150 on Nov 20; X wins 100 on Dec 10, Y wins 20 on Dec 12. MX calls 150/160/180 on
    Oct 20.
    Q1 2025 (horizons Jan 1, Jan 29, Feb 26, Mar 26): X calls 40/50/60 on Jan 10, MX adjusts
    it to 45/55/70 on Feb 20; X wins 50 on Feb 15.
    April 2025: X calls 10/10/10 on Mar 31 and wins nothing (no bias to take).
    Q2 2025 has not ended at the bias's `as_of` (May 2), so its call does not count.
    """
    mx = make_user(session, role=Role.MANAGER, name="MX")
    x = make_user(session, manager=mx, name="X")
    y = make_user(session, manager=mx, name="Y")
    pipeline = make_pipeline(session)
    created = at("2024-09-01T09:00")
    for owner, thousands, won_at in ((x, 100, "2024-12-10"), (y, 20, "2024-12-12"),
                                     (x, 50, "2025-02-15")):  # fmt: skip
        won = deal(
            session, pipeline, owner, thousands, ForecastCategory.COMMIT, date(2025, 6, 30),
            created=created,
        )  # fmt: skip
        close_deal_won(session, won, actor=owner, at=at(f"{won_at}T10:00"))
    q4 = quarter_period(2024, 4)
    call(session, x, x, "2024-09-30T09:00", 50, 60, 100, period=q4)
    call(session, x, x, "2024-11-20T09:00", 90, 110, 150, period=q4)
    call(session, mx, mx, "2024-10-20T09:00", 150, 160, 180, period=q4)
    call(session, x, x, "2025-01-10T09:00", 40, 50, 60)
    call(session, mx, x, "2025-02-20T09:00", 45, 55, 70)
    call(session, x, x, "2025-03-31T09:00", 10, 10, 10, period=month_period(2025, 4))
    call(session, x, x, "2025-04-03T09:00", 999, 999, 999, period=quarter_period(2025, 2))
    return BiasOrg(mx, x, y)


BIAS_AS_OF = datetime(2025, 5, 2, tzinfo=UTC)


class TestBias:
    def test_a_reps_bias_by_horizon_and_category(self, session: Session, bias_org: BiasOrg) -> None:
        bias = forecast_bias(session, [bias_org.x.id], BIAS_AS_OF)[bias_org.x.id]
        rows = {row.horizon_weeks: row for row in bias.horizons}
        # Week 0: only Q4 has a call (Sep 30): (50−100)/100, (60−100)/100, (100−100)/100.
        assert stat(rows[0].commit) == (1, pytest.approx(-0.5))
        assert rows[0].best_case.mean == pytest.approx(-0.4)
        assert rows[0].pipeline.mean == pytest.approx(0.0)
        # Week 4: Q4 as at week 0; Q1 (40−50)/50 = −0.2, (50−50)/50 = 0, (60−50)/50 = 0.2.
        assert stat(rows[4].commit) == (2, pytest.approx(-0.35))
        assert rows[4].best_case.mean == pytest.approx(-0.2)
        assert rows[4].pipeline.mean == pytest.approx(0.1)
        # Weeks 8 and 12: Q4 90/110/150 → −0.1, 0.1, 0.5; Q1 adjusted 45/55/70 → −0.1, 0.1, 0.4.
        for week in (8, 12):
            assert stat(rows[week].commit) == (2, pytest.approx(-0.1))
            assert rows[week].best_case.mean == pytest.approx(0.1)
            assert rows[week].pipeline.mean == pytest.approx(0.45)
        # Pooled commit: (−0.5 − 0.5 − 0.2 − 0.1 × 4) / 7.
        assert stat(bias.commit) == (7, pytest.approx(-1.6 / 7))
        assert bias.label == BiasLabel.SANDBAGGER

    def test_a_managers_actual_covers_their_subtree(
        self, session: Session, bias_org: BiasOrg
    ) -> None:
        bias = forecast_bias(session, [bias_org.mx.id], BIAS_AS_OF)[bias_org.mx.id]
        rows = {row.horizon_weeks: row for row in bias.horizons}
        # Actual Q4 = X 100 + Y 20 = 120; MX's call from Oct 20 (weeks 4, 8, 12):
        # (150−120)/120 = 0.25, (160−120)/120 = 1/3, (180−120)/120 = 0.5.
        assert rows[0].commit.n == 0 and rows[0].commit.mean is None
        for week in (4, 8, 12):
            assert stat(rows[week].commit) == (1, pytest.approx(0.25))
            assert rows[week].best_case.mean == pytest.approx(1 / 3)
            assert rows[week].pipeline.mean == pytest.approx(0.5)
        assert bias.label == BiasLabel.OPTIMISTIC

    def test_only_periods_ended_by_as_of_count(self, session: Session, bias_org: BiasOrg) -> None:
        # On Mar 31 only Q4 had ended: X's commit biases −0.5, −0.5, −0.1, −0.1.
        bias = forecast_bias(session, [bias_org.x.id], at("2025-03-31T12:00"))[bias_org.x.id]
        assert stat(bias.commit) == (4, pytest.approx(-0.3))

    def test_no_history_gives_no_label(self, session: Session, bias_org: BiasOrg) -> None:
        bias = forecast_bias(session, [bias_org.y.id], BIAS_AS_OF)[bias_org.y.id]
        assert bias.label is None and bias.commit.n == 0
        assert [row.horizon_weeks for row in bias.horizons] == [0, 4, 8, 12]

    def test_queries_are_bounded(self, session: Session, bias_org: BiasOrg) -> None:
        people = [bias_org.mx.id, bias_org.x.id, bias_org.y.id]
        with assert_max_queries(session, 3):
            result = forecast_bias(session, people, BIAS_AS_OF)
        assert set(result) == set(people)


@pytest.mark.parametrize(
    ("mean", "label"),
    [
        (-0.25, BiasLabel.SANDBAGGER),
        (-0.1001, BiasLabel.SANDBAGGER),
        (-0.10, BiasLabel.ACCURATE),
        (0.0, BiasLabel.ACCURATE),
        (0.10, BiasLabel.ACCURATE),
        (0.1001, BiasLabel.OPTIMISTIC),
        (None, None),
    ],
)
def test_bias_label_thresholds(mean: float | None, label: BiasLabel | None) -> None:
    assert bias_label(mean) == label


def test_summarize_bias_skips_periods_with_nothing_won() -> None:
    summary = summarize_bias(
        7,
        [
            BiasObservation(0, amounts(12, 15, 20), 10 * K),  # 0.2, 0.5, 1.0
            BiasObservation(0, amounts(5, 5, 5), 0),  # nothing won: skipped
            BiasObservation(4, amounts(8, 10, 10), 10 * K),  # −0.2, 0, 0
        ],
    )
    rows = {row.horizon_weeks: row for row in summary.horizons}
    assert stat(rows[0].commit) == (1, pytest.approx(0.2))
    assert rows[0].pipeline.mean == pytest.approx(1.0)
    assert stat(rows[4].commit) == (1, pytest.approx(-0.2)) and rows[8].commit.n == 0
    assert stat(summary.commit) == (2, pytest.approx(0.0))
    assert summary.label == BiasLabel.ACCURATE

"""The demo org on a real database: consistent history, closed deals, quotas, realism."""

from __future__ import annotations

import hashlib
import itertools
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session

from tests.databases import fresh_engine
from tests.demo.conftest import BuiltDemo
from tests.helpers import assert_deal_pushes, assert_deal_stays, assert_history_marks
from topline.auth.enums import Role
from topline.auth.models import Team, User
from topline.auth.passwords import verify_password
from topline.crm.deals import TRACKED_FIELDS, create_deal
from topline.crm.enums import ActivityType, ForecastCategory, LeadStatus, StageType
from topline.crm.history import DealState, replay
from topline.crm.models import Account, Activity, Contact, Deal, DealHistory, Lead, Stage
from topline.demo import DEFAULT_AS_OF, DEMO_PASSWORD, build_demo
from topline.demo.config import LOSS_REASONS
from topline.errors import Conflict, InvalidInput
from topline.forecasting.models import ForecastSubmission
from topline.quotas.models import Quota
from topline.storage.base import Base, exists_on
from topline.storage.statistics import analyzed_rows

pytestmark = pytest.mark.slow

AS_OF = DEFAULT_AS_OF
WINDOW_START = AS_OF - timedelta(days=730)


def _deals_by_stage_type(session: Session) -> dict[StageType, list[Deal]]:
    """Every deal, grouped by the type of its current stage."""
    groups: dict[StageType, list[Deal]] = defaultdict(list)
    for deal, stage_type in session.execute(select(Deal, Stage.type).join(Stage)).all():
        groups[stage_type].append(deal)
    return groups


def _closed_at(deal: Deal) -> datetime:
    """When a closed deal closed."""
    assert deal.closed_at is not None
    return deal.closed_at


def test_summary_counts_what_is_in_the_database(demo: BuiltDemo) -> None:
    summary = demo.summary
    with Session(demo.engine) as session:
        counts = {
            model: session.scalar(select(func.count()).select_from(model))
            for model in (Deal, DealHistory, Activity, Lead, Account, User)
        }
    assert counts[Deal] == summary.deals == 2_000
    assert counts[DealHistory] == summary.history_rows
    assert counts[Activity] == summary.activities
    assert counts[Lead] == summary.leads
    assert counts[Account] == summary.accounts
    assert counts[User] == summary.users
    assert summary.history_rows > 3 * summary.deals
    assert summary.as_of == AS_OF


def test_history_replays_to_every_deal(demo: BuiltDemo) -> None:
    with Session(demo.engine) as session:
        rows: dict[int, list[DealHistory]] = defaultdict(list)
        for row in session.scalars(select(DealHistory)):
            rows[row.deal_id].append(row)
        deals = session.scalars(select(Deal)).all()
        assert assert_history_marks(session) == sum(len(found) for found in rows.values())
        # The demo's deals slip as real ones do: some close dates were pushed out.
        assert assert_deal_pushes(session) > 0
        assert assert_deal_stays(session) > len(rows)
    assert len(rows) == len(deals)
    for deal in deals:
        history = sorted(rows[deal.id], key=lambda row: (row.valid_from, row.id))
        assert replay(history) == DealState.of(deal), deal.id
        assert history[0].changed_fields == "created"
        assert history[0].valid_from == deal.created_at
        assert [row.valid_to for row in history].count(None) == 1
        assert deal.version == len(history)
        assert deal.updated_at == history[-1].valid_from


def test_accounts_contacts_and_leads_start_at_version_1(demo: BuiltDemo) -> None:
    # The bulk load leaves `version` to the column's server default.
    with Session(demo.engine) as session:
        versions = {
            model.__name__: set(session.scalars(select(model.version).distinct()))
            for model in (Account, Contact, Lead)
        }
    assert versions == {"Account": {1}, "Contact": {1}, "Lead": {1}}


def test_changed_fields_name_exactly_the_fields_that_moved(demo: BuiltDemo) -> None:
    with Session(demo.engine) as session:
        history = session.scalars(
            select(DealHistory).order_by(DealHistory.deal_id, DealHistory.valid_from)
        ).all()
    checked = 0
    for before, after in itertools.pairwise(history):
        if before.deal_id != after.deal_id:
            continue
        moved = [
            name.value
            for field, name in TRACKED_FIELDS.items()
            if getattr(before, field) != getattr(after, field)
        ]
        assert after.changed_fields == ",".join(moved)
        assert after.valid_from > before.valid_from
        checked += 1
    assert checked > 2_000


def test_closed_deals_are_closed_consistently(demo: BuiltDemo) -> None:
    with Session(demo.engine) as session:
        groups = _deals_by_stage_type(session)
    for deal in groups[StageType.WON]:
        assert deal.forecast_category == ForecastCategory.CLOSED
        assert deal.loss_reason is None
    for deal in groups[StageType.LOST]:
        assert deal.forecast_category == ForecastCategory.OMITTED
        assert deal.loss_reason in LOSS_REASONS
    for deal in groups[StageType.WON] + groups[StageType.LOST]:
        assert deal.closed_at is not None
        assert deal.created_at <= deal.closed_at <= AS_OF
        assert deal.close_date == deal.closed_at.date()
    for deal in groups[StageType.OPEN]:
        assert deal.closed_at is None
        assert deal.loss_reason is None
        assert deal.forecast_category not in {ForecastCategory.CLOSED, ForecastCategory.OMITTED}
    assert all(len(groups[stage_type]) > 50 for stage_type in StageType)
    assert len({deal.loss_reason for deal in groups[StageType.LOST]}) == len(LOSS_REASONS)


def test_win_rate_and_sales_cycle_are_realistic(demo: BuiltDemo) -> None:
    with Session(demo.engine) as session:
        groups = _deals_by_stage_type(session)
    won, lost = len(groups[StageType.WON]), len(groups[StageType.LOST])
    cycles = [
        (_closed_at(d) - d.created_at).total_seconds() / 86_400 for d in groups[StageType.WON]
    ]
    assert 0.15 <= won / (won + lost) <= 0.40
    assert 20 <= statistics.median(cycles) <= 120


def test_open_deals_look_ahead_and_belong_to_active_reps(demo: BuiltDemo) -> None:
    with Session(demo.engine) as session:
        open_deals = _deals_by_stage_type(session)[StageType.OPEN]
        active = set(session.scalars(select(User.id).where(User.active.is_(True))))
    future = [d for d in open_deals if d.close_date >= AS_OF.date()]
    stale = [d for d in open_deals if d.close_date < AS_OF.date()]
    assert len(future) >= 0.8 * len(open_deals)
    assert all(AS_OF.date() - d.close_date < timedelta(days=10) for d in stale)
    assert {d.owner_id for d in open_deals} <= active
    assert all(d.close_date >= d.created_at.date() for d in open_deals)
    assert {d.forecast_category for d in open_deals} == {
        ForecastCategory.PIPELINE,
        ForecastCategory.BEST_CASE,
        ForecastCategory.COMMIT,
    }


def test_nothing_happens_outside_the_window(demo: BuiltDemo) -> None:
    columns = [
        (Deal.created_at, Deal.updated_at),
        (DealHistory.valid_from, DealHistory.valid_from),
        (Activity.occurred_at, Activity.occurred_at),
        (Lead.created_at, Lead.converted_at),
        (ForecastSubmission.submitted_at, ForecastSubmission.submitted_at),
    ]
    with Session(demo.engine) as session:
        for first, last in columns:
            earliest = session.scalar(select(func.min(first)))
            latest = session.scalar(select(func.max(last)))
            assert earliest is not None and latest is not None
            assert earliest.tzinfo is not None and latest.tzinfo is not None
            assert earliest >= WINDOW_START and latest <= AS_OF, first
        last_hire = session.scalar(select(func.max(User.hired_at)))
        assert last_hire is not None and last_hire <= AS_OF


def test_amounts_are_whole_non_negative_cents(demo: BuiltDemo) -> None:
    with Session(demo.engine) as session:
        amounts = session.execute(select(Deal.amount_cents, Deal.recurring_amount_cents)).all()
        history_minimum = session.scalar(select(func.min(DealHistory.amount_cents)))
    assert all(isinstance(a, int) and a > 0 for a, _ in amounts)
    assert all(r is None or (isinstance(r, int) and r == a // 12) for a, r in amounts)
    assert history_minimum is not None and history_minimum > 0
    assert len({a for a, _ in amounts}) > 500


def test_every_rep_has_a_quota_for_every_quarter_employed(demo: BuiltDemo) -> None:
    with Session(demo.engine) as session:
        reps = session.scalars(select(User).where(User.role == Role.REP)).all()
        quotas = session.scalars(select(Quota)).all()
        teams = session.scalars(select(Team)).all()
    expected = set()
    for rep in reps:
        start = max(rep.hired_at, WINDOW_START)
        end = rep.left_at or AS_OF
        for quarter in _quarters(WINDOW_START.date(), AS_OF.date()):
            next_quarter = _next_quarter(quarter)
            begin = datetime(quarter.year, quarter.month, 1, tzinfo=UTC)
            finish = datetime(next_quarter.year, next_quarter.month, 1, tzinfo=UTC)
            if start < finish and end > begin:
                expected.add((rep.id, quarter))
    rep_quotas = {(q.user_id, q.period_start) for q in quotas if q.user_id is not None}
    assert rep_quotas == expected
    assert all(q.amount_cents > 0 and q.period_end == _next_quarter(q.period_start) for q in quotas)
    by_team: dict[tuple[int | None, date], int] = defaultdict(int)
    team_of = {rep.id: rep.team_id for rep in reps}
    for quota in quotas:
        if quota.user_id is not None:
            by_team[(team_of[quota.user_id], quota.period_start)] += quota.amount_cents
    for quota in quotas:
        if quota.team_id is not None and quota.team_id != teams[0].id:
            assert quota.amount_cents == by_team[(quota.team_id, quota.period_start)]


def _quarters(first: date, last: date) -> list[date]:
    quarters = [date(first.year, 3 * ((first.month - 1) // 3) + 1, 1)]
    while _next_quarter(quarters[-1]) <= last:
        quarters.append(_next_quarter(quarters[-1]))
    return quarters


def _next_quarter(quarter: date) -> date:
    month = quarter.month + 3
    return date(quarter.year + (month > 12), (month - 1) % 12 + 1, 1)


def test_quotas_are_near_what_reps_book(demo: BuiltDemo) -> None:
    """Attainment over the full quarters of the window sits around 70-110 %."""
    with Session(demo.engine) as session:
        won = session.execute(
            select(func.sum(Deal.amount_cents))
            .join(Stage)
            .where(Stage.type == StageType.WON, Deal.closed_at >= datetime(2025, 1, 1, tzinfo=UTC))
            .where(Deal.closed_at < datetime(2026, 10, 1, tzinfo=UTC))
        ).scalar_one()
        quota = session.scalar(
            select(func.sum(Quota.amount_cents)).where(
                Quota.user_id.is_not(None),
                Quota.period_start >= date(2025, 1, 1),
                Quota.period_start < date(2026, 10, 1),
            )
        )
    assert quota is not None
    assert 0.7 <= won / quota <= 1.1


def test_org_has_leaders_teams_leavers_and_ramping_hires(demo: BuiltDemo) -> None:
    with Session(demo.engine) as session:
        users = session.scalars(select(User)).all()
        teams = session.scalars(select(Team).order_by(Team.id)).all()
        handovers = session.scalars(
            select(DealHistory).where(DealHistory.changed_fields.contains("owner"))
        ).all()
    roles = [u.role for u in users]
    assert roles.count(Role.ADMIN) == 1 and roles.count(Role.MANAGER) == 4
    director = teams[0]
    assert [t.parent_id for t in teams[1:]] == [director.id] * 3
    leavers = {u.id: u for u in users if u.left_at is not None}
    assert leavers and all(not u.active for u in leavers.values())
    assert any(u.hired_at > WINDOW_START + timedelta(days=200) for u in users if u.active)
    assert handovers
    assert len({u.password_hash for u in users}) == 1
    assert verify_password(users[0].password_hash or "", DEMO_PASSWORD)
    assert {u.email.split("@")[1] for u in users} == {"topline-demo.example"}
    assert len(demo.summary.logins) == 8


def test_leavers_hand_their_open_deals_over_when_they_go(demo: BuiltDemo) -> None:
    with Session(demo.engine) as session:
        left_at: dict[int, datetime] = {
            user.id: user.left_at
            for user in session.scalars(select(User))
            if user.left_at is not None
        }
        rows = session.scalars(
            select(DealHistory).order_by(DealHistory.deal_id, DealHistory.valid_from)
        ).all()
    handed = 0
    for before, after in itertools.pairwise(rows):
        if before.deal_id == after.deal_id and "owner" in after.changed_fields:
            assert before.owner_id in left_at
            assert after.valid_from >= left_at[before.owner_id]
            assert after.owner_id not in left_at or left_at[after.owner_id] > after.valid_from
            handed += 1
    assert handed > 0


def test_leads_flow_through_the_funnel(demo: BuiltDemo) -> None:
    with Session(demo.engine) as session:
        leads = session.scalars(select(Lead)).all()
        deals = {d.id: d for d in session.scalars(select(Deal))}
        contacts = {c.id: c for c in session.scalars(select(Contact))}
    converted = [lead for lead in leads if lead.status == "converted"]
    assert len(converted) > 0.1 * len(leads)
    for lead in converted:
        assert lead.mql_at and lead.sql_at and lead.converted_at
        assert lead.mql_at <= lead.sql_at <= lead.converted_at
        assert lead.converted_deal_id and lead.converted_contact_id
        deal = deals[lead.converted_deal_id]
        contact = contacts[lead.converted_contact_id]
        assert deal.created_at == lead.converted_at
        assert deal.account_id == lead.converted_account_id == contact.account_id
        assert contact.last_name == lead.last_name
    for lead in leads:
        if lead.sql_at is not None:
            assert lead.bant_count >= 3
        if lead.status == "disqualified":
            assert lead.disqualification_reason and lead.disqualified_at
        else:
            assert lead.disqualification_reason is None
    assert {lead.status.value for lead in leads} == {s.value for s in LeadStatus}


def test_won_deals_get_more_meetings_and_replies(demo: BuiltDemo) -> None:
    with Session(demo.engine) as session:
        stage_type = dict(session.execute(select(Deal.id, Stage.type).join(Stage)).all())
        activities = session.scalars(select(Activity).where(Activity.deal_id.is_not(None))).all()
    meetings: dict[StageType, int] = defaultdict(int)
    for activity in activities:
        assert activity.deal_id is not None
        if activity.type == ActivityType.MEETING:
            meetings[stage_type[activity.deal_id]] += 1
        is_email = activity.type == ActivityType.EMAIL
        assert (activity.email_opened is not None) == is_email
        if activity.email_replied:
            assert activity.email_opened
    deals_of: dict[StageType, int] = defaultdict(int)
    for kind in stage_type.values():
        deals_of[kind] += 1
    per_won = meetings[StageType.WON] / deals_of[StageType.WON]
    per_lost = meetings[StageType.LOST] / deals_of[StageType.LOST]
    assert per_won > 2 * per_lost
    assert 3 <= len(activities) / len(stage_type) <= 8


def test_wins_bunch_up_at_quarter_end(demo: BuiltDemo) -> None:
    with Session(demo.engine) as session:
        closed = [
            moment
            for moment in session.scalars(
                select(Deal.closed_at).join(Stage).where(Stage.type == StageType.WON)
            )
            if moment is not None
        ]
    quarter_ends = [_next_quarter(date(c.year, 3 * ((c.month - 1) // 3) + 1, 1)) for c in closed]
    last_two_weeks = [
        c for c, end in zip(closed, quarter_ends, strict=True) if (end - c.date()).days <= 14
    ]
    # Without a quarter-end push about 15 % of wins would land in the last two weeks.
    assert len(last_two_weeks) / len(closed) > 0.25


def test_every_rep_and_manager_submits_forecasts(demo: BuiltDemo) -> None:
    with Session(demo.engine) as session:
        submitters = set(session.scalars(select(ForecastSubmission.user_id).distinct()))
        people = set(session.scalars(select(User.id).where(User.role != Role.ADMIN)))
        submissions = session.scalars(select(ForecastSubmission)).all()
    assert submitters == people
    assert all(s.commit_cents <= s.best_case_cents <= s.pipeline_cents for s in submissions)
    assert any(s.user_id != s.submitted_by_id for s in submissions)


def test_indexes_and_foreign_keys_are_restored(demo: BuiltDemo) -> None:
    inspector = inspect(demo.engine)
    for table in ("deals", "deal_history", "activities", "leads", "contacts", "accounts"):
        dialect = demo.engine.dialect.name
        indexes = Base.metadata.tables[table].indexes
        expected = {index.name for index in indexes if exists_on(index, dialect)}
        assert {index["name"] for index in inspector.get_indexes(table)} == expected
        foreign = {fk.name for fk in Base.metadata.tables[table].foreign_key_constraints}
        assert {fk["name"] for fk in inspector.get_foreign_keys(table)} == foreign
    if demo.engine.dialect.name == "sqlite":
        with demo.engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_the_build_leaves_full_planner_statistics(demo: BuiltDemo) -> None:
    built = demo.summary
    with demo.engine.connect() as connection:
        counted = {
            table: analyzed_rows(connection, table)
            for table in ("deals", "deal_history", "activities", "leads", "accounts")
        }

    # Every row counted, not a sample's estimate.
    assert counted == {
        "deals": built.deals,
        "deal_history": built.history_rows,
        "activities": built.activities,
        "leads": built.leads,
        "accounts": built.accounts,
    }


def test_services_keep_working_on_the_demo_data(demo: BuiltDemo) -> None:
    """Ids were assigned by the loader; new records get fresh ids from the database."""
    with demo.engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        rep = session.scalars(select(User).where(User.role == Role.REP, User.active)).first()
        assert rep is not None
        deal = create_deal(
            session,
            actor=rep,
            name="Follow-on",
            owner=rep,
            amount_cents=1_000_00,
            close_date=AS_OF.date() + timedelta(days=30),
            at=AS_OF,
        )
        assert deal.id == demo.summary.deals + 1
        session.close()
        transaction.rollback()


def test_a_second_build_into_the_same_database_is_refused(demo: BuiltDemo) -> None:
    with pytest.raises(Conflict, match="empty database"):
        build_demo(demo.engine, size="tiny")


def test_unknown_size_is_invalid_input(demo: BuiltDemo) -> None:
    with pytest.raises(InvalidInput, match="unknown demo size"):
        build_demo(demo.engine, size="huge")


def _digest(engine: Engine) -> str:
    """A fingerprint of deals, history, activities, leads and quotas."""
    digest = hashlib.sha256()
    with Session(engine) as session:
        for model in (Deal, DealHistory, Activity, Lead, Quota, ForecastSubmission):
            table = model.__table__
            for row in session.execute(select(table).order_by(table.c.id)):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def test_same_seed_gives_the_same_org_and_another_seed_another(
    demo: BuiltDemo, tmp_path_factory: pytest.TempPathFactory
) -> None:
    backend = demo.engine.dialect.name
    digests = []
    for purpose, seed in (("seed_a", 7), ("seed_b", 7), ("seed_c", 8)):
        engine = fresh_engine(backend, tmp_path_factory.mktemp(purpose), purpose)
        summary = build_demo(engine, size="tiny", seed=seed)
        assert summary.deals == 300
        digests.append(_digest(engine))
        engine.dispose()
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]

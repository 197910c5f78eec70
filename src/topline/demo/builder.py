"""Build a demo org: simulate two years of a sales team and bulk-load it into an empty database.

What is simulated, in order: the people (`people`: an admin, a director, three segment
managers and their reps, with hires who ramp up and leavers who hand over their book); the
leads funnel (`leads`); where deals come from (`deals`: seasonal, growing, capacity-bound
pipeline creation, accounts by segment from `accounts`); then, batch by batch, how each deal
plays out (`lifecycle`), the history rows that records (`history`) and the touches logged on it
(`activities`); finally quotas and weekly forecast calls set from the bookings (`plans`).
Everything draws from numpy generators seeded with `seed`, so a build is reproducible.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import Engine, func, inspect, select, update
from sqlalchemy.orm import Session

from topline.auth.models import Organization, Team, User
from topline.auth.passwords import hash_password
from topline.clock import ensure_utc
from topline.crm.models import Account, Deal, DealStay
from topline.crm.pipelines import create_pipeline, list_stages
from topline.crm.stays import rebuild_stays
from topline.demo.accounts import Accounts, account_frame, contact_frame, plan_accounts
from topline.demo.activities import activity_frame, lead_touches
from topline.demo.batch import Tally, World, simulate_batch
from topline.demo.calendar import HISTORY_DAYS, Ints, Timeline, build_timeline
from topline.demo.config import SIZES, SizeSpec
from topline.demo.deals import (
    DealPlan,
    LeadDeals,
    attach_accounts,
    contacts_of,
    deal_counts,
    plan_deals,
    sample_reps,
)
from topline.demo.frames import frame_length
from topline.demo.leads import Leads, lead_frame, lead_people, simulate_leads
from topline.demo.loader import BulkLoader, bulk_load, vacuum_analyze
from topline.demo.names import Objects, company_names
from topline.demo.people import Org, build_org
from topline.demo.plans import forecast_rows, quota_rows, window_quarters
from topline.errors import Conflict, InvalidInput
from topline.forecasting.models import ForecastSubmission
from topline.quotas.models import Quota
from topline.storage.migrate import upgrade_database

DEMO_PASSWORD = "topline-demo"
DEFAULT_AS_OF = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ORGANIZATION_NAME = "Northwind Analytics"
BATCH_DEALS = 100_000
BIG_TABLES = ("accounts", "contacts", "deals", "deal_history", "activities", "leads")
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DemoLogin:
    """A demo user worth signing in as (all use `DEMO_PASSWORD`)."""

    email: str
    name: str
    role: str


@dataclass(frozen=True)
class DemoSummary:
    """What a demo build created and how long it took."""

    size: str
    seed: int
    deals: int
    history_rows: int
    activities: int
    leads: int
    accounts: int
    users: int
    as_of: datetime
    logins: list[DemoLogin]
    seconds: float


@dataclass(frozen=True)
class _Sales:
    """The simulated org before loading: people, leads, accounts and the deal plan."""

    org: Org
    leads: Leads
    lead_owner_ids: Ints
    converted: Ints
    """Positions of the converted leads; a converted lead's number among them links it."""
    people: tuple[Objects, Objects, Objects]
    """First names, last names and titles of the leads."""
    plan: DealPlan
    deal_of_lead: Ints
    accounts: Accounts
    companies: tuple[Objects, Objects]
    """Names and domains: the accounts' first, then one per lead."""
    world: World


def build_demo(
    engine: Engine,
    *,
    size: str = "small",
    seed: int = 42,
    as_of: datetime | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Fill an empty database with a realistic sales org and its last two years of selling.

    Sizes: "small" (~2k deals), "medium" (~60k), "large" (~1M); "tiny" (~300) is for tests.
    The same seed and `as_of` give the same data. `progress(phase, done, total)` reports the
    phases simulate, deals, accounts, leads, quotas and indexes. Raises `InvalidInput` for an
    unknown size and `Conflict` when the database already has users (or deals or accounts).
    """
    spec = SIZES.get(size)
    if spec is None:
        raise InvalidInput(f"unknown demo size {size!r}; choose one of {', '.join(SIZES)}")
    moment = ensure_utc(as_of).replace(microsecond=0) if as_of else DEFAULT_AS_OF
    started = time.perf_counter()
    report: Progress = progress or (lambda phase, done, total: None)
    _check_empty(engine)
    timeline = build_timeline(moment)
    report("simulate", 0, 1)
    sales = _simulate(seed, spec, timeline)
    report("simulate", 1, 1)
    password_hash = hash_password(DEMO_PASSWORD)
    with bulk_load(engine, BIG_TABLES, report) as loader:
        _load_people(loader, sales.org, password_hash)
        world = _with_pipeline(loader, sales.world)
        tally = _load_deals(loader, seed, sales, world, report)
        _load_accounts(loader, seed, sales, report)
        tally.activities += _load_leads(loader, seed, sales, timeline, tally.activities + 1)
        report("leads", 1, 1)
        _load_plans(loader, seed, sales.org, tally, timeline, report)
    _build_stays(engine, report)
    people = {person.id: person for person in sales.org.people}
    return DemoSummary(
        size=spec.name,
        seed=seed,
        deals=tally.deals,
        history_rows=tally.history_rows,
        activities=tally.activities,
        leads=len(sales.leads.created_b),
        accounts=len(sales.accounts.segment),
        users=len(sales.org.people),
        as_of=moment,
        logins=[
            DemoLogin(people[i].email, people[i].name, people[i].role.value)
            for i in sales.org.login_ids
        ],
        seconds=time.perf_counter() - started,
    )


def _build_stays(engine: Engine, report: Progress) -> None:
    """The deals' stays (`DealStay`), worked out from the loaded history, with statistics."""
    report("stays", 0, 1)
    with Session(engine) as session:
        rebuild_stays(session)
        session.commit()
    with engine.connect() as connection:
        vacuum_analyze(connection, [DealStay.__tablename__])
    report("stays", 1, 1)


def _check_empty(engine: Engine) -> None:
    """Migrate a blank database; refuse one that already holds an org."""
    if not inspect(engine).has_table("alembic_version"):
        upgrade_database(engine)
    with engine.connect() as connection:
        counts = {
            model.__tablename__: connection.scalar(select(func.count()).select_from(model))
            for model in (User, Account, Deal)
        }
    if any(counts.values()):
        found = ", ".join(f"{n} {table}" for table, n in counts.items() if n)
        raise Conflict(f"the demo needs an empty database, but this one has {found}")


def _rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent random stream per part of the simulation, so parts do not shift
    each other's draws."""
    return np.random.default_rng([seed, *stream])


def _simulate(seed: int, spec: SizeSpec, timeline: Timeline) -> _Sales:
    """People, leads, the deal plan and accounts; deals themselves play out per batch."""
    org = build_org(_rng(seed, 1), spec, timeline)
    leads = simulate_leads(_rng(seed, 2), spec.deals, timeline)
    owners = sample_reps(_rng(seed, 3), org.reps, leads.segment, leads.last_b)
    converted = np.flatnonzero(leads.converted)
    counts = deal_counts(spec.deals, len(converted))
    lead_deals = LeadDeals(
        converted_b=leads.steps_b[converted, 3],
        segment=leads.segment[converted],
        source=leads.source[converted],
        owner=owners[converted],
    )
    plan, deal_of_lead = plan_deals(_rng(seed, 4), timeline, org.reps, counts, lead_deals)
    accounts = plan_accounts(
        _rng(seed, 5), timeline, counts, (lead_deals.segment, lead_deals.converted_b)
    )
    from_lead = np.flatnonzero(accounts.lead >= 0)
    lead_account = np.zeros(len(converted), dtype=np.int64)
    lead_account[accounts.lead[from_lead]] = from_lead
    plan = attach_accounts(_rng(seed, 6), plan, accounts, lead_account)
    names = company_names(_rng(seed, 7).permutation(len(accounts.segment) + len(owners)))
    world = World(
        timeline=timeline,
        reps=org.reps,
        manager_of_rep=org.team_manager_ids[org.reps.team],
        accounts=accounts,
        account_names=names[0][: len(accounts.segment)],
        contact_of_deal=contacts_of(_rng(seed, 8), plan, accounts),
        stage_ids=np.zeros(8, dtype=np.int64),
        pipeline_id=0,
        activity_scale=spec.activity_scale,
    )
    owner_ids = org.reps.user_id[owners]
    people = lead_people(_rng(seed, 11), len(owners))
    return _Sales(
        org=org,
        leads=leads,
        lead_owner_ids=owner_ids,
        converted=converted,
        people=people,
        plan=plan,
        deal_of_lead=deal_of_lead,
        accounts=accounts,
        companies=names,
        world=world,
    )


def _load_people(loader: BulkLoader, org: Org, password_hash: str) -> None:
    """The organisation, its teams and users (teams get their managers once users exist)."""
    loader.insert_rows(
        Organization,
        [{"id": 1, "name": ORGANIZATION_NAME, "currency": "USD", "fiscal_year_start_month": 1}],
    )
    loader.insert_rows(
        Team,
        [
            {"id": t.id, "name": t.name, "manager_id": None, "parent_id": t.parent_id}
            for t in org.teams
        ],
    )
    loader.insert_rows(
        User,
        [
            {
                "id": p.id,
                "email": p.email,
                "name": p.name,
                "role": p.role,
                "manager_id": p.manager_id,
                "team_id": p.team_id,
                "password_hash": password_hash,
                "hired_at": p.hired_at,
                "left_at": p.left_at,
                "active": p.left_at is None,
                "created_at": p.created_at,
            }
            for p in org.people
        ],
    )
    for team in org.teams:
        loader.connection.execute(
            update(Team).where(Team.id == team.id).values(manager_id=team.manager_id)
        )


def _with_pipeline(loader: BulkLoader, world: World) -> World:
    """Create the default pipeline through the CRM service; return the world with its ids."""
    with Session(bind=loader.connection) as session:
        pipeline = create_pipeline(session, name="Sales", is_default=True)
        stage_ids = np.zeros(8, dtype=np.int64)
        for stage in list_stages(session, pipeline.id):
            stage_ids[stage.position] = stage.id
        return replace(world, pipeline_id=pipeline.id, stage_ids=stage_ids)


def _load_deals(
    loader: BulkLoader, seed: int, sales: _Sales, world: World, report: Progress
) -> Tally:
    """Simulate and load the deals batch by batch, with their history and activities."""
    timeline = world.timeline
    reps = len(sales.org.reps.user_id)
    tally = Tally(
        won_by_quarter=np.zeros((reps, len(timeline.quarter_starts))),
        booked_by_day=np.zeros((reps, HISTORY_DAYS + 2)),
    )
    total = len(sales.plan)
    for batch, start in enumerate(range(0, total, BATCH_DEALS)):
        stop = min(start + BATCH_DEALS, total)
        rng = _rng(seed, 100, batch)
        rows = simulate_batch(rng, world, sales.plan.rows(start, stop), start + 1, tally)
        loader.insert_frame("deals", rows.deals)
        loader.insert_frame("deal_history", rows.history)
        activities = activity_frame(rng, rows.touches, tally.activities + 1)
        loader.insert_frame("activities", activities)
        tally.activities += frame_length(activities)
        report("deals", stop, total)
    return tally


def _load_accounts(loader: BulkLoader, seed: int, sales: _Sales, report: Progress) -> None:
    """Accounts owned by whoever now holds their latest deal, and their contacts."""
    accounts, plan, reps = sales.accounts, sales.plan, sales.org.reps
    n = len(accounts.segment)
    latest = np.full(n, -1, dtype=np.int64)
    np.maximum.at(latest, plan.account, np.arange(len(plan)))
    rng = _rng(seed, 9)
    now = np.full(n, sales.world.timeline.as_of_b)
    owner = sample_reps(rng, reps, accounts.segment, now)
    has_deal = latest >= 0
    owner[has_deal] = reps.final_owner()[plan.owner[latest[has_deal]]]
    names = (sales.companies[0][:n], sales.companies[1][:n])
    loader.insert_frame(
        "accounts", account_frame(rng, accounts, names=names, owners=reps.user_id[owner])
    )
    report("accounts", 1, 2)
    first, last, title = (values[sales.converted] for values in sales.people)
    contacts = contact_frame(rng, accounts, domains=names[1], lead_people=(first, last, title))
    loader.insert_frame("contacts", contacts)
    report("accounts", 2, 2)


def _load_leads(
    loader: BulkLoader, seed: int, sales: _Sales, timeline: Timeline, first_activity_id: int
) -> int:
    """Leads with their links to what conversion created, and the touches that worked them.

    Returns how many activities were added.
    """
    leads, accounts = sales.leads, sales.accounts
    n, n_accounts = len(leads.created_b), len(accounts.segment)
    names = sales.companies[0][n_accounts:].copy(), sales.companies[1][n_accounts:].copy()
    from_lead = np.flatnonzero(accounts.lead >= 0)
    converted = sales.converted[accounts.lead[from_lead]]
    for mine, theirs in zip(names, sales.companies, strict=True):
        mine[converted] = theirs[from_lead]
    links = np.full((3, n), -1, dtype=np.int64)
    links[0, converted] = from_lead + 1
    links[1, converted] = accounts.contact_start[from_lead]
    links[2, sales.converted] = sales.deal_of_lead + 1
    rng = _rng(seed, 10)
    frame = lead_frame(
        rng,
        leads,
        owners=sales.lead_owner_ids,
        people=sales.people,
        company=names,
        links=(links[0], links[1], links[2]),
        timeline=timeline,
    )
    loader.insert_frame("leads", frame)
    touches = lead_touches(rng, leads, sales.lead_owner_ids, timeline)
    activities = activity_frame(rng, touches, first_activity_id)
    loader.insert_frame("activities", activities)
    return frame_length(activities)


def _load_plans(
    loader: BulkLoader, seed: int, org: Org, tally: Tally, timeline: Timeline, report: Progress
) -> None:
    """Quotas for every rep and team per quarter, and the weekly forecast calls."""
    quarters = window_quarters(org, timeline)
    loader.insert_rows(Quota, quota_rows(org, tally, quarters, timeline))
    report("quotas", 1, 2)
    forecasts = forecast_rows(_rng(seed, 12), org, tally, quarters, timeline)
    loader.insert_rows(ForecastSubmission, forecasts)
    report("quotas", 2, 2)

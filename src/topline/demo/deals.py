"""Where deals come from: when each is created, for which account, by whom, and how big.

Pipeline creation follows the season, the growth of the business and the capacity of each
team (ramping reps create less, leavers none). Most deals start in Prospecting; deals from a
converted lead start in Qualification at the moment of conversion; the pipeline imported at
go-live starts spread over the open stages. Deals are numbered in order of creation.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
from numpy.typing import NDArray

from topline.demo.accounts import Accounts, pick_accounts
from topline.demo.calendar import Floats, Ints, Timeline
from topline.demo.config import (
    AMOUNT_MEDIAN_CENTS,
    AMOUNT_SIGMA,
    DEAL_SOURCES,
    IMPORTED_SHARE,
    NEW_BUSINESS_SOURCE_WEIGHTS,
    SEGMENT_DEAL_SHARE,
    SUBSCRIPTION_SHARE,
    TYPE_AMOUNT_FACTOR,
    TYPE_SHARE,
)
from topline.demo.names import LEAD_SOURCES, Objects, as_objects
from topline.demo.people import Reps

Bools = NDArray[np.bool_]
CUSTOMER_SUCCESS = DEAL_SOURCES.index("Customer success")
LEAD_DEAL_ENTRY_STAGE = 2
IMPORTED_STAGE_WEIGHTS = np.array([0.30, 0.25, 0.20, 0.15, 0.10])
OWNER_CHUNK = 100_000


@dataclass(frozen=True)
class DealPlan:
    """The starting facts of every deal, sorted by creation time (id = position + 1)."""

    created_b: Floats
    segment: Ints
    deal_type: Ints
    entry_stage: Ints
    owner: Ints
    """Rep number of the owner at creation."""
    account: Ints
    """Account position (id - 1); contacts come from its committee."""
    amount_cents: Floats
    """Amount at creation, before rounding; the simulation revises it."""
    source: Objects
    lead: Ints
    """Position of the converted lead the deal came from, -1 for other deals."""
    subscription: Bools

    def __len__(self) -> int:
        return len(self.created_b)

    def rows(self, start: int, stop: int) -> DealPlan:
        """The plan of deals at positions `start..stop` (one simulation batch)."""
        return DealPlan(**{f.name: getattr(self, f.name)[start:stop] for f in fields(self)})


@dataclass(frozen=True)
class LeadDeals:
    """The deals converted leads create: when, in which segment, from which source, by whom."""

    converted_b: Floats
    segment: Ints
    source: Ints
    owner: Ints


def deal_counts(total: int, lead_deals: int) -> Ints:
    """How many deals not from leads each segment gets (the rest of `total`)."""
    others = max(total - lead_deals, 0)
    counts: Ints = np.floor(SEGMENT_DEAL_SHARE * others).astype(np.int64)
    counts[0] += others - int(counts.sum())
    return counts


def sample_reps(rng: np.random.Generator, reps: Reps, team: Ints, b: Floats) -> Ints:
    """A rep of each row's team, employed at time `b`, chosen in proportion to capacity."""
    result = np.zeros(len(b), dtype=np.int64)
    for t in range(3):
        members = reps.members(t)
        rows_of_team = np.flatnonzero(team == t)
        for start in range(0, len(rows_of_team), OWNER_CHUNK):
            rows = rows_of_team[start : start + OWNER_CHUNK]
            cumulative = np.cumsum(reps.capacity(b[rows], members), axis=1)
            draw = rng.random(len(rows)) * cumulative[:, -1]
            chosen = (cumulative <= draw[:, None]).sum(axis=1)
            result[rows] = members[np.minimum(chosen, len(members) - 1)]
    return result


def plan_deals(
    rng: np.random.Generator,
    timeline: Timeline,
    reps: Reps,
    counts: Ints,
    leads: LeadDeals,
) -> tuple[DealPlan, Ints]:
    """Plan the deals not from leads (`counts` per segment) plus one per converted lead.

    Returns the plan without accounts (filled by `attach_accounts`) and, per converted lead,
    the position of its deal.
    """
    segment = np.repeat(np.arange(3), counts)
    created = np.zeros(len(segment))
    for s in range(3):
        rows = np.flatnonzero(segment == s)
        grid = np.arange(timeline.window_days, dtype=np.float64)
        capacity = reps.capacity(grid, reps.members(s)).sum(axis=1)
        created[rows] = timeline.sample_days(rng, len(rows), timeline.creation_weights() * capacity)
    imported = rng.random(len(segment)) < IMPORTED_SHARE
    created[imported] = rng.uniform(0.0, 2.0, int(imported.sum()))
    entry = np.where(imported, 1 + rng.choice(5, len(segment), p=IMPORTED_STAGE_WEIGHTS), 1)
    deal_type = rng.choice(3, len(segment), p=TYPE_SHARE)
    source = np.where(
        deal_type == 0,
        rng.choice(len(DEAL_SOURCES), len(segment), p=NEW_BUSINESS_SOURCE_WEIGHTS),
        CUSTOMER_SUCCESS,
    )
    owner = sample_reps(rng, reps, segment, created)
    n_leads = len(leads.converted_b)
    all_created = np.concatenate([created, leads.converted_b])
    order = np.argsort(all_created, kind="stable")
    all_segment = np.concatenate([segment, leads.segment])[order]
    all_type = np.concatenate([deal_type, np.zeros(n_leads, dtype=np.int64)])[order]
    sources = np.concatenate(
        [as_objects(DEAL_SOURCES)[source], as_objects(LEAD_SOURCES)[leads.source]]
    )
    lead = np.concatenate([np.full(len(segment), -1), np.arange(n_leads)])[order]
    plan = DealPlan(
        created_b=all_created[order],
        segment=all_segment,
        deal_type=all_type,
        entry_stage=np.concatenate([entry, np.full(n_leads, LEAD_DEAL_ENTRY_STAGE)])[order],
        owner=np.concatenate([owner, leads.owner])[order],
        account=np.zeros(len(order), dtype=np.int64),
        amount_cents=_amounts(rng, all_segment, all_type),
        source=sources[order],
        lead=lead,
        subscription=rng.random(len(order)) < _subscription_share(all_segment, all_type),
    )
    deal_of_lead = np.zeros(n_leads, dtype=np.int64)
    deal_of_lead[lead[lead >= 0]] = np.flatnonzero(lead >= 0)
    return plan, deal_of_lead


def _amounts(rng: np.random.Generator, segment: Ints, deal_type: Ints) -> Floats:
    """Opening amounts: lognormal around the segment's median, scaled by deal type."""
    median = AMOUNT_MEDIAN_CENTS[segment] * TYPE_AMOUNT_FACTOR[deal_type]
    result: Floats = median * rng.lognormal(0.0, AMOUNT_SIGMA[segment])
    return result


def _subscription_share(segment: Ints, deal_type: Ints) -> Floats:
    """Chance a deal is a subscription: renewals always, others mostly."""
    result: Floats = np.where(deal_type == 2, 1.0, SUBSCRIPTION_SHARE[segment])
    return result


def attach_accounts(
    rng: np.random.Generator, plan: DealPlan, accounts: Accounts, lead_account: Ints
) -> DealPlan:
    """The plan with an account for every deal: its lead's account for converted leads, an
    existing customer for expansions and renewals, a prospect for other new business."""
    account = pick_accounts(rng, accounts, plan.segment, plan.deal_type > 0, plan.created_b)
    from_lead = plan.lead >= 0
    account[from_lead] = lead_account[plan.lead[from_lead]]
    return replace(plan, account=account)


def contacts_of(rng: np.random.Generator, plan: DealPlan, accounts: Accounts) -> Ints:
    """The deal's main contact: the decision maker or champion (a lead deal: the lead)."""
    first = accounts.contact_start[plan.account]
    has_two = accounts.contact_count[plan.account] > 1
    second = has_two & (rng.random(len(plan)) < 0.5)
    result: Ints = np.where(plan.lead >= 0, first, first + second)
    return result

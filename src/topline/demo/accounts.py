"""Accounts by segment and region, with contacts in buying roles.

Most accounts were already in the CRM at go-live, some of them customers (they get expansion
and renewal deals); prospects keep arriving during the window, and every converted lead adds
an account of its own. Accounts and their contacts are numbered in order of creation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from topline.crm.enums import BuyingRole
from topline.demo.calendar import SECONDS_PER_DAY, Floats, Ints, Timeline
from topline.demo.config import (
    CONTACTS_BASE,
    CONTACTS_EXTRA_MEAN,
    DEALS_PER_ACCOUNT,
    SEGMENTS,
    TEAM_NAMES,
)
from topline.demo.frames import Column, Frame, Kind
from topline.demo.leads import employee_counts
from topline.demo.names import (
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    REGION_WEIGHTS,
    REGIONS,
    TITLES_BY_ROLE,
    Objects,
    as_objects,
    countries,
    enum_values,
    phone_numbers,
    pick,
)

Bools = NDArray[np.bool_]
ROLES = (
    BuyingRole.DECISION_MAKER,
    BuyingRole.CHAMPION,
    BuyingRole.INFLUENCER,
    BuyingRole.BLOCKER,
    BuyingRole.USER,
)
CUSTOMER_SHARE = 0.45
IN_WINDOW_SHARE = 0.2


@dataclass(frozen=True)
class Accounts:
    """All accounts sorted by creation (id = position + 1) and where their contacts start."""

    segment: Ints
    created_b: Floats
    """Business time of creation; negative for accounts older than the window."""
    created_seconds: Ints
    customer: Bools
    lead: Ints
    """Index of the lead whose conversion created the account, -1 for the others."""
    region: Ints
    contact_start: Ints
    """Id of each account's first contact; its contacts have consecutive ids."""
    contact_count: Ints


def plan_accounts(
    rng: np.random.Generator,
    timeline: Timeline,
    deals_per_segment: Ints,
    lead_accounts: tuple[Ints, Floats],
) -> Accounts:
    """Create the account book: prospects and customers per segment plus lead accounts.

    `lead_accounts` are the segment and conversion time of each converted lead, in lead order.
    """
    pool = np.ceil(deals_per_segment / DEALS_PER_ACCOUNT).astype(np.int64) + 2
    segment = np.repeat(np.arange(3), pool)
    n_pool = len(segment)
    in_window = rng.random(n_pool) < IN_WINDOW_SHARE
    # The first two accounts of each segment are old, one customer and one prospect, so every
    # deal always finds an account of its kind.
    firsts = np.concatenate([[0], np.cumsum(pool)[:-1]])
    in_window[firsts] = in_window[firsts + 1] = False
    customer = ~in_window & (rng.random(n_pool) < CUSTOMER_SHARE)
    customer[firsts], customer[firsts + 1] = True, False
    days_before = rng.uniform(30, 4 * 365, n_pool)
    created_b = np.where(in_window, rng.uniform(0, timeline.window_days, n_pool), -days_before)
    start_seconds = int(timeline.start.timestamp())
    old_seconds = start_seconds - (days_before * SECONDS_PER_DAY).astype(np.int64)
    seconds = np.where(in_window, timeline.seconds(np.maximum(created_b, 0)), old_seconds)
    lead_segment, lead_b = lead_accounts
    all_b = np.concatenate([created_b, lead_b])
    order = np.argsort(all_b, kind="stable")
    segments = np.concatenate([segment, lead_segment])[order]
    counts = _contact_counts(rng, segments)
    return Accounts(
        segment=segments,
        created_b=all_b[order],
        created_seconds=np.concatenate([seconds, timeline.seconds(lead_b)])[order],
        customer=np.concatenate([customer, np.zeros(len(lead_b), dtype=bool)])[order],
        lead=np.concatenate([np.full(n_pool, -1), np.arange(len(lead_b))])[order],
        region=rng.choice(len(REGIONS), len(order), p=REGION_WEIGHTS),
        contact_start=1 + np.concatenate([[0], np.cumsum(counts)[:-1]]),
        contact_count=counts,
    )


def _contact_counts(rng: np.random.Generator, segment: Ints) -> Ints:
    """Size of each account's buying committee: bigger companies, more people."""
    result: Ints = CONTACTS_BASE[segment] + rng.poisson(CONTACTS_EXTRA_MEAN[segment])
    return result.astype(np.int64)


def pick_accounts(
    rng: np.random.Generator,
    accounts: Accounts,
    segment: Ints,
    customer: Bools,
    created_b: Floats,
) -> Ints:
    """An account for each deal: of its segment, a customer for expansions and renewals,
    a prospect for new business, and already in the CRM when the deal is created."""
    result = np.zeros(len(segment), dtype=np.int64)
    for s in range(3):
        for is_customer in (False, True):
            rows = np.flatnonzero((segment == s) & (customer == is_customer))
            candidates = np.flatnonzero(
                (accounts.segment == s) & (accounts.customer == is_customer) & (accounts.lead < 0)
            )
            existing = np.searchsorted(accounts.created_b[candidates], created_b[rows], "right")
            chosen = np.floor(rng.random(len(rows)) * np.maximum(existing, 1)).astype(np.int64)
            result[rows] = candidates[chosen]
    return result


def account_frame(
    rng: np.random.Generator,
    accounts: Accounts,
    *,
    names: tuple[Objects, Objects],
    owners: Ints,
) -> Frame:
    """The accounts as rows; `names` are their names and domains, `owners` user ids."""
    n = len(accounts.segment)
    employees = employee_counts(rng, accounts.segment)
    revenue_per_employee = rng.lognormal(np.log(200_000.0), 0.4, n)
    region_names = as_objects(REGIONS)[accounts.region]
    revenue = (employees * revenue_per_employee * 100).astype(np.int64)
    postal_codes = as_objects(tuple(f"{p:05d}" for p in rng.integers(1_000, 99_999, n)))
    territories = as_objects(TEAM_NAMES)[accounts.segment] + " " + region_names
    return [
        Column("id", Kind.INT, np.arange(1, n + 1)),
        Column("name", Kind.TEXT, names[0]),
        Column("domain", Kind.TEXT, names[1]),
        Column("industry", Kind.TEXT, pick(rng, INDUSTRIES, n)),
        Column("segment", Kind.TEXT, enum_values(SEGMENTS)[accounts.segment]),
        Column("employees", Kind.INT, employees),
        Column("annual_revenue_cents", Kind.INT, revenue),
        Column("country", Kind.TEXT, countries(rng, accounts.region)),
        Column("region", Kind.TEXT, region_names),
        Column("postal_code", Kind.TEXT, postal_codes),
        Column("territory", Kind.TEXT, territories),
        Column("owner_id", Kind.INT, owners),
        Column("created_at", Kind.TIMESTAMP, accounts.created_seconds),
    ]


def contact_frame(
    rng: np.random.Generator,
    accounts: Accounts,
    *,
    domains: Objects,
    lead_people: tuple[Objects, Objects, Objects],
) -> Frame:
    """Contacts of every account. A lead account's first contact is the converted lead
    (first name, last name, title in `lead_people`, by lead index), its champion."""
    account = np.repeat(np.arange(len(accounts.segment)), accounts.contact_count)
    n = len(account)
    position = np.arange(n) - (accounts.contact_start[account] - 1)
    from_lead = accounts.lead[account] >= 0
    role = _roles(rng, position, from_lead)
    first, last = pick(rng, FIRST_NAMES, n), pick(rng, LAST_NAMES, n)
    title = np.empty(n, dtype=object)
    for r, titles in enumerate(TITLES_BY_ROLE):
        rows = np.flatnonzero(role == r)
        title[rows] = pick(rng, titles, len(rows))
    lead_rows = np.flatnonzero(from_lead & (position == 0))
    lead_index = accounts.lead[account[lead_rows]]
    first[lead_rows] = lead_people[0][lead_index]
    last[lead_rows] = lead_people[1][lead_index]
    title[lead_rows] = lead_people[2][lead_index]
    emails = as_objects(tuple(f"{f}.{la}@".lower() for f, la in zip(first, last, strict=True)))
    return [
        Column("id", Kind.INT, np.arange(1, n + 1)),
        Column("account_id", Kind.INT, account + 1),
        Column("first_name", Kind.TEXT, first),
        Column("last_name", Kind.TEXT, last),
        Column("email", Kind.TEXT, emails + domains[account]),
        Column("phone", Kind.TEXT, phone_numbers(rng, n)),
        Column("title", Kind.TEXT, title),
        Column("buying_role", Kind.TEXT, enum_values(ROLES)[role]),
        Column("created_at", Kind.TIMESTAMP, accounts.created_seconds[account]),
    ]


def _roles(rng: np.random.Generator, position: Ints, from_lead: Bools) -> Ints:
    """Buying role per contact: a decision maker and a champion first, then the others.

    The converted lead of a lead account is its champion, followed by the decision maker.
    """
    others = rng.choice([2, 4, 3], len(position), p=[0.5, 0.35, 0.15])
    first_two = np.where(from_lead, 1 - position, position)
    return np.where(position < 2, first_two, others)

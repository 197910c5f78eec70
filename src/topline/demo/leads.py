"""Leads flowing through the funnel: new, worked, MQL, SQL, then converted or disqualified.

Marketing generates leads with seasonal and campaign peaks. Reps work most of them within a
day or two; about half become marketing-qualified, about half of those sales-qualified (with at
least three of the four BANT criteria confirmed), and most SQLs convert into an account, a
contact and a first deal. Leads that stall are disqualified with a reason. Leads whose next step
lies after `as_of` keep the status they have at `as_of`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from topline.crm.enums import LeadStatus
from topline.demo.calendar import Floats, Ints, Timeline
from topline.demo.frames import Column, Frame, Kind
from topline.demo.names import (
    DISQUALIFICATION_REASONS,
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    LEAD_SOURCE_WEIGHTS,
    LEAD_SOURCES,
    LEAD_TITLES,
    REGION_WEIGHTS,
    REGIONS,
    Objects,
    as_objects,
    enum_values,
    phone_numbers,
    pick,
)
from topline.demo.names import countries as countries_of

Bools = NDArray[np.bool_]

STATUSES = (
    LeadStatus.NEW,
    LeadStatus.WORKING,
    LeadStatus.MQL,
    LeadStatus.SQL,
    LeadStatus.CONVERTED,
    LeadStatus.DISQUALIFIED,
)
CONVERTED, DISQUALIFIED = 4, 5
LEADS_PER_DEAL = 0.5
LEAD_SEGMENT_SHARE = np.array([0.62, 0.28, 0.10])
# Chance to move on from each funnel step: worked, MQL, SQL, converted.
FUNNEL_PROBABILITY = np.array([0.90, 0.55, 0.55, 0.80])
# Median business days from the previous step to each step.
FUNNEL_DAYS = np.array([1.0, 4.0, 6.0, 4.0])
# Business days a stalled lead waits before it is disqualified, after each step reached.
DISQUALIFY_DAYS = np.array([30.0, 8.0, 10.0, 12.0])
# Disqualification reasons (indices into DISQUALIFICATION_REASONS) by the last step reached.
DISQUALIFY_REASONS = ((0,), (0, 1, 3, 4, 5), (1, 2, 6, 0), (2, 6))
EMPLOYEES = ((40.0, 0.8, 5, 199), (600.0, 0.6, 200, 1_999), (8_000.0, 0.9, 2_000, 200_000))


@dataclass(frozen=True)
class Leads:
    """Simulated leads sorted by creation (id = position + 1); step times are NaN until done."""

    created_b: Floats
    steps_b: Floats
    """Business time of each step reached by `as_of`: worked, MQL, SQL, converted (n x 4)."""
    disqualified_b: Floats
    reason: Ints
    segment: Ints
    source: Ints
    region: Ints
    employees: Ints

    @property
    def converted(self) -> Bools:
        """Leads converted into an account, a contact and a deal by `as_of`."""
        result: Bools = ~np.isnan(self.steps_b[:, 3])
        return result

    @property
    def last_b(self) -> Floats:
        """When each lead last changed status (its owner works it at that time)."""
        times = np.column_stack([self.created_b, self.steps_b, self.disqualified_b])
        result: Floats = np.nanmax(times, axis=1)
        return result

    def status(self) -> Ints:
        """Status code (index into `STATUSES`) of each lead at `as_of`."""
        reached = (~np.isnan(self.steps_b)).sum(axis=1)
        result: Ints = np.where(np.isnan(self.disqualified_b), reached, DISQUALIFIED)
        return result


def simulate_leads(rng: np.random.Generator, deals: int, timeline: Timeline) -> Leads:
    """Generate the leads of the window and walk each through the funnel up to `as_of`."""
    n = round(deals * LEADS_PER_DEAL)
    weights = timeline.creation_weights()
    # Campaign weeks (webinars, trade shows) bring bursts of leads.
    for start in rng.integers(0, max(1, timeline.window_days - 5), 8):
        weights[start : start + 5] *= 2.5
    created = timeline.sample_days(rng, n, weights)
    steps = np.full((n, 4), np.nan)
    previous = created
    alive = np.ones(n, dtype=bool)
    last_step = np.full(n, -1)
    for step in range(4):
        moves = alive & (rng.random(n) < FUNNEL_PROBABILITY[step])
        at = previous + rng.lognormal(np.log(FUNNEL_DAYS[step]), 0.6, n)
        steps[moves, step] = at[moves]
        last_step = np.where(moves, step, last_step)
        previous = np.where(moves, at, previous)
        alive = moves
    stalled = last_step < 3
    wait = DISQUALIFY_DAYS[np.maximum(last_step, 0)] * rng.lognormal(0.0, 0.4, n)
    disqualified = np.where(stalled, previous + wait, np.nan)
    reason = _reasons(rng, last_step)
    limit = timeline.as_of_b
    steps[steps > limit] = np.nan
    disqualified[disqualified > limit] = np.nan
    segment = rng.choice(3, n, p=LEAD_SEGMENT_SHARE)
    return Leads(
        created_b=created,
        steps_b=steps,
        disqualified_b=disqualified,
        reason=np.where(np.isnan(disqualified), -1, reason),
        segment=segment,
        source=rng.choice(len(LEAD_SOURCES), n, p=LEAD_SOURCE_WEIGHTS),
        region=rng.choice(len(REGIONS), n, p=REGION_WEIGHTS),
        employees=employee_counts(rng, segment),
    )


def _reasons(rng: np.random.Generator, last_step: Ints) -> Ints:
    """A disqualification reason fitting the last funnel step each lead reached."""
    reason = np.full(len(last_step), -1)
    for step, choices in enumerate(DISQUALIFY_REASONS):
        rows = np.flatnonzero(np.maximum(last_step, 0) == step)
        reason[rows] = np.array(choices)[rng.integers(0, len(choices), len(rows))]
    return reason


def lead_people(rng: np.random.Generator, n: int) -> tuple[Objects, Objects, Objects]:
    """First names, last names and job titles of `n` leads."""
    return pick(rng, FIRST_NAMES, n), pick(rng, LAST_NAMES, n), pick(rng, LEAD_TITLES, n)


def employee_counts(rng: np.random.Generator, segment: Ints) -> Ints:
    """Headcount of companies in each segment (lognormal within the segment's band)."""
    result = np.zeros(len(segment), dtype=np.int64)
    for s, (median, sigma, low, high) in enumerate(EMPLOYEES):
        rows = np.flatnonzero(segment == s)
        drawn = rng.lognormal(np.log(median), sigma, len(rows))
        result[rows] = np.clip(np.round(drawn), low, high).astype(np.int64)
    return result


def bant_flags(rng: np.random.Generator, leads: Leads) -> Bools:
    """Budget, authority, need, timeline (n x 4): SQLs confirm at least three of them."""
    n = len(leads.created_b)
    qualified = ~np.isnan(leads.steps_b[:, 2])
    marketing = ~np.isnan(leads.steps_b[:, 1])
    flags = rng.random((n, 4)) < np.where(marketing, 0.35, 0.1)[:, None]
    missing = np.where(rng.random(n) < 0.4, -1, rng.integers(0, 4, n))
    full = np.arange(4)[None, :] != missing[:, None]
    flags[qualified] = full[qualified]
    return flags


def lead_frame(
    rng: np.random.Generator,
    leads: Leads,
    *,
    owners: Ints,
    people: tuple[Objects, Objects, Objects],
    company: tuple[Objects, Objects],
    links: tuple[Ints, Ints, Ints],
    timeline: Timeline,
) -> Frame:
    """The leads as rows: person, company, funnel timestamps, BANT and conversion links.

    `owners` are user ids, `people` first names, last names and titles, `company` names and
    domains per lead, `links` the account, contact and deal ids each converted lead created
    (-1 for the others).
    """
    n = len(leads.created_b)
    first, last, title = people
    emails = _lower(first + "." + last + "@") + company[1]
    status = leads.status()
    flags = bant_flags(rng, leads)
    score = np.clip(status.clip(max=4) * 18 + 15 + rng.normal(0, 10, n), 0, 100)
    countries = countries_of(rng, leads.region)
    account, contact, deal = links
    moments = [leads.steps_b[:, k] for k in (1, 2, 3)] + [leads.disqualified_b]
    return [
        Column("id", Kind.INT, np.arange(1, n + 1)),
        Column("first_name", Kind.TEXT, first),
        Column("last_name", Kind.TEXT, last),
        Column("email", Kind.TEXT, emails),
        Column("phone", Kind.TEXT, phone_numbers(rng, n)),
        Column("title", Kind.TEXT, title),
        Column("company", Kind.TEXT, company[0]),
        Column("company_domain", Kind.TEXT, company[1]),
        Column("industry", Kind.TEXT, pick(rng, INDUSTRIES, n)),
        Column("employees", Kind.INT, leads.employees),
        Column("country", Kind.TEXT, countries),
        Column("region", Kind.TEXT, as_objects(REGIONS)[leads.region]),
        Column("source", Kind.TEXT, as_objects(LEAD_SOURCES)[leads.source]),
        Column("status", Kind.TEXT, enum_values(STATUSES)[status]),
        Column("bant_budget", Kind.BOOL, flags[:, 0]),
        Column("bant_authority", Kind.BOOL, flags[:, 1]),
        Column("bant_need", Kind.BOOL, flags[:, 2]),
        Column("bant_timeline", Kind.BOOL, flags[:, 3]),
        Column("score", Kind.FLOAT, np.round(score, 1)),
        Column("owner_id", Kind.INT, owners),
        Column("created_at", Kind.TIMESTAMP, timeline.seconds(leads.created_b)),
        *(_moment_column(name, b, timeline) for name, b in zip(_MOMENTS, moments, strict=True)),
        Column("disqualification_reason", Kind.TEXT, _reason_texts(leads.reason)),
        Column("converted_account_id", Kind.INT, account, account < 0),
        Column("converted_contact_id", Kind.INT, contact, contact < 0),
        Column("converted_deal_id", Kind.INT, deal, deal < 0),
    ]


# The worked step has no column of its own: the status `working` records it.
_MOMENTS = ("mql_at", "sql_at", "converted_at", "disqualified_at")


def _moment_column(name: str, b: Floats, timeline: Timeline) -> Column:
    """A nullable timestamp column from business times (NaN = not happened)."""
    missing = np.isnan(b)
    return Column(name, Kind.TIMESTAMP, timeline.seconds(np.nan_to_num(b)), missing)


def _reason_texts(reason: Ints) -> Objects:
    """Disqualification reasons as text, None where the lead is not disqualified."""
    texts = as_objects((*DISQUALIFICATION_REASONS, None))
    return texts[np.where(reason < 0, len(DISQUALIFICATION_REASONS), reason)]


def _lower(values: Objects) -> Objects:
    """Lowercase each string of an object array."""
    return as_objects(tuple(str(v).lower() for v in values))

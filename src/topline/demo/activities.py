"""Calls, emails, meetings, notes and tasks logged on deals and leads.

Touches grow with how far a deal got: every stage brings more calls and emails, won deals
have markedly more meetings, and enterprise deals more of everything. Each touch happens
while the deal is open, by whoever owned it then, with a contact of its account. Emails carry
engagement: opened, and of those clicked or replied (more replies on deals that were won).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from topline.crm.enums import ActivityType
from topline.demo.accounts import Accounts
from topline.demo.calendar import Floats, Ints, Timeline
from topline.demo.config import WON_STAGE
from topline.demo.deals import DealPlan
from topline.demo.frames import Column, Frame, Kind
from topline.demo.leads import Leads
from topline.demo.lifecycle import Ownership
from topline.demo.names import (
    CALL_OUTCOMES,
    CALL_SUBJECTS,
    EMAIL_SUBJECTS,
    MEETING_OUTCOMES,
    MEETING_SUBJECTS,
    NOTE_BODIES,
    NOTE_SUBJECTS,
    TASK_SUBJECTS,
    as_objects,
    enum_values,
    pick,
)

Bools = NDArray[np.bool_]
TYPES = (
    ActivityType.CALL,
    ActivityType.EMAIL,
    ActivityType.MEETING,
    ActivityType.NOTE,
    ActivityType.TASK,
)
CALL, EMAIL, MEETING, NOTE, TASK = range(5)
# Touches per deal: a base, more per stage reached, more again when won (per type).
BASE_RATE = np.array([0.45, 0.75, 0.05, 0.0, 0.05])
STAGE_RATE = np.array([0.35, 0.45, 0.25, 0.1, 0.15])
WON_RATE = np.array([0.5, 0.5, 0.9, 0.1, 0.1])
SEGMENT_RATE = np.array([0.8, 1.0, 1.4])


@dataclass(frozen=True)
class Touches:
    """Activities to store: type, when, by whom, on which deal, contact, account or lead."""

    type: Ints
    seconds: Ints
    user_id: Ints
    deal_id: Ints
    contact_id: Ints
    account_id: Ints
    lead_id: Ints
    won: Bools
    """Whether the deal was won (won deals get more email replies)."""


def deal_touches(
    rng: np.random.Generator,
    plan: DealPlan,
    *,
    first_id: int,
    depth: Ints,
    ended_b: Floats,
    ownership: Ownership,
    accounts: Accounts,
    user_ids: Ints,
    scale: float,
    timeline: Timeline,
) -> Touches:
    """Touches on a batch of deals (ids from `first_id`) that reached stage `depth` (6 = won)
    and were worked until `ended_b`."""
    won = depth == WON_STAGE
    rates = BASE_RATE + np.minimum(depth, 5)[:, None] * STAGE_RATE + won[:, None] * WON_RATE
    counts = rng.poisson(rates * SEGMENT_RATE[plan.segment][:, None] * scale)
    deal = np.repeat(np.tile(np.arange(len(plan)), 5), counts.T.ravel())
    kind = np.repeat(np.repeat(np.arange(5), len(plan)), counts.T.ravel())
    start = plan.created_b[deal]
    at = start + rng.random(len(deal)) * (ended_b[deal] - start)
    owner = plan.owner[deal]
    for step in range(ownership.change_b.shape[1]):
        handed = at >= ownership.change_b[deal, step]
        owner = np.where(handed, ownership.owner_after[deal, step], owner)
    account = plan.account[deal]
    contact = accounts.contact_start[account] + np.floor(
        rng.random(len(deal)) * accounts.contact_count[account]
    ).astype(np.int64)
    order = np.argsort(at, kind="stable")
    return Touches(
        type=kind[order],
        seconds=timeline.seconds(at[order]),
        user_id=user_ids[owner[order]],
        deal_id=first_id + deal[order],
        contact_id=contact[order],
        account_id=account[order] + 1,
        lead_id=np.full(len(deal), -1),
        won=won[deal[order]],
    )


def lead_touches(
    rng: np.random.Generator, leads: Leads, owner_ids: Ints, timeline: Timeline
) -> Touches:
    """Calls and emails with worked leads, between being picked up and the last status."""
    worked = np.flatnonzero(~np.isnan(leads.steps_b[:, 0]))
    counts = 1 + rng.poisson(0.8, len(worked))
    lead = np.repeat(worked, counts)
    start, end = leads.steps_b[lead, 0], np.maximum(leads.last_b[lead], leads.steps_b[lead, 0])
    at = start + rng.random(len(lead)) * (end - start)
    order = np.argsort(at, kind="stable")
    n = len(lead)
    return Touches(
        type=np.where(rng.random(n) < 0.5, CALL, EMAIL)[order],
        seconds=timeline.seconds(at[order]),
        user_id=owner_ids[lead[order]],
        deal_id=np.full(n, -1),
        contact_id=np.full(n, -1),
        account_id=np.full(n, -1),
        lead_id=lead[order] + 1,
        won=np.zeros(n, dtype=bool),
    )


def activity_frame(rng: np.random.Generator, touches: Touches, first_id: int) -> Frame:
    """The touches as activity rows with subjects, durations, outcomes and engagement."""
    n = len(touches.type)
    kind = touches.type
    subject = np.empty(n, dtype=object)
    for t, subjects in enumerate(
        (CALL_SUBJECTS, EMAIL_SUBJECTS, MEETING_SUBJECTS, NOTE_SUBJECTS, TASK_SUBJECTS)
    ):
        rows = np.flatnonzero(kind == t)
        subject[rows] = pick(rng, subjects, len(rows))
    body = np.full(n, None, dtype=object)
    notes = np.flatnonzero(kind == NOTE)
    body[notes] = pick(rng, NOTE_BODIES, len(notes))
    call_minutes = np.clip(np.round(rng.lognormal(np.log(6.0), 0.7, n)), 1, 60)
    meeting_minutes = rng.choice([30, 45, 60], n, p=[0.5, 0.2, 0.3])
    duration = np.where(kind == CALL, call_minutes, meeting_minutes).astype(np.int64)
    outcome = np.full(n, None, dtype=object)
    calls, meetings = np.flatnonzero(kind == CALL), np.flatnonzero(kind == MEETING)
    outcome[calls] = as_objects(CALL_OUTCOMES)[rng.choice(3, len(calls), p=[0.45, 0.35, 0.2])]
    outcome[meetings] = as_objects(MEETING_OUTCOMES)[(rng.random(len(meetings)) < 0.1) * 1]
    outcome[kind == TASK] = "Completed"
    is_email = kind == EMAIL
    opened = rng.random(n) < np.where(touches.won, 0.6, 0.45)
    clicked = opened & (rng.random(n) < 0.3)
    replied = opened & (rng.random(n) < np.where(touches.won, 0.4, 0.25))
    return [
        Column("id", Kind.INT, np.arange(first_id, first_id + n)),
        Column("type", Kind.TEXT, enum_values(TYPES)[kind]),
        Column("subject", Kind.TEXT, subject),
        Column("body", Kind.TEXT, body),
        Column("occurred_at", Kind.TIMESTAMP, touches.seconds),
        Column("user_id", Kind.INT, touches.user_id),
        Column("deal_id", Kind.INT, touches.deal_id, touches.deal_id < 0),
        Column("contact_id", Kind.INT, touches.contact_id, touches.contact_id < 0),
        Column("account_id", Kind.INT, touches.account_id, touches.account_id < 0),
        Column("lead_id", Kind.INT, touches.lead_id, touches.lead_id < 0),
        Column("duration_minutes", Kind.INT, duration, (kind != CALL) & (kind != MEETING)),
        Column("outcome", Kind.TEXT, outcome),
        Column("email_opened", Kind.BOOL, opened, ~is_email),
        Column("email_clicked", Kind.BOOL, clicked, ~is_email),
        Column("email_replied", Kind.BOOL, replied, ~is_email),
        Column("created_at", Kind.TIMESTAMP, touches.seconds),
    ]

"""The people of the demo org: RevOps admin, director, three segment managers and their reps.

Most reps were hired before the window and are fully productive. A few join during it and ramp
up over about six months; a few leave, handing their book to a teammate, and are backfilled.
Each rep has a skill (how well they win) and a forecasting bias (above 1 calls too high,
below 1 sandbags) that the simulation and the forecast calls use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from topline.auth.enums import Role
from topline.demo.calendar import Floats, Ints, Timeline
from topline.demo.config import RAMP_DAYS, TEAM_NAMES, SizeSpec
from topline.demo.names import FIRST_NAMES, LAST_NAMES

EMAIL_DOMAIN = "topline-demo.example"
DIRECTOR_TEAM_ID = 1


@dataclass(frozen=True)
class Person:
    """A demo user as stored: identity, role, place in the org and employment dates."""

    id: int
    email: str
    name: str
    role: Role
    manager_id: int | None
    team_id: int | None
    hired_at: datetime
    left_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class TeamRow:
    """A team as stored: the director's org at the top, one team per segment below it."""

    id: int
    name: str
    manager_id: int
    parent_id: int | None


@dataclass(frozen=True)
class Reps:
    """The reps as arrays indexed by rep number, for the vectorized simulation."""

    user_id: Ints
    team: Ints
    hired_b: Floats
    left_b: Floats
    """Business time the rep left, `inf` for reps still employed."""
    skill: Floats
    bias: Floats
    successor: Ints
    """Rep number who takes over the book of a leaver, -1 for reps who stay."""

    def capacity(self, b: Floats, members: Ints) -> Floats:
        """How much pipeline each of `members` can carry at business times `b` (rows).

        Zero before hire and after leaving; ramps from 15 % to 100 % over `RAMP_DAYS`.
        """
        times = b[:, None]
        ramp = np.clip((times - self.hired_b[members]) / RAMP_DAYS, 0.15, 1.0)
        active = (times >= self.hired_b[members]) & (times < self.left_b[members])
        result: Floats = ramp * active
        return result

    def members(self, team: int) -> Ints:
        """Rep numbers of one segment team."""
        result: Ints = np.flatnonzero(self.team == team)
        return result

    def final_owner(self) -> Ints:
        """For each rep, who holds their book at the end (following successors of leavers)."""
        final = np.arange(len(self.user_id))
        for _ in range(len(final)):
            moved = self.successor[final] >= 0
            if not moved.any():
                break
            final = np.where(moved, self.successor[final], final)
        return final


@dataclass(frozen=True)
class Org:
    """Everyone in the demo org, its teams, and the reps as simulation arrays."""

    people: list[Person]
    teams: list[TeamRow]
    reps: Reps
    team_manager_ids: Ints
    """User id of the manager of each segment team."""
    manager_bias: Floats
    """Forecast bias of each segment manager, then of the director (last)."""
    login_ids: list[int]


def build_org(rng: np.random.Generator, size: SizeSpec, timeline: Timeline) -> Org:
    """Hire the org: leaders first, then each team's reps with hires, leavers and backfills."""
    names = _unique_names(rng, 5 + 2 * sum(size.reps_per_team))
    leaders = _leaders(rng, names, timeline)
    reps = _reps(rng, size, timeline)
    manager_ids = np.array([3, 4, 5], dtype=np.int64)
    people = leaders + _rep_people(reps, names, manager_ids, timeline)
    teams = [TeamRow(DIRECTOR_TEAM_ID, "Sales", 2, None)] + [
        TeamRow(DIRECTOR_TEAM_ID + 1 + t, name, int(manager_ids[t]), DIRECTOR_TEAM_ID)
        for t, name in enumerate(TEAM_NAMES)
    ]
    return Org(
        people=people,
        teams=teams,
        reps=reps,
        team_manager_ids=manager_ids,
        manager_bias=np.clip(rng.normal(1.0, 0.08, 4), 0.85, 1.15),
        login_ids=[1, 2, 3, 4, 5, *_login_reps(reps)],
    )


def _unique_names(rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    """`n` distinct (first, last) names."""
    picks = rng.choice(len(FIRST_NAMES) * len(LAST_NAMES), size=n, replace=False)
    return [(FIRST_NAMES[p % len(FIRST_NAMES)], LAST_NAMES[p // len(FIRST_NAMES)]) for p in picks]


def _person(
    user_id: int,
    name: tuple[str, str],
    role: Role,
    timeline: Timeline,
    *,
    hired_at: datetime,
    manager_id: int | None = None,
    team_id: int | None = None,
    left_at: datetime | None = None,
) -> Person:
    """A person whose record was created at go-live, or at hire for later hires."""
    return Person(
        id=user_id,
        email=f"{name[0]}.{name[1]}@{EMAIL_DOMAIN}".lower(),
        name=f"{name[0]} {name[1]}",
        role=role,
        manager_id=manager_id,
        team_id=team_id,
        hired_at=hired_at,
        left_at=left_at,
        created_at=max(hired_at, timeline.start),
    )


def _leaders(
    rng: np.random.Generator, names: list[tuple[str, str]], timeline: Timeline
) -> list[Person]:
    """The RevOps admin, the director and the three segment managers, all long-tenured."""
    hired = [_before_window(rng, timeline) for _ in range(5)]
    leaders = [
        _person(1, names[0], Role.ADMIN, timeline, hired_at=hired[0]),
        _person(2, names[1], Role.MANAGER, timeline, hired_at=hired[1], team_id=DIRECTOR_TEAM_ID),
    ]
    leaders += [
        _person(
            3 + t,
            names[2 + t],
            Role.MANAGER,
            timeline,
            hired_at=hired[2 + t],
            manager_id=2,
            team_id=DIRECTOR_TEAM_ID + 1 + t,
        )
        for t in range(3)
    ]
    return leaders


def _before_window(rng: np.random.Generator, timeline: Timeline) -> datetime:
    """A hire date between five years and one month before the window opens, at 14:00."""
    days = int(rng.integers(30, 5 * 365))
    moment = timeline.start - timedelta(days=days)
    return moment.replace(hour=14, minute=0, second=0, microsecond=0)


def _reps(rng: np.random.Generator, size: SizeSpec, timeline: Timeline) -> Reps:
    """Reps of every team: tenured ones, growth hires, leavers and the backfills of leavers."""
    team: list[int] = []
    hired: list[float] = []
    left: list[float] = []
    successor_of: list[int] = []
    for t, seats in enumerate(size.reps_per_team):
        changes = max(1, round(0.12 * seats))
        tenured = seats - changes
        first = len(team)
        for _ in range(tenured):
            days_before = float(rng.integers(30, 5 * 365))
            team.append(t)
            hired.append(-days_before * 5 / 7)
            left.append(np.inf)
        leavers = first + rng.choice(tenured, changes, replace=False)
        for leaver in leavers:
            left[leaver] = float(rng.uniform(60, timeline.window_days - 90))
            team.append(t)
            hired.append(left[leaver] + float(rng.uniform(15, 40)))
            left.append(np.inf)
        for _ in range(changes):
            team.append(t)
            hired.append(float(rng.uniform(30, timeline.window_days - 40)))
            left.append(np.inf)
        successor_of.extend(int(x) for x in leavers)
    reps = Reps(
        user_id=np.arange(6, 6 + len(team), dtype=np.int64),
        team=np.array(team, dtype=np.int64),
        hired_b=np.array(hired),
        left_b=np.array(left),
        skill=np.clip(rng.lognormal(0.0, 0.12, len(team)), 0.75, 1.35),
        bias=np.clip(rng.normal(1.0, 0.15, len(team)), 0.7, 1.4),
        successor=np.full(len(team), -1, dtype=np.int64),
    )
    for leaver in sorted(successor_of):
        reps.successor[leaver] = _successor(rng, reps, leaver)
    return reps


def _successor(rng: np.random.Generator, reps: Reps, leaver: int) -> int:
    """The teammate, employed when `leaver` goes, who takes over the book (most ramped)."""
    members = reps.members(int(reps.team[leaver]))
    members = members[members != leaver]
    when = np.array([reps.left_b[leaver]])
    score = reps.capacity(when, members)[0] + rng.random(len(members)) * 1e-3
    return int(members[np.argmax(score)])


def _rep_people(
    reps: Reps, names: list[tuple[str, str]], manager_ids: Ints, timeline: Timeline
) -> list[Person]:
    """The reps as stored users, reporting to their segment manager."""
    people = []
    for i, user_id in enumerate(reps.user_id.tolist()):
        hired_b, left_b, team = float(reps.hired_b[i]), float(reps.left_b[i]), int(reps.team[i])
        if hired_b < 0:
            hired_at = timeline.start.replace(hour=14, minute=0, second=0, microsecond=0)
            hired_at -= timedelta(days=round(-hired_b * 7 / 5) + 1)
        else:
            hired_at = _moment_of(timeline, hired_b)
        people.append(
            _person(
                int(user_id),
                names[5 + i],
                Role.REP,
                timeline,
                hired_at=hired_at,
                manager_id=int(manager_ids[team]),
                team_id=DIRECTOR_TEAM_ID + 1 + team,
                left_at=_moment_of(timeline, left_b) if np.isfinite(left_b) else None,
            )
        )
    return people


def _moment_of(timeline: Timeline, b: float) -> datetime:
    """The UTC moment of one business time."""
    return timeline.moment(int(timeline.seconds(np.array([b]))[0]))


def _login_reps(reps: Reps) -> list[int]:
    """Three reps worth signing in as: the SMB top performer, the newest mid-market hire and
    the most optimistic enterprise forecaster, all still employed."""
    staying = ~np.isfinite(reps.left_b)
    picks = []
    for team, score in ((0, reps.skill), (1, reps.hired_b), (2, reps.bias)):
        candidates = np.flatnonzero(staying & (reps.team == team))
        picks.append(int(reps.user_id[candidates[np.argmax(score[candidates])]]))
    return picks

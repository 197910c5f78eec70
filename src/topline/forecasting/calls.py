"""The forecast call: each person's number for a period, as it stood at any moment.

A rep calls their own deals; a manager calls their whole reporting subtree. For every person
this module answers what their deals say (the prefill), what they called, how their manager
adjusted it, what the team below a manager adds up to (the roll-up), whether the call is
stale, and how far their past calls were from what they won (their bias). Everything is
rebuilt from `deal_history` and the submissions' `submitted_at`, so the call of any past day
can be shown as it was that day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from statistics import fmean
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select
from sqlalchemy.orm import Session, aliased

from topline import access
from topline.analytics.history import closed_as_of
from topline.analytics.periods import Period
from topline.analytics.reports import open_closing_in
from topline.auth.enums import Role
from topline.auth.models import User
from topline.clock import ensure_utc
from topline.crm.enums import ForecastCategory, StageType
from topline.errors import NotFound
from topline.forecasting.models import ForecastSubmission

STALE_DAYS = 7
"""A call not renewed within this many days before `as_of` is stale (weekly forecast calls)."""

BIAS_HORIZON_WEEKS = (0, 4, 8, 12)
"""Bias is measured on the call as it stood this many weeks after the period started."""

SANDBAGGER_BELOW = -0.10
"""A mean commit bias below this (calls under 90% of what was won) reads "sandbagger"."""

OPTIMISTIC_ABOVE = 0.10
"""A mean commit bias above this (calls over 110% of what was won) reads "optimistic"."""

# The open deals' categories that count toward a call; `omitted` counts toward nothing.
_CALL_CATEGORIES = (ForecastCategory.COMMIT, ForecastCategory.BEST_CASE, ForecastCategory.PIPELINE)


class BiasLabel(StrEnum):
    """A caller's habit, in plain words, from their mean commit bias."""

    SANDBAGGER = "sandbagger"
    ACCURATE = "accurate"
    OPTIMISTIC = "optimistic"


@dataclass(frozen=True)
class CallAmounts:
    """Commit, best case and pipeline of a call, cumulative: commit ≤ best case ≤ pipeline."""

    commit_cents: int
    best_case_cents: int
    pipeline_cents: int

    @classmethod
    def zero(cls) -> CallAmounts:
        return cls(0, 0, 0)

    @classmethod
    def of(cls, submission: ForecastSubmission) -> CallAmounts:
        """The amounts a submission calls."""
        return cls(submission.commit_cents, submission.best_case_cents, submission.pipeline_cents)

    def __add__(self, other: CallAmounts) -> CallAmounts:
        return CallAmounts(
            self.commit_cents + other.commit_cents,
            self.best_case_cents + other.best_case_cents,
            self.pipeline_cents + other.pipeline_cents,
        )


@dataclass(frozen=True)
class _Buckets:
    """What one owner's deals hold for a period: won so far, and open by category."""

    won: int = 0
    commit: int = 0
    best_case: int = 0
    pipeline: int = 0

    def __add__(self, other: _Buckets) -> _Buckets:
        return _Buckets(
            self.won + other.won,
            self.commit + other.commit,
            self.best_case + other.best_case,
            self.pipeline + other.pipeline,
        )

    def amounts(self) -> CallAmounts:
        commit = self.won + self.commit
        best_case = commit + self.best_case
        return CallAmounts(commit, best_case, best_case + self.pipeline)


# --- prefill -------------------------------------------------------------------------------


def prefill(session: Session, user: User, period: Period, as_of: datetime) -> CallAmounts:
    """What `user`'s deals said about the period at `as_of`: the call their data supports.

    Commit is what was won in the period so far plus open deals in the commit category; best
    case adds the best-case deals and pipeline adds the pipeline deals. Open deals count when
    their close date falls in the period; omitted deals never count. A rep's prefill covers
    the deals they owned at `as_of`; anyone else's covers their reporting subtree (themself
    and everyone below them), whatever their role. Deals are taken from their history, as
    they stood at `as_of`.
    """
    as_of = ensure_utc(as_of)
    owners: Select[Any] | list[int] = [user.id] if user.role == Role.REP else _subtree(user.id)
    totals = _owner_buckets(session, period, as_of, owners)
    return sum(totals.values(), _Buckets()).amounts()


def _subtree(user_id: int) -> Select[tuple[int]]:
    """The ids of `user_id` and everyone below them in the reporting line."""
    tree = select(User.id).where(User.id == user_id).cte("call_subtree", recursive=True)
    tree = tree.union_all(select(User.id).where(User.manager_id == tree.c.id))
    return select(tree.c.id)


def _owner_buckets(
    session: Session, period: Period, as_of: datetime, owners: Select[Any] | list[int]
) -> dict[int, _Buckets]:
    """Per owner at `as_of`: won in the period, and open deals closing in it by category."""
    won = closed_as_of(as_of, period.start_at, period.end_at)
    won_rows = session.execute(
        select(won.c.owner_id, func.sum(won.c.amount_cents))
        .where(won.c.stage_type == StageType.WON.value, won.c.owner_id.in_(owners))
        .group_by(won.c.owner_id)
    ).all()
    open_deals = open_closing_in(as_of, period)
    category = open_deals.c.forecast_category
    open_rows = session.execute(
        select(open_deals.c.owner_id, category, func.sum(open_deals.c.amount_cents))
        .where(
            open_deals.c.owner_id.in_(owners),
            category.in_([c.value for c in _CALL_CATEGORIES]),
        )
        .group_by(open_deals.c.owner_id, category)
    ).all()
    totals: dict[int, _Buckets] = defaultdict(_Buckets)
    for owner_id, cents in won_rows:
        totals[owner_id] += _Buckets(won=int(cents))
    for owner_id, called, cents in open_rows:
        totals[owner_id] += _Buckets(**{ForecastCategory(called).value: int(cents)})
    return totals


# --- calls ---------------------------------------------------------------------------------


def call_as_of(
    session: Session, user_id: int, period: Period, as_of: datetime
) -> ForecastSubmission | None:
    """The call that stood for `user_id`'s number at `as_of`: the latest submission for exactly
    this period (by them or by a manager adjusting it) made by then, or None."""
    stmt = (
        select(ForecastSubmission)
        .where(
            ForecastSubmission.user_id == user_id,
            ForecastSubmission.period_start == period.start,
            ForecastSubmission.period_end == period.end,
            ForecastSubmission.submitted_at <= ensure_utc(as_of),
        )
        .order_by(ForecastSubmission.submitted_at.desc(), ForecastSubmission.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def call_history(
    session: Session, user_id: int, period: Period, as_of: datetime
) -> list[ForecastSubmission]:
    """Every call submitted for `user_id`'s number in `period` up to `as_of` (their own and
    their managers' adjustments), newest first (one query)."""
    stmt = (
        select(ForecastSubmission)
        .where(
            ForecastSubmission.user_id == user_id,
            ForecastSubmission.period_start == period.start,
            ForecastSubmission.period_end == period.end,
            ForecastSubmission.submitted_at <= as_of,
        )
        .order_by(ForecastSubmission.submitted_at.desc(), ForecastSubmission.id.desc())
    )
    return list(session.scalars(stmt))


def _latest_calls(
    session: Session, user_ids: Sequence[int], period: Period, as_of: datetime
) -> dict[tuple[int, bool], ForecastSubmission]:
    """Per (person, submitted by themself?), their latest submission for the period by `as_of`:
    each person's own call and the latest adjustment of it by someone else."""
    own = ForecastSubmission.submitted_by_id == ForecastSubmission.user_id
    latest = (
        select(
            ForecastSubmission,
            func.row_number()
            .over(
                partition_by=(ForecastSubmission.user_id, own),
                order_by=(ForecastSubmission.submitted_at.desc(), ForecastSubmission.id.desc()),
            )
            .label("recency"),
        )
        .where(
            ForecastSubmission.user_id.in_(user_ids),
            ForecastSubmission.period_start == period.start,
            ForecastSubmission.period_end == period.end,
            ForecastSubmission.submitted_at <= as_of,
        )
        .subquery("latest_calls")
    )
    call = aliased(ForecastSubmission, latest)
    rows = session.scalars(select(call).where(latest.c.recency == 1))
    return {(row.user_id, row.submitted_by_id == row.user_id): row for row in rows}


# --- roll-up -------------------------------------------------------------------------------


@dataclass
class RollupNode:
    """One person in a forecast roll-up, with their reports below them.

    `own_call` is the person's latest own submission and `adjustment` the latest submission
    for their number by someone else (a manager); the later of the two is the effective call.
    `rollup` (for anyone who is not a rep) adds up the effective calls of their direct reports.
    """

    user: User
    own_call: ForecastSubmission | None
    adjustment: ForecastSubmission | None
    prefill: CallAmounts
    rollup: CallAmounts | None
    stale: bool
    bias: ForecastBias
    children: list[RollupNode] = field(default_factory=list)

    @property
    def effective_call(self) -> ForecastSubmission | None:
        """The call that counts: the later of the own call and the adjustment (submitted at
        the same moment: the one recorded last, as `call_as_of` takes it)."""
        own, adjusted = self.own_call, self.adjustment
        if own is None or adjusted is None:
            return adjusted or own
        return own if _recency(own) > _recency(adjusted) else adjusted


@dataclass(frozen=True)
class ForecastRollup:
    """A manager's forecast call tree for a period, as it stood at `as_of`."""

    manager_id: int
    period: Period
    as_of: datetime
    root: RollupNode


def _recency(submission: ForecastSubmission) -> tuple[datetime, int]:
    return (submission.submitted_at, submission.id)


def forecast_rollup(
    session: Session, viewer: User, manager: User, period: Period, as_of: datetime
) -> ForecastRollup:
    """The forecast call of `manager` and everyone below them, as it stood at `as_of`.

    One node per person in the reporting subtree, the manager at the root; the viewer sees
    only the people the access rule lets them see, and a manager outside that is `NotFound`.
    People who did not work in the period, have no call and no deals in it are left out. The
    reporting line is today's. A fixed number of queries, whatever the size of the team.
    """
    as_of = ensure_utc(as_of)
    people = _tree_people(session, viewer, manager.id)
    if manager.id not in people:
        raise NotFound(f"user {manager.id} not found")
    id_list = list(people)
    calls = _latest_calls(session, id_list, period, as_of)
    buckets = _owner_buckets(session, period, as_of, id_list)
    biases = forecast_bias(session, id_list, as_of)
    children: dict[int | None, list[User]] = defaultdict(list)
    for person in people.values():
        parent = person.manager_id if person.id != manager.id else None
        children[parent if parent in people else None].append(person)
    stale_before = _days_before(as_of, STALE_DAYS)

    def build(person: User) -> tuple[RollupNode, _Buckets]:
        built = [build(child) for child in sorted(children[person.id], key=_by_name)]
        subtree = sum((b for _, b in built), buckets.get(person.id, _Buckets()))
        own = calls.get((person.id, True))
        node = RollupNode(
            user=person,
            own_call=own,
            adjustment=calls.get((person.id, False)),
            prefill=(
                buckets.get(person.id, _Buckets()) if person.role == Role.REP else subtree
            ).amounts(),
            rollup=None,
            stale=own is None or own.submitted_at <= stale_before,
            bias=biases[person.id],
        )
        if person.role != Role.REP:
            node.rollup = sum(
                (CallAmounts.of(c) for n, _ in built if (c := n.effective_call)), CallAmounts.zero()
            )
        node.children = [n for n, _ in built if _worth_showing(n, period, as_of)]
        return node, subtree

    root, _ = build(people[manager.id])
    return ForecastRollup(manager_id=manager.id, period=period, as_of=as_of, root=root)


def _by_name(person: User) -> tuple[str, int]:
    return (person.name.casefold(), person.id)


def _tree_people(session: Session, viewer: User, manager_id: int) -> dict[int, User]:
    """The manager and everyone below them whom the viewer may see, by id (one query)."""
    subtree = _subtree(manager_id).subquery("rollup_people")
    stmt = access.scoped(select(User), User, viewer).where(User.id.in_(select(subtree.c.id)))
    return {person.id: person for person in session.scalars(stmt)}


def _worth_showing(node: RollupNode, period: Period, as_of: datetime) -> bool:
    """A person stays in the tree if they worked in the period (hired by `as_of` and before
    it ended, not gone before it began), have a call or deals in it, or someone below them
    stays."""
    person = node.user
    worked = (
        person.hired_at < period.end_at
        and person.hired_at <= as_of
        and (person.left_at is None or person.left_at > period.start_at)
    )
    has_deals = node.prefill != CallAmounts.zero()
    return worked or has_deals or node.effective_call is not None or bool(node.children)


def _days_before(moment: datetime, days: int) -> datetime:
    """`moment` minus `days`, or the earliest moment there is."""
    try:
        return moment - timedelta(days=days)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


# --- bias ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BiasStat:
    """The mean bias over `n` periods (None when there are none)."""

    mean: float | None
    n: int


@dataclass(frozen=True)
class BiasRow:
    """Bias of the call as it stood `horizon_weeks` after the period started, per category."""

    horizon_weeks: int
    commit: BiasStat
    best_case: BiasStat
    pipeline: BiasStat


@dataclass(frozen=True)
class ForecastBias:
    """How far a person's calls were from what was won, over their ended periods.

    `commit` pools every horizon's commit bias; `label` reads it in plain words (None without
    any history to judge).
    """

    user_id: int
    horizons: list[BiasRow]
    commit: BiasStat
    label: BiasLabel | None


@dataclass(frozen=True)
class BiasObservation:
    """One period at one horizon: the call then and the amount finally won."""

    horizon_weeks: int
    call: CallAmounts
    actual_cents: int


def bias_label(mean_commit_bias: float | None) -> BiasLabel | None:
    """The plain-words label of a mean commit bias: sandbagger below −10%, optimistic above
    +10%, else accurate; None without data."""
    if mean_commit_bias is None:
        return None
    if mean_commit_bias < SANDBAGGER_BELOW:
        return BiasLabel.SANDBAGGER
    if mean_commit_bias > OPTIMISTIC_ABOVE:
        return BiasLabel.OPTIMISTIC
    return BiasLabel.ACCURATE


def summarize_bias(user_id: int, observations: Iterable[BiasObservation]) -> ForecastBias:
    """Mean bias = (call − actual) / actual per category and horizon, over observations with
    something won (a period with nothing won has no defined bias and is skipped)."""
    by_horizon: dict[int, dict[str, list[float]]] = {
        h: {"commit": [], "best_case": [], "pipeline": []} for h in BIAS_HORIZON_WEEKS
    }
    for seen in observations:
        if seen.actual_cents == 0:
            continue
        lists = by_horizon[seen.horizon_weeks]
        for category, called in (
            ("commit", seen.call.commit_cents),
            ("best_case", seen.call.best_case_cents),
            ("pipeline", seen.call.pipeline_cents),
        ):
            lists[category].append((called - seen.actual_cents) / seen.actual_cents)
    rows = [
        BiasRow(h, _stat(lists["commit"]), _stat(lists["best_case"]), _stat(lists["pipeline"]))
        for h, lists in by_horizon.items()
    ]
    pooled = _stat([b for lists in by_horizon.values() for b in lists["commit"]])
    return ForecastBias(user_id, rows, pooled, bias_label(pooled.mean))


def _stat(values: Sequence[float]) -> BiasStat:
    return BiasStat(fmean(values) if values else None, len(values))


def forecast_bias(
    session: Session, user_ids: Sequence[int], as_of: datetime
) -> dict[int, ForecastBias]:
    """Each person's forecast bias over the periods that had ended by `as_of`.

    For every ended period the person called, and each horizon h of `BIAS_HORIZON_WEEKS`, the
    call is their effective call (own or adjusted, whichever was later) as it stood h weeks
    after the period started; the actual is what the deals their call covers (their own for a
    rep, their reporting subtree otherwise) won in the period, as known at `as_of`. Bias is
    (call − actual) / actual for commit, best case and pipeline, averaged over periods.
    Skipped: horizons at or past the period's end, horizons before the first call, and
    periods in which nothing was won (bias is undefined there). A fixed number of queries.
    """
    as_of = ensure_utc(as_of)
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    covered = _coverage(session, ids)
    calls = session.scalars(
        select(ForecastSubmission)
        .where(
            ForecastSubmission.user_id.in_(ids),
            ForecastSubmission.period_end <= as_of.date(),
            ForecastSubmission.submitted_at <= as_of,
        )
        .order_by(ForecastSubmission.submitted_at, ForecastSubmission.id)
    ).all()
    by_period: dict[tuple[int, date, date], list[ForecastSubmission]] = defaultdict(list)
    for call in calls:
        by_period[(call.user_id, call.period_start, call.period_end)].append(call)
    periods = sorted({(start, end) for _, start, end in by_period})
    owners = sorted({owner for members in covered.values() for owner in members})
    won = _won_by_period(session, periods, owners, as_of)
    observations: dict[int, list[BiasObservation]] = defaultdict(list)
    for (user_id, start, end), history in by_period.items():
        actual = sum(won.get((owner, start, end), 0) for owner in covered[user_id])
        for horizon in BIAS_HORIZON_WEEKS:
            standing = _call_at(history, _midnight(start) + timedelta(weeks=horizon), end)
            if standing is not None:
                observations[user_id].append(BiasObservation(horizon, standing, actual))
    return {user_id: summarize_bias(user_id, observations[user_id]) for user_id in ids}


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _call_at(
    history: Sequence[ForecastSubmission], moment: datetime, period_end: date
) -> CallAmounts | None:
    """The call standing at `moment` (history in submission order), if `moment` falls before
    the period's end."""
    if moment >= _midnight(period_end):
        return None
    standing = None
    for call in history:
        if call.submitted_at > moment:
            break
        standing = call
    return None if standing is None else CallAmounts.of(standing)


def _coverage(session: Session, user_ids: Sequence[int]) -> dict[int, set[int]]:
    """Whose deals each person's call covers: a rep's own, anyone else's reporting subtree."""
    deep = case((User.role == Role.REP.value, 0), else_=1)
    seed = select(User.id.label("root_id"), User.id.label("member_id"), deep.label("deep")).where(
        User.id.in_(user_ids)
    )
    tree = seed.cte("call_coverage", recursive=True)
    tree = tree.union_all(
        select(tree.c.root_id, User.id, literal(1))
        .join(User, User.manager_id == tree.c.member_id)
        .where(tree.c.deep == 1)
    )
    covered: dict[int, set[int]] = defaultdict(set)
    for root_id, member_id in session.execute(select(tree.c.root_id, tree.c.member_id)):
        covered[root_id].add(member_id)
    return covered


def _won_by_period(
    session: Session, periods: Sequence[tuple[date, date]], owners: Sequence[int], as_of: datetime
) -> dict[tuple[int, date, date], int]:
    """Won cents per (owner, period start, period end), as known at `as_of` (one query)."""
    if not periods or not owners:
        return {}
    won = closed_as_of(as_of, _midnight(periods[0][0]), _midnight(max(e for _, e in periods)))
    sums = [
        func.sum(case((_within(won.c.closed_at, start, end), won.c.amount_cents), else_=0))
        for start, end in periods
    ]
    rows = session.execute(
        select(won.c.owner_id, *sums)
        .where(won.c.stage_type == StageType.WON.value, won.c.owner_id.in_(owners))
        .group_by(won.c.owner_id)
    ).all()
    return {
        (row[0], start, end): int(row[i + 1] or 0)
        for row in rows
        for i, (start, end) in enumerate(periods)
    }


def _within(column: Any, start: date, end: date) -> ColumnElement[bool]:
    return and_(column >= _midnight(start), column < _midnight(end))

"""What was known about each open deal at a moment: the fields the win scorer learns from.

Every value comes from what was recorded by `as_of`: the deal's state is its `deal_history`
row current at `as_of` (never the `deals` table's stage, amount, close date, category or
owner, which are today's); its earlier rows give its changes; activities count only when they
occurred before `as_of`; closes count only before `as_of`; contacts only once created. So a
model trained on past moments never sees what happened after them, and the forecast uses the
same frame for open pipeline as of any moment. All aggregation runs in SQL, five queries for
any number of deals.

Fields not kept in the history are read as they are now: the deal's type and source, its
account (segment, industry, employees) and the owner's hiring date. They rarely change.
Contacts imported without a creation time carry the import's, so earlier moments see none.

The frame of `deal_features`, one row per deal open at `as_of` (order: by `deal_id`):

Identifiers and raw values (not learned from; the forecast reads them):
- `deal_id`, `owner_id` (owner at `as_of`), `account_id` (or missing), `stage_id`,
  `stage_position` (the stage's position in its pipeline), `close_date` (the expected close
  date at `as_of`, a `datetime.date`).

Learned from (`FEATURES`; categories are text, everything else a float, missing as NaN):
- `stage` (its name; the position would say the same again), `forecast_category`.
- `age_days`: whole UTC days since the deal was created; `days_in_stage`: since it entered its
  current stage; `days_since_change`: since its last recorded change.
- `amount_cents`; `amount_change_pct`: change since creation in percent (missing when created
  at zero); `amount_changes`: how many times it changed.
- `close_date_pushes`: how many changes moved the expected close date later while open;
  `days_to_close`: days from `as_of`'s UTC day to the expected close date (negative: overdue).
- `owner_win_rate`: the owner's share of deals won among their closes in the 365 days before
  `as_of`, shrunk towards the org's rate as if `OWNER_PRIOR_DEALS` more deals had closed at
  it (a new rep starts at the org's rate, not 0 or 1); `owner_closes`: those closes;
  `owner_tenure_days`: days since the owner was hired.
- `deal_type`, `source`, `segment`, `industry`, `employees`.
- Activities on the deal that occurred before `as_of`: `activities` (all), `activities_30d`,
  `activities_90d`, `meetings`, `emails`, `emails_opened`, `emails_clicked`, `emails_replied`,
  `contacts_engaged` (distinct contacts touched), `days_since_activity` (missing when none).
- Buying committee at the account, contacts created before `as_of`: `contacts`,
  `buying_roles` (distinct roles), `has_decision_maker`, `has_champion` (1 or 0).
- With `period_end`: `days_to_period_end`, days from `as_of`'s day to the period's end.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    String,
    and_,
    case,
    distinct,
    func,
    literal,
    select,
    true,
    type_coerce,
)
from sqlalchemy.orm import Session

from topline.analytics.history import closed_as_of, current_at
from topline.auth.models import User
from topline.clock import ensure_utc
from topline.crm.enums import ActivityType, BuyingRole, StageType
from topline.crm.models import Account, Activity, Contact, Deal, DealHistory, Stage
from topline.storage.sql import utc_days_between
from topline.storage.types import UTCDateTime

# The owner's win rate counts closes over this many days before the moment.
OWNER_WINDOW_DAYS = 365
# Pseudo-deals at the org's win rate added to each owner's record (a Beta prior): a rep with
# two closes is mostly the org's rate, one with fifty mostly their own.
OWNER_PRIOR_DEALS = 10

# A SELECT of any columns.
Query = Select[*tuple[Any, ...]]

IDENTIFIERS = ["deal_id", "owner_id", "account_id", "stage_id", "stage_position", "close_date"]
CATEGORICAL = ["stage", "forecast_category", "deal_type", "source", "segment", "industry"]
NUMERIC = [
    "age_days",
    "days_in_stage",
    "days_since_change",
    "amount_cents",
    "amount_change_pct",
    "amount_changes",
    "close_date_pushes",
    "days_to_close",
    "owner_win_rate",
    "owner_closes",
    "owner_tenure_days",
    "employees",
    "activities",
    "activities_30d",
    "activities_90d",
    "meetings",
    "emails",
    "emails_opened",
    "emails_clicked",
    "emails_replied",
    "contacts_engaged",
    "days_since_activity",
    "contacts",
    "buying_roles",
    "has_decision_maker",
    "has_champion",
]
FEATURES = CATEGORICAL + NUMERIC
PERIOD_FEATURE = "days_to_period_end"
# Columns of the features query read as text (or dates); the others are numbers.
TEXT_COLUMNS = frozenset([*CATEGORICAL, "close_date"])

# Counts that are zero, not unknown, for a deal without activities or contacts.
_ZERO_WHEN_ABSENT = [
    "amount_changes",
    "close_date_pushes",
    "activities",
    "activities_30d",
    "activities_90d",
    "meetings",
    "emails",
    "emails_opened",
    "emails_clicked",
    "emails_replied",
    "contacts_engaged",
    "contacts",
    "buying_roles",
    "has_decision_maker",
    "has_champion",
    "owner_closes",
]


def deal_features(
    session: Session,
    as_of: datetime,
    *,
    deal_ids: Collection[int] | None = None,
    period_end: date | None = None,
) -> pd.DataFrame:
    """The deals open at `as_of` as they stood then: one row each, columns as the module says.

    Args:
        deal_ids: only these deals (those of them open at `as_of`); meant for a few deals,
            such as the one an API request asks about.
        period_end: the first day after the period being forecast; adds `days_to_period_end`.
    """
    as_of = ensure_utc(as_of)
    state = _open_state(as_of, deal_ids)
    frame = _frame(session, _state_query(state, as_of), TEXT_COLUMNS)
    columns = [*IDENTIFIERS, *FEATURES]
    if frame.empty:
        result = pd.DataFrame({name: pd.Series(dtype=_dtype(name)) for name in columns})
    else:
        # Separate queries joined here: one statement joining the three aggregates ran a
        # sixth slower on SQLite (100k open deals).
        frame.index = pd.Index(frame["deal_id"].astype(np.int64))
        for query in (
            _changes_query(state, as_of),
            _activity_query(state, as_of),
            _committee_query(state, as_of),
        ):
            part = _frame(session, query)
            frame = frame.join(part.set_index(part.pop("deal_id").astype(np.int64)))
        rates, org_rate = _owner_rates(session, as_of)
        owners = frame["owner_id"].astype(np.int64)
        frame["owner_closes"] = owners.map(rates["owner_closes"])
        # An owner without closes in the window has the org's rate (missing when none closed).
        frame["owner_win_rate"] = owners.map(rates["owner_win_rate"]).fillna(org_rate)
        result = _finish(frame, as_of)[columns]
    if period_end is not None:
        result[PERIOD_FEATURE] = float((period_end - as_of.date()).days)
    return result.reset_index(drop=True)


def deal_outcomes(session: Session, as_of: datetime, label_at: datetime) -> pd.DataFrame:
    """How the deals open at `as_of` stood at `label_at`: won (1) or lost (0), and when closed.

    Deals still open at `label_at` are left out: their outcome is not known yet. Columns
    `deal_id`, `won` (int), `closed_at` (the close in force at `label_at`); ordered by deal.
    """
    as_of, label_at = ensure_utc(as_of), ensure_utc(label_at)
    history = DealHistory.__table__
    then = history.alias("then")
    opened = _open_state(as_of, None)
    stmt = (
        select(
            opened.c.deal_id,
            case((then.c.stage_type == StageType.WON, 1), else_=0).label("won"),
            then.c.closed_at,
        )
        .join(then, then.c.deal_id == opened.c.deal_id)
        .where(
            then.c.valid_from <= label_at,
            (then.c.valid_to > label_at) | then.c.valid_to.is_(None),
            then.c.stage_type != StageType.OPEN,
        )
        .order_by(opened.c.deal_id)
    )
    rows = session.execute(stmt).all()
    return pd.DataFrame(
        {
            "deal_id": np.array([row.deal_id for row in rows], dtype=np.int64),
            "won": np.array([row.won for row in rows], dtype=np.int8),
            "closed_at": pd.to_datetime([row.closed_at for row in rows], utc=True),
        }
    )


def _moment(as_of: datetime) -> ColumnElement[datetime]:
    return literal(as_of, UTCDateTime())


def _open_state(as_of: datetime, deal_ids: Collection[int] | None) -> CTE:
    """The history rows current at `as_of` of the deals open then."""
    history = DealHistory.__table__
    conditions = [current_at(as_of), history.c.stage_type == StageType.OPEN]
    if deal_ids is not None:
        conditions.append(history.c.deal_id.in_(list(deal_ids)))
    return (
        select(
            history.c.deal_id,
            history.c.stage_id,
            history.c.amount_cents,
            history.c.close_date,
            history.c.forecast_category,
            history.c.owner_id,
            history.c.entered_at,
            history.c.valid_from,
        )
        .where(*conditions)
        .cte("open_state")
    )


def _state_query(state: CTE, as_of: datetime) -> Query:
    """Each open deal's state, its first row, its stage, its account and its owner."""
    first = DealHistory.__table__.alias("first_row")
    moment = _moment(as_of)
    return (
        select(
            state.c.deal_id,
            state.c.owner_id,
            Deal.account_id,
            state.c.stage_id,
            # Read as stored (text on SQLite): converting per row in Python cost more than the
            # query on 100k deals; `_finish` converts whole columns.
            type_coerce(state.c.close_date, String).label("close_date"),
            Stage.name.label("stage"),
            Stage.position.label("stage_position"),
            type_coerce(state.c.forecast_category, String).label("forecast_category"),
            utc_days_between(moment, first.c.valid_from).label("age_days"),
            utc_days_between(moment, state.c.entered_at).label("days_in_stage"),
            utc_days_between(moment, state.c.valid_from).label("days_since_change"),
            state.c.amount_cents,
            first.c.amount_cents.label("first_amount_cents"),
            utc_days_between(moment, User.hired_at).label("owner_tenure_days"),
            type_coerce(Deal.type, String).label("deal_type"),
            Deal.source,
            type_coerce(Account.segment, String).label("segment"),
            Account.industry,
            Account.employees,
        )
        .select_from(state)
        .join(Stage, Stage.id == state.c.stage_id)
        .join(Deal, Deal.id == state.c.deal_id)
        .join(User, User.id == state.c.owner_id)
        .join(first, and_(first.c.deal_id == state.c.deal_id, first.c.is_first))
        .outerjoin(Account, Account.id == Deal.account_id)
    )


def _changes_query(state: CTE, as_of: datetime) -> Query:
    """Per open deal: amount changes and close-date pushes recorded by `as_of`."""
    history = DealHistory.__table__

    def previous(column: Any) -> Any:
        order = (history.c.valid_from, history.c.id)
        return func.lag(column).over(partition_by=history.c.deal_id, order_by=order)

    rows = (
        select(
            history.c.deal_id,
            history.c.amount_cents,
            history.c.close_date,
            history.c.stage_type,
            previous(history.c.amount_cents).label("previous_amount"),
            previous(history.c.close_date).label("previous_close"),
            previous(history.c.stage_type).label("previous_type"),
        )
        .where(history.c.valid_from <= as_of, history.c.deal_id.in_(select(state.c.deal_id)))
        .subquery("ordered")
    )
    pushed = and_(
        rows.c.stage_type == StageType.OPEN,
        rows.c.previous_type == StageType.OPEN,
        rows.c.close_date > rows.c.previous_close,
    )
    return select(
        rows.c.deal_id,
        func.sum(case((rows.c.amount_cents != rows.c.previous_amount, 1), else_=0)).label(
            "amount_changes"
        ),
        func.sum(case((pushed, 1), else_=0)).label("close_date_pushes"),
    ).group_by(rows.c.deal_id)


def _activity_query(state: CTE, as_of: datetime) -> Query:
    """Per open deal: its activities that occurred before `as_of`, counted."""
    activity = Activity.__table__
    moment = _moment(as_of)

    def count_when(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.sum(case((condition, 1), else_=0))

    return (
        select(
            activity.c.deal_id,
            func.count().label("activities"),
            count_when(activity.c.occurred_at >= as_of - timedelta(days=30)).label(
                "activities_30d"
            ),
            count_when(activity.c.occurred_at >= as_of - timedelta(days=90)).label(
                "activities_90d"
            ),
            count_when(activity.c.type == ActivityType.MEETING).label("meetings"),
            count_when(activity.c.type == ActivityType.EMAIL).label("emails"),
            count_when(activity.c.email_opened == true()).label("emails_opened"),
            count_when(activity.c.email_clicked == true()).label("emails_clicked"),
            count_when(activity.c.email_replied == true()).label("emails_replied"),
            func.count(distinct(activity.c.contact_id)).label("contacts_engaged"),
            utc_days_between(moment, func.max(activity.c.occurred_at)).label("days_since_activity"),
        )
        .where(activity.c.deal_id.in_(select(state.c.deal_id)), activity.c.occurred_at < as_of)
        .group_by(activity.c.deal_id)
    )


def _committee_query(state: CTE, as_of: datetime) -> Query:
    """Per open deal: the contacts at its account created before `as_of`, and their roles."""
    contact = Contact.__table__

    def has(role: BuyingRole) -> ColumnElement[int]:
        return func.max(case((contact.c.buying_role == role, 1), else_=0))

    return (
        select(
            Deal.id.label("deal_id"),
            func.count(contact.c.id).label("contacts"),
            func.count(distinct(contact.c.buying_role)).label("buying_roles"),
            has(BuyingRole.DECISION_MAKER).label("has_decision_maker"),
            has(BuyingRole.CHAMPION).label("has_champion"),
        )
        .join(contact, contact.c.account_id == Deal.account_id)
        .where(Deal.id.in_(select(state.c.deal_id)), contact.c.created_at < as_of)
        .group_by(Deal.id)
    )


def _owner_rates(session: Session, as_of: datetime) -> tuple[pd.DataFrame, float]:
    """Each owner's closes in the window before `as_of` and their shrunk win rate (indexed by
    owner id), and the org's win rate over the window (NaN when nothing closed)."""
    closed = closed_as_of(as_of, as_of - timedelta(days=OWNER_WINDOW_DAYS), as_of)
    stmt = select(
        closed.c.owner_id,
        func.count().label("owner_closes"),
        func.sum(case((closed.c.stage_type == StageType.WON, 1), else_=0)).label("owner_won"),
    ).group_by(closed.c.owner_id)
    rates = _frame(session, stmt)
    rates = rates.set_index(rates["owner_id"].astype(np.int64))
    if rates.empty:
        return pd.DataFrame({"owner_closes": [], "owner_win_rate": []}), float("nan")
    org_rate = float(rates["owner_won"].sum() / rates["owner_closes"].sum())
    rates["owner_win_rate"] = (rates["owner_won"] + OWNER_PRIOR_DEALS * org_rate) / (
        rates["owner_closes"] + OWNER_PRIOR_DEALS
    )
    return rates[["owner_closes", "owner_win_rate"]], org_rate


def _frame(session: Session, stmt: Query, text: Collection[str] = ()) -> pd.DataFrame:
    """The rows of `stmt` as a frame, read straight from the DBAPI cursor: the `text` columns
    as objects, every other one as floats (NULL as NaN).

    Every column the feature queries select is a number or text (enums and dates are coerced
    in SQL), so SQLAlchemy's per-row conversion has nothing to do; building its row objects
    and a frame from them took as long as the query itself on 100k deals.
    """
    result = session.connection().execute(stmt)
    names = list(map(str, result.keys()))
    rows = result.cursor.fetchall()
    result.close()
    values = np.array(rows, dtype=object).reshape(len(rows), len(names))
    return pd.DataFrame(
        {
            name: values[:, position] if name in text else values[:, position].astype(np.float64)
            for position, name in enumerate(names)
        }
    )


def _finish(frame: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Counts absent from an aggregate become 0, the derived columns are added, identifiers
    become integers, and the rows are ordered by deal."""
    for name in _ZERO_WHEN_ABSENT:
        frame[name] = frame[name].fillna(0.0)
    amount = frame["amount_cents"]
    first = frame["first_amount_cents"]
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(first > 0, 100.0 * (amount / first - 1.0), np.nan)
    frame["amount_change_pct"] = np.round(change, 6)
    close = pd.to_datetime(frame["close_date"])
    frame["close_date"] = close.dt.date
    frame["days_to_close"] = (close - pd.Timestamp(as_of.date())).dt.days
    for name in ("deal_id", "owner_id", "stage_id", "stage_position"):
        frame[name] = frame[name].astype(np.int64)
    frame["account_id"] = frame["account_id"].astype("Int64")
    return frame.sort_index(kind="stable")


def _dtype(name: str) -> str:
    if name in ("deal_id", "owner_id", "stage_id", "stage_position"):
        return "int64"
    if name == "account_id":
        return "Int64"
    if name in CATEGORICAL or name == "close_date":
        return "object"
    return "float64"


def describe_feature(name: str, value: object) -> str:
    """A feature's value as a person reads it: "3 close-date pushes", "Stage Proposal"."""
    if _missing(value):
        return _MISSING.get(name, f"{name.replace('_', ' ').capitalize()} unknown")
    if name in _TEXT:
        return _TEXT[name].format(str(value).replace("_", " "))
    number = float(value)  # type: ignore[arg-type]
    whole = round(number)
    if name in _COUNTS:
        one, many = _COUNTS[name]
        return (one if whole == 1 else many).format(f"{whole:,}")
    if name == "amount_cents":
        return f"Amount {number / 100:,.0f}"
    if name == "amount_change_pct":
        return f"Amount {_signed(number)} % since creation"
    if name == "days_to_close":
        return f"Closes in {_days(whole)}" if whole >= 0 else f"Close date {_days(-whole)} past"
    if name == "owner_win_rate":
        return f"Owner's win rate {number:.0%}"
    if name in _FLAGS:
        yes, no = _FLAGS[name]
        return yes if number else no
    return _PHRASES.get(name, name.replace("_", " ").capitalize() + " {}").format(f"{whole:,}")


_TEXT = {
    "stage": "Stage {}",
    "forecast_category": "Forecast category {}",
    "deal_type": "Type {}",
    "source": "Source {}",
    "segment": "Segment {}",
    "industry": "Industry {}",
}
_COUNTS = {
    "amount_changes": ("{} amount change", "{} amount changes"),
    "close_date_pushes": ("{} close-date push", "{} close-date pushes"),
    "activities": ("{} activity", "{} activities"),
    "activities_30d": ("{} activity in 30 days", "{} activities in 30 days"),
    "activities_90d": ("{} activity in 90 days", "{} activities in 90 days"),
    "meetings": ("{} meeting", "{} meetings"),
    "emails": ("{} email", "{} emails"),
    "emails_opened": ("{} email opened", "{} emails opened"),
    "emails_clicked": ("{} email clicked", "{} emails clicked"),
    "emails_replied": ("{} email reply", "{} email replies"),
    "contacts_engaged": ("{} contact engaged", "{} contacts engaged"),
    "contacts": ("{} contact at the account", "{} contacts at the account"),
    "buying_roles": ("{} buying role covered", "{} buying roles covered"),
    "owner_closes": ("Owner closed {} deal in a year", "Owner closed {} deals in a year"),
    "employees": ("{} employee", "{} employees"),
}
_FLAGS = {
    "has_decision_maker": ("Decision maker known", "No decision maker known"),
    "has_champion": ("Champion known", "No champion known"),
}
_PHRASES = {
    "stage_position": "Stage {} of the pipeline",
    "age_days": "Open for {} days",
    "days_in_stage": "{} days in its stage",
    "days_since_change": "Last changed {} days ago",
    "owner_tenure_days": "Owner hired {} days ago",
    "days_since_activity": "Last activity {} days ago",
    "days_to_period_end": "{} days left in the period",
}
_MISSING = {
    "days_since_activity": "No activity yet",
    "amount_change_pct": "Created without an amount",
    "owner_win_rate": "No closed deals to rate the owner by",
}


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _signed(number: float) -> str:
    whole = round(number)
    return f"−{abs(whole)}" if whole < 0 else f"+{whole}"


def _days(days: int) -> str:
    return "1 day" if days == 1 else f"{days:,} days"

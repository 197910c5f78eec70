"""What was known about each open lead at a moment: the fields the conversion scorer learns from.

Leads have no history table, so a lead's fields are read as they are now. Only fields that do
not follow from how the lead ended are used, and those that did change with the funnel are read
through the funnel's own timestamps:

- Open at `as_of`: created by then and neither converted nor disqualified by then
  (`converted_at`, `disqualified_at` after `as_of` or missing). The current `status`, the
  conversion links, the disqualification reason and the stored `score` (set from how far the
  lead got) are never read: they describe the lead's end.
- `stage`: the funnel step reached by `as_of` from `mql_at` and `sql_at` ("sql", "mql" or
  "new"); a qualification after `as_of` does not show.
- BANT flags are set when a lead is qualified, so today's flags tell how far a lead got. They
  are read only for leads sales-qualified by `as_of` (the last step that records them); for
  every other lead they are missing, whatever they are now, so a later qualification cannot
  show through.
- Read as they are now, and possibly edited since `as_of`: `source`, `industry`,
  `employees`, `country`, `region` (they rarely change).
- The company's account: an account with the lead's `company_domain` created before `as_of`
  (an existing customer or prospect); the account a conversion creates comes later and is
  never seen. `known_account` is 1 when there is one, and `segment` is its segment.
- Activities on the lead that occurred before `as_of`. Whether an email was opened, clicked or
  replied to is a flag without a time, so an email sent before `as_of` counts as opened even
  when it was opened after; the deal features accept the same.

The frame of `lead_features`, one row per lead open at `as_of` (ordered by `lead_id`):

- Identifiers (not learned from): `lead_id`, `owner_id` (or missing), `account_id` (the
  matched account, or missing).
- Learned from (`LEAD_FEATURES`): categories `stage`, `source`, `industry`, `country`,
  `region`, `segment` (text); numbers (floats, missing as NaN) `age_days` (whole UTC days since
  created), `days_since_mql` (missing when not marketing-qualified by `as_of`), `employees`,
  `known_account`, `bant_budget`, `bant_authority`, `bant_need`, `bant_timeline`,
  `bant_count`, `activities`, `activities_30d`, `calls`, `meetings`, `emails`,
  `emails_opened`, `emails_clicked`, `emails_replied`, `days_since_activity` (missing when
  none).

Labels (`lead_outcomes`): `converted`, 1 when the lead converted within `horizon_days` after
`as_of`; `won`, 1 when it did and the deal it became was won by the label moment.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from topline.analytics.history import state_as_of
from topline.clock import ensure_utc
from topline.crm.enums import ActivityType, StageType
from topline.crm.models import Account, Activity, Lead
from topline.scoring.features import describe_feature

HORIZON_DAYS = 90

LEAD_IDENTIFIERS = ["lead_id", "owner_id", "account_id"]
LEAD_CATEGORICAL = ["stage", "source", "industry", "country", "region", "segment"]
BANT = ["bant_budget", "bant_authority", "bant_need", "bant_timeline"]
ACTIVITY_COUNTS = [
    "activities",
    "activities_30d",
    "calls",
    "meetings",
    "emails",
    "emails_opened",
    "emails_clicked",
    "emails_replied",
]
LEAD_NUMERIC = [
    "age_days",
    "days_since_mql",
    "employees",
    "known_account",
    *BANT,
    "bant_count",
    *ACTIVITY_COUNTS,
    "days_since_activity",
]
LEAD_FEATURES = LEAD_CATEGORICAL + LEAD_NUMERIC
# The funnel steps a lead can have reached while open, as `stage` names them.
NEW, MQL, SQL = "new", "mql", "sql"


def open_at(as_of: datetime) -> ColumnElement[bool]:
    """The leads open at `as_of`: created by then, not converted or disqualified by then."""
    return and_(
        Lead.created_at <= as_of,
        or_(Lead.converted_at.is_(None), Lead.converted_at > as_of),
        or_(Lead.disqualified_at.is_(None), Lead.disqualified_at > as_of),
    )


def lead_features(
    session: Session, as_of: datetime, *, lead_ids: Collection[int] | None = None
) -> pd.DataFrame:
    """The leads open at `as_of` as known then: one row each, columns as the module says.

    Args:
        lead_ids: only these leads (those of them open at `as_of`).
    """
    as_of = ensure_utc(as_of)
    conditions = [open_at(as_of)]
    if lead_ids is not None:
        conditions.append(Lead.id.in_(list(lead_ids)))
    leads = _lead_rows(session, as_of, conditions)
    if leads.empty:
        return _empty()
    activity = _activity_rows(session, as_of, conditions)
    frame = leads.merge(activity, on="lead_id", how="left")
    for name in ACTIVITY_COUNTS:
        frame[name] = frame[name].fillna(0.0).astype(np.float64)
    day = pd.Timestamp(as_of).normalize()
    frame["age_days"] = _days(day, frame.pop("created_at"))
    mql_at = frame.pop("mql_at")
    sql_at = frame.pop("sql_at")
    is_sql = sql_at.notna() & (sql_at <= pd.Timestamp(as_of))
    is_mql = mql_at.notna() & (mql_at <= pd.Timestamp(as_of))
    frame["stage"] = np.where(is_sql, SQL, np.where(is_mql, MQL, NEW)).astype(object)
    frame["days_since_mql"] = _days(day, mql_at.where(is_mql))
    for name in BANT:
        frame[name] = frame[name].astype(np.float64).where(is_sql)
    frame["bant_count"] = frame[BANT].sum(axis=1, min_count=4)
    frame["days_since_activity"] = _days(day, frame.pop("last_activity_at"))
    frame["known_account"] = frame["account_id"].notna().astype(np.float64)
    frame["employees"] = frame["employees"].astype(np.float64)
    frame["owner_id"] = frame["owner_id"].astype("Int64")
    frame["account_id"] = frame["account_id"].astype("Int64")
    frame["lead_id"] = frame["lead_id"].astype(np.int64)
    for name in LEAD_CATEGORICAL:
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    columns = [*LEAD_IDENTIFIERS, *LEAD_FEATURES]
    return frame.sort_values("lead_id", kind="stable")[columns].reset_index(drop=True)


def lead_outcomes(
    session: Session, as_of: datetime, label_at: datetime, *, horizon_days: int = HORIZON_DAYS
) -> pd.DataFrame:
    """How the leads open at `as_of` stood at `label_at`, within `horizon_days` of `as_of`.

    Columns: `lead_id`; `converted` (1 converted by the horizon's end, 0 not) and
    `converted_known_at` (when that became known: the conversion, the disqualification or the
    horizon's end); `won` (1 converted by the horizon's end into a deal won by `label_at`, 0
    not) and `won_known_at`. An outcome not known by `label_at` is missing (NaN, NaT): the lead
    is still open with the horizon not over, or its deal is still open. Ordered by lead.
    """
    as_of, label_at = ensure_utc(as_of), ensure_utc(label_at)
    end = as_of + timedelta(days=horizon_days)
    deal = state_as_of(label_at)
    rows = session.execute(
        select(
            Lead.id.label("lead_id"),
            Lead.converted_at,
            Lead.disqualified_at,
            deal.c.stage_type,
            deal.c.closed_at.label("deal_closed_at"),
        )
        .outerjoin(deal, deal.c.deal_id == Lead.converted_deal_id)
        .where(open_at(as_of))
        .order_by(Lead.id)
    ).all()
    frame = pd.DataFrame(
        {
            "lead_id": np.array([row.lead_id for row in rows], dtype=np.int64),
            "converted_at": _times([row.converted_at for row in rows]),
            "disqualified_at": _times([row.disqualified_at for row in rows]),
            "stage_type": [row.stage_type for row in rows],
            "deal_closed_at": _times([row.deal_closed_at for row in rows]),
        }
    )
    known = pd.Timestamp(label_at)
    horizon = pd.Timestamp(end)
    converted_at = frame["converted_at"].where(frame["converted_at"] <= known)
    disqualified_at = frame["disqualified_at"].where(frame["disqualified_at"] <= known)
    converted = converted_at.notna() & (converted_at <= horizon)
    # Not converted within the horizon: known once it is over, or once the lead is closed
    # otherwise (a disqualified or later-converted lead does not convert within it any more).
    missed_at = pd.concat(
        [disqualified_at, converted_at.where(~converted), pd.Series(horizon, index=frame.index)],
        axis=1,
    ).min(axis=1)
    missed_at = missed_at.where(missed_at <= known)
    frame["converted"] = np.where(converted, 1.0, np.where(missed_at.notna(), 0.0, np.nan))
    frame["converted_known_at"] = converted_at.where(converted).fillna(missed_at)
    closed = converted & frame["deal_closed_at"].notna() & (frame["deal_closed_at"] <= known)
    won = closed & (frame["stage_type"] == StageType.WON)
    frame["won"] = np.where(
        won, 1.0, np.where(closed | (~converted & missed_at.notna()), 0.0, np.nan)
    )
    frame["won_known_at"] = (
        frame["deal_closed_at"].where(closed).fillna(missed_at.where(~converted))
    )
    return frame[["lead_id", "converted", "converted_known_at", "won", "won_known_at"]]


def describe_lead_feature(name: str, value: object) -> str:
    """A lead feature's value as a person reads it: "Funnel stage MQL", "2 emails opened"."""
    if name == "stage" and isinstance(value, str):
        return f"Funnel stage {value.upper() if value in (MQL, SQL) else value}"
    if name in ("country", "region") and isinstance(value, str):
        return f"{name.capitalize()} {value}"
    if name in _LEAD_PHRASES and not _missing(value):
        number = round(float(value))  # type: ignore[arg-type]
        return _LEAD_PHRASES[name][0 if number else 1].format(f"{number:,}")
    if name in (*BANT, "bant_count") and _missing(value):
        return "Not sales-qualified yet"
    if name == "age_days" and not _missing(value):
        return f"Lead for {round(float(value)):,} days"  # type: ignore[arg-type]
    return describe_feature(name, value)


_LEAD_PHRASES = {
    "bant_budget": ("Budget confirmed", "Budget not confirmed"),
    "bant_authority": ("Authority confirmed", "Authority not confirmed"),
    "bant_need": ("Need confirmed", "Need not confirmed"),
    "bant_timeline": ("Timeline confirmed", "Timeline not confirmed"),
    "known_account": ("Company already an account", "Company not yet an account"),
    "bant_count": ("{} of 4 BANT criteria confirmed", "No BANT criteria confirmed"),
    "calls": ("{} calls", "No calls"),
    "days_since_mql": ("Marketing-qualified {} days ago", "Marketing-qualified today"),
}


def _lead_rows(session: Session, as_of: datetime, conditions: list[Any]) -> pd.DataFrame:
    """The open leads' own fields and the earliest matching account created before `as_of`."""
    account = (
        select(
            func.lower(Account.domain).label("domain"),
            func.min(Account.id).label("account_id"),
        )
        .where(Account.domain.is_not(None), Account.created_at < as_of)
        .group_by(func.lower(Account.domain))
        .subquery("known_account")
    )
    stmt = (
        select(
            Lead.id.label("lead_id"),
            Lead.owner_id,
            account.c.account_id,
            Account.segment,
            Lead.source,
            Lead.industry,
            Lead.country,
            Lead.region,
            Lead.employees,
            Lead.created_at,
            Lead.mql_at,
            Lead.sql_at,
            *(getattr(Lead, name) for name in BANT),
        )
        .outerjoin(account, account.c.domain == func.lower(Lead.company_domain))
        .outerjoin(Account, Account.id == account.c.account_id)
        .where(*conditions)
    )
    rows = session.execute(stmt).all()
    names = [
        "lead_id",
        "owner_id",
        "account_id",
        "segment",
        "source",
        "industry",
        "country",
        "region",
        "employees",
        "created_at",
        "mql_at",
        "sql_at",
        *BANT,
    ]
    columns: dict[str, Any] = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    columns["segment"] = [None if v is None else str(v.value) for v in columns["segment"]]
    for name in ("created_at", "mql_at", "sql_at"):
        columns[name] = _times(columns[name])
    for name in ("owner_id", "account_id", "employees"):
        columns[name] = pd.array(columns[name], dtype="Float64").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    for name in BANT:
        columns[name] = np.array([bool(v) for v in columns[name]], dtype=np.float64)
    return pd.DataFrame(columns)


def _activity_rows(session: Session, as_of: datetime, conditions: list[Any]) -> pd.DataFrame:
    """Per open lead: its activities that occurred before `as_of`, counted."""

    def count_when(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.sum(case((condition, 1), else_=0))

    stmt = (
        select(
            Activity.lead_id,
            func.count().label("activities"),
            count_when(Activity.occurred_at >= as_of - timedelta(days=30)).label("activities_30d"),
            count_when(Activity.type == ActivityType.CALL).label("calls"),
            count_when(Activity.type == ActivityType.MEETING).label("meetings"),
            count_when(Activity.type == ActivityType.EMAIL).label("emails"),
            count_when(Activity.email_opened == true()).label("emails_opened"),
            count_when(Activity.email_clicked == true()).label("emails_clicked"),
            count_when(Activity.email_replied == true()).label("emails_replied"),
            func.max(Activity.occurred_at).label("last_activity_at"),
        )
        .where(
            Activity.lead_id.in_(select(Lead.id).where(*conditions)),
            Activity.occurred_at < as_of,
        )
        .group_by(Activity.lead_id)
    )
    rows = session.execute(stmt).all()
    frame = pd.DataFrame(
        {name: [float(row._mapping[name] or 0) for row in rows] for name in ACTIVITY_COUNTS}
    )
    frame.insert(0, "lead_id", np.array([row.lead_id for row in rows], dtype=np.int64))
    frame["last_activity_at"] = _times([row.last_activity_at for row in rows])
    return frame


def _times(values: list[Any]) -> pd.Series:
    return pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[ns, UTC]")


def _days(day: pd.Timestamp, moments: pd.Series) -> pd.Series:
    """Whole UTC days from each moment's day to `day`; NaN where there is no moment."""
    return (day - moments.dt.normalize()).dt.days.astype(np.float64)


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _empty() -> pd.DataFrame:
    columns: dict[str, pd.Series] = {}
    for name in [*LEAD_IDENTIFIERS, *LEAD_FEATURES]:
        if name == "lead_id":
            dtype = "int64"
        elif name in ("owner_id", "account_id"):
            dtype = "Int64"
        elif name in LEAD_CATEGORICAL:
            dtype = "object"
        else:
            dtype = "float64"
        columns[name] = pd.Series(dtype=dtype)
    return pd.DataFrame(columns)

"""ICP fit: how closely an account resembles the accounts that became good customers.

A customer is an account with revenue won before the moment (a deal won by then, as the deal
history records it, with an amount above zero). The population is every account created by
the moment. For each firmographic field (segment, industry, size band, country) and each of
its values, the customer share of the accounts with that value is Laplace-smoothed,
(customers + 1) / (accounts + 2), and divided by the smoothed share over all accounts: the
value's lift. A missing value is a value of its own ("unknown"); a value no account had counts
as neutral (lift 1).

The fit adds the fields' log-lifts and places the sum between the least and the most
customer-like combination the fields allow: 0 is the lowest lift in every field, 100 the
highest. Each field's points are its share of that: (log lift − lowest log lift in the field)
/ (the range summed over fields) × 100, so the points add up to the fit and say which fields
make it. `IcpModel` is pure and checkable by hand from the counts; it is built on request by
the database, which counts accounts and customers per value of each field (no account row is
fetched).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Select, case, func, literal, select
from sqlalchemy.orm import Session

from topline.analytics.history import state_as_of
from topline.clock import ensure_utc, utcnow
from topline.crm.enums import StageType
from topline.crm.models import Account, Deal, DealHistory, Lead, Stage
from topline.scoring.errors import NoCustomersYet

ICP_FIELDS = ("segment", "industry", "size_band", "country")
UNKNOWN = "unknown"
# Employee bands (lower bounds), the usual firmographic split.
SIZE_BANDS = ((5_000, "5000+"), (1_000, "1000-4999"), (200, "200-999"), (50, "50-199"), (1, "1-49"))
_LABELS = {"segment": "Segment", "industry": "Industry", "size_band": "Size", "country": "Country"}


def size_band(employees: float | int | None) -> str | None:
    """The employee band of a headcount ("50-199"), None when unknown."""
    if employees is None or (isinstance(employees, float) and math.isnan(employees)):
        return None
    for lower, label in SIZE_BANDS:
        if employees >= lower:
            return label
    return None


@dataclass(frozen=True)
class IcpFactor:
    """One field's part of a fit: its value, the value's lift and the points it adds."""

    field: str
    value: str
    lift: float
    points: float

    @property
    def text(self) -> str:
        """As a person reads it: "Industry Software: 2.1× the usual customer share"."""
        value = self.value.replace("_", " ")
        return f"{_LABELS[self.field]} {value}: {self.lift:.1f}× the usual customer share"


@dataclass(frozen=True)
class IcpFit:
    """A fit (0–100) and its factors, most points first."""

    fit: float
    factors: list[IcpFactor]


@dataclass
class IcpModel:
    """Counts of accounts and customers per value of each firmographic field."""

    customers: int
    accounts: int
    counts: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)

    @classmethod
    def fit_frame(cls, profiles: pd.DataFrame) -> IcpModel:
        """Counts from a frame with the `ICP_FIELDS` columns and `customer` (0/1), one row per
        account."""
        customer = profiles["customer"].astype(np.int64)
        counts: dict[str, dict[str, tuple[int, int]]] = {}
        for name in ICP_FIELDS:
            values = profiles[name].astype(object).where(profiles[name].notna(), UNKNOWN)
            grouped = customer.groupby(values.astype(str)).agg(["sum", "count"])
            counts[name] = {
                str(value): (int(row["sum"]), int(row["count"]))
                for value, row in grouped.iterrows()
            }
        return cls(int(customer.sum()), len(profiles), counts)

    @property
    def base_rate(self) -> float:
        """The Laplace-smoothed customer share of all accounts."""
        return (self.customers + 1) / (self.accounts + 2)

    def lift(self, name: str, value: object) -> float:
        """The smoothed customer share of accounts with `value`, over the base rate."""
        counts = self.counts.get(name, {}).get(_value(value))
        if counts is None:
            return 1.0
        return ((counts[0] + 1) / (counts[1] + 2)) / self.base_rate

    def explain(self, profile: dict[str, object]) -> IcpFit:
        """The fit of one account's `profile` (a value per field) and the points per field."""
        ranges: dict[str, tuple[float, float]] = {}
        for name in ICP_FIELDS:
            logs = [math.log(self.lift(name, value)) for value in self.counts.get(name, {})]
            ranges[name] = (min(logs, default=0.0), max(logs, default=0.0))
        span = sum(high - low for low, high in ranges.values())
        factors: list[IcpFactor] = []
        for name in ICP_FIELDS:
            low, high = ranges[name]
            lift = self.lift(name, profile.get(name))
            share = min(max(math.log(lift), low), high) - low
            points = 100.0 * share / span if span > 0 else 0.0
            factors.append(IcpFactor(name, _value(profile.get(name)), lift, points))
        # With no difference between values nothing sets accounts apart: the middle.
        fit = sum(f.points for f in factors) if span > 0 else 50.0
        factors.sort(key=lambda f: -f.points)
        return IcpFit(round(fit, 2), factors)


def _value(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return UNKNOWN
    return str(getattr(value, "value", value))


def _customer_accounts(as_of: datetime) -> Select[Any]:
    """The ids of the accounts with a deal won by `as_of` with an amount above zero. The deals
    as they stand now are their history's latest rows, so from now on the deals table answers
    without reading the history."""
    if as_of >= utcnow():
        stmt = (
            select(Deal.account_id)
            .join(Stage, Stage.id == Deal.stage_id)
            .where(Stage.type == StageType.WON, Deal.amount_cents > 0)
        )
    else:
        won = state_as_of(as_of, DealHistory.__table__.c.stage_type == StageType.WON)
        stmt = (
            select(Deal.account_id)
            .join(won, won.c.deal_id == Deal.id)
            .where(won.c.amount_cents > 0)
        )
    return stmt.where(Deal.account_id.is_not(None))


def _size_band_sql() -> ColumnElement[str | None]:
    """`size_band` of `Account.employees`, in SQL."""
    return case(
        *((Account.employees >= lower, literal(label)) for lower, label in SIZE_BANDS),
        else_=None,
    )


def icp_model(session: Session, as_of: datetime) -> IcpModel:
    """The ICP counts as of `as_of`, counted by the database; `NoCustomersYet` when no account
    had won revenue then. The same model as `fit_frame` of one row per account (a test checks
    both on random data).

    One query counts accounts and customers per combination of the fields, and each field's
    counts are summed from those: the customers' subquery runs once, where a query per field
    ran it once per field (four times the work on the account page).
    """
    as_of = ensure_utc(as_of)
    customer = case((Account.id.in_(_customer_accounts(as_of)), 1), else_=0)
    columns: dict[str, Any] = {
        "segment": Account.segment,
        "industry": Account.industry,
        "size_band": _size_band_sql(),
        "country": Account.country,
    }
    values = [columns[name].label(name) for name in ICP_FIELDS]
    rows = session.execute(
        select(*values, func.sum(customer), func.count())
        .where(Account.created_at <= as_of)
        .group_by(*values)
    )
    counts: dict[str, dict[str, tuple[int, int]]] = {name: {} for name in ICP_FIELDS}
    customers = accounts = 0
    for row in rows:
        won, total = int(row[-2]), int(row[-1])
        customers += won
        accounts += total
        for name, found in zip(ICP_FIELDS, row[:-2], strict=True):
            by_value = counts[name]
            key = _value(found)
            before = by_value.get(key, (0, 0))
            by_value[key] = (before[0] + won, before[1] + total)
    model = IcpModel(customers, accounts, counts)
    if model.customers == 0:
        raise NoCustomersYet("no account has won revenue yet: there is no customer to compare to")
    return model


def account_profile(account: Account) -> dict[str, object]:
    """An account's firmographics as the ICP fields."""
    return {
        "segment": account.segment,
        "industry": account.industry,
        "size_band": size_band(account.employees),
        "country": account.country,
    }


def lead_profile(
    session: Session, lead: Lead, as_of: datetime
) -> tuple[int | None, dict[str, object]]:
    """The account a lead's ICP fit is read from and its profile: the account it converted
    into, else the earliest account created by `as_of` with the lead's company domain; with
    neither, the lead's own firmographics (its segment unknown)."""
    account: Account | None = None
    if lead.converted_account_id is not None:
        account = session.get(Account, lead.converted_account_id)
    elif lead.company_domain:
        account = session.scalar(
            select(Account)
            .where(
                func.lower(Account.domain) == lead.company_domain.lower(),
                Account.created_at <= ensure_utc(as_of),
            )
            .order_by(Account.id)
            .limit(1)
        )
    if account is not None:
        return account.id, account_profile(account)
    return None, {
        "segment": None,
        "industry": lead.industry,
        "size_band": size_band(lead.employees),
        "country": lead.country,
    }


@dataclass(frozen=True)
class IcpView:
    """An account's (or a lead's) ICP fit as of a moment, with the counts behind it."""

    account_id: int | None
    lead_id: int | None
    as_of: datetime
    result: IcpFit
    model: IcpModel


def account_icp(session: Session, account: Account, *, as_of: datetime) -> IcpView:
    """How closely the account resembles the accounts with won revenue by `as_of`."""
    as_of = ensure_utc(as_of)
    model = icp_model(session, as_of)
    return IcpView(account.id, None, as_of, model.explain(account_profile(account)), model)


def lead_icp(session: Session, lead: Lead, *, as_of: datetime) -> IcpView:
    """A lead's ICP fit: its account's where linked (`lead_profile`), else its own fields'."""
    as_of = ensure_utc(as_of)
    model = icp_model(session, as_of)
    account_id, profile = lead_profile(session, lead, as_of)
    return IcpView(account_id, lead.id, as_of, model.explain(profile), model)

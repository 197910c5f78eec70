"""Plain helpers that build valid records; each creates its own parents when none are given."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.enums import StageType
from topline.crm.models import Account, Contact, Deal, Lead, Pipeline, Stage
from topline.crm.pipelines import create_pipeline, list_stages

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
_seq = itertools.count(1)


def make_user(
    session: Session,
    *,
    role: Role = Role.REP,
    manager: User | None = None,
    email: str | None = None,
    name: str | None = None,
    password_hash: str | None = None,
    **overrides: Any,
) -> User:
    """A user (a rep by default), inserted directly: hashing is slow and tested elsewhere."""
    n = next(_seq)
    user = User(
        email=email or f"user{n}@example.com",
        name=name or f"User {n}",
        role=role,
        manager_id=manager.id if manager else None,
        password_hash=password_hash,
        hired_at=overrides.pop("hired_at", T0),
        active=overrides.pop("active", True),
        created_at=overrides.pop("created_at", T0),
        **overrides,
    )
    session.add(user)
    session.flush()
    return user


def make_pipeline(session: Session, *, name: str | None = None) -> Pipeline:
    """A pipeline with the default stages."""
    return create_pipeline(session, name=name or f"Pipeline {next(_seq)}", is_default=True)


def stage_named(session: Session, pipeline: Pipeline, name: str) -> Stage:
    """The stage of `pipeline` called `name`."""
    return next(s for s in list_stages(session, pipeline.id) if s.name == name)


def open_stages(session: Session, pipeline: Pipeline) -> list[Stage]:
    """The open stages of `pipeline` in order."""
    return [s for s in list_stages(session, pipeline.id) if s.type == StageType.OPEN]


def make_account(session: Session, *, owner: User | None = None, **overrides: Any) -> Account:
    """An account owned by `owner` (a new rep when not given)."""
    n = next(_seq)
    account = Account(
        name=overrides.pop("name", f"Account {n}"),
        domain=overrides.pop("domain", f"account{n}.example.com"),
        owner_id=(owner or make_user(session)).id,
        created_at=overrides.pop("created_at", T0),
        **overrides,
    )
    session.add(account)
    session.flush()
    return account


def make_contact(session: Session, *, account: Account | None = None, **overrides: Any) -> Contact:
    """A contact at `account` (a new account when not given)."""
    n = next(_seq)
    contact = Contact(
        account_id=(account or make_account(session)).id,
        first_name=overrides.pop("first_name", "Pat"),
        last_name=overrides.pop("last_name", f"Buyer{n}"),
        email=overrides.pop("email", f"pat{n}@example.com"),
        created_at=overrides.pop("created_at", T0),
        **overrides,
    )
    session.add(contact)
    session.flush()
    return contact


def make_deal(
    session: Session,
    *,
    owner: User | None = None,
    pipeline: Pipeline | None = None,
    stage: Stage | None = None,
    account: Account | None = None,
    amount_cents: int = 10_000_00,
    close_date: date = date(2025, 3, 31),
    at: datetime = T0,
    **overrides: Any,
) -> Deal:
    """An open deal created through the service (so its history row exists)."""
    from topline.crm.deals import create_deal

    owner = owner or make_user(session)
    if stage is None:
        stage = open_stages(session, pipeline or make_pipeline(session))[0]
    return create_deal(
        session,
        actor=owner,
        name=overrides.pop("name", f"Deal {next(_seq)}"),
        owner=owner,
        account=account,
        stage=stage,
        amount_cents=amount_cents,
        close_date=close_date,
        at=at,
        **overrides,
    )


def make_lead(session: Session, *, owner: User | None = None, **overrides: Any) -> Lead:
    """A new lead through the service."""
    from topline.crm.leads import create_lead

    n = next(_seq)
    return create_lead(
        session,
        actor=None,
        first_name=overrides.pop("first_name", "Lee"),
        last_name=overrides.pop("last_name", f"Prospect{n}"),
        email=overrides.pop("email", f"lee{n}@prospect{n}.example.com"),
        company=overrides.pop("company", f"Prospect {n} Inc"),
        source=overrides.pop("source", "web"),
        owner=owner,
        at=overrides.pop("at", T0),
        **overrides,
    )


@dataclass
class SalesOrg:
    """Two teams and an admin, with open deals of known amounts in the default pipeline.

    Team Maria: reps Rita and Ray. Team Otto: rep Olga. Stage probabilities are the defaults
    (Prospecting 10 %, Proposal 60 %, Negotiation 80 %, Discovery 40 %).
    """

    pipeline: Pipeline
    admin: User
    maria: User
    rita: User
    ray: User
    otto: User
    olga: User

"""Deals: create, edit, move through stages, close, reopen, reassign — each change recorded.

Every function here writes the deal and, when a tracked field (stage, amount, close date,
forecast category, owner) changes, closes the current `deal_history` row and appends the new
state, in the caller's transaction. Services flush; the caller commits.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from topline.auth.models import User
from topline.clock import ensure_utc, utcnow
from topline.crm.enums import DealType, ForecastCategory, HistoryField, StageType
from topline.crm.errors import (
    ContactAtOtherAccount,
    DealAlreadyClosed,
    DealNotClosed,
    DealNotFound,
    DealOwnerInactive,
    InvalidDeal,
    InvalidStageTransition,
    StaleDeal,
)
from topline.crm.history import (
    SUBSCRIPTION_FIELDS,
    HistoryMarks,
    copy_subscription_fields,
    marks_of,
    next_marks,
    subscription_copies,
)
from topline.crm.models import Account, Contact, Deal, DealHistory, Stage
from topline.crm.pipelines import default_pipeline, find_stage_by_type, get_stage, list_stages
from topline.crm.schemas import DealUpdate
from topline.crm.stays import rebuild_stays
from topline.money import require_cents

# Deal attribute -> the name recorded in `deal_history.changed_fields`.
TRACKED_FIELDS: dict[str, HistoryField] = {
    "stage_id": HistoryField.STAGE,
    "amount_cents": HistoryField.AMOUNT,
    "close_date": HistoryField.CLOSE_DATE,
    "forecast_category": HistoryField.FORECAST_CATEGORY,
    "owner_id": HistoryField.OWNER,
}
CREATED = "created"


def get_deal(session: Session, deal_id: int) -> Deal:
    """The deal with `deal_id`, or `DealNotFound`."""
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise DealNotFound(f"deal {deal_id} not found")
    return deal


def create_deal(
    session: Session,
    *,
    actor: User | None,
    name: str,
    owner: User,
    amount_cents: int,
    close_date: date,
    account: Account | None = None,
    contact: Contact | None = None,
    stage: Stage | None = None,
    forecast_category: ForecastCategory = ForecastCategory.PIPELINE,
    type: DealType = DealType.NEW_BUSINESS,
    recurring_amount_cents: int | None = None,
    source: str | None = None,
    next_step: str | None = None,
    at: datetime | None = None,
) -> Deal:
    """Open a new deal in an open stage (the pipeline's first stage unless given).

    Raises `InvalidDeal` for an empty name, a negative amount, a close date before today
    (`at`), an inactive owner or a contact of another account; `InvalidStageTransition` when
    the stage is won or lost (create the deal, then close it).
    """
    at = ensure_utc(at or utcnow())
    name = name.strip()
    if not name:
        raise InvalidDeal("deal name must not be empty")
    require_cents(amount_cents, "amount_cents", error=InvalidDeal)
    if recurring_amount_cents is not None:
        require_cents(recurring_amount_cents, "recurring_amount_cents", error=InvalidDeal)
    _check_owner(owner)
    if contact is not None and account is not None and contact.account_id != account.id:
        raise ContactAtOtherAccount(
            f"contact_id: contact {contact.id} works at another account than the deal's",
            details={"field": "contact_id"},
        )
    if stage is None:
        stage = next(
            s
            for s in list_stages(session, default_pipeline(session).id)
            if s.type == StageType.OPEN
        )
    if stage.type != StageType.OPEN:
        raise InvalidStageTransition(
            f"a deal is created in an open stage, not {stage.name!r}; close it afterwards"
        )
    _check_open_category(forecast_category)
    deal = Deal(
        name=name,
        account_id=account.id if account else (contact.account_id if contact else None),
        contact_id=contact.id if contact else None,
        owner_id=owner.id,
        pipeline_id=stage.pipeline_id,
        stage_id=stage.id,
        amount_cents=amount_cents,
        recurring_amount_cents=recurring_amount_cents,
        close_date=close_date,
        forecast_category=forecast_category,
        type=type,
        source=source,
        next_step=next_step,
        created_at=at,
        updated_at=at,
    )
    session.add(deal)
    session.flush()
    marks = next_marks(None, stage.id, stage.type, at, close_date)
    session.add(_history_row(deal, marks, changed_fields=CREATED, actor=actor, at=at))
    session.flush()
    rebuild_stays(session, [deal.id])
    return deal


def update_deal(
    session: Session,
    deal: Deal,
    *,
    changes: DealUpdate,
    actor: User | None,
    expected_version: int | None = None,
    at: datetime | None = None,
) -> Deal:
    """Apply a partial edit. Tracked fields of a closed deal cannot change until it is reopened.

    `expected_version` is the version the editor read; a mismatch raises `StaleDeal`.
    """
    at = ensure_utc(at or utcnow())
    values = changes.model_dump(exclude_unset=True)
    for required in ("name", "amount_cents", "close_date", "forecast_category", "type"):
        if required in values and values[required] is None:
            raise InvalidDeal(f"{required}: cannot be cleared", details={"field": required})
    stage = get_stage(session, deal.stage_id)
    closed = stage.type != StageType.OPEN
    if closed and any(
        field in TRACKED_FIELDS and values[field] != getattr(deal, field) for field in values
    ):
        raise DealAlreadyClosed(
            f"deal {deal.id} is {stage.type.value}; reopen it before changing amount, "
            "close date or forecast category"
        )
    if "name" in values:
        values["name"] = values["name"].strip()
        if not values["name"]:
            raise InvalidDeal("deal name must not be empty")
    if "forecast_category" in values and not closed:
        _check_open_category(values["forecast_category"])
    return _apply(session, deal, values, actor=actor, at=at, expected_version=expected_version)


def move_deal_to_stage(
    session: Session,
    deal: Deal,
    *,
    stage: Stage,
    actor: User | None,
    at: datetime | None = None,
    expected_version: int | None = None,
) -> Deal:
    """Move an open deal to another open stage of its pipeline (forward or back).

    Winning and losing go through `close_deal_won` / `close_deal_lost`, which need more facts.
    """
    _ensure_open(session, deal)
    _check_stage_of_pipeline(deal, stage)
    if stage.type != StageType.OPEN:
        verb = "close_deal_won" if stage.type == StageType.WON else "close_deal_lost"
        raise InvalidStageTransition(
            f"stage {stage.name!r} closes the deal; use {verb} to close it"
        )
    return _apply(
        session, deal, {"stage_id": stage.id}, actor=actor, at=at, expected_version=expected_version
    )


def close_deal_won(
    session: Session,
    deal: Deal,
    *,
    actor: User | None,
    at: datetime | None = None,
    amount_cents: int | None = None,
    expected_version: int | None = None,
) -> Deal:
    """Mark an open deal won: the won stage, category closed, close date the day it closed."""
    at = ensure_utc(at or utcnow())
    _ensure_open(session, deal)
    won = find_stage_by_type(session, deal.pipeline_id, StageType.WON)
    values: dict[str, Any] = {
        "stage_id": won.id,
        "forecast_category": ForecastCategory.CLOSED,
        "close_date": at.date(),
        "closed_at": at,
        "loss_reason": None,
    }
    if amount_cents is not None:
        require_cents(amount_cents, "amount_cents", error=InvalidDeal)
        values["amount_cents"] = amount_cents
    return _apply(session, deal, values, actor=actor, at=at, expected_version=expected_version)


def close_deal_lost(
    session: Session,
    deal: Deal,
    *,
    loss_reason: str,
    actor: User | None,
    at: datetime | None = None,
    stage: Stage | None = None,
    expected_version: int | None = None,
) -> Deal:
    """Mark an open deal lost, with the reason it was lost (required)."""
    at = ensure_utc(at or utcnow())
    _ensure_open(session, deal)
    loss_reason = (loss_reason or "").strip()
    if not loss_reason:
        raise InvalidDeal("a lost deal needs a loss reason")
    if stage is None:
        stage = find_stage_by_type(session, deal.pipeline_id, StageType.LOST)
    _check_stage_of_pipeline(deal, stage)
    if stage.type != StageType.LOST:
        raise InvalidStageTransition(f"stage {stage.name!r} is not a lost stage")
    values: dict[str, Any] = {
        "stage_id": stage.id,
        "forecast_category": ForecastCategory.OMITTED,
        "close_date": at.date(),
        "closed_at": at,
        "loss_reason": loss_reason,
    }
    return _apply(session, deal, values, actor=actor, at=at, expected_version=expected_version)


def reopen_deal(
    session: Session,
    deal: Deal,
    *,
    stage: Stage,
    close_date: date,
    actor: User | None,
    at: datetime | None = None,
    expected_version: int | None = None,
) -> Deal:
    """Put a won or lost deal back into an open stage with a new expected close date."""
    at = ensure_utc(at or utcnow())
    current = get_stage(session, deal.stage_id)
    if current.type == StageType.OPEN:
        raise DealNotClosed(f"deal {deal.id} is open; only a won or lost deal can be reopened")
    _check_stage_of_pipeline(deal, stage)
    if stage.type != StageType.OPEN:
        raise InvalidStageTransition(f"a reopened deal goes to an open stage, not {stage.name!r}")
    values: dict[str, Any] = {
        "stage_id": stage.id,
        "forecast_category": ForecastCategory.PIPELINE,
        "close_date": close_date,
        "closed_at": None,
        "loss_reason": None,
    }
    return _apply(session, deal, values, actor=actor, at=at, expected_version=expected_version)


def change_deal_owner(
    session: Session,
    deal: Deal,
    *,
    owner: User,
    actor: User | None,
    at: datetime | None = None,
    expected_version: int | None = None,
) -> Deal:
    """Hand the deal to another active user (territory change, rep leaving)."""
    _check_owner(owner)
    return _apply(
        session, deal, {"owner_id": owner.id}, actor=actor, at=at, expected_version=expected_version
    )


def _apply(
    session: Session,
    deal: Deal,
    values: dict[str, Any],
    *,
    actor: User | None,
    at: datetime | None,
    expected_version: int | None,
) -> Deal:
    """Write `values` to the deal and record the new tracked state if any tracked field moved."""
    at = ensure_utc(at or utcnow())
    if expected_version is not None and expected_version != deal.version:
        raise StaleDeal(
            f"deal {deal.id} changed since version {expected_version} "
            f"(now {deal.version}); reload it and try again"
        )
    if at < deal.created_at:
        raise InvalidDeal(f"a change at {at.isoformat()} predates the deal's creation")
    changed = [
        TRACKED_FIELDS[field].value
        for field, value in values.items()
        if field in TRACKED_FIELDS and getattr(deal, field) != value
    ]
    if not changed and all(getattr(deal, field) == value for field, value in values.items()):
        return deal
    copies_changed = any(
        field in SUBSCRIPTION_FIELDS and getattr(deal, field) != value
        for field, value in values.items()
    )
    previous: HistoryMarks | None = None
    if changed:
        current = session.scalar(
            select(DealHistory).where(
                DealHistory.deal_id == deal.id, DealHistory.valid_to.is_(None)
            )
        )
        if current is not None:
            if at < current.valid_from:
                raise InvalidDeal(
                    f"a change at {at.isoformat()} predates the deal's last recorded change "
                    f"at {current.valid_from.isoformat()}"
                )
            current.valid_to = at
            previous = marks_of(current)
    if "close_date" in values and values["close_date"] > deal.close_date:
        # The new history row's close date is later than the row before: a push (see `Deal`).
        deal.push_count += 1
        deal.last_pushed_at = at
    for field, value in values.items():
        setattr(deal, field, value)
    deal.updated_at = at
    if changed:
        # Close the old row before inserting the new one: the partial unique index allows
        # only one current row per deal.
        session.flush()
        stage_type = get_stage(session, deal.stage_id).type
        marks = next_marks(previous, deal.stage_id, stage_type, at, deal.close_date)
        session.add(_history_row(deal, marks, changed_fields=",".join(changed), actor=actor, at=at))
    try:
        session.flush()
    except StaleDataError as exc:
        raise StaleDeal(
            f"deal {deal.id} was changed by someone else; reload it and try again"
        ) from exc
    if HistoryField.STAGE in changed or HistoryField.OWNER in changed:
        # A stage entered ends the last stay and may advance earlier ones; a new owner ends
        # the owner the stays began with.
        rebuild_stays(session, [deal.id])
    if copies_changed:
        copy_subscription_fields(session, [deal.id])
    return deal


def _history_row(
    deal: Deal, marks: HistoryMarks, *, changed_fields: str, actor: User | None, at: datetime
) -> DealHistory:
    return DealHistory(
        **marks.as_values(),
        deal_id=deal.id,
        valid_from=at,
        valid_to=None,
        changed_by_id=actor.id if actor else None,
        changed_fields=changed_fields,
        stage_id=deal.stage_id,
        amount_cents=deal.amount_cents,
        close_date=deal.close_date,
        forecast_category=deal.forecast_category,
        owner_id=deal.owner_id,
        deal_created_at=deal.created_at,
        **subscription_copies(deal),
    )


def _ensure_open(session: Session, deal: Deal) -> None:
    stage = get_stage(session, deal.stage_id)
    if stage.type != StageType.OPEN:
        raise DealAlreadyClosed(f"deal {deal.id} is already {stage.type.value}")


def _check_stage_of_pipeline(deal: Deal, stage: Stage) -> None:
    if stage.pipeline_id != deal.pipeline_id:
        raise InvalidStageTransition(
            f"stage {stage.name!r} belongs to another pipeline than deal {deal.id}"
        )


def _check_open_category(category: ForecastCategory) -> None:
    if category == ForecastCategory.CLOSED:
        raise InvalidDeal("forecast category 'closed' is set by winning the deal")


def _check_owner(owner: User) -> None:
    if not owner.active:
        raise DealOwnerInactive(f"{owner.email} is inactive and cannot own deals")

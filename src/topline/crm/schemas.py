"""Pydantic shapes of CRM records for services, the API and importers."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from topline.crm.enums import DealType, ForecastCategory, StageType
from topline.types import Cents, Id, Name, Text, Version


class StrictModel(BaseModel):
    """Input: unknown fields are refused; numbers and flags must be real JSON numbers/booleans.

    Whole-model strict mode would also refuse ISO date strings, the only way JSON carries dates,
    so strictness sits on the number types (`Cents`, `Id`, `Version`, `Flag`) instead.
    """

    model_config = ConfigDict(extra="forbid")


class ReadModel(BaseModel):
    """Output, read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class DealUpdate(StrictModel):
    """Fields of a deal that a plain edit may change; only the fields given are applied.

    Stage and owner change through their own operations (move, close, reopen, change owner)
    because each has rules of its own.
    """

    name: Name | None = None
    amount_cents: Cents | None = None
    recurring_amount_cents: Cents | None = None
    close_date: date | None = None
    forecast_category: ForecastCategory | None = None
    type: DealType | None = None
    source: Text | None = Field(default=None, max_length=50)
    next_step: Text | None = Field(default=None, max_length=500)


class DealPatch(DealUpdate):
    """A partial edit of a deal, made against the version the editor read."""

    version: Version


class DealCreate(StrictModel):
    """A new deal. Owner defaults to the caller, stage to the pipeline's first open stage."""

    name: Name
    amount_cents: Cents
    close_date: date
    account_id: Id | None = None
    contact_id: Id | None = None
    owner_id: Id | None = None
    stage_id: Id | None = None
    forecast_category: ForecastCategory = ForecastCategory.PIPELINE
    type: DealType = DealType.NEW_BUSINESS
    recurring_amount_cents: Cents | None = None
    source: Text | None = Field(default=None, max_length=50)
    next_step: Text | None = Field(default=None, max_length=500)


class Versioned(StrictModel):
    """An action on a deal, made against the version the caller read."""

    version: Version


class DealMove(Versioned):
    """Move an open deal to another open stage."""

    stage_id: Id


class DealWin(Versioned):
    """Mark a deal won, optionally with the final amount."""

    amount_cents: Cents | None = None


class DealLose(Versioned):
    """Mark a deal lost, with the reason."""

    loss_reason: Text = Field(min_length=1, max_length=200)
    stage_id: Id | None = None


class DealReopen(Versioned):
    """Put a closed deal back into an open stage."""

    stage_id: Id
    close_date: date


class DealReassign(Versioned):
    """Hand the deal to another owner."""

    owner_id: Id


class DealRead(ReadModel):
    """A deal as the API shows it."""

    id: int
    name: str
    account_id: int | None
    contact_id: int | None
    owner_id: int
    pipeline_id: int
    stage_id: int
    amount_cents: int
    recurring_amount_cents: int | None
    close_date: date
    forecast_category: ForecastCategory
    type: DealType
    source: str | None
    loss_reason: str | None
    next_step: str | None
    created_at: datetime
    closed_at: datetime | None
    updated_at: datetime
    version: int


class DealHistoryRead(ReadModel):
    """The deal's tracked state over `[valid_from, valid_to)`."""

    id: int
    deal_id: int
    valid_from: datetime
    valid_to: datetime | None
    changed_by_id: int | None
    changed_fields: str
    stage_id: int
    amount_cents: int
    close_date: date
    forecast_category: ForecastCategory
    owner_id: int


class StageRead(ReadModel):
    """A stage of a pipeline."""

    id: int
    pipeline_id: int
    name: str
    position: int
    probability: float
    type: StageType

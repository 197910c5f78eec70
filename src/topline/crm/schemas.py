"""Pydantic shapes of CRM records for services, the API and importers."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from topline.crm.enums import DealType, ForecastCategory


class DealUpdate(BaseModel):
    """Fields of a deal that a plain edit may change; only the fields given are applied.

    Stage and owner change through their own operations (move, close, reopen, change owner)
    because each has rules of its own.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(default=None, min_length=1, max_length=300)
    amount_cents: int | None = Field(default=None, ge=0)
    recurring_amount_cents: int | None = Field(default=None, ge=0)
    close_date: date | None = None
    forecast_category: ForecastCategory | None = None
    type: DealType | None = None
    source: str | None = Field(default=None, max_length=50)
    next_step: str | None = Field(default=None, max_length=500)

"""Pydantic shapes of CRM records for services, the API and importers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from topline.crm.enums import (
    ActivityType,
    BuyingRole,
    DealType,
    ForecastCategory,
    LeadStatus,
    Segment,
    StageType,
)
from topline.types import Cents, Flag, Id, Name, Text, Version


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


# Accounts, contacts, leads, activities and pipelines as the API takes and shows them.
# Every limit below matches its column, so PostgreSQL never sees a value it would refuse.


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# The characters `str.strip()` removes, spelled out so the documented pattern means the same
# to every regex engine (ECMA's, Rust's and Python's `\s` each differ) as `_not_blank` does.
_BLANKS = "\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NonBlank = Annotated[
    Text,
    Field(min_length=1, json_schema_extra={"pattern": f"[^{_BLANKS}]"}),
    AfterValidator(_not_blank),
]
# Head counts and durations are 32-bit integer columns.
Count = Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)]
# Plain `str` with the pattern first, so the pattern shows in the OpenAPI schema; neither
# pattern admits a NUL character.
CountryCode = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166 alpha-2.")]
Email = Annotated[str, Field(max_length=320, pattern=r"^[^@ \t\r\n\x00]+@[^@ \t\r\n\x00]+$")]


class AccountUpdate(StrictModel):
    """Facts about an account that an edit may change; only the fields given are applied.

    The name cannot be cleared; the other facts can be set to null when no longer known.
    """

    name: NonBlank | None = Field(default=None, max_length=300)
    domain: Text | None = Field(default=None, max_length=255)
    industry: Text | None = Field(default=None, max_length=100)
    segment: Segment | None = None
    employees: Count | None = None
    annual_revenue_cents: Cents | None = None
    country: CountryCode | None = None
    region: Text | None = Field(default=None, max_length=100)
    postal_code: Text | None = Field(default=None, max_length=20)
    territory: Text | None = Field(default=None, max_length=100)


class AccountPatch(AccountUpdate):
    """An edit of an account; `owner_id` hands it to someone in the editor's team."""

    owner_id: Id | None = None


class AccountCreate(StrictModel):
    """A new account. The owner defaults to the caller; reps can only own accounts themselves."""

    name: NonBlank = Field(max_length=300)
    domain: Text | None = Field(default=None, max_length=255)
    industry: Text | None = Field(default=None, max_length=100)
    segment: Segment | None = None
    employees: Count | None = None
    annual_revenue_cents: Cents | None = None
    country: CountryCode | None = None
    region: Text | None = Field(default=None, max_length=100)
    postal_code: Text | None = Field(default=None, max_length=20)
    territory: Text | None = Field(default=None, max_length=100)
    owner_id: Id | None = None


class AccountRead(ReadModel):
    """An account as the API shows it."""

    id: int
    name: str
    domain: str | None
    industry: str | None
    segment: Segment | None
    employees: int | None
    annual_revenue_cents: int | None
    country: str | None
    region: str | None
    postal_code: str | None
    territory: str | None
    owner_id: int | None
    created_at: datetime


class ContactUpdate(StrictModel):
    """Facts about a contact that an edit may change; only the fields given are applied.

    Names cannot be cleared. A contact stays at its account: deals link to both.
    """

    first_name: Text | None = Field(default=None, max_length=100)
    last_name: NonBlank | None = Field(default=None, max_length=100)
    email: Email | None = None
    phone: Text | None = Field(default=None, max_length=50)
    title: Text | None = Field(default=None, max_length=200)
    buying_role: BuyingRole | None = None


class ContactCreate(StrictModel):
    """A new person at an account the caller can see."""

    account_id: Id
    first_name: Text = Field(default="", max_length=100)
    last_name: NonBlank = Field(max_length=100)
    email: Email | None = None
    phone: Text | None = Field(default=None, max_length=50)
    title: Text | None = Field(default=None, max_length=200)
    buying_role: BuyingRole | None = None


class ContactRead(ReadModel):
    """A contact as the API shows it."""

    id: int
    account_id: int
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    title: str | None
    buying_role: BuyingRole | None
    created_at: datetime


class LeadCreate(StrictModel):
    """A new prospect: who they are, their company and where the lead came from."""

    first_name: Text = Field(default="", max_length=100)
    last_name: NonBlank = Field(max_length=100)
    company: NonBlank = Field(max_length=300)
    source: NonBlank = Field(max_length=50, examples=["web", "event", "referral", "outbound"])
    email: Email | None = None
    phone: Text | None = Field(default=None, max_length=50)
    title: Text | None = Field(default=None, max_length=200)
    company_domain: Text | None = Field(default=None, max_length=255)
    industry: Text | None = Field(default=None, max_length=100)
    employees: Count | None = None
    country: CountryCode | None = None
    region: Text | None = Field(default=None, max_length=100)
    owner_id: Id | None = Field(
        default=None,
        description="Defaults to the caller; null leaves the lead unassigned for routing "
        "(managers and admins only).",
    )


class LeadWork(StrictModel):
    """Start working a new lead; the owner defaults to the caller."""

    owner_id: Id | None = None


class LeadQualify(StrictModel):
    """Qualify a lead as MQL or SQL, recording any BANT answers first.

    An SQL needs at least three of budget, authority, need and timeline confirmed.
    """

    level: Literal["mql", "sql"]
    budget: Flag | None = None
    authority: Flag | None = None
    need: Flag | None = None
    timeline: Flag | None = None


class LeadDisqualify(StrictModel):
    """Close a lead as not worth pursuing."""

    reason: NonBlank = Field(max_length=200)


class LeadConvert(StrictModel):
    """Turn a lead into an account (new, or an existing one), a contact and a first deal.

    The deal owner defaults to the lead's owner, or to the caller for an unassigned lead.
    """

    deal_name: NonBlank = Field(max_length=300)
    amount_cents: Cents
    close_date: date
    owner_id: Id | None = None
    account_id: Id | None = Field(default=None, description="An existing account to sell to.")
    stage_id: Id | None = None
    buying_role: BuyingRole | None = None


class LeadRead(ReadModel):
    """A lead as the API shows it."""

    id: int
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    title: str | None
    company: str
    company_domain: str | None
    industry: str | None
    employees: int | None
    country: str | None
    region: str | None
    source: str
    status: LeadStatus
    bant_budget: bool
    bant_authority: bool
    bant_need: bool
    bant_timeline: bool
    score: float | None
    owner_id: int | None
    created_at: datetime
    mql_at: datetime | None
    sql_at: datetime | None
    converted_at: datetime | None
    disqualified_at: datetime | None
    disqualification_reason: str | None
    converted_account_id: int | None
    converted_contact_id: int | None
    converted_deal_id: int | None


class LeadConversionRead(BaseModel):
    """What converting a lead produced: the converted lead and the new records' ids."""

    lead: LeadRead
    account_id: int
    contact_id: int
    deal_id: int


class ActivityCreate(StrictModel):
    """A call, email, meeting, note or task to log for the caller.

    It must concern at least one deal, contact, account or lead the caller can see.
    """

    type: ActivityType
    subject: NonBlank = Field(max_length=300)
    occurred_at: AwareDatetime
    deal_id: Id | None = None
    contact_id: Id | None = None
    account_id: Id | None = None
    lead_id: Id | None = None
    body: Text | None = Field(default=None, max_length=20_000)
    duration_minutes: Count | None = None
    outcome: Text | None = Field(default=None, max_length=100)
    email_opened: Flag | None = None
    email_clicked: Flag | None = None
    email_replied: Flag | None = None


class ActivityRead(ReadModel):
    """An activity as the API shows it."""

    id: int
    type: ActivityType
    subject: str
    body: str | None
    occurred_at: datetime
    user_id: int
    deal_id: int | None
    contact_id: int | None
    account_id: int | None
    lead_id: int | None
    duration_minutes: int | None
    outcome: str | None
    email_opened: bool | None
    email_clicked: bool | None
    email_replied: bool | None
    created_at: datetime


class StageCreate(StrictModel):
    """A stage of a new pipeline: its name, default win probability (0..1) and type."""

    name: NonBlank = Field(max_length=100)
    probability: float = Field(ge=0.0, le=1.0, allow_inf_nan=False, strict=True)
    type: StageType = StageType.OPEN


class PipelineCreate(StrictModel):
    """A new sales process with its stages in order.

    It needs open stages, exactly one won stage and a lost stage, with unique names.
    """

    name: NonBlank = Field(max_length=100)
    stages: list[StageCreate] = Field(min_length=3, max_length=50)


class PipelineRead(ReadModel):
    """A pipeline with its stages in order."""

    id: int
    name: str
    is_default: bool
    stages: list[StageRead]

"""Pydantic shapes of CRM records for services, the API and importers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from topline.crm.enums import (
    ActivityType,
    BuyingRole,
    DealType,
    ForecastCategory,
    LeadStatus,
    Segment,
    StageType,
)
from topline.types import (
    Cents,
    Count,
    Flag,
    Id,
    IsoDate,
    IsoDateTime,
    Minutes,
    Name,
    NonBlank,
    Omitted,
    RefusesHiddenNulls,
    Text,
    Version,
    WholeNumber,
)

# The categories a rep sets on an open deal; `closed` comes only from winning it.
OpenForecastCategory = Literal[
    ForecastCategory.PIPELINE,
    ForecastCategory.BEST_CASE,
    ForecastCategory.COMMIT,
    ForecastCategory.OMITTED,
]


class StrictModel(RefusesHiddenNulls):
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

    # These cannot be cleared: the schema offers no null for them.
    name: Name | Omitted = None
    amount_cents: Cents | Omitted = None
    recurring_amount_cents: Cents | None = None
    close_date: IsoDate | Omitted = None
    forecast_category: OpenForecastCategory | Omitted = None
    type: DealType | Omitted = None
    source: Text | None = Field(default=None, max_length=50)
    next_step: Text | None = Field(default=None, max_length=500)


class DealPatch(DealUpdate):
    """A partial edit of a deal, made against the version the editor read."""

    version: Version


class DealCreate(StrictModel):
    """A new deal. Owner defaults to the caller, stage to the pipeline's first open stage."""

    name: Name
    amount_cents: Cents
    close_date: IsoDate
    account_id: Id | None = None
    contact_id: Id | None = None
    owner_id: Id | None = None
    stage_id: Id | None = None
    forecast_category: OpenForecastCategory = ForecastCategory.PIPELINE
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

    loss_reason: NonBlank = Field(max_length=200)
    stage_id: Id | None = None


class DealReopen(Versioned):
    """Put a closed deal back into an open stage."""

    stage_id: Id
    close_date: IsoDate


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


# Plain `str` with the pattern first, so the pattern shows in the OpenAPI schema; neither
# pattern admits a NUL character.
CountryCode = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166 alpha-2.")]
Email = Annotated[str, Field(max_length=320, pattern=r"^[^@ \t\r\n\x00]+@[^@ \t\r\n\x00]+$")]


class AccountUpdate(StrictModel):
    """Facts about an account that an edit may change; only the fields given are applied.

    The name cannot be cleared; the other facts can be set to null when no longer known.
    """

    # The length sits on the string branch: on the union it would be applied to null too
    # (a TypeError inside validation, i.e. a 500, instead of the service's refusal).
    name: Annotated[NonBlank, Field(max_length=300)] | Omitted = None
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
    """An edit of an account, made against the version the editor read.

    `owner_id` hands it to someone in the editor's team.
    """

    version: Version
    owner_id: Id | Omitted = None  # an account always has an owner


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
    version: int


class ContactUpdate(StrictModel):
    """Facts about a contact that an edit may change; only the fields given are applied.

    Names cannot be cleared. A contact stays at its account: deals link to both.
    """

    # Lengths on the string branch, as in `AccountUpdate.name`.
    first_name: Annotated[Text, Field(max_length=100)] | Omitted = None
    last_name: Annotated[NonBlank, Field(max_length=100)] | Omitted = None
    email: Email | None = None
    phone: Text | None = Field(default=None, max_length=50)
    title: Text | None = Field(default=None, max_length=200)
    buying_role: BuyingRole | None = None


class ContactPatch(ContactUpdate):
    """An edit of a contact, made against the version the editor read."""

    version: Version


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
    version: int


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

    version: Version
    owner_id: Id | None = None


class LeadQualify(StrictModel):
    """Qualify a lead as MQL or SQL, recording any BANT answers first.

    An SQL needs at least three of budget, authority, need and timeline confirmed.
    """

    version: Version
    level: Literal["mql", "sql"]
    budget: Flag | None = None
    authority: Flag | None = None
    need: Flag | None = None
    timeline: Flag | None = None


class LeadDisqualify(StrictModel):
    """Close a lead as not worth pursuing."""

    version: Version
    reason: NonBlank = Field(max_length=200)


class LeadConvert(StrictModel):
    """Turn a lead into an account (new, or an existing one), a contact and a first deal.

    The deal owner defaults to the lead's owner, or to the caller for an unassigned lead.
    """

    version: Version
    deal_name: NonBlank = Field(max_length=300)
    amount_cents: Cents
    close_date: IsoDate
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
    version: int


class LeadConversionRead(BaseModel):
    """What converting a lead produced: the converted lead and the new records' ids."""

    lead: LeadRead
    account_id: int
    contact_id: int
    deal_id: int


# The records an activity can concern; the schema asks for at least one of them, not null.
ACTIVITY_LINKS = ("deal_id", "contact_id", "account_id", "lead_id")


class ActivityFields(StrictModel):
    """What every activity records: a subject, when, and the records it concerns.

    It must concern at least one deal, contact, account or lead the caller can see. A time in
    the future makes it a planned activity: a scheduled call or meeting, or a task's due time.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [link], "properties": {link: {"type": "integer"}}}
                for link in ACTIVITY_LINKS
            ]
        }
    )

    subject: Name
    occurred_at: IsoDateTime
    deal_id: Id | None = None
    contact_id: Id | None = None
    account_id: Id | None = None
    lead_id: Id | None = None
    body: Text | None = Field(default=None, max_length=20_000)
    duration_minutes: Minutes | None = None
    outcome: Text | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _concerns_a_record(self) -> ActivityFields:
        if all(getattr(self, link) is None for link in ACTIVITY_LINKS):
            raise ValueError("give at least one of deal_id, contact_id, account_id or lead_id")
        return self


class OtherActivityCreate(ActivityFields):
    """A call, meeting, note or task to log for the caller."""

    type: Literal[ActivityType.CALL, ActivityType.MEETING, ActivityType.NOTE, ActivityType.TASK]


class EmailActivityCreate(ActivityFields):
    """An email to log for the caller, with what tracking saw of it.

    A click or a reply proves the email was opened, so it is recorded as opened even when
    tracking reports `email_opened: false` (the open pixel is often blocked).
    """

    type: Literal[ActivityType.EMAIL]
    email_opened: Flag | None = None
    email_clicked: Flag | None = None
    email_replied: Flag | None = None


ActivityCreate = Annotated[EmailActivityCreate | OtherActivityCreate, Field(discriminator="type")]
"""An activity to log; only emails carry engagement (`email_opened`, `_clicked`, `_replied`)."""


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
    stages: list[StageCreate] = Field(
        min_length=3,
        max_length=50,
        json_schema_extra={
            "allOf": [
                # A stage without a type is open.
                {"contains": {"properties": {"type": {"const": "open"}}}},
                {
                    "contains": {"required": ["type"], "properties": {"type": {"const": "won"}}},
                    "minContains": 1,
                    "maxContains": 1,
                },
                {"contains": {"required": ["type"], "properties": {"type": {"const": "lost"}}}},
            ]
        },
    )


StageName = Annotated[NonBlank, Field(max_length=100)]
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False, strict=True)]


class StageUpdate(StrictModel):
    """A stage's new name or default win probability (0..1); only the fields given change."""

    name: StageName | Omitted = None
    probability: Probability | Omitted = None


class StageAdd(StrictModel):
    """A new open stage of an existing pipeline.

    `position` is its place among the open stages (1 is first); without it, it goes after the
    last open stage. Won and lost stages always follow the open ones.
    """

    name: StageName
    probability: Probability
    position: Annotated[int, Field(ge=1, le=1000, strict=True), WholeNumber] | Omitted = None


class StageOrder(StrictModel):
    """The open stages of a pipeline in their new order: each open stage's id exactly once."""

    stage_ids: list[Id] = Field(min_length=1, max_length=50)


class PipelineRead(ReadModel):
    """A pipeline with its stages in order."""

    id: int
    name: str
    is_default: bool
    stages: list[StageRead]

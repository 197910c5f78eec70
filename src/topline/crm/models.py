"""Accounts, contacts, leads, pipelines, deals with their change history, and activities."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from topline.crm.enums import (
    ActivityType,
    BuyingRole,
    DealType,
    ForecastCategory,
    LeadStatus,
    Segment,
    StageType,
)
from topline.storage.base import Base, IdMixin
from topline.storage.types import BigId, UTCDateTime, enum_column

if TYPE_CHECKING:
    from topline.auth.models import User


class Account(IdMixin, Base):
    """A company the team sells to: its size, place and the rep who owns the relationship.

    `version` increases on every write so concurrent edits fail instead of overwriting each
    other; rows written in bulk (the demo org) or before the column existed start at 1.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("employees IS NULL OR employees >= 0", name="employees_non_negative"),
    )

    name: Mapped[str] = mapped_column(String(300), index=True)
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    industry: Mapped[str | None] = mapped_column(String(100))
    segment: Mapped[Segment | None] = mapped_column(enum_column(Segment, "segment"))
    employees: Mapped[int | None] = mapped_column(Integer)
    annual_revenue_cents: Mapped[int | None] = mapped_column(BigInteger)
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100), index=True)
    postal_code: Mapped[str | None] = mapped_column(String(20))
    territory: Mapped[str | None] = mapped_column(String(100), index=True)
    owner_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    owner: Mapped[User | None] = relationship(lazy="raise")


class Contact(IdMixin, Base):
    """A person at an account, with their role in the buying committee.

    `version` increases on every write, as for accounts.
    """

    __tablename__ = "contacts"

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str | None] = mapped_column(String(200))
    buying_role: Mapped[BuyingRole | None] = mapped_column(enum_column(BuyingRole, "buying_role"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    account: Mapped[Account] = relationship(lazy="raise")


class Lead(IdMixin, Base):
    """A prospect not yet converted: who they are, where they came from, how qualified.

    Marketing qualifies a lead as an MQL; sales qualifies it as an SQL once enough of BANT
    (budget, authority, need, timeline) is confirmed. Converting creates the account, the
    contact and the first deal and links them here. `version` increases on every write, as
    for accounts.
    """

    __tablename__ = "leads"

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str] = mapped_column(String(300))
    company_domain: Mapped[str | None] = mapped_column(String(255))
    industry: Mapped[str | None] = mapped_column(String(100))
    employees: Mapped[int | None] = mapped_column(Integer)
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(50), index=True)
    status: Mapped[LeadStatus] = mapped_column(enum_column(LeadStatus, "lead_status"), index=True)
    bant_budget: Mapped[bool] = mapped_column(Boolean, default=False)
    bant_authority: Mapped[bool] = mapped_column(Boolean, default=False)
    bant_need: Mapped[bool] = mapped_column(Boolean, default=False)
    bant_timeline: Mapped[bool] = mapped_column(Boolean, default=False)
    score: Mapped[float | None] = mapped_column(Float)
    owner_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    mql_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sql_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disqualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disqualification_reason: Mapped[str | None] = mapped_column(String(200))
    converted_account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("accounts.id"))
    converted_contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contacts.id"))
    converted_deal_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("deals.id"))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def bant_count(self) -> int:
        """How many of the four BANT criteria are confirmed."""
        return sum((self.bant_budget, self.bant_authority, self.bant_need, self.bant_timeline))


class Pipeline(IdMixin, Base):
    """A sales process: an ordered list of stages a deal moves through."""

    __tablename__ = "pipelines"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)

    stages: Mapped[list[Stage]] = relationship(
        lazy="raise", order_by="Stage.position", back_populates="pipeline"
    )


class Stage(IdMixin, Base):
    """A step of a pipeline. Its type (open, won, lost) is separate from its name."""

    __tablename__ = "stages"
    __table_args__ = (
        UniqueConstraint("pipeline_id", "position"),
        UniqueConstraint("pipeline_id", "name"),
        CheckConstraint("probability >= 0 AND probability <= 1", name="probability_range"),
    )

    pipeline_id: Mapped[int] = mapped_column(BigId, ForeignKey("pipelines.id"))
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    probability: Mapped[float] = mapped_column(Float)
    type: Mapped[StageType] = mapped_column(enum_column(StageType, "stage_type"))

    pipeline: Mapped[Pipeline] = relationship(lazy="raise", back_populates="stages")


class Deal(IdMixin, Base):
    """A sales opportunity: what an account may buy, for how much, and when.

    `version` increases on every write so concurrent edits fail instead of overwriting each
    other. Every change of stage, amount, close date, forecast category or owner also appends a
    `DealHistory` row in the same transaction.

    `push_count` and `last_pushed_at` count the history rows whose close date is later than the
    row before (the deal's close date was pushed out) and say when the last one started. They
    follow from the history (`topline.crm.history.refresh_pushes` works them out again), and are
    kept on the deal so that "slipped lately" is a column test for the deals at risk, not a
    search of every open deal's history.
    """

    __tablename__ = "deals"
    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="amount_non_negative"),
        CheckConstraint(
            "recurring_amount_cents IS NULL OR recurring_amount_cents >= 0",
            name="recurring_non_negative",
        ),
        Index("ix_deals_owner_stage", "owner_id", "stage_id"),
    )

    name: Mapped[str] = mapped_column(String(300))
    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("accounts.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contacts.id"))
    owner_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    pipeline_id: Mapped[int] = mapped_column(BigId, ForeignKey("pipelines.id"))
    stage_id: Mapped[int] = mapped_column(BigId, ForeignKey("stages.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    recurring_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    close_date: Mapped[date] = mapped_column(Date, index=True)
    forecast_category: Mapped[ForecastCategory] = mapped_column(
        enum_column(ForecastCategory, "forecast_category")
    )
    type: Mapped[DealType] = mapped_column(enum_column(DealType, "deal_type"))
    source: Mapped[str | None] = mapped_column(String(50))
    loss_reason: Mapped[str | None] = mapped_column(String(200))
    next_step: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    push_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    account: Mapped[Account | None] = relationship(lazy="raise")
    stage: Mapped[Stage] = relationship(lazy="raise")
    owner: Mapped[User] = relationship(lazy="raise")


# The rows of `ix_deal_history_subscription`: the events of the MRR report, closes won with a
# recurring amount and renewals lost (the stage types imply the close). A query reading them
# repeats this text word for word, which SQLite needs to see that the partial index holds every
# row the query wants; the outer parentheses keep it whole among the query's other conditions.
SUBSCRIPTION_ROWS = text(
    "((stage_type = 'won' AND recurring_amount_cents IS NOT NULL) "
    "OR (stage_type = 'lost' AND deal_type = 'renewal'))"
)


class DealHistory(IdMixin, Base):
    """The full tracked state of a deal after each change, valid over `[valid_from, valid_to)`.

    Rows are append-only: a new change only closes the previous row's `valid_to`. Exactly one
    row per deal has `valid_to IS NULL` (the current state), so "the deal as of T" is the range
    predicate `valid_from <= T AND (valid_to > T OR valid_to IS NULL)`.

    Five columns follow from the deal's earlier rows and are set when a row is written:
    `stage_type` (its stage's type), `is_first` (the deal as created), `entered_at` (when the
    deal entered this row's stage; coming back after another stage is a new entry),
    `closed_at` (in a won or lost stage: when the deal closed, i.e. entered its closed run;
    null while open; reopening and closing again is a new close) and `pushed_from` (when the
    row pushes the deal, i.e. it and the row before are open and its close date is later: the
    close date it was pushed from; null otherwise).

    `deal_created_at` repeats the deal's `created_at` on each of its rows, so the sales cycle of
    the deals closed in a period (close minus creation) comes from the closes' index alone, not
    from a deal row per close. Imports fill it in once their rows are loaded.

    `account_id`, `deal_type` and `recurring_amount_cents` repeat the deal's current subscription
    fields on each of its rows (they are not tracked: changing them adds no row, it rewrites the
    copies, `topline.crm.history.copy_subscription_fields`), so the MRR report reads its events
    (closes won with a recurring amount, renewals lost) off one partial index instead of looking
    each one up among the deals.
    """

    __tablename__ = "deal_history"
    __table_args__ = (
        # A deal's rows in order, with what the reports look up by deal (the funnel's row at
        # `as_of`, slippage's row before a push), so that those lookups read the index alone
        # (see migration `f3a9c6e2b8d4`); SQLite's entries hold the row id anyway.
        Index(
            "ix_deal_history_deal_valid_from",
            "deal_id",
            "valid_from",
            "valid_to",
            "stage_id",
            "stage_type",
            "owner_id",
            "entered_at",
            postgresql_include=["id"],
        ),
        # Serves "open pipeline closing in a period, as of T" from the index alone, and the
        # waterfall's deals closing in the period at a moment (with their close and creation).
        Index(
            "ix_deal_history_as_of",
            "close_date",
            "valid_from",
            "valid_to",
            "deal_id",
            "stage_id",
            "amount_cents",
            "owner_id",
            "stage_type",
            "closed_at",
            "deal_created_at",
        ),
        Index(
            "uq_deal_history_current",
            "deal_id",
            unique=True,
            sqlite_where=text("valid_to IS NULL"),
            postgresql_where=text("valid_to IS NULL"),
        ),
        # Closes in a period as of T: the row current at T whose close falls in the period.
        Index(
            "ix_deal_history_closed",
            "closed_at",
            "valid_from",
            "valid_to",
            "deal_id",
            "owner_id",
            "stage_type",
            "amount_cents",
            "deal_created_at",
            "account_id",
            "deal_type",
            sqlite_where=text("closed_at IS NOT NULL"),
            postgresql_where=text("closed_at IS NOT NULL"),
        ),
        # Deals created in a period: their first rows.
        Index(
            "ix_deal_history_created",
            "valid_from",
            "owner_id",
            "amount_cents",
            "deal_id",
            sqlite_where=text("is_first = 1"),
            postgresql_where=text("is_first"),
        ),
        # Stage entries in a period, and each stay's rows (they share `entered_at`).
        Index(
            "ix_deal_history_entered",
            "entered_at",
            "deal_id",
            "stage_id",
            "valid_from",
            "valid_to",
            "id",
        ),
        # The rows current at T of one stage type (`open_as_of`): those still current (no
        # `valid_to`) and those ended after T, each a range, by owner.
        Index(
            "ix_deal_history_ended",
            "valid_to",
            "stage_type",
            "owner_id",
            "valid_from",
            "deal_id",
        ),
        # The MRR report's events as of T, in the order it replays them (close, then deal):
        # the closes' index narrowed to them and carrying their subscription fields.
        Index(
            "ix_deal_history_subscription",
            "closed_at",
            "deal_id",
            "valid_from",
            "valid_to",
            "owner_id",
            "stage_type",
            "account_id",
            "deal_type",
            "recurring_amount_cents",
            sqlite_where=SUBSCRIPTION_ROWS,
            postgresql_where=SUBSCRIPTION_ROWS,
        ),
        # Pushes in a window (slippage): the rows that moved an open deal's close date later,
        # with their owner for a team's or a rep's pushes.
        Index(
            "ix_deal_history_pushed",
            "valid_from",
            "pushed_from",
            "close_date",
            "deal_id",
            "owner_id",
            sqlite_where=text("pushed_from IS NOT NULL"),
            postgresql_where=text("pushed_from IS NOT NULL"),
            postgresql_include=["id"],
        ),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="interval_order"),
        CheckConstraint("entered_at <= valid_from", name="entered_before_valid"),
        CheckConstraint(
            "(stage_type = 'open') = (closed_at IS NULL) AND (closed_at IS NULL OR "
            "closed_at <= valid_from)",
            name="closed_when_closed",
        ),
        CheckConstraint(
            "pushed_from IS NULL OR (stage_type = 'open' AND pushed_from < close_date)",
            name="pushed_when_open",
        ),
    )

    deal_id: Mapped[int] = mapped_column(BigId, ForeignKey("deals.id"))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    changed_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    changed_fields: Mapped[str] = mapped_column(String(100))
    stage_id: Mapped[int] = mapped_column(BigId, ForeignKey("stages.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    close_date: Mapped[date] = mapped_column(Date)
    forecast_category: Mapped[ForecastCategory] = mapped_column(
        enum_column(ForecastCategory, "forecast_category")
    )
    owner_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    # Derived when the row is written, from the deal's previous row (`topline.crm.history.
    # next_marks`), so reports find closes, creations and stage entries by range scans instead
    # of window functions over every deal's history.
    stage_type: Mapped[StageType] = mapped_column(enum_column(StageType, "stage_type"))
    is_first: Mapped[bool] = mapped_column(Boolean)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pushed_from: Mapped[date | None] = mapped_column(Date)
    deal_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Copies of the deal's current fields (see above), not foreign keys: the deal's own hold.
    account_id: Mapped[int | None] = mapped_column(BigId)
    deal_type: Mapped[DealType | None] = mapped_column(enum_column(DealType, "deal_type"))
    recurring_amount_cents: Mapped[int | None] = mapped_column(BigInteger)


# What the funnel's cohort reads of a stay besides its entry and owner (`DealStay`'s indexes).
_COHORT_READS = (
    "stage_id",
    "deal_id",
    "previous_at",
    "previous_open_at",
    "left_at",
    "days",
    "advanced_at",
    "last_stage_id",
    "last_entered_at",
)


class DealStay(IdMixin, Base):
    """One stay of a deal in an open stage: the run of its history rows in that stage, from the
    row that entered it (`entry_id`, `entered_at`) to the entry into the next stage.

    Derived from `deal_history` by `topline.crm.stays.rebuild_stays` and never edited by hand:
    the deal service rebuilds a deal's stays when it enters a stage or changes owner, bulk
    writers (imports, the demo) for the deals they wrote, and reordering a pipeline's stages
    for that pipeline. Every column is a fact of the history that no later row changes except by
    appending, so the funnel reads the stays of any period as of any moment with range
    conditions alone:

    - `left_at`: when the deal entered its next stage (null while it stays); `days` the UTC
      calendar days from `entered_at` to `left_at`.
    - `advanced_at`: the first entry after this one (by moment, then row id) into the won stage
      or an open stage of a higher position in the same pipeline (null while none).
    - `previous_at`: the deal's previous entry into the same stage (null for the first);
      `previous_open_at`: its previous entry into any open stage.
    - `owner_id`: the deal's owner at the entry; `owner_until`: the first change after the entry
      to another owner (null while none), so that until then the owner needs no look-up.
    - `last_stage_id`, `last_entered_at`: the deal's latest entry into a stage (won and lost
      included) and when, the same on all its stays: from then on the deal is in that stage,
      so its stage at any `as_of` since needs no look-up. The deal service rebuilds a deal's
      stays whenever it enters a stage, so these follow.
    """

    __tablename__ = "deal_stays"
    __table_args__ = (
        # The funnel's cohort: the stays entered in a period, read from the index alone.
        Index("ix_deal_stays_entered", "entered_at", *_COHORT_READS, "owner_id", "owner_until"),
        # A team's or a rep's cohort: the stays entered in a period by owner, for the stays whose
        # owner at the entry is still the owner at `as_of` (nearly all)...
        Index("ix_deal_stays_owner", "owner_id", "entered_at", *_COHORT_READS, "owner_until"),
        # ... and the few whose deal changed owner after the entry, whose owner is looked up;
        # also the deals that changed owner in a window (slippage), from the index alone.
        Index(
            "ix_deal_stays_reassigned",
            "entered_at",
            "owner_until",
            "left_at",
            "deal_id",
            sqlite_where=text("owner_until IS NOT NULL"),
            postgresql_where=text("owner_until IS NOT NULL"),
        ),
        UniqueConstraint("deal_id", "entry_id"),
    )

    deal_id: Mapped[int] = mapped_column(BigId, ForeignKey("deals.id"))
    stage_id: Mapped[int] = mapped_column(BigId, ForeignKey("stages.id"))
    entry_id: Mapped[int] = mapped_column(BigId)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    days: Mapped[int | None] = mapped_column(Integer)
    advanced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    previous_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    previous_open_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    owner_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Nullable only so that adding them needed no rebuild of the table; every stay has them.
    last_stage_id: Mapped[int | None] = mapped_column(BigId)
    last_entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Activity(IdMixin, Base):
    """A touch with a customer or prospect: call, email, meeting, note or task."""

    __tablename__ = "activities"
    __table_args__ = (
        # A person's activities by time, and their counts by type in a period from the index
        # alone (the rep comparison; SQLite skips through it person by person)...
        Index("ix_activities_user_occurred", "user_id", "occurred_at", "type"),
        # ... which PostgreSQL cannot, so there the period's activities of everyone are one
        # range of this one (1M-deal org, a quarter's 530k activities: a parallel scan of all
        # 4M rows 0.30 s, this range 0.12 s). SQLite has no use for it.
        Index(
            "ix_activities_occurred", "occurred_at", postgresql_include=["user_id", "type"]
        ).ddl_if(dialect="postgresql"),
        CheckConstraint(
            "duration_minutes IS NULL OR duration_minutes >= 0", name="duration_non_negative"
        ),
    )

    type: Mapped[ActivityType] = mapped_column(enum_column(ActivityType, "activity_type"))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    deal_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("deals.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contacts.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("accounts.id"), index=True)
    lead_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("leads.id"), index=True)
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(100))
    email_opened: Mapped[bool | None] = mapped_column(Boolean)
    email_clicked: Mapped[bool | None] = mapped_column(Boolean)
    email_replied: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

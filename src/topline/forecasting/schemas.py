"""Pydantic shapes of forecast calls, projections and their accuracy for services and the API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from topline.auth.enums import Role
from topline.auth.schemas import ReadModel, StrictModel
from topline.forecasting.calls import BiasLabel
from topline.types import Cents, Id, MonthPeriod, Text


class ForecastSubmit(StrictModel, MonthPeriod):
    """A forecast call for one person's number in a period of whole months.

    The three numbers are cumulative (commit ≤ best case ≤ pipeline), so the call is given as
    the commit and what each next category adds to it; an inverted call cannot be written.
    `user_id` defaults to the caller; a manager may call the number of anyone below them (an
    adjustment of that person's call).
    """

    user_id: Id | None = Field(default=None, description="Whose number; the caller when absent.")
    commit_cents: Cents = Field(description="What the caller commits to close in the period.")
    best_case_over_commit_cents: Cents = Field(
        description="Upside: what could close on top of the commit. Best case = commit + this."
    )
    pipeline_over_best_case_cents: Cents = Field(
        description="The rest of the pipeline beyond the best case. Pipeline = best case + this."
    )
    note: Text | None = Field(default=None, max_length=2000)

    @property
    def best_case_cents(self) -> int:
        """The best case: the commit plus the upside."""
        return self.commit_cents + self.best_case_over_commit_cents

    @property
    def pipeline_cents(self) -> int:
        """All the pipeline the call counts: the best case plus the rest."""
        return self.best_case_cents + self.pipeline_over_best_case_cents


class ForecastSubmissionRead(ReadModel):
    """A forecast call as submitted."""

    id: int
    user_id: int
    submitted_by_id: int
    period_start: date
    period_end: date
    commit_cents: int
    best_case_cents: int
    pipeline_cents: int
    note: str | None
    submitted_at: datetime


class CallAmountsRead(ReadModel):
    """Commit, best case and pipeline, cumulative: commit ≤ best case ≤ pipeline."""

    commit_cents: int
    best_case_cents: int
    pipeline_cents: int


class CallPeriodRead(ReadModel):
    """The period a forecast call is for, `[start, end)`."""

    label: str = Field(examples=["2025Q3"])
    start: date
    end: date = Field(description="The first day after the period.")


class CallPersonRead(ReadModel):
    """Whose number a node of the roll-up is."""

    id: int
    name: str
    role: Role
    manager_id: int | None


class BiasStatRead(ReadModel):
    """Mean bias over `n` ended periods; none when `n` is 0."""

    mean: float | None = Field(
        description="Mean of (call − actual) / actual: −0.2 calls 20% under what was won."
    )
    n: int


class BiasRowRead(ReadModel):
    """The bias of the call as it stood `horizon_weeks` after the period started."""

    horizon_weeks: int
    commit: BiasStatRead
    best_case: BiasStatRead
    pipeline: BiasStatRead


class ForecastBiasRead(ReadModel):
    """How far a person's calls were from what was won, over the periods that had ended."""

    user_id: int
    horizons: list[BiasRowRead]
    commit: BiasStatRead = Field(description="Commit bias pooled over every horizon.")
    label: BiasLabel | None = Field(
        description="sandbagger (commit bias below −10%), optimistic (above +10%) or "
        "accurate; none without an ended period to judge."
    )


class ForecastBiasReport(BaseModel):
    """A person's forecast bias as known at `as_of`."""

    as_of: datetime
    bias: ForecastBiasRead


class PrefillReport(BaseModel):
    """What a person's deals said about a period at `as_of`: won so far plus open deals
    closing in the period, by forecast category."""

    user_id: int
    period: CallPeriodRead
    as_of: datetime
    amounts: CallAmountsRead


class RollupNodeRead(ReadModel):
    """One person of the roll-up: their call, its adjustment, what their deals and their
    team say, and the people below them."""

    user: CallPersonRead
    own_call: ForecastSubmissionRead | None = Field(
        description="The person's latest own call for the period."
    )
    adjustment: ForecastSubmissionRead | None = Field(
        description="The latest call for their number by someone else (a manager)."
    )
    effective_call: ForecastSubmissionRead | None = Field(
        description="Whichever of the own call and the adjustment is later: the call that counts."
    )
    prefill: CallAmountsRead = Field(description="What the deals the call covers say.")
    rollup: CallAmountsRead | None = Field(
        description="For everyone but reps: the sum of the direct reports' effective calls."
    )
    stale: bool = Field(description="No own call for the period in the last 7 days.")
    bias: ForecastBiasRead
    children: list[RollupNodeRead]


class ForecastRollupReport(ReadModel):
    """A manager's forecast call tree for a period, as it stood at `as_of`."""

    manager_id: int
    period: CallPeriodRead
    as_of: datetime
    root: RollupNodeRead


# --- The projection and its accuracy --------------------------------------------------------


class ProjectionDriverRead(BaseModel):
    """An open deal that moves the projection: amount × probability, and why."""

    deal_id: int
    amount_cents: int
    probability: float = Field(ge=0, le=1)
    expected_cents: int
    factors: list[str] = Field(
        description='Phrased for a person, e.g. "Stage Negotiation: +24 pts".'
    )


class ForecastMethodRead(BaseModel):
    """One method's forecast of the period's won amount (won so far included), in cents."""

    method: str = Field(
        description="projection, people, stage_weighted, historical_conversion or category_rollup."
    )
    expected_cents: int
    p10_cents: int | None = Field(description="The projection's range; null for the others.")
    p50_cents: int | None
    p90_cents: int | None


class ProjectionReport(BaseModel):
    """The forecast kept for a scope on one day: every method, the range and its drivers."""

    scope: str = Field(description='"org", "team:<manager id>" or "rep:<user id>".')
    period_start: date
    period_end: date
    taken_on: date
    taken_at: datetime
    won_cents: int = Field(description="Won in the period when the forecast was taken.")
    open_deals: int
    new_deals_cents: int | None = Field(
        description="The projection's share from deals not yet created (the run rate)."
    )
    shortage: str | None = Field(
        description="Why the learned methods are missing (too little history), or null."
    )
    methods: list[ForecastMethodRead]
    drivers: list[ProjectionDriverRead]


class MethodAccuracyRead(BaseModel):
    """A method's accuracy at one horizon over ended periods."""

    mape: float | None = Field(description="Mean of |forecast − actual| / actual.")
    bias: float | None = Field(description="Mean of (forecast − actual) / actual.")
    coverage_p10_p90: float | None = Field(
        default=None, description="Share of actuals inside P10–P90 (the projection only)."
    )
    n: int


class MethodHorizonsRead(BaseModel):
    """A method's accuracy by horizon (weeks into the period, as text)."""

    horizons: dict[str, MethodAccuracyRead]


class ForecastAccuracyReport(BaseModel):
    """How the kept forecasts of ended periods did, per method and horizon."""

    scope: str
    periods: list[str]
    methods: dict[str, MethodHorizonsRead]

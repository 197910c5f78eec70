"""Pydantic shapes of scoring models and deal scores for the API and the CLI."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from topline.auth.schemas import ReadModel


class CalibrationBinRead(BaseModel):
    """Test records whose probability fell in [lower, upper): how many, what they were told
    on average, and the share that was won."""

    lower: float
    upper: float
    count: int
    mean_predicted: float | None
    observed_rate: float | None


class BaselineRead(BaseModel):
    """A simple method measured on the same test records, for comparison."""

    auc: float
    pr_auc: float
    brier: float


class ModelMetrics(BaseModel):
    """How accurate a model proved on the latest snapshots, which it was not trained on.

    A model of historical rates has no test: `message` says why no model was trained.
    """

    auc: float | None = Field(default=None, description="ROC AUC on the test snapshots.")
    pr_auc: float | None = Field(default=None, description="Average precision on them.")
    brier: float | None = Field(default=None, description="Mean squared error (lower is better).")
    positive_rate: float | None = Field(default=None, description="Share won of all snapshots.")
    calibration_method: str | None = None
    calibration: list[CalibrationBinRead] = Field(default_factory=list)
    baselines: dict[str, BaselineRead] = Field(default_factory=dict)
    test_from: datetime | None = Field(default=None, description="First test snapshot.")
    snapshots: int = Field(default=0, description="Labelled deal snapshots available.")
    message: str | None = Field(default=None, description="Why no model was trained.")
    target: str | None = Field(default=None, description="Lead models: converted or won.")
    horizon_days: int | None = Field(
        default=None, description="Lead models: days after scoring the outcome counts within."
    )


class ImportanceRead(BaseModel):
    """A field's share of what the model learned from (its share of split gain)."""

    feature: str
    share: float


class ScoringModelRead(ReadModel):
    """One trained version of a scorer, with its data window and accuracy."""

    id: int
    kind: str = Field(description="What it predicts: deal_win, lead_conversion or lead_won.")
    version: int
    method: str = Field(description="lightgbm, or historical_rates with too little history.")
    trained_at: datetime
    as_of: datetime = Field(description="The moment it was trained as of.")
    window_start: datetime | None = Field(description="First snapshot learned from.")
    window_end: datetime | None = Field(description="Last snapshot learned from.")
    n_train: int
    n_test: int
    metrics: ModelMetrics
    importances: list[ImportanceRead]


class FactorRead(BaseModel):
    """One field's push on a deal's probability, in percentage points (+ up, − down)."""

    feature: str = Field(examples=["close_date_pushes"])
    value: float | str | None = Field(description="The field's value at the scoring moment.")
    points: float = Field(examples=[-12.3])
    text: str = Field(examples=["3 close-date pushes: −12 pts"])


class FactorsRead(BaseModel):
    """The fields raising and lowering the probability most, strongest first."""

    up: list[FactorRead]
    down: list[FactorRead]


class ScoreModelRef(BaseModel):
    """Which model gave a score."""

    id: int
    version: int
    method: str
    trained_at: datetime


class DealScoreRead(BaseModel):
    """A deal's latest win probability (0–1), why, and which model gave it."""

    deal_id: int
    probability: float = Field(ge=0, le=1)
    scored_at: datetime = Field(description="The moment the deal was scored as of.")
    model: ScoreModelRef
    factors: FactorsRead


class LeadScoreRead(BaseModel):
    """A lead's latest probability (0–1) of converting within the horizon, or of converting
    into a won deal (`target` won), why, and which model gave it."""

    lead_id: int
    target: str = Field(description="converted or won.")
    horizon_days: int | None = Field(description="Days after scoring the outcome counts within.")
    probability: float = Field(ge=0, le=1)
    scored_at: datetime = Field(description="The moment the lead was scored as of.")
    model: ScoreModelRef
    factors: FactorsRead


class IcpFactorRead(BaseModel):
    """One firmographic field's part of an ICP fit."""

    field: str = Field(examples=["industry"])
    value: str = Field(examples=["Software"])
    lift: float = Field(description="Customer share of accounts with this value over the usual.")
    points: float = Field(description="Points of the fit this field gives (they add up to it).")
    text: str = Field(examples=["Industry Software: 2.1× the usual customer share"])


class IcpFitRead(BaseModel):
    """How closely an account resembles the accounts that became customers: 0 (least) to 100
    (most), from Laplace-smoothed customer shares by segment, industry, size band and country."""

    account_id: int | None = Field(description="The account compared (leads: null if none).")
    lead_id: int | None = None
    fit: float = Field(ge=0, le=100)
    as_of: datetime
    customers: int = Field(description="Accounts with won revenue by then.")
    accounts: int = Field(description="Accounts compared against.")
    factors: list[IcpFactorRead]

"""Stored scoring models and the scores they gave."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from topline.storage.base import Base, IdMixin
from topline.storage.types import BigId, UTCDateTime


class ScoringModel(IdMixin, Base):
    """One trained version of a scorer (`kind` "deal_win", "lead_conversion" or "lead_won"):
    what it learned from, how accurate it proved, and the fitted model itself.

    `method` is "lightgbm" (Topline's calibrated scorer) or "historical_rates" (too little
    history to train: Laplace-smoothed win rates by stage and source). `as_of` is the moment
    it was trained as of; `window_start`/`window_end` the first and last snapshot it learned
    from. `metrics` holds the out-of-time evaluation (auc, pr_auc, brier, calibration table,
    baselines; or the `message` saying why no model was trained), `importances` the fields'
    shares of the model's split gain.

    The fitted model is stored as JSON, never as a pickle: `booster` is LightGBM's own model
    text (null for historical rates) and `state` the rest (encoding vocabularies, calibrator
    thresholds or coefficients, hyperparameters; or the rate counts). `state_sha256` is the
    SHA-256 of both, checked when the model is loaded, so a damaged row is refused instead of
    scoring wrongly.
    """

    __tablename__ = "scoring_models"
    __table_args__ = (
        UniqueConstraint("kind", "version"),
        CheckConstraint("n_train >= 0 AND n_test >= 0", name="counts_non_negative"),
    )

    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(32))
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    n_train: Mapped[int] = mapped_column(Integer)
    n_test: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    importances: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Loaded only when a model is used: a booster is megabytes, and lists need neither.
    booster: Mapped[str | None] = mapped_column(Text, deferred=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    state_sha256: Mapped[str] = mapped_column(String(64))


class DealScore(IdMixin, Base):
    """The probability that an open deal is won, as a model scored it at `scored_at`.

    Scores are kept, not overwritten: a deal's latest score is its row with the latest
    `scored_at` (the index serves it). `factors` lists the fields pushing the probability up
    and down, in percentage points with a phrase each; it is null when the scores were too many
    to explain in bulk, and the explanation is then worked out when the score is read.
    """

    __tablename__ = "deal_scores"
    __table_args__ = (
        Index("ix_deal_scores_deal_latest", "deal_id", "scored_at", "id"),
        CheckConstraint("probability >= 0 AND probability <= 1", name="probability_range"),
    )

    deal_id: Mapped[int] = mapped_column(BigId, ForeignKey("deals.id"))
    model_id: Mapped[int] = mapped_column(BigId, ForeignKey("scoring_models.id"), index=True)
    probability: Mapped[float] = mapped_column(Float)
    factors: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LeadScore(IdMixin, Base):
    """The probability that an open lead converts within the model's horizon (or, for a
    `lead_won` model, converts into a deal that is won), as a model scored it at `scored_at`.

    Kept, not overwritten, as deal scores are: a lead's latest score of a kind is its row with
    the latest `scored_at` from a model of that kind. `factors` lists the fields pushing the
    probability up and down, in percentage points with a phrase each; null when the scores were
    too many to explain in bulk.
    """

    __tablename__ = "lead_scores"
    __table_args__ = (
        Index("ix_lead_scores_lead_latest", "lead_id", "scored_at", "id"),
        CheckConstraint("probability >= 0 AND probability <= 1", name="probability_range"),
    )

    lead_id: Mapped[int] = mapped_column(BigId, ForeignKey("leads.id"))
    model_id: Mapped[int] = mapped_column(BigId, ForeignKey("scoring_models.id"), index=True)
    probability: Mapped[float] = mapped_column(Float)
    factors: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)

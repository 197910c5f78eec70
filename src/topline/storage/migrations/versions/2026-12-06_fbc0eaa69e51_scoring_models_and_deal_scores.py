"""Scoring models and deal scores: versioned win-probability models (their metrics and the
fitted model as JSON) and the probability each open deal was given, with its factors.

Revision ID: fbc0eaa69e51
Revises: 5fa8a6c131d6
Create Date: 2026-12-06 09:26:37.002693
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import topline.storage.types

revision: str = "fbc0eaa69e51"
down_revision: str | None = "5fa8a6c131d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scoring_models",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("trained_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("as_of", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("window_start", topline.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_end", topline.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("n_train", sa.Integer(), nullable=False),
        sa.Column("n_test", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("importances", sa.JSON(), nullable=False),
        sa.Column("booster", sa.Text(), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("state_sha256", sa.String(length=64), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint(
            "n_train >= 0 AND n_test >= 0", name=op.f("ck_scoring_models_counts_non_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_models")),
        sa.UniqueConstraint("kind", "version", name=op.f("uq_scoring_models_kind_version")),
    )
    op.create_table(
        "deal_scores",
        sa.Column("deal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("model_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("factors", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("scored_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint(
            "probability >= 0 AND probability <= 1", name=op.f("ck_deal_scores_probability_range")
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_deal_scores_deal_id_deals")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["scoring_models.id"], name=op.f("fk_deal_scores_model_id_scoring_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_scores")),
    )
    op.create_index("ix_deal_scores_deal_latest", "deal_scores", ["deal_id", "scored_at", "id"])
    op.create_index(op.f("ix_deal_scores_model_id"), "deal_scores", ["model_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_deal_scores_model_id"), table_name="deal_scores")
    op.drop_index("ix_deal_scores_deal_latest", table_name="deal_scores")
    op.drop_table("deal_scores")
    op.drop_table("scoring_models")

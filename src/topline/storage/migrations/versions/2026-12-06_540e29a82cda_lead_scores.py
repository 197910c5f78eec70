"""Lead scores: the probability each open lead was given of converting (or of converting
into a won deal) by a lead scoring model, with its factors.

Revision ID: 540e29a82cda
Revises: fbc0eaa69e51
Create Date: 2026-12-06 10:10:57.795447
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import topline.storage.types

revision: str = "540e29a82cda"
down_revision: str | None = "fbc0eaa69e51"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_scores",
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("model_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("factors", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("scored_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint(
            "probability >= 0 AND probability <= 1", name=op.f("ck_lead_scores_probability_range")
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_lead_scores_lead_id_leads")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["scoring_models.id"], name=op.f("fk_lead_scores_model_id_scoring_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_scores")),
    )
    with op.batch_alter_table("lead_scores", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lead_scores_lead_latest", ["lead_id", "scored_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_lead_scores_model_id"), ["model_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lead_scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_scores_model_id"))
        batch_op.drop_index("ix_lead_scores_lead_latest")

    op.drop_table("lead_scores")

"""Forecast snapshots: every forecast method's number (and range) for every scope and open
period, one per day, so forecasts can be seen as they stood and their accuracy measured.

Revision ID: c8c010d9ca53
Revises: 540e29a82cda
Create Date: 2026-12-06 11:37:19.953120
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import topline.storage.types

revision: str = "c8c010d9ca53"
down_revision: str | None = "540e29a82cda"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "forecast_snapshots",
        sa.Column("scope_key", sa.String(length=40), nullable=False),
        sa.Column("scope_kind", sa.String(length=8), nullable=False),
        sa.Column(
            "scope_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=40), nullable=False),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("taken_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expected_cents", sa.BigInteger(), nullable=False),
        sa.Column("p10_cents", sa.BigInteger(), nullable=True),
        sa.Column("p50_cents", sa.BigInteger(), nullable=True),
        sa.Column("p90_cents", sa.BigInteger(), nullable=True),
        sa.Column("won_cents", sa.BigInteger(), nullable=False),
        sa.Column("open_deals", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint(
            "scope_kind IN ('org', 'team', 'rep')",
            name=op.f("ck_forecast_snapshots_scope_kind_known"),
        ),
        sa.CheckConstraint(
            "period_end > period_start", name=op.f("ck_forecast_snapshots_period_order")
        ),
        sa.ForeignKeyConstraint(
            ["scope_user_id"], ["users.id"], name=op.f("fk_forecast_snapshots_scope_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_snapshots")),
        sa.UniqueConstraint(
            "scope_key",
            "period_start",
            "period_end",
            "method",
            "taken_on",
            name="uq_forecast_snapshots_day",
        ),
    )
    with op.batch_alter_table("forecast_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_forecast_snapshots_period", ["period_start", "period_end", "taken_on"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_forecast_snapshots_scope_user_id"), ["scope_user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("forecast_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_forecast_snapshots_scope_user_id"))
        batch_op.drop_index("ix_forecast_snapshots_period")

    op.drop_table("forecast_snapshots")

"""Saved views: a person's named filters and sort for a list page (the deals list first).

Revision ID: 13eb4aa263dc
Revises: c8c010d9ca53
Create Date: 2026-12-06 14:16:07.454309
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import topline.storage.types

revision: str = "13eb4aa263dc"
down_revision: str | None = "c8c010d9ca53"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_views",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("page", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("query", sa.String(length=2000), nullable=False),
        sa.Column("created_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_saved_views_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
        sa.UniqueConstraint("user_id", "page", "name", name="uq_saved_views_name"),
    )


def downgrade() -> None:
    op.drop_table("saved_views")

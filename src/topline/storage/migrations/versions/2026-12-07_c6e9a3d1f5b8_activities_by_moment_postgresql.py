"""On PostgreSQL, the activities by moment (`ix_activities_occurred`, with the person and the
type): the rep comparison counts a period's activities of everyone from one range of it. SQLite
skips through the index by person (`ix_activities_user_occurred`) and gets none.

Revision ID: c6e9a3d1f5b8
Revises: b5d2e8f4a1c7
Create Date: 2026-12-07 20:55:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c6e9a3d1f5b8"
down_revision: str | None = "b5d2e8f4a1c7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(
        "ix_activities_occurred",
        "activities",
        ["occurred_at"],
        postgresql_include=["user_id", "type"],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_activities_occurred", table_name="activities")

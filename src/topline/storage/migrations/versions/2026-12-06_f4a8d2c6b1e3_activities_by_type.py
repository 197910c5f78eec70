"""The index of activities by person and moment also holds their type: the rep comparison counts
each person's activities by type in a period from the index alone, instead of reading every
activity row of the period (on the large demo org, 532k rows in a quarter: 0.84 s to 0.27 s on
SQLite).

Revision ID: f4a8d2c6b1e3
Revises: e2b7c4d9f0a1
Create Date: 2026-12-06 23:50:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f4a8d2c6b1e3"
down_revision: str | None = "e2b7c4d9f0a1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _user_index(["user_id", "occurred_at", "type"])


def downgrade() -> None:
    _user_index(["user_id", "occurred_at"])


def _user_index(columns: list[str]) -> None:
    op.drop_index("ix_activities_user_occurred", table_name="activities")
    op.create_index("ix_activities_user_occurred", "activities", columns)

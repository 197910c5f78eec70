"""The index of history rows by close date also holds each row's close and its deal's creation:
the waterfall reads the deals closing in the period at a moment from the index alone (on 1M
deals, with the waterfall reading those rows instead of looking up every candidate deal:
PostgreSQL 2.1 s to 0.55 s, SQLite 1.07 s to 0.88 s).

Revision ID: e2b7c4d9f0a1
Revises: 9c4d2e7f1a35
Create Date: 2026-12-06 23:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e2b7c4d9f0a1"
down_revision: str | None = "9c4d2e7f1a35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AS_OF_INDEX = [
    "close_date", "valid_from", "valid_to", "deal_id", "stage_id", "amount_cents", "owner_id",
    "stage_type",
]  # fmt: skip


def upgrade() -> None:
    _as_of_index([*AS_OF_INDEX, "closed_at", "deal_created_at"])


def downgrade() -> None:
    _as_of_index(AS_OF_INDEX)


def _as_of_index(columns: list[str]) -> None:
    op.drop_index("ix_deal_history_as_of", table_name="deal_history")
    op.create_index("ix_deal_history_as_of", "deal_history", columns)

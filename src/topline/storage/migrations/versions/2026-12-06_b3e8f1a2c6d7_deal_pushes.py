"""Deal pushes: each deal carries how often its close date was pushed out and when last.

The deals at risk test "slipped lately" on these columns instead of searching every open
deal's history (0.45 s of the dashboard on 1M deals). Existing deals are counted here from
their history, with the same rule as `topline.crm.history.refresh_pushes`: a push is a history
row whose close date is later than that of the deal's row before it.

Revision ID: b3e8f1a2c6d7
Revises: 7a1c52e9b4d0
Create Date: 2026-12-06 17:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import topline.storage.types

revision: str = "b3e8f1a2c6d7"
down_revision: str | None = "7a1c52e9b4d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
UPDATE deals
SET push_count = pushes.n, last_pushed_at = pushes.last_pushed_at
FROM (
    SELECT deal_id, COUNT(*) AS n, MAX(valid_from) AS last_pushed_at
    FROM (
        SELECT deal_id, valid_from, close_date,
               LAG(close_date) OVER (PARTITION BY deal_id ORDER BY valid_from, id) AS previous
        FROM deal_history
    ) AS steps
    WHERE close_date > previous
    GROUP BY deal_id
) AS pushes
WHERE deals.id = pushes.deal_id
"""


# recreate="never", as in the record-versions migration: SQLite adds and drops the columns in
# place, where copying the table would break the foreign keys pointing at it.
def upgrade() -> None:
    with op.batch_alter_table("deals", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("push_count", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "last_pushed_at", topline.storage.types.UTCDateTime(timezone=True), nullable=True
            )
        )
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("deals", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("last_pushed_at")
        batch_op.drop_column("push_count")

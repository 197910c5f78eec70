"""Deal history marks: each history row carries its stage's type, whether it is the deal's first
row, when the deal entered its stage and when it closed, so reports read them with range scans.

Existing rows are marked here from their deal's earlier rows, with the same rules as
`topline.crm.history.next_marks`.

Revision ID: 5fa8a6c131d6
Revises: 01e6f373835a
Create Date: 2026-12-06 08:51:09.822790
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import topline.storage.types

revision: str = "5fa8a6c131d6"
down_revision: str | None = "01e6f373835a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AS_OF_INDEX = [
    "close_date", "valid_from", "valid_to", "deal_id", "stage_id", "amount_cents", "owner_id"
]  # fmt: skip

# Running maxima find each row's run start: entries and closes only ever move forward in time.
BACKFILL = """
WITH ordered AS (
    SELECT h.id, h.deal_id, h.valid_from, h.stage_id, s.type AS stage_type,
           LAG(h.stage_id) OVER w AS previous_stage_id,
           LAG(s.type) OVER w AS previous_type,
           ROW_NUMBER() OVER w AS n
    FROM deal_history h JOIN stages s ON s.id = h.stage_id
    WINDOW w AS (PARTITION BY h.deal_id ORDER BY h.valid_from, h.id)
), starts AS (
    SELECT id, deal_id, valid_from, stage_type, n,
           CASE WHEN previous_stage_id IS NULL OR previous_stage_id <> stage_id
                THEN valid_from END AS entry,
           CASE WHEN stage_type <> 'open' AND (previous_type IS NULL OR previous_type = 'open')
                THEN valid_from END AS close
    FROM ordered
), marked AS (
    SELECT id, stage_type, n = 1 AS is_first,
           MAX(entry) OVER r AS entered_at,
           CASE WHEN stage_type <> 'open' THEN MAX(close) OVER r END AS closed_at
    FROM starts
    WINDOW r AS (PARTITION BY deal_id ORDER BY valid_from, id ROWS UNBOUNDED PRECEDING)
)
UPDATE deal_history
SET stage_type = marked.stage_type, is_first = marked.is_first,
    entered_at = marked.entered_at, closed_at = marked.closed_at
FROM marked
WHERE deal_history.id = marked.id
"""


def upgrade() -> None:
    with op.batch_alter_table("deal_history") as batch_op:
        batch_op.add_column(sa.Column("stage_type", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("is_first", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("entered_at", topline.storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("closed_at", topline.storage.types.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute(BACKFILL)
    with op.batch_alter_table("deal_history") as batch_op:
        batch_op.alter_column(
            "stage_type",
            existing_type=sa.String(32),
            type_=sa.Enum("open", "won", "lost", name="stage_type", native_enum=False, length=32),
            nullable=False,
        )
        batch_op.create_check_constraint(
            op.f("ck_deal_history_stage_type"), "stage_type IN ('open', 'won', 'lost')"
        )
        batch_op.alter_column("is_first", existing_type=sa.Boolean(), nullable=False)
        batch_op.alter_column(
            "entered_at",
            existing_type=topline.storage.types.UTCDateTime(timezone=True),
            nullable=False,
        )
        batch_op.create_check_constraint(
            op.f("ck_deal_history_entered_before_valid"), "entered_at <= valid_from"
        )
        batch_op.create_check_constraint(
            op.f("ck_deal_history_closed_when_closed"),
            "(stage_type = 'open') = (closed_at IS NULL) AND (closed_at IS NULL OR "
            "closed_at <= valid_from)",
        )
    op.create_index(
        "ix_deal_history_closed",
        "deal_history",
        [
            "closed_at",
            "valid_from",
            "valid_to",
            "deal_id",
            "owner_id",
            "stage_type",
            "amount_cents",
        ],
        sqlite_where=sa.text("closed_at IS NOT NULL"),
        postgresql_where=sa.text("closed_at IS NOT NULL"),
    )
    op.create_index(
        "ix_deal_history_created",
        "deal_history",
        ["valid_from", "owner_id", "amount_cents", "deal_id"],
        sqlite_where=sa.text("is_first = 1"),
        postgresql_where=sa.text("is_first"),
    )
    op.create_index(
        "ix_deal_history_entered",
        "deal_history",
        ["entered_at", "deal_id", "stage_id", "valid_from", "valid_to", "id"],
    )
    # The pipeline as of a moment filters on the stage type too.
    op.drop_index("ix_deal_history_as_of", table_name="deal_history")
    op.create_index("ix_deal_history_as_of", "deal_history", [*AS_OF_INDEX, "stage_type"])


def downgrade() -> None:
    op.drop_index("ix_deal_history_as_of", table_name="deal_history")
    op.create_index("ix_deal_history_as_of", "deal_history", AS_OF_INDEX)
    op.drop_index("ix_deal_history_entered", table_name="deal_history")
    op.drop_index("ix_deal_history_created", table_name="deal_history")
    op.drop_index("ix_deal_history_closed", table_name="deal_history")
    with op.batch_alter_table("deal_history") as batch_op:
        batch_op.drop_constraint(op.f("ck_deal_history_closed_when_closed"), type_="check")
        batch_op.drop_constraint(op.f("ck_deal_history_entered_before_valid"), type_="check")
        batch_op.drop_constraint(op.f("ck_deal_history_stage_type"), type_="check")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("entered_at")
        batch_op.drop_column("is_first")
        batch_op.drop_column("stage_type")

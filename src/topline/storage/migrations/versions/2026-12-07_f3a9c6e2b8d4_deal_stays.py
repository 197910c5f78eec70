"""Deal stays (`deal_stays`): each run of a deal's history in one open stage, with when it
ended, when the deal first advanced from it, when it was in the same stage (or any open stage)
before, and its owner then and until when, worked out here for the history already there as
`topline.crm.stays.rebuild_stays` does. The funnel and the rep comparison read their stage
cohorts from it instead of following every deal's path at report time.

The index of a deal's rows (`ix_deal_history_deal_valid_from`) holds the columns the funnel
reads from the deal's row at `as_of` as keys, on SQLite too (PostgreSQL had them as included
columns): with the stays, that lookup is most of the funnel's time, and from the index alone it
took 0.87 s instead of 1.53 s for the 378k stage entries of a quarter on 1M deals.

Revision ID: f3a9c6e2b8d4
Revises: e4b8c1d5f2a7
Create Date: 2026-12-07 12:14:19.893151
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import topline.storage.types

revision: str = "f3a9c6e2b8d4"
down_revision: str | None = "e4b8c1d5f2a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns of a deal's rows that its index holds besides the deal and moment.
BY_DEAL = ["valid_to", "stage_id", "stage_type", "owner_id", "entered_at"]

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = topline.storage.types.UTCDateTime(timezone=True)

# UTC calendar days from `entered_at` to `left_at`, as `topline.storage.sql.utc_days_between`.
DAYS = {
    "sqlite": "CAST(julianday(o.left_at) + 0.5 AS INTEGER)"
    " - CAST(julianday(o.entered_at) + 0.5 AS INTEGER)",
    "postgresql": "CAST(o.left_at AT TIME ZONE 'UTC' AS DATE)"
    " - CAST(o.entered_at AT TIME ZONE 'UTC' AS DATE)",
}

BACKFILL = """
INSERT INTO deal_stays (deal_id, stage_id, entry_id, entered_at, left_at, days, advanced_at,
                        previous_at, previous_open_at, owner_id, owner_until)
SELECT o.deal_id, o.stage_id, o.entry_id, o.entered_at, o.left_at, {days},
  (SELECT min(later.valid_from)
   FROM deal_history AS later, stages AS reached, stages AS stay_stage
   WHERE later.deal_id = o.deal_id AND later.valid_from >= o.entered_at
     AND (later.valid_from > o.entered_at OR later.id > o.entry_id)
     AND reached.id = later.stage_id AND stay_stage.id = o.stage_id
     AND reached.pipeline_id = stay_stage.pipeline_id
     AND (reached.type = 'won' OR (reached.type = 'open' AND reached.position > stay_stage.position))),
  o.previous_at, o.previous_open_at, entry_row.owner_id,
  (SELECT min(later.valid_from) FROM deal_history AS later
   WHERE later.deal_id = o.deal_id AND later.valid_from >= o.entered_at
     AND (later.valid_from > o.entered_at OR later.id > o.entry_id)
     AND later.owner_id <> entry_row.owner_id)
FROM (
  SELECT e.entry_id, e.deal_id, e.stage_id, e.stage_type, e.entered_at,
    lead(e.entered_at) OVER (PARTITION BY e.deal_id ORDER BY e.entered_at, e.entry_id) AS left_at,
    lag(e.entered_at) OVER (PARTITION BY e.deal_id, e.stage_id ORDER BY e.entered_at, e.entry_id)
      AS previous_at,
    max(CASE WHEN e.stage_type = 'open' THEN e.entered_at END) OVER (
      PARTITION BY e.deal_id ORDER BY e.entered_at, e.entry_id
      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_open_at
  FROM (SELECT min(id) AS entry_id, deal_id, stage_id, stage_type, entered_at
        FROM deal_history GROUP BY deal_id, entered_at, stage_id, stage_type) AS e
) AS o
JOIN deal_history AS entry_row ON entry_row.id = o.entry_id
WHERE o.stage_type = 'open'
"""


def upgrade() -> None:
    op.create_table(
        "deal_stays",
        sa.Column("deal_id", ID, nullable=False),
        sa.Column("stage_id", ID, nullable=False),
        sa.Column("entry_id", ID, nullable=False),
        sa.Column("entered_at", MOMENT, nullable=False),
        sa.Column("left_at", MOMENT, nullable=True),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("advanced_at", MOMENT, nullable=True),
        sa.Column("previous_at", MOMENT, nullable=True),
        sa.Column("previous_open_at", MOMENT, nullable=True),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("owner_until", MOMENT, nullable=True),
        sa.Column("id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_deal_stays_deal_id_deals")
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"], ["stages.id"], name=op.f("fk_deal_stays_stage_id_stages")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_deal_stays_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_stays")),
        sa.UniqueConstraint("deal_id", "entry_id", name=op.f("uq_deal_stays_deal_id_entry_id")),
    )
    # Filled before the covering index is made: one sort at the end instead of an index
    # insert per row.
    dialect = op.get_bind().dialect.name
    op.execute(BACKFILL.format(days=DAYS[dialect]))
    op.create_index(
        "ix_deal_stays_entered",
        "deal_stays",
        [
            "entered_at",
            "stage_id",
            "deal_id",
            "previous_at",
            "previous_open_at",
            "left_at",
            "days",
            "advanced_at",
            "owner_id",
            "owner_until",
        ],
        unique=False,
    )

    op.drop_index("ix_deal_history_deal_valid_from", table_name="deal_history")
    op.create_index(
        "ix_deal_history_deal_valid_from",
        "deal_history",
        ["deal_id", "valid_from", *BY_DEAL],
        postgresql_include=["id"],
    )


def downgrade() -> None:
    op.drop_index("ix_deal_history_deal_valid_from", table_name="deal_history")
    op.create_index(
        "ix_deal_history_deal_valid_from",
        "deal_history",
        ["deal_id", "valid_from"],
        postgresql_include=["id", *BY_DEAL],
    )
    op.drop_index("ix_deal_stays_entered", table_name="deal_stays")
    op.drop_table("deal_stays")

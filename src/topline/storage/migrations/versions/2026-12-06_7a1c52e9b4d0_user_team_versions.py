"""User and team versions: users and teams get `version` for optimistic locking.

An admin's edit of a person or a team names the version it was made on, as edits of deals,
accounts, contacts and leads do, so two admins editing the same person never silently lose a
change.

Revision ID: 7a1c52e9b4d0
Revises: 13eb4aa263dc
Create Date: 2026-12-06 16:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a1c52e9b4d0"
down_revision: str | None = "13eb4aa263dc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("teams", "users")


# recreate="never", as in the record-versions migration: SQLite adds and drops the column in
# place, where copying the table would break the foreign keys pointing at it.
def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            # The server default gives every existing row version 1.
            batch_op.add_column(
                sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)
            )


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            batch_op.drop_column("version")

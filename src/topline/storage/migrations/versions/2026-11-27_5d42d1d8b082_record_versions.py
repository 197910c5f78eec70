"""Record versions: accounts, contacts and leads get `version` for optimistic locking.

Revision ID: 5d42d1d8b082
Revises: 8d3e0b10aab0
Create Date: 2026-11-27 01:45:49.907345
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d42d1d8b082"
down_revision: str | None = "8d3e0b10aab0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("accounts", "contacts", "leads")


# recreate="never": SQLite adds and drops these columns in place (ALTER TABLE, SQLite 3.35+).
# Copying the table instead would fail on a database with data, because dropping the old
# `accounts` breaks the foreign keys of contacts, deals and leads pointing at it.
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

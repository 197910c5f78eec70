"""Import jobs: uploaded files imported outside the request that sent them.

Revision ID: 01e6f373835a
Revises: e464d9a78ab4
Create Date: 2026-11-27 04:45:14.768204
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import topline.storage.types

revision: str = "01e6f373835a"
down_revision: str | None = "e464d9a78ab4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column(
            "created_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "queued",
                "running",
                "done",
                "rejected",
                "failed",
                "cancelled",
                name="import_job_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("keep_valid", sa.Boolean(), nullable=False),
        sa.Column("preset", sa.String(length=50), nullable=True),
        sa.Column("mapping_yaml", sa.Text(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column(
            "preview_of_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "worker",
            sa.String(length=300),
            nullable=True,
            comment="host:pid of the server process that runs the job",
        ),
        sa.Column("created_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", topline.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", topline.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_import_jobs_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["preview_of_id"],
            ["import_jobs.id"],
            name=op.f("fk_import_jobs_preview_of_id_import_jobs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
    )
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_jobs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_import_jobs_created_by_id"), ["created_by_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_jobs_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_import_jobs_created_at"))

    op.drop_table("import_jobs")

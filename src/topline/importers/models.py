"""Keys that records had in the systems they were imported from, and import jobs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from topline.storage.base import Base, IdMixin
from topline.storage.types import BigId, UTCDateTime, enum_column


class ExternalId(IdMixin, Base):
    """Record `record_id` of `entity` was imported from `source` under `key`.

    Importing the same source again finds its records by these keys and updates them instead
    of creating duplicates.
    """

    __tablename__ = "external_ids"
    __table_args__ = (
        UniqueConstraint("source", "entity", "key"),
        Index("ix_external_ids_record", "entity", "record_id"),
    )

    source: Mapped[str] = mapped_column(String(50))
    entity: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(200))
    record_id: Mapped[int] = mapped_column(BigId)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JobStatus(StrEnum):
    """Where an import job is: `draft` (files uploaded, mapping not confirmed), `queued`,
    `running`, then `done` (written, or a dry run that finished), `rejected` (problems, nothing
    written), `failed` (it could not run: bad mapping or file, or the server stopped) or
    `cancelled`."""

    DRAFT = "draft"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in _FINISHED


_FINISHED = {JobStatus.DONE, JobStatus.REJECTED, JobStatus.FAILED, JobStatus.CANCELLED}


class ImportJob(IdMixin, Base):
    """Uploaded files and how to import them, run outside the request that sent them.

    The files live in the job's folder under the data directory (see `topline.importers.jobs`);
    this row holds what every server process needs to answer about the job.
    """

    __tablename__ = "import_jobs"

    created_by_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    status: Mapped[JobStatus] = mapped_column(enum_column(JobStatus, "import_job_status"))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    keep_valid: Mapped[bool] = mapped_column(Boolean, default=False)
    preset: Mapped[str | None] = mapped_column(String(50))
    mapping_yaml: Mapped[str | None] = mapped_column(Text)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    preview_of_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("import_jobs.id"))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(
        String(300), comment="host:pid of the server process that runs the job"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
